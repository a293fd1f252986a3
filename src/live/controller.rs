//! Live mode's controller: what happens to a decision the pipeline executed.
//!
//! Owns the checks between a decision and the cluster, in this order: the emergency stop
//! (local file, then the ConfigMap through the executor), the promotion (the incident type
//! must be promoted to auto-execute), the scope (the policy's namespaces); then the executor,
//! an `outcome` audit record, and after the policy's verification window a `verification`
//! record from what the cluster (and Prometheus, when configured) shows. A failed
//! verification escalates and trips the service's breaker. Decides nothing itself.
//!
//! Time comes only from the controller's [`Clock`]: an applied action joins a queue of
//! verifications ordered by deadline, and [`Controller::run_due`] runs those due by the
//! clock's now. Live mode calls it from one timer thread ([`Controller::spawn_timer`]); tests
//! move a [`crate::clock::ManualClock`] and call it, so none waits a window in wall time. A
//! verification still queued when the process stops is in the audit log as an applied action
//! with no verification, and the next start resumes it (`live::restore`). The
//! promotion record was verified (signature, policy, gate, expiry) before the controller was
//! built; under `--allow-unsigned` every decision it handles logs a warning.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::executor::{Executor, Request, Undo};
use super::journal::{Shared, lock};
use super::stop::EmergencyStop;
use crate::audit::AuditRecord;
use crate::clock::{SharedClock, Time};
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
    /// The action's idempotency key.
    pub action_id: String,
    pub namespace: String,
    pub service: String,
    pub incident_type: String,
    pub command: String,
    /// When the executor applied it (wall time): the window counts from here.
    pub acted: Time,
    /// How to undo it when verification fails (`None`: it cannot be, or the policy does not).
    pub undo: Option<Undo>,
}

