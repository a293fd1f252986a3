//! What a restarted shadow or live process must remember: the guardrail state and the
//! episode numbering, rebuilt from the audit log before the listener opens.
//!
//! Owns reading the log back: executed decisions (attempts, cooldowns, hourly caps and the
//! loop breaker count them exactly as the running pipeline did when it made them), breakers
//! tripped by a failed verification and lifted by a `breaker-reset` record, the highest
//! episode number used, the incidents still open (with their alerts still firing: a new
//! alert on their service joins them, as it would have without the restart) and which alerts
//! were already decided or joined an episode (Alertmanager re-sends firing alerts; one seen
//! before a restart is not decided again), and which modes started on the log. Reads no
//! file: opening the audit log (`AuditLog::open_with`) hands each record to
//! [`Restored::fold`] in the same pass that checks it (lines that are not records were
//! reported there; records of another kind, or missing fields, are skipped here). Applies
//! nothing itself: the replayer takes a [`Restored`] and folds it into its pipeline.

use std::collections::BTreeMap;

use super::controller::Pending;
use crate::clock::Time;
use crate::decide::ServiceKey;
use crate::replay::Decided;

/// What the audit log says the pipeline had done, in log order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restored {
    /// Executed decisions: service, incident type, decision time.
    pub actions: Vec<(ServiceKey, String, Time)>,
    /// Breakers still tripped at the end of the log, with why.
    pub breakers: BTreeMap<ServiceKey, String>,
    /// The highest episode number in a decision id (`e17` → 17).
    pub last_episode: usize,
    /// Incidents still open at the end of the log, one per service (shadow and live open at
    /// most one per service): a new alert on the service after the restart joins it.
    pub open: BTreeMap<ServiceKey, OpenIncident>,
    /// Alerts of incidents the log shows closed, in log order: a stale re-delivery of one
    /// after the restart is not an incident.
    pub closed_alerts: Vec<Decided>,
    /// Alerts that produced a decision or joined an episode → that episode's id.
    pub decided: BTreeMap<Decided, String>,
    /// Decision records read.
    pub decisions: usize,
    /// The modes that started on this log (`started` records), each once, first first.
    pub modes: Vec<String>,
    /// Executed decisions with no outcome that no live start wrote (shadow's, or a log from
    /// before `started` records): counted against the guardrails, never carried out.
    pub unowned: usize,
    /// When the log was last written before this start (its modification time; set by the
    /// caller that opened it).
    pub last_written: Option<Time>,
    /// The mode of the latest `started` record folded so far.
    running: Option<String>,
    /// Actions the log shows applied (an `applied` outcome) and not yet verified, in log
    /// order: a crash during the verification window must not leave them unchecked.
    pub unverified: Vec<Pending>,
    /// Executed decisions with no outcome after them (live mode: the process stopped
    /// between deciding and recording what the executor did), `acted` being the decision's
    /// time. Nobody knows whether they were applied, so a person is told.
    pub in_flight: Vec<Pending>,
}

/// An incident the log shows open: its id, when it started, its latest alert, and which of
/// its alerts (name, startsAt) are still firing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenIncident {
    pub id: String,
    pub start: Time,
    pub last: Time,
    pub firing: std::collections::BTreeSet<String>,
    pub alerts: std::collections::BTreeSet<(String, Time)>,
}

