//! Live mode's controller: what happens to a decision the pipeline executed.
//!
//! Owns the checks between a decision and the cluster, in this order: the emergency stop
//! (local file, then the ConfigMap through the executor), the promotion (the incident type
//! must be promoted to auto-execute), the scope (the policy's namespaces); then the executor,
//! an `outcome` audit record, and after the policy's verification window a `verification`
//! record from what the cluster (and Prometheus, when configured) shows. A failed
//! verification escalates and trips the service's breaker. Decides nothing itself. The
//! promotion record was verified (signature, policy, gate, expiry) before the controller was
//! built; under `--allow-unsigned` every decision it handles logs a warning.

use std::sync::Arc;
use std::sync::mpsc::Sender;

use sha2::{Digest, Sha256};

use super::executor::{Executor, Request};
use super::journal::{Shared, lock};
use super::stop::EmergencyStop;
use crate::audit::AuditRecord;
use crate::clock::{Clock, Time, WallClock};
use crate::decide::{Decision, Incident, ServiceKey};
use crate::gate::Promotion;
use crate::metrics::phase::Phase;
use crate::policy::Policy;

/// A breaker to trip, sent back to the thread that owns the pipeline.
pub type Trip = (ServiceKey, String);

/// An applied action waiting for its verification: from a decision just executed, or read
/// back from the audit log after a restart (an `applied` outcome with no verification).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: Option<String>,
    pub namespace: String,
    pub service: String,
    pub incident_type: String,
    pub command: String,
    /// When the executor applied it (wall time): the window counts from here.
    pub acted: Time,
}

impl Pending {
    fn of(d: &Decision, acted: Time) -> Pending {
        Pending {
            id: d.id.clone(),
            namespace: d.namespace.clone(),
            service: d.service.clone(),
            incident_type: d.incident_type.clone(),
            command: d.command.clone().unwrap_or_default(),
            acted,
        }
    }
}

pub struct Controller {
    pub policy: Policy,
    pub fingerprint: String,
    /// What the policy was promoted to; `None` in shadow mode (the recorder acts on nothing).
    pub promotion: Option<Promotion>,
    /// The promotion's signature was not checked (`live --allow-unsigned`, the twin demo):
    /// every decision handed to the controller says so in a warning.
    pub allow_unsigned: bool,
    pub executor: Arc<dyn Executor>,
    pub stop: EmergencyStop,
    pub journal: Shared,
}

/// The idempotency key of a decision: the same alert decided again (a restart, a repeated
/// notification) gives the same key.
pub fn action_id(fingerprint: &str, d: &Decision) -> String {
    let h = Sha256::digest(format!("{fingerprint}/{}/{}/{}/{}", d.namespace, d.service, d.incident_type, d.at.nanos()));
    format!("us-{}", &hex::encode(h)[..16])
}

impl Controller {
    /// Handle one executed decision. Verification runs on its own thread after the window;
    /// a failure sends the breaker to trip on `trips`.
    pub fn handle(&self, inc: &Incident, d: &Decision, trips: &Sender<Trip>) -> std::io::Result<()> {
        let now = WallClock.now();
        if self.allow_unsigned {
            tracing::warn!(
                service = %d.service,
                namespace = %d.namespace,
                incident_type = %d.incident_type,
                "acting under an UNSIGNED promotion record (--allow-unsigned): nothing proves a gate allowed this"
            );
        }
        let id = action_id(&self.fingerprint, d);
        let record = |status: &'static str, detail: String, escalate: bool| AuditRecord::Outcome {
            policy_fingerprint: self.fingerprint.clone(),
            at: now,
            id: d.id.clone(),
            action_id: id.clone(),
            service: d.service.clone(),
            namespace: d.namespace.clone(),
            incident_type: d.incident_type.clone(),
            command: d.command.clone().unwrap_or_default(),
            status,
            detail,
            escalate,
        };
        let Some(action) = d.action.clone() else { return Ok(()) };
        let blocked = if let Some(s) = self.stop.check().or_else(|| self.executor.stopped()) {
            Some(("emergency-stop", format!("emergency stop ({}): {}", s.source, s.reason)))
        } else if let Some(p) = &self.promotion
            && p.phase(&d.incident_type) != Phase::AutoExecute
        {
            Some((
                "not-promoted",
                format!(
                    "{} is promoted to {}, not auto-execute: a person decides",
                    d.incident_type,
                    p.phase(&d.incident_type).as_str()
                ),
            ))
        } else if !self.policy.guardrails.namespace_allowed(&d.namespace) {
            Some(("out-of-scope", format!("namespace {} is outside guardrails.namespaces", d.namespace)))
        } else {
            None
        };
        if let Some((status, detail)) = blocked {
            tracing::warn!(service = %d.service, namespace = %d.namespace, status, "not acting: {detail}");
            return lock(&self.journal).record(&record(status, detail, true));
        }
        let req = Request {
            action_id: id.clone(),
            service: d.service.clone(),
            namespace: d.namespace.clone(),
            action,
            target_replicas: d.target_replicas,
            at: now,
        };
        let done = self.executor.execute(&req);
        let (status, detail, escalate) = match &done {
            Ok(x) => (x.status(), x.detail().to_string(), false),
            Err(e) => (e.status(), e.to_string(), true),
        };
        tracing::info!(service = %d.service, namespace = %d.namespace, status, "{detail}");
        lock(&self.journal).record(&record(status, detail, escalate))?;
        if matches!(done, Ok(super::executor::Done::Applied(_))) {
            let _ = inc;
            self.verify_later(Pending::of(d, now), trips.clone());
        }
        Ok(())
    }

    /// Verify actions applied before a restart whose verification the audit log lacks: at
    /// their deadline, or at once when it has passed.
    pub fn resume(&self, pending: Vec<Pending>, trips: &Sender<Trip>) {
        for p in pending {
            tracing::warn!(service = %p.service, namespace = %p.namespace, "verifying `{}` applied before the restart", p.command);
            self.verify_later(p, trips.clone());
        }
    }

    fn verify_later(&self, d: Pending, trips: Sender<Trip>) {
        let window = self
            .policy
            .remediation(&d.incident_type)
            .map_or(std::time::Duration::from_secs(300), |r| r.verification_window);
        let acted = d.acted;
        let due = acted.saturating_add(window);
        let executor = Arc::clone(&self.executor);
        let journal = Arc::clone(&self.journal);
        let fingerprint = self.fingerprint.clone();
        std::thread::spawn(move || {
            std::thread::sleep(due.since(WallClock.now()));
            let checks = executor.verify(&d.namespace, &d.service, acted);
            let passed = !checks.is_empty() && checks.iter().all(|c| c.passed);
            if !passed {
                let failed: Vec<&str> = checks.iter().filter(|c| !c.passed).map(|c| c.name).collect();
                let _ = trips.send((
                    ServiceKey::new(&d.namespace, &d.service),
                    format!("verification failed after {}: {}", d.command, failed.join(", ")),
                ));
            }
            let r = AuditRecord::Verification {
                policy_fingerprint: fingerprint,
                at: WallClock.now(),
                id: d.id.clone(),
                service: d.service.clone(),
                namespace: d.namespace.clone(),
                incident_type: d.incident_type.clone(),
                command: d.command.clone(),
                passed,
                checks,
                rolled_back: false,
                breaker_tripped: !passed,
                escalate: !passed,
            };
            if let Err(e) = lock(&journal).record(&r) {
                tracing::error!(error = %e, "cannot write the verification record");
            }
        });
    }
}