impl Pending {
    fn of(d: &Decision, action_id: &str, acted: Time, undo: Option<Undo>) -> Pending {
        Pending {
            action_id: action_id.to_string(),
            undo,
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
    /// Where `now` comes from: the wall clock in live mode, a manual one in tests.
    pub clock: SharedClock,
    /// Applied actions waiting for their verification window to end.
    pub verifications: Verifications,
}

type Queue = BTreeMap<(Time, u64), (Pending, Sender<Trip>)>;

/// The verification timer queue: (deadline, arrival) → the action and where a failed
/// verification sends its breaker. Ordered, so equal deadlines run in arrival order.
#[derive(Default)]
pub struct Verifications {
    queue: Mutex<Queue>,
    seq: AtomicU64,
}

impl Verifications {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifications waiting, and the earliest deadline.
    pub fn waiting(&self) -> (usize, Option<Time>) {
        let q = self.lock();
        (q.len(), q.keys().next().map(|k| k.0))
    }
}

/// The idempotency key of a decision: the same alert decided again (a restart, a repeated
/// notification) gives the same key.
pub fn action_id(fingerprint: &str, d: &Decision) -> String {
    action_id_of(fingerprint, &d.namespace, &d.service, &d.incident_type, d.at)
}

fn action_id_of(fingerprint: &str, namespace: &str, service: &str, incident_type: &str, at: Time) -> String {
    let h = Sha256::digest(format!("{fingerprint}/{namespace}/{service}/{incident_type}/{}", at.nanos()));
    format!("us-{}", &hex::encode(h)[..16])
}

impl Controller {
    /// Handle one executed decision. An applied action is queued for verification at the end
    /// of its window; a failure sends the breaker to trip on `trips`.
    pub fn handle(&self, _inc: &Incident, d: &Decision, trips: &Sender<Trip>) -> std::io::Result<()> {
        let now = self.clock.now();
        if self.allow_unsigned {
            tracing::warn!(
                service = %d.service,
                namespace = %d.namespace,
                incident_type = %d.incident_type,
                "acting under an UNSIGNED promotion record (--allow-unsigned): nothing proves a gate allowed this"
            );
        }
        let id = action_id(&self.fingerprint, d);
        let record = |status: &'static str, detail: String, escalate: bool, undo: Option<&Undo>| AuditRecord::Outcome {
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
            undo: undo.and_then(|u| serde_json::to_value(u).ok()),
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
            return lock(&self.journal).record(&record(status, detail, true, None));
        }
        let req = Request {
            action_id: id.clone(),
            service: d.service.clone(),
            namespace: d.namespace.clone(),
            action,
            target_replicas: d.target_replicas,
            at: now,
        };
        // What undoing it would take, read before it runs (only when the policy undoes it).
        let undo = if self.policy.remediation(&d.incident_type).is_some_and(|r| r.rollback_if_failed) {
            self.executor.before(&req)
        } else {
            None
        };
        let done = self.executor.execute(&req);
        let (status, detail, escalate) = match &done {
            Ok(x) => (x.status(), x.detail().to_string(), false),
            Err(e) => (e.status(), e.to_string(), true),
        };
        tracing::info!(service = %d.service, namespace = %d.namespace, status, "{detail}");
        let applied = matches!(done, Ok(super::executor::Done::Applied(_)));
        let undo = undo.filter(|_| applied);
        lock(&self.journal).record(&record(status, detail, escalate, undo.as_ref()))?;
        if applied {
            self.verify_later(Pending::of(d, &id, now, undo), trips.clone());
        }
        Ok(())
    }

    /// Executed decisions the audit log shows with no outcome: the process stopped between
    /// deciding and recording what the executor did. Whether the action reached the cluster
    /// is unknown, so each gets an `unknown-after-restart` outcome that escalates, naming the
    /// marker to look for; nothing is re-run blindly.
    pub fn unsettled(&self, in_flight: Vec<Pending>) -> std::io::Result<()> {
        for Pending { id, namespace, service, incident_type, command, acted, .. } in in_flight {
            let action_id = action_id_of(&self.fingerprint, &namespace, &service, &incident_type, acted);
            tracing::warn!(%service, %namespace, "an action decided before the restart has no outcome: escalating");
            lock(&self.journal).record(&AuditRecord::Outcome {
                policy_fingerprint: self.fingerprint.clone(),
                at: self.clock.now(),
                id,
                action_id: action_id.clone(),
                service: service.clone(),
                namespace: namespace.clone(),
                incident_type,
                command,
                status: "unknown-after-restart",
                detail: format!(
                    "understudy stopped between deciding and recording the result; check whether deployment/{service} -n {namespace} carries {}={action_id}",
                    super::executor::ACTION_ID
                ),
                escalate: true,
                undo: None,
            })?;
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
        let due = d.acted.saturating_add(window);
        let seq = self.verifications.seq.fetch_add(1, Ordering::Relaxed);
        self.verifications.lock().insert((due, seq), (d, trips));
    }

    /// Run every verification due by `now`, earliest first; how many ran.
    pub fn run_due(&self, now: Time) -> usize {
        let mut n = 0;
        loop {
            let next = {
                let mut q = self.verifications.lock();
                match q.first_key_value() {
                    Some((k, _)) if k.0 <= now => q.pop_first().map(|(_, v)| v),
                    _ => None,
                }
            };
            let Some((d, trips)) = next else { return n };
            self.verify(&d, &trips);
            n += 1;
        }
    }

    /// Live mode's timer: a thread that runs verifications as the clock reaches their
    /// deadlines (checked at least every second, so a newly queued one is never late by more).
    pub fn spawn_timer(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let c = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                let now = c.clock.now();
                c.run_due(now);
                let wait = match c.verifications.waiting().1 {
                    Some(due) => due.since(c.clock.now()).min(std::time::Duration::from_secs(1)),
                    None => std::time::Duration::from_secs(1),
                };
                std::thread::sleep(wait.max(std::time::Duration::from_millis(10)));
            }
        })
    }

    /// The verification of one applied action: the executor's checks, the undo when it
    /// failed and the policy asks for one, then the `verification` record.
    fn verify(&self, d: &Pending, trips: &Sender<Trip>) {
        let executor = &self.executor;
        let checks = executor.verify(&d.namespace, &d.service, d.acted);
        let passed = !checks.is_empty() && checks.iter().all(|c| c.passed);
        if !passed {
            let failed: Vec<&str> = checks.iter().filter(|c| !c.passed).map(|c| c.name).collect();
            let _ = trips.send((
                ServiceKey::new(&d.namespace, &d.service),
                format!("verification failed after {}: {}", d.command, failed.join(", ")),
            ));
        }
        // rollback_if_failed: put back what the action changed, through the same executor,
        // and say so before the verification record escalates with the whole history.
        let mut rolled_back = false;
        if let (false, Some(undo)) = (passed, &d.undo) {
            let done = executor.undo(&d.action_id, &d.namespace, &d.service, undo);
            rolled_back = done.is_ok();
            let (status, detail) = match &done {
                Ok(x) => ("undone", x.detail().to_string()),
                Err(e) => ("undo-failed", e.to_string()),
            };
            tracing::warn!(service = %d.service, namespace = %d.namespace, status, "verification failed, undoing: {detail}");
            let r = AuditRecord::Outcome {
                policy_fingerprint: self.fingerprint.clone(),
                at: self.clock.now(),
                id: d.id.clone(),
                action_id: d.action_id.clone(),
                service: d.service.clone(),
                namespace: d.namespace.clone(),
                incident_type: d.incident_type.clone(),
                command: undo.describe(&d.namespace, &d.service),
                status,
                detail,
                escalate: false,
                undo: None,
            };
            if let Err(e) = lock(&self.journal).record(&r) {
                tracing::error!(error = %e, "cannot write the undo record");
            }
        }
        let r = AuditRecord::Verification {
            policy_fingerprint: self.fingerprint.clone(),
            at: self.clock.now(),
            id: d.id.clone(),
            service: d.service.clone(),
            namespace: d.namespace.clone(),
            incident_type: d.incident_type.clone(),
            command: d.command.clone(),
            passed,
            checks,
            rolled_back,
            breaker_tripped: !passed,
            escalate: !passed,
        };
        if let Err(e) = lock(&self.journal).record(&r) {
            tracing::error!(error = %e, "cannot write the verification record");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::audit::Check;
    use crate::clock::{Clock, ManualClock};
    use crate::decide::Pipeline;
    use crate::live::executor::{Done, Failed};
    use crate::live::stop::{EmergencyStop, Stopped};

    /// A cluster of one Deployment with 3 replicas whose verification always fails.
    #[derive(Default)]
    struct Failing {
        replicas: Mutex<u32>,
        undos: Mutex<Vec<(String, Undo)>>,
    }

    impl Executor for Failing {
        fn execute(&self, req: &Request) -> Result<Done, Failed> {
            *self.replicas.lock().unwrap() = req.target_replicas.unwrap_or(0);
            Ok(Done::Applied("scaled".into()))
        }
        fn before(&self, _: &Request) -> Option<Undo> {
            Some(Undo::Replicas { replicas: *self.replicas.lock().unwrap() })
        }
        fn undo(&self, action_id: &str, _: &str, _: &str, undo: &Undo) -> Result<Done, Failed> {
            if let Undo::Replicas { replicas } = undo {
                *self.replicas.lock().unwrap() = *replicas;
            }
            self.undos.lock().unwrap().push((action_id.to_string(), undo.clone()));
            Ok(Done::Applied("scaled back".into()))
        }
        fn stopped(&self) -> Option<Stopped> {
            None
        }
        fn verify(&self, _: &str, _: &str, _: Time) -> Vec<Check> {
            vec![Check { name: "error_rate", passed: false, observed: "0.3".into(), expected: "≤ 0.01".into() }]
        }
    }

    fn policy(rollback: bool) -> Policy {
        let text = format!(
            "remediation_policy: {{ incident_type: cpu-spike, auto_execute: true, confidence_threshold: 0.8, max_attempts: 1, cooldown_after_action: 15m, verification_window: 1s, rollback_if_failed: {rollback}, escalation_channel: p1, action: {{ kind: scale, replicas: 6 }} }}\nguardrails: {{ namespaces: [prod] }}\n"
        );
        Policy::from_yaml(Path::new("p.yaml"), &text).unwrap().policy
    }

    fn run(rollback: bool) -> (Vec<serde_json::Value>, u32, usize) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let journal = crate::live::journal::for_tests(dir.path());
        let p = policy(rollback);
        let exec = Arc::new(Failing { replicas: Mutex::new(3), ..Failing::default() });
        let t0 = Time::parse_rfc3339("2026-11-24T12:00:00Z").unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let c = Controller {
            policy: p.clone(),
            fingerprint: p.fingerprint(),
            promotion: None,
            allow_unsigned: false,
            executor: exec.clone(),
            stop: EmergencyStop::default(),
            journal,
            clock: clock.clone(),
            verifications: Verifications::default(),
        };
        let inc = Incident {
            at: t0,
            service: "payment-api".into(),
            namespace: "prod".into(),
            incident_type: "cpu-spike".into(),
            confidence: 0.95,
            signal: None,
            replicas: Some(3),
            id: Some("e1".into()),
        };
        let d = Pipeline::new(p).decide(inc.at, &inc);
        let (tx, trips) = std::sync::mpsc::channel();
        c.handle(&inc, &d, &tx).unwrap();
        let read = || -> Vec<serde_json::Value> {
            std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        };
        // The window is 1 s of the controller's clock: nothing runs before it ends.
        assert_eq!(c.verifications.waiting(), (1, Some(t0.saturating_add(std::time::Duration::from_secs(1)))));
        clock.advance_to(t0.saturating_add(std::time::Duration::from_millis(999)));
        assert_eq!(c.run_due(clock.now()), 0);
        assert!(trips.try_recv().is_err() && read().len() == 1, "verified before its window ended");
        clock.advance_to(t0.saturating_add(std::time::Duration::from_secs(1)));
        assert_eq!(c.run_due(clock.now()), 1);
        assert_eq!(c.verifications.waiting(), (0, None));
        let trip = trips.try_recv().expect("the breaker trips");
        assert_eq!(trip.0, ServiceKey::new("prod", "payment-api"));
        let records = read();
        let at = Time::parse_rfc3339(records.last().unwrap()["at"].as_str().unwrap()).unwrap();
        assert_eq!(at, clock.now(), "the verification is dated by the controller's clock");
        let replicas = *exec.replicas.lock().unwrap();
        let undos = exec.undos.lock().unwrap().len();
        (records, replicas, undos)
    }

    #[test]
    fn a_failed_verification_undoes_a_reversible_action_then_escalates() {
        let (records, replicas, undos) = run(true);
        let kinds: Vec<&str> =
            records.iter().map(|r| r["status"].as_str().unwrap_or(r["record"].as_str().unwrap())).collect();
        assert_eq!(kinds, ["applied", "undone", "verification"], "{records:#?}");
        assert_eq!(records[0]["undo"], serde_json::json!({"kind": "replicas", "replicas": 3}), "kept for a restart");
        assert_eq!(records[1]["command"], "kubectl scale deployment/payment-api -n prod --replicas=3");
        assert_eq!(records[2]["rolled_back"], true);
        assert_eq!(records[2]["escalate"], true);
        assert_eq!((replicas, undos), (3, 1), "scaled back to where it was, once");
    }

    #[test]
    fn without_rollback_if_failed_nothing_is_undone() {
        let (records, replicas, undos) = run(false);
        assert_eq!(records.len(), 2, "{records:#?}");
        assert!(records[0].get("undo").is_none());
        assert_eq!(records[1]["rolled_back"], false);
        assert_eq!((replicas, undos), (6, 0));
    }
}