impl Restored {
    /// Fold one audit record into what is remembered.
    pub fn fold(&mut self, v: &serde_json::Value) {
        let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
        let t = |p: &str| s(p).and_then(|x| Time::parse_rfc3339(x).ok());
        match s("/record") {
            Some("decision") => {
                let (Some(ns), Some(svc)) = (s("/decision/namespace"), s("/decision/service")) else { return };
                let key = ServiceKey::new(ns, svc);
                self.decisions += 1;
                let id = s("/decision/id");
                if let Some(n) = id.and_then(|id| id.strip_prefix('e')).and_then(|n| n.parse().ok()) {
                    self.last_episode = self.last_episode.max(n);
                }
                if let (Some(at), Some(signal), Some(id)) = (t("/input/at"), s("/input/signal"), id) {
                    self.decided.insert((key.clone(), at, signal.to_string()), id.to_string());
                    let o = self.open.entry(key.clone()).or_default();
                    if o.id != id {
                        *o = OpenIncident { id: id.to_string(), start: at, last: at, ..OpenIncident::default() };
                    }
                    o.firing.insert(signal.to_string());
                    o.alerts.insert((signal.to_string(), at));
                }
                if s("/decision/status") == Some("execute")
                    && let (Some(ty), Some(at)) = (s("/decision/incident_type"), t("/decision/at"))
                {
                    self.actions.push((key.clone(), ty.to_string(), at));
                    if self.running.as_deref() != Some("live") {
                        self.unowned += 1;
                        return;
                    }
                    self.in_flight.push(Pending {
                        id: id.map(str::to_string),
                        fingerprint: s("/policy_fingerprint").unwrap_or_default().to_string(),
                        action_id: String::new(),
                        namespace: ns.to_string(),
                        service: svc.to_string(),
                        incident_type: ty.to_string(),
                        command: s("/decision/command").unwrap_or_default().to_string(),
                        target_replicas: replicas(v.pointer("/decision/target_replicas")),
                        acted: at,
                        undo: None,
                        tries: 0,
                    });
                }
            }
            Some("outcome") => {
                // Any outcome settles the latest in-flight decision it belongs to.
                let (id, ns, svc) = (s("/id"), s("/namespace"), s("/service"));
                if let Some(k) = self.in_flight.iter().rposition(|f| {
                    f.id.as_deref() == id && Some(f.namespace.as_str()) == ns && Some(f.service.as_str()) == svc
                }) {
                    self.in_flight.remove(k);
                }
                if s("/status") != Some("applied") {
                    return;
                }
                let (Some(ns), Some(svc), Some(at)) = (ns, svc, t("/at")) else { return };
                self.unverified.push(Pending {
                    fingerprint: s("/policy_fingerprint").unwrap_or_default().to_string(),
                    target_replicas: None,
                    tries: 0,
                    action_id: s("/action_id").unwrap_or_default().to_string(),
                    undo: v.get("undo").and_then(|u| serde_json::from_value(u.clone()).ok()),
                    id: s("/id").map(str::to_string),
                    namespace: ns.to_string(),
                    service: svc.to_string(),
                    incident_type: s("/incident_type").unwrap_or_default().to_string(),
                    command: s("/command").unwrap_or_default().to_string(),
                    acted: at,
                });
            }
            Some("verification") => {
                let (Some(ns), Some(svc)) = (s("/namespace"), s("/service")) else { return };
                // The earliest applied action it can be the verification of.
                let id = s("/id");
                if let Some(k) = self.unverified.iter().position(|p| {
                    p.namespace == ns && p.service == svc && p.id.as_deref() == id && s("/command") == Some(&p.command)
                }) {
                    self.unverified.remove(k);
                }
                if v.get("breaker_tripped") != Some(&serde_json::Value::Bool(true)) {
                    return;
                }
                let failed: Vec<&str> = v
                    .get("checks")
                    .and_then(serde_json::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|c| c.get("passed") == Some(&serde_json::Value::Bool(false)))
                    .filter_map(|c| c.get("name").and_then(serde_json::Value::as_str))
                    .collect();
                let why = format!(
                    "verification failed at {} after {}: {} (from the audit log)",
                    s("/at").unwrap_or("?"),
                    s("/command").unwrap_or("?"),
                    failed.join(", ")
                );
                self.breakers.insert(ServiceKey::new(ns, svc), why);
            }
            Some(kind @ ("joined" | "alert-resolved" | "closed")) => {
                let (Some(ns), Some(svc), Some(id)) = (s("/namespace"), s("/service"), s("/id")) else { return };
                let key = ServiceKey::new(ns, svc);
                let (at, signal) = (t("/at"), s("/signal"));
                if let (Some(at), Some(signal), "joined") = (at, signal, kind) {
                    self.decided.insert((key.clone(), at, signal.to_string()), id.to_string());
                }
                let Some(o) = self.open.get_mut(&key).filter(|o| o.id == id) else { return };
                match (kind, signal) {
                    ("joined", Some(signal)) => {
                        o.firing.insert(signal.to_string());
                        if let Some(at) = at {
                            o.alerts.insert((signal.to_string(), at));
                            o.last = o.last.max(at);
                        }
                    }
                    ("alert-resolved", Some(signal)) => {
                        o.firing.remove(signal);
                        let stale =
                            o.alerts.iter().filter(|(n, _)| n == signal).map(|(n, t)| (key.clone(), *t, n.clone()));
                        self.closed_alerts.extend(stale);
                    }
                    ("closed", _) => {
                        if let Some(o) = self.open.remove(&key) {
                            self.closed_alerts.extend(o.alerts.into_iter().map(|(n, t)| (key.clone(), t, n)));
                        }
                    }
                    _ => {}
                }
            }
            Some("started") => {
                if let Some(m) = s("/mode") {
                    if !self.modes.iter().any(|x| x == m) {
                        self.modes.push(m.to_string());
                    }
                    self.running = Some(m.to_string());
                }
            }
            Some("breaker-reset") => {
                if let (Some(ns), Some(svc)) = (s("/namespace"), s("/service")) {
                    self.breakers.remove(&ServiceKey::new(ns, svc));
                }
            }
            _ => {}
        }
    }
}

