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
use crate::policy::action::Action;

/// A breaker to trip, sent back to the thread that owns the pipeline.
pub type Trip = (ServiceKey, String);

/// An action on its way through the controller: from a decision just executed, or read
/// back from the audit log after a restart (a decision with no outcome, or an `applied`
/// outcome with no verification).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: Option<String>,
    /// The fingerprint of the policy that decided it.
    pub fingerprint: String,
    /// The action's idempotency key (empty when read from a decision record: derived then).
    pub action_id: String,
    pub namespace: String,
    pub service: String,
    pub incident_type: String,
    pub command: String,
    pub target_replicas: Option<u32>,
    /// When it was decided (in flight) or applied (waiting for verification): the
    /// verification window counts from here.
    pub acted: Time,
    /// How to undo it when verification fails (`None`: it cannot be, or the policy does not).
    pub undo: Option<Undo>,
    /// Verifications that could not read the cluster so far.
    pub tries: u32,
}

impl Pending {
    fn of(d: &Decision, fingerprint: &str, acted: Time) -> Pending {
        Pending {
            action_id: action_id(fingerprint, d),
            fingerprint: fingerprint.to_string(),
            undo: None,
            id: d.id.clone(),
            namespace: d.namespace.clone(),
            service: d.service.clone(),
            incident_type: d.incident_type.clone(),
            command: d.command.clone().unwrap_or_default(),
            target_replicas: d.target_replicas,
            acted,
            tries: 0,
        }
    }
}

/// A verification that could not read the cluster is tried this many more times...
pub const VERIFY_RETRIES: u32 = 3;
/// ...this long apart, before a person is told that nobody knows whether the action worked.
pub const VERIFY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);
/// Verifications run at once, each on its own thread, so one hung API call delays no other.
const VERIFY_PARALLEL: usize = 8;
/// A decision a crash left in flight is carried out after the restart only if the process
/// was down for at most this long; otherwise it is escalated instead.
pub const MAX_REDRIVE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

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
    /// Verifications the timer has started and that have not finished.
    running: std::sync::atomic::AtomicUsize,
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
        let Some(action) = d.action.clone() else { return Ok(()) };
        self.carry_out(Pending::of(d, &self.fingerprint, self.clock.now()), action, false, trips)
    }

    /// Why an action may not run now: the emergency stop, the promotion, the scope.
    fn blocked(&self, namespace: &str, incident_type: &str) -> Option<(&'static str, String)> {
        if let Some(s) = self.stop.check().or_else(|| self.executor.stopped()) {
            Some(("emergency-stop", format!("emergency stop ({}): {}", s.source, s.reason)))
        } else if let Some(p) = &self.promotion
            && p.phase(incident_type) != Phase::AutoExecute
        {
            Some((
                "not-promoted",
                format!(
                    "{incident_type} is promoted to {}, not auto-execute: a person decides",
                    p.phase(incident_type).as_str()
                ),
            ))
        } else if !self.policy.guardrails().namespace_allowed(namespace) {
            Some(("out-of-scope", format!("namespace {namespace} is outside guardrails.namespaces")))
        } else {
            None
        }
    }

    /// The outcome record of `p`.
    fn outcome(&self, p: &Pending, status: &'static str, detail: String, escalate: bool) -> AuditRecord {
        AuditRecord::Outcome {
            policy_fingerprint: p.fingerprint.clone(),
            at: self.clock.now(),
            id: p.id.clone(),
            action_id: p.action_id.clone(),
            service: p.service.clone(),
            namespace: p.namespace.clone(),
            incident_type: p.incident_type.clone(),
            command: p.command.clone(),
            status,
            detail,
            escalate,
            undo: p.undo.as_ref().and_then(|u| serde_json::to_value(u).ok()),
        }
    }

    /// The checks, the executor, the outcome record and, for an applied action, its place in
    /// the verification queue. `restarted`: a decision from before a restart, carried out
    /// now under its own idempotency key (one already applied is found so, not repeated).
    fn carry_out(&self, mut p: Pending, action: Action, restarted: bool, trips: &Sender<Trip>) -> std::io::Result<()> {
        if self.allow_unsigned {
            tracing::warn!(
                service = %p.service,
                namespace = %p.namespace,
                incident_type = %p.incident_type,
                "acting under an UNSIGNED promotion record (--allow-unsigned): nothing proves a gate allowed this"
            );
        }
        let when = if restarted { "after a restart: " } else { "" };
        if let Some((status, detail)) = self.blocked(&p.namespace, &p.incident_type) {
            tracing::warn!(service = %p.service, namespace = %p.namespace, status, "not acting: {when}{detail}");
            return lock(&self.journal).record(&self.outcome(&p, status, format!("{when}{detail}"), true));
        }
        let req = Request {
            action_id: p.action_id.clone(),
            service: p.service.clone(),
            namespace: p.namespace.clone(),
            action,
            target_replicas: p.target_replicas,
            at: p.acted,
        };
        // What undoing it would take, read before it runs (only when the policy undoes it).
        if self.policy.remediation(&p.incident_type).is_some_and(|r| r.rollback_if_failed) {
            p.undo = self.executor.before(&req);
        }
        let done = self.executor.execute(&req);
        let (mut status, mut detail, escalate) = match &done {
            Ok(x) => (x.status(), x.detail().to_string(), false),
            Err(e) => (e.status(), e.to_string(), true),
        };
        // Applied now, or (after a restart) found applied by this same decision before it:
        // either way the action on the cluster is this decision's, so it is `applied` (and
        // a later restart resumes its verification).
        let applied = match done {
            Ok(super::executor::Done::Applied(_)) => true,
            Ok(super::executor::Done::AlreadyApplied(_)) if restarted => {
                status = "applied";
                detail = format!("found applied before the restart: {detail}");
                true
            }
            _ => false,
        };
        tracing::info!(service = %p.service, namespace = %p.namespace, status, "{when}{detail}");
        if !applied {
            p.undo = None;
        }
        lock(&self.journal).record(&self.outcome(&p, status, format!("{when}{detail}"), escalate))?;
        if applied {
            if matches!(done, Ok(super::executor::Done::Applied(_))) {
                p.acted = self.clock.now();
            }
            self.verify_later(p, trips.clone());
        }
        Ok(())
    }

    /// Executed decisions the audit log shows with no outcome: the process stopped between
    /// deciding and recording what the executor did. One whose incident is still open, decided
    /// by this same policy, with an action that can be repeated safely, is carried out now
    /// under its own idempotency key: an action that reached the cluster before the crash is
    /// found there (`already-applied`) and verified, one that did not is applied, so the
    /// incident gets exactly one. The rest get an `unknown-after-restart` outcome that
    /// escalates, naming the marker to look for; nothing is re-run blindly.
    ///
    /// `held(p)` says why the pipeline would not let `p` run now (its incident closed, its
    /// service's breaker tripped). `last_written` is when the log was last written before
    /// this start (its modification time): a process down for longer than
    /// [`MAX_REDRIVE_AGE`] carries out nothing it decided before (a decision record carries
    /// the alert's time, not the wall time it was made at; none was made after the last write).
    pub fn unsettled(
        &self,
        in_flight: Vec<Pending>,
        held: impl Fn(&Pending) -> Option<String>,
        last_written: Option<Time>,
        trips: &Sender<Trip>,
    ) -> std::io::Result<()> {
        let down = last_written.map(|t| self.clock.now().since(t));
        for mut p in in_flight {
            p.action_id = action_id_of(&p.fingerprint, &p.namespace, &p.service, &p.incident_type, p.acted);
            let action = self.policy.remediation(&p.incident_type).map(|r| r.action.clone());
            let held = held(&p);
            let why_not = match &action {
                _ if p.fingerprint != self.fingerprint => Some("the policy changed since".to_string()),
                _ if down.is_none_or(|d| d > MAX_REDRIVE_AGE) => Some(format!(
                    "understudy was down for {}, over {}: the world has moved on",
                    down.map_or("an unknown time".into(), crate::clock::format_duration),
                    crate::clock::format_duration(MAX_REDRIVE_AGE)
                )),
                _ if held.is_some() => held,
                None => Some(format!("the policy has no remediation for {}", p.incident_type)),
                Some(a) if !a.repeatable() => Some(format!("a {} cannot safely be run twice", a.kind())),
                Some(_) => None,
            };
            match (why_not, action) {
                (None, Some(action)) => {
                    tracing::warn!(service = %p.service, namespace = %p.namespace, "carrying out `{}` decided before the restart", p.command);
                    self.carry_out(p, action, true, trips)?;
                }
                (why, _) => {
                    let why = why.unwrap_or_default();
                    tracing::warn!(service = %p.service, namespace = %p.namespace, "an action decided before the restart has no outcome ({why}): escalating");
                    let detail = format!(
                        "understudy stopped between deciding and recording the result, and does not carry it out now ({why}); check whether deployment/{} -n {} carries {}={}",
                        p.service,
                        p.namespace,
                        super::executor::ACTION_ID,
                        p.action_id
                    );
                    lock(&self.journal).record(&self.outcome(&p, "unknown-after-restart", detail, true))?;
                }
            }
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
        self.queue_at(d.acted.saturating_add(window), d, trips);
    }

    fn queue_at(&self, due: Time, d: Pending, trips: Sender<Trip>) {
        let seq = self.verifications.seq.fetch_add(1, Ordering::Relaxed);
        self.verifications.lock().insert((due, seq), (d, trips));
    }

    /// Run every verification due by `now`, earliest first, up to [`VERIFY_PARALLEL`] at
    /// once (each call is bounded by the executor's timeouts); how many ran.
    pub fn run_due(&self, now: Time) -> usize {
        let mut n = 0;
        loop {
            let due: Vec<(Pending, Sender<Trip>)> = {
                let mut q = self.verifications.lock();
                let mut due = Vec::new();
                while due.len() < VERIFY_PARALLEL {
                    match q.first_key_value() {
                        Some((k, _)) if k.0 <= now => due.extend(q.pop_first().map(|(_, v)| v)),
                        _ => break,
                    }
                }
                due
            };
            if due.is_empty() {
                return n;
            }
            n += due.len();
            if due.len() == 1 {
                due.into_iter().for_each(|x| self.verify(x));
            } else {
                std::thread::scope(|s| {
                    for x in due {
                        s.spawn(move || self.verify(x));
                    }
                });
            }
        }
    }

    /// Start, each on a thread of its own, the verifications due by `now`, as long as fewer
    /// than [`VERIFY_PARALLEL`] are running: a hung call holds up only its own verification
    /// (those behind it start as soon as any running one ends).
    fn start_due(self: &Arc<Self>, now: Time) {
        loop {
            if self.verifications.running.load(Ordering::Acquire) >= VERIFY_PARALLEL {
                return;
            }
            let next = {
                let mut q = self.verifications.lock();
                match q.first_key_value() {
                    Some((k, _)) if k.0 <= now => q.pop_first().map(|(_, v)| v),
                    _ => None,
                }
            };
            let Some(x) = next else { return };
            self.verifications.running.fetch_add(1, Ordering::AcqRel);
            let c = Arc::clone(self);
            std::thread::spawn(move || {
                c.verify(x);
                c.verifications.running.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }

    /// Live mode's timer: a thread that starts verifications as the clock reaches their
    /// deadlines (checked every 100 ms, so a newly queued one or a free slot waits no longer).
    pub fn spawn_timer(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let c = Arc::clone(self);
        std::thread::spawn(move || {
            loop {
                let now = c.clock.now();
                c.start_due(now);
                let wait = match c.verifications.waiting().1 {
                    Some(due) => due.since(c.clock.now()).min(std::time::Duration::from_millis(100)),
                    None => std::time::Duration::from_millis(100),
                };
                std::thread::sleep(wait.max(std::time::Duration::from_millis(10)));
            }
        })
    }

    /// The verification of one applied action: the executor's checks; when one could not
    /// read the cluster and none failed, the same verification again later (up to
    /// [`VERIFY_RETRIES`] times), then a person is told nobody knows and the breaker is left
    /// alone; when a check failed, the undo the policy asks for and the breaker; then the
    /// `verification` record.
    fn verify(&self, (mut d, trips): (Pending, Sender<Trip>)) {
        let executor = &self.executor;
        let checks = executor.verify(&d.namespace, &d.service, d.acted);
        let failed: Vec<&str> = checks.iter().filter(|c| !c.passed && !c.unknown).map(|c| c.name).collect();
        let unknown = failed.is_empty() && (checks.is_empty() || checks.iter().any(|c| c.unknown));
        if unknown && d.tries < VERIFY_RETRIES {
            d.tries += 1;
            tracing::warn!(service = %d.service, namespace = %d.namespace, try = d.tries, "cannot read the cluster to verify `{}`: trying again in {}s", d.command, VERIFY_RETRY_AFTER.as_secs());
            self.queue_at(self.clock.now().saturating_add(VERIFY_RETRY_AFTER), d, trips);
            return;
        }
        let passed = !unknown && failed.is_empty();
        if !failed.is_empty() {
            let _ = trips.send((
                ServiceKey::new(&d.namespace, &d.service),
                format!("verification failed after {}: {}", d.command, failed.join(", ")),
            ));
        }
        // rollback_if_failed: put back what the action changed, through the same executor,
        // and say so before the verification record escalates with the whole history. An
        // action whose effect is unknown is not undone: the undo could be the harm.
        let mut rolled_back = false;
        if let (false, Some(undo)) = (failed.is_empty(), &d.undo) {
            let done = executor.undo(&d.action_id, &d.namespace, &d.service, undo);
            rolled_back = done.is_ok();
            let (status, detail) = match &done {
                Ok(x) => ("undone", x.detail().to_string()),
                Err(e) => ("undo-failed", e.to_string()),
            };
            tracing::warn!(service = %d.service, namespace = %d.namespace, status, "verification failed, undoing: {detail}");
            let mut r = self.outcome(&d, status, detail, false);
            if let AuditRecord::Outcome { command, undo: u, .. } = &mut r {
                *command = undo.describe(&d.namespace, &d.service);
                *u = None;
            }
            if let Err(e) = lock(&self.journal).record(&r) {
                tracing::error!(error = %e, "cannot write the undo record");
            }
        }
        if unknown {
            tracing::error!(service = %d.service, namespace = %d.namespace, "cannot verify `{}` after {} tries: escalating", d.command, d.tries + 1);
        }
        let r = AuditRecord::Verification {
            policy_fingerprint: d.fingerprint.clone(),
            at: self.clock.now(),
            id: d.id.clone(),
            service: d.service.clone(),
            namespace: d.namespace.clone(),
            incident_type: d.incident_type.clone(),
            command: d.command.clone(),
            passed,
            unknown,
            checks,
            rolled_back,
            breaker_tripped: !failed.is_empty(),
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
            vec![Check {
                name: "error_rate",
                passed: false,
                observed: "0.3".into(),
                expected: "≤ 0.01".into(),
                unknown: false,
            }]
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
            target: None,
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

    /// A cluster whose reads the test scripts: `verify` answers from `answers` in turn (the
    /// last one again when they run out); `execute` finds the action applied when
    /// `applied_before` says so. The service `slow` answers its verification only once
    /// `release` is sent.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<Vec<Vec<Check>>>,
        applied_before: bool,
        executed: Mutex<Vec<Request>>,
        undos: Mutex<usize>,
        release: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    }

    fn check(passed: bool, unknown: bool) -> Check {
        Check { name: "pods_ready", passed, observed: "x".into(), expected: "y".into(), unknown }
    }

    impl Executor for Scripted {
        fn execute(&self, req: &Request) -> Result<Done, Failed> {
            self.executed.lock().unwrap().push(req.clone());
            Ok(if self.applied_before {
                Done::AlreadyApplied("marker found".into())
            } else {
                Done::Applied("scaled".into())
            })
        }
        fn before(&self, _: &Request) -> Option<Undo> {
            Some(Undo::Replicas { replicas: 3 })
        }
        fn undo(&self, _: &str, _: &str, _: &str, _: &Undo) -> Result<Done, Failed> {
            *self.undos.lock().unwrap() += 1;
            Ok(Done::Applied("scaled back".into()))
        }
        fn stopped(&self) -> Option<Stopped> {
            None
        }
        fn verify(&self, _: &str, service: &str, _: Time) -> Vec<Check> {
            if service == "slow"
                && let Some(rx) = self.release.lock().unwrap().take()
            {
                rx.recv_timeout(std::time::Duration::from_secs(20))
                    .expect("the fast verification never finished first");
            }
            let mut a = self.answers.lock().unwrap();
            if a.len() > 1 { a.remove(0) } else { a[0].clone() }
        }
    }

    struct Fixture {
        c: Controller,
        clock: Arc<ManualClock>,
        log: std::path::PathBuf,
        exec: Arc<Scripted>,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(exec: Scripted) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let p = policy(true);
            let exec = Arc::new(exec);
            let clock = Arc::new(ManualClock::new(Time::parse_rfc3339("2026-11-24T12:00:00Z").unwrap()));
            let c = Controller {
                policy: p.clone(),
                fingerprint: p.fingerprint(),
                promotion: None,
                allow_unsigned: false,
                executor: exec.clone(),
                stop: EmergencyStop::default(),
                journal: crate::live::journal::for_tests(dir.path()),
                clock: clock.clone(),
                verifications: Verifications::default(),
            };
            Fixture { c, clock, log: dir.path().join("audit.jsonl"), exec, _dir: dir }
        }

        fn decide(&self, service: &str, trips: &Sender<Trip>) {
            let inc = Incident {
                at: self.clock.now(),
                service: service.into(),
                namespace: "prod".into(),
                incident_type: "cpu-spike".into(),
                confidence: 0.95,
                signal: None,
                replicas: Some(3),
                id: Some(format!("e-{service}")),
                target: None,
            };
            let d = Pipeline::new(self.c.policy.clone()).decide(inc.at, &inc);
            self.c.handle(&inc, &d, trips).unwrap();
        }

        fn advance(&self, d: std::time::Duration) -> usize {
            self.clock.advance_to(self.clock.now().saturating_add(d));
            self.c.run_due(self.clock.now())
        }

        fn records(&self) -> Vec<serde_json::Value> {
            std::fs::read_to_string(&self.log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        }

        fn pending(&self, id: &str, service: &str) -> Pending {
            Pending {
                id: Some(id.into()),
                fingerprint: self.c.fingerprint.clone(),
                action_id: String::new(),
                namespace: "prod".into(),
                service: service.into(),
                incident_type: "cpu-spike".into(),
                command: "kubectl scale deployment/payment-api -n prod --replicas=6".into(),
                target_replicas: Some(6),
                acted: self.clock.now(),
                undo: None,
                tries: 0,
            }
        }
    }

    #[test]
    fn an_unreadable_cluster_is_verified_again_then_escalated_as_unknown_without_tripping_or_undoing() {
        let f = Fixture::new(Scripted { answers: Mutex::new(vec![vec![check(false, true)]]), ..Scripted::default() });
        let (tx, trips) = std::sync::mpsc::channel();
        f.decide("payment-api", &tx);
        assert_eq!(f.advance(std::time::Duration::from_secs(1)), 1, "the window ends: first try");
        for _ in 0..VERIFY_RETRIES {
            assert_eq!(f.records().len(), 1, "nothing recorded while trying again");
            assert_eq!(f.advance(VERIFY_RETRY_AFTER - std::time::Duration::from_millis(1)), 0);
            assert_eq!(f.advance(std::time::Duration::from_millis(1)), 1, "tried again after {VERIFY_RETRY_AFTER:?}");
        }
        let r = f.records();
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[1]["record"], "verification");
        assert_eq!((r[1]["passed"].as_bool(), r[1]["unknown"].as_bool()), (Some(false), Some(true)));
        assert_eq!((r[1]["breaker_tripped"].as_bool(), r[1]["escalate"].as_bool()), (Some(false), Some(true)));
        assert_eq!(r[1]["checks"][0]["unknown"], true);
        assert!(trips.try_recv().is_err(), "no breaker: nothing says the action did harm");
        assert_eq!(*f.exec.undos.lock().unwrap(), 0, "an action whose effect is unknown is not undone");
        assert_eq!(f.c.verifications.waiting(), (0, None));
    }

    #[test]
    fn a_cluster_readable_again_on_a_later_try_gives_that_try_s_verdict() {
        for (second, passed, tripped) in [(check(true, false), true, false), (check(false, false), false, true)] {
            let answers = vec![vec![check(false, true)], vec![second]];
            let f = Fixture::new(Scripted { answers: Mutex::new(answers), ..Scripted::default() });
            let (tx, trips) = std::sync::mpsc::channel();
            f.decide("payment-api", &tx);
            f.advance(std::time::Duration::from_secs(1));
            assert_eq!(f.advance(VERIFY_RETRY_AFTER), 1);
            let r = f.records();
            let v = r.iter().find(|r| r["record"] == "verification").expect("verified");
            assert_eq!((v["passed"].as_bool(), v.get("unknown")), (Some(passed), None), "{r:#?}");
            assert_eq!(trips.try_recv().is_ok(), tripped);
        }
    }

    #[test]
    fn one_hung_verification_holds_up_no_other() {
        let (release, wait) = std::sync::mpsc::channel();
        let f = Fixture::new(Scripted {
            answers: Mutex::new(vec![vec![check(true, false)]]),
            release: Mutex::new(Some(wait)),
            ..Scripted::default()
        });
        let (tx, _trips) = std::sync::mpsc::channel();
        f.decide("slow", &tx);
        f.decide("payment-api", &tx);
        std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                // The fast one's record appears while the slow one is still waiting.
                for _ in 0..2000 {
                    if f.records().iter().any(|r| r["record"] == "verification" && r["service"] == "payment-api") {
                        release.send(()).unwrap();
                        return true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                let _ = release.send(());
                false
            });
            assert_eq!(f.advance(std::time::Duration::from_secs(1)), 2);
            assert!(watcher.join().unwrap(), "the fast verification waited for the hung one");
        });
        assert_eq!(f.records().iter().filter(|r| r["record"] == "verification").count(), 2);
    }

    #[test]
    fn the_timer_starts_each_due_verification_without_waiting_for_a_hung_one() {
        let (release, wait) = std::sync::mpsc::channel();
        let f = Fixture::new(Scripted {
            answers: Mutex::new(vec![vec![check(true, false)]]),
            release: Mutex::new(Some(wait)),
            ..Scripted::default()
        });
        let (tx, _trips) = std::sync::mpsc::channel();
        f.decide("slow", &tx);
        let fast: Vec<String> = (0..VERIFY_PARALLEL + 2).map(|i| format!("svc-{i}")).collect();
        for s in &fast {
            f.decide(s, &tx);
        }
        f.clock.advance_to(f.clock.now().saturating_add(std::time::Duration::from_secs(1)));
        let Fixture { c, clock, log, _dir, .. } = f;
        let c = Arc::new(c);
        let verified = || {
            std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.contains(r#""record":"verification""#)).count()
        };
        // More fast ones than slots: they must all finish while the slow one still hangs.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while verified() < fast.len() && std::time::Instant::now() < end {
            c.start_due(clock.now());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(verified(), fast.len(), "the fast verifications waited for the hung one");
        release.send(()).unwrap();
        while verified() < fast.len() + 1 && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(verified(), fast.len() + 1);
    }

    #[test]
    fn a_decision_left_in_flight_by_a_crash_is_carried_out_once_or_escalated() {
        // Not applied before the crash: applied now, then verified.
        let f = Fixture::new(Scripted { answers: Mutex::new(vec![vec![check(true, false)]]), ..Scripted::default() });
        let (tx, _trips) = std::sync::mpsc::channel();
        f.c.unsettled(vec![f.pending("e7", "payment-api")], |_| None, Some(f.clock.now()), &tx).unwrap();
        let r = f.records();
        assert_eq!((r[0]["status"].as_str(), r[0]["id"].as_str()), (Some("applied"), Some("e7")), "{r:#?}");
        assert!(r[0]["detail"].as_str().unwrap().starts_with("after a restart: "));
        let executed = f.exec.executed.lock().unwrap().clone();
        assert_eq!(executed.len(), 1);
        let p = f.pending("e7", "payment-api");
        assert_eq!(executed[0].action_id, action_id_of(&p.fingerprint, "prod", "payment-api", "cpu-spike", p.acted));
        assert_eq!(
            (executed[0].target_replicas, executed[0].at),
            (Some(6), p.acted),
            "the decision's own key and time"
        );
        assert_eq!(f.advance(std::time::Duration::from_secs(1)), 1, "and verified");

        // Applied before the crash: found by its marker, not repeated, and verified.
        let f = Fixture::new(Scripted {
            answers: Mutex::new(vec![vec![check(true, false)]]),
            applied_before: true,
            ..Scripted::default()
        });
        f.c.unsettled(vec![f.pending("e7", "payment-api")], |_| None, Some(f.clock.now()), &tx).unwrap();
        let r = f.records();
        assert_eq!(r[0]["status"], "applied", "{r:#?}");
        assert!(r[0]["detail"].as_str().unwrap().contains("found applied before the restart"));
        assert_eq!(f.advance(std::time::Duration::from_secs(1)), 1, "verified from the decision's time");

        // Held by the pipeline (its incident closed, its breaker tripped), the policy changed,
        // or decided too long ago: a person is told, nothing runs.
        let f = Fixture::new(Scripted::default());
        let mut changed = f.pending("e8", "payment-api");
        changed.fingerprint = "sha256:another".into();
        let held = |p: &Pending| (p.id.as_deref() == Some("e7")).then(|| "its incident closed since".to_string());
        f.c.unsettled(vec![f.pending("e7", "payment-api"), changed], held, Some(f.clock.now()), &tx).unwrap();
        let long_ago = f.clock.now().saturating_sub(MAX_REDRIVE_AGE + std::time::Duration::from_secs(1));
        f.c.unsettled(vec![f.pending("e9", "payment-api")], |_| None, Some(long_ago), &tx).unwrap();
        let r = f.records();
        assert_eq!(r.len(), 3);
        for (rec, why) in r.iter().zip(["its incident closed since", "the policy changed since", "down for 10m1s"]) {
            assert_eq!(
                (rec["status"].as_str(), rec["escalate"].as_bool()),
                (Some("unknown-after-restart"), Some(true))
            );
            assert!(rec["detail"].as_str().unwrap().contains(why), "{rec}");
        }
        assert!(f.exec.executed.lock().unwrap().is_empty());
        assert_eq!(f.c.verifications.waiting().0, 0);
    }
}