/// A replica count in a record (absent or not a `u32`: none).
fn replicas(v: Option<&serde_json::Value>) -> Option<u32> {
    v.and_then(serde_json::Value::as_u64).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;
    use crate::audit::AuditRecord;
    use crate::decide::{Incident, Pipeline, State, Status};
    use crate::policy::Policy;

    const POLICY: &str = "remediation_policies:
  - { incident_type: memory-leak, auto_execute: true, confidence_threshold: 0.9, max_attempts: 2, cooldown_after_action: 10m, verification_window: 5m, rollback_if_failed: true, escalation_channel: p1, action: { kind: restart } }
  - { incident_type: cpu-spike, auto_execute: true, confidence_threshold: 0.8, max_attempts: 1, cooldown_after_action: 15m, verification_window: 5m, rollback_if_failed: true, escalation_channel: p1, action: { kind: scale, replicas: 4 } }
guardrails: { namespaces: [prod], max_actions_per_hour: 4, loop_breaker: { max_actions: 3, window: 1h } }
";

    fn policy() -> Policy {
        Policy::from_yaml(Path::new("p.yaml"), POLICY).unwrap().policy
    }

    const T0: i64 = 1_795_000_000_000_000_000;

    fn incident(n: usize, minute: i64, service: &str, ty: &str) -> Incident {
        Incident {
            at: Time(T0 + minute * 60_000_000_000),
            service: service.into(),
            namespace: "prod".into(),
            incident_type: ty.into(),
            confidence: 0.95,
            signal: Some("OOMKilled".into()),
            replicas: Some(3),
            id: Some(format!("e{n}")),
            target: None,
        }
    }

    fn line(p: &Policy, inc: &Incident, d: crate::decide::Decision) -> serde_json::Value {
        let r = AuditRecord::Decision {
            policy_fingerprint: p.fingerprint(),
            input: Box::new(inc.clone()),
            decision: Box::new(d),
        };
        serde_json::to_value(&r).unwrap()
    }

    /// A pipeline whose state was read back from `log`, as `live` does on start.
    fn restored(p: &Policy, log: &[serde_json::Value]) -> (Pipeline, Restored) {
        let mut r = Restored::default();
        for v in log {
            r.fold(v);
        }
        let mut pipe = Pipeline::new(p.clone());
        for (key, ty, at) in &r.actions {
            pipe.state_mut().record_action(p, key.clone(), ty, *at);
        }
        for (key, why) in &r.breakers {
            pipe.state_mut().trip_breaker(key.clone(), why.clone());
        }
        (pipe, r)
    }

    #[test]
    fn the_third_leak_after_a_restart_hits_the_attempt_cap() {
        // The case: OOMs on checkout-api at 12:00 and 12:11, a restart, then 12:22.
        let p = policy();
        let mut first = Pipeline::new(p.clone());
        let mut log = Vec::new();
        for (n, m) in [(1, 0), (2, 11)] {
            let inc = incident(n, m, "checkout-api", "memory-leak");
            let d = first.decide(inc.at, &inc);
            assert_eq!(d.status, Status::Execute);
            log.push(line(&p, &inc, d));
        }
        let (mut second, r) = restored(&p, &log);
        assert_eq!(second.state(), first.state(), "nothing forgotten");
        assert_eq!(r.last_episode, 2);
        let third = incident(3, 22, "checkout-api", "memory-leak");
        assert_eq!(second.decide(third.at, &third).status, Status::MaxAttempts);
        // And within the cooldown of the last action.
        let (mut again, _) = restored(&p, &log);
        let soon = incident(3, 15, "checkout-api", "memory-leak");
        assert_eq!(again.decide(soon.at, &soon).status, Status::CooldownActive);
    }

    #[test]
    fn a_tripped_breaker_stays_tripped_until_a_person_resets_it() {
        let p = policy();
        let trip = serde_json::json!({
            "record": "verification", "at": "2026-11-25T12:05:00Z", "service": "checkout-api",
            "namespace": "prod", "incident_type": "memory-leak", "command": "kubectl rollout restart deployment/checkout-api -n prod",
            "passed": false, "checks": [{"name": "error_rate", "passed": false, "observed": "0.3", "expected": "≤ 0.01"}],
            "rolled_back": false, "breaker_tripped": true, "escalate": true, "policy_fingerprint": p.fingerprint(),
        });
        let (mut pipe, r) = restored(&p, std::slice::from_ref(&trip));
        let key = ServiceKey::new("prod", "checkout-api");
        assert!(r.breakers[&key].contains("error_rate"), "{:?}", r.breakers);
        let inc = incident(1, 600, "checkout-api", "memory-leak");
        let d = pipe.decide(inc.at, &inc);
        assert_eq!(d.status, Status::Blocked);
        assert!(d.reason.contains("error_rate"), "{}", d.reason);
        let reset = serde_json::to_value(AuditRecord::BreakerReset {
            at: Time(T0),
            service: "checkout-api".into(),
            namespace: "prod".into(),
            by: "alice".into(),
            reason: "leak fixed".into(),
        })
        .unwrap();
        let (mut pipe, r) = restored(&p, &[trip, reset]);
        assert!(r.breakers.is_empty());
        assert_eq!(pipe.decide(inc.at, &inc).status, Status::Execute);
    }

    #[test]
    fn incomplete_records_are_ignored_and_modes_listed_once() {
        let mut r = Restored::default();
        for v in [
            serde_json::json!({"record": "outcome", "status": "applied"}),
            serde_json::json!({"record": "decision"}),
            serde_json::json!({"record": "started", "mode": "shadow"}),
            serde_json::json!({"record": "started", "mode": "shadow"}),
            serde_json::json!({"record": "started", "mode": "live"}),
        ] {
            r.fold(&v);
        }
        assert!(r.actions.is_empty() && r.breakers.is_empty() && r.decided.is_empty() && r.unverified.is_empty());
        assert_eq!(r.modes, ["shadow", "live"]);
    }

    #[test]
    fn an_applied_action_without_its_verification_is_still_to_verify() {
        let outcome = |id: &str, at: &str| {
            serde_json::json!({"record": "outcome", "at": at, "id": id, "action_id": "us-1", "service": "checkout-api",
                "namespace": "prod", "incident_type": "memory-leak", "command": "kubectl rollout restart deployment/checkout-api -n prod",
                "status": "applied", "detail": "", "escalate": false, "policy_fingerprint": "x"})
        };
        let verified = serde_json::json!({"record": "verification", "at": "2026-11-25T12:06:00Z", "id": "e1",
            "service": "checkout-api", "namespace": "prod", "incident_type": "memory-leak",
            "command": "kubectl rollout restart deployment/checkout-api -n prod", "passed": true, "checks": [],
            "rolled_back": false, "breaker_tripped": false, "escalate": false, "policy_fingerprint": "x"});
        let refused = serde_json::json!({"record": "outcome", "at": "2026-11-25T12:20:00Z", "id": "e3", "service": "checkout-api",
            "namespace": "prod", "status": "emergency-stop", "command": "c"});
        let mut r = Restored::default();
        for v in [outcome("e1", "2026-11-25T12:01:00Z"), verified, outcome("e2", "2026-11-25T12:12:00Z"), refused] {
            r.fold(&v);
        }
        assert_eq!(r.unverified.len(), 1, "{:?}", r.unverified);
        assert_eq!(r.unverified[0].id.as_deref(), Some("e2"));
        assert_eq!(r.unverified[0].acted, Time::parse_rfc3339("2026-11-25T12:12:00Z").unwrap());
        assert!(r.breakers.is_empty(), "a passed verification trips nothing");
    }

    #[test]
    fn an_executed_decision_without_an_outcome_is_in_flight() {
        let p = policy();
        let inc = incident(1, 0, "checkout-api", "memory-leak");
        let d = Pipeline::new(p.clone()).decide(inc.at, &inc);
        let decided = line(&p, &inc, d);
        let start = |mode: &str| serde_json::json!({"record": "started", "mode": mode});
        // Written before modes were recorded, or by shadow: counted, never carried out.
        for log in [
            vec![decided.clone()],
            vec![start("shadow"), decided.clone()],
            vec![start("live"), start("shadow"), decided.clone()],
        ] {
            let (_, r) = restored(&p, &log);
            assert_eq!((r.in_flight.len(), r.unowned, r.actions.len()), (0, 1, 1), "{log:?}");
        }
        let (_, r) = restored(&p, &[start("live"), decided.clone()]);
        assert_eq!(r.in_flight.len(), 1, "the process stopped before recording what the executor did");
        assert_eq!(r.in_flight[0].id.as_deref(), Some("e1"));
        let outcome = serde_json::json!({"record": "outcome", "at": "2026-11-25T12:01:00Z", "id": "e1",
            "service": "checkout-api", "namespace": "prod", "status": "emergency-stop", "command": "c"});
        let (_, r) = restored(&p, &[start("live"), decided, outcome]);
        assert!(r.in_flight.is_empty() && r.unverified.is_empty());
    }

    proptest! {
        /// A restart at any point changes nothing: the pipeline read back from the audit log
        /// written so far decides every later incident exactly as the one that never stopped.
        #[test]
        fn a_restart_anywhere_decides_the_rest_as_if_it_never_happened(
            steps in proptest::collection::vec((0i64..25, 0usize..3, any::<bool>()), 1..40),
            cut in 0usize..40,
        ) {
            let p = policy();
            let services = ["payment-api", "checkout-api", "search-api"];
            let mut minute = 0;
            let incidents: Vec<Incident> = steps.iter().enumerate().map(|(n, (gap, s, leak))| {
                minute += gap;
                incident(n + 1, minute, services[*s], if *leak { "memory-leak" } else { "cpu-spike" })
            }).collect();
            let cut = cut.min(incidents.len());
            let mut never = Pipeline::new(p.clone());
            let mut log = Vec::new();
            let mut expected = Vec::new();
            for (i, inc) in incidents.iter().enumerate() {
                let d = never.decide(inc.at, inc);
                if i < cut {
                    log.push(line(&p, inc, d));
                } else {
                    expected.push(d);
                }
            }
            let (mut after, _) = restored(&p, &log);
            let got: Vec<_> = incidents[cut..].iter().map(|inc| after.decide(inc.at, inc)).collect();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(after.state(), never.state());
        }
    }

    #[test]
    fn state_compares_equal_only_when_it_would_decide_alike() {
        // Guards the property test above: two states that differ are not equal.
        let p = policy();
        let mut a = State::new();
        let b = State::new();
        a.record_action(&p, ServiceKey::new("prod", "x"), "memory-leak", Time(T0));
        assert_ne!(a, b);
    }
}
