//! The lesson's exercises (shared/seed/self-healing-lesson.txt), exactly, against the shipped
//! default policy.

use understudy::clock::Time;
use understudy::decide::{Incident, Pipeline, Status};

use crate::lesson_policy as default_policy;

fn at(hhmm: &str) -> Time {
    Time::parse_rfc3339(&format!("2026-11-24T{hhmm}:00Z")).unwrap()
}

fn incident(hhmm: &str, service: &str, incident_type: &str, confidence: f64) -> Incident {
    Incident {
        at: at(hhmm),
        service: service.into(),
        namespace: "prod".into(),
        incident_type: incident_type.into(),
        confidence,
        signal: None,
        replicas: None,
        id: None,
        target: None,
    }
}

#[test]
fn a_payment_api_oomkilled_memory_leak_095_executes_the_restart() {
    let mut p = Pipeline::new(default_policy());
    let d = p.decide(at("10:00"), &incident("10:00", "payment-api", "memory-leak", 0.95));
    assert_eq!(d.status, Status::Execute);
    assert!(!d.escalate);
    assert_eq!(d.command.as_deref(), Some("kubectl rollout restart deployment/payment-api -n prod"));
    assert!(d.reason.contains("0.95") && d.reason.contains("0.92"), "{}", d.reason);
}

#[test]
fn b_checkout_api_503s_after_helm_upgrade_088_escalates_and_suggests_helm_rollback() {
    let mut p = Pipeline::new(default_policy());
    let d = p.decide(at("10:08"), &incident("10:08", "checkout-api", "bad-deployment", 0.88));
    assert_ne!(d.status, Status::Execute);
    assert_eq!(d.status, Status::LowConfidence);
    assert!(d.escalate);
    assert_eq!(d.command, None);
    assert_eq!(d.suggested_action.as_deref(), Some("helm rollback checkout-api -n prod"));
}

#[test]
fn c_worker_consumer_pods_5_to_1_071_escalates() {
    let mut p = Pipeline::new(default_policy());
    let mut i = incident("14:00", "worker-consumer", "capacity-loss", 0.71);
    i.replicas = Some(1);
    let d = p.decide(i.at, &i);
    assert_ne!(d.status, Status::Execute);
    assert!(d.escalate);
    assert_eq!(d.suggested_action.as_deref(), Some("kubectl scale deployment/worker-consumer -n prod --replicas=5"));
}

#[test]
fn cpu_spike_payment_api_061_is_low_confidence_and_escalates() {
    let mut p = Pipeline::new(default_policy());
    let d = p.decide(at("10:00"), &incident("10:00", "payment-api", "cpu-spike", 0.61));
    assert_eq!(d.status, Status::LowConfidence);
    assert!(d.escalate);
    assert_eq!(d.suggested_action.as_deref(), Some("kubectl scale deployment/payment-api -n prod --replicas=6"));
}

#[test]
fn same_service_within_ten_minutes_is_cooldown_then_third_restart_is_max_attempts() {
    let mut p = Pipeline::new(default_policy());
    let first = p.decide(at("10:00"), &incident("10:00", "payment-api", "memory-leak", 0.95));
    assert_eq!(first.status, Status::Execute);

    let again = p.decide(at("10:09"), &incident("10:09", "payment-api", "memory-leak", 0.95));
    assert_eq!(again.status, Status::CooldownActive);
    assert!(again.escalate);

    let second = p.decide(at("10:10"), &incident("10:10", "payment-api", "memory-leak", 0.95));
    assert_eq!(second.status, Status::Execute, "cooldown of 10m ends at 10:10: {}", second.reason);

    let third = p.decide(at("10:25"), &incident("10:25", "payment-api", "memory-leak", 0.95));
    assert_eq!(third.status, Status::MaxAttempts);
    assert!(third.escalate);
    assert_eq!(third.suggested_action.as_deref(), Some("kubectl rollout restart deployment/payment-api -n prod"));

    // The attempt window is an hour: at 11:05 the 10:00 restart no longer counts.
    let later = p.decide(at("11:05"), &incident("11:05", "payment-api", "memory-leak", 0.95));
    assert_eq!(later.status, Status::Execute, "{}", later.reason);
}

#[test]
fn cooldown_is_per_service_not_per_incident_type() {
    let mut p = Pipeline::new(default_policy());
    assert_eq!(p.decide(at("10:00"), &incident("10:00", "payment-api", "memory-leak", 0.95)).status, Status::Execute);
    let mut spike = incident("10:05", "payment-api", "cpu-spike", 0.97);
    spike.replicas = Some(3);
    assert_eq!(p.decide(spike.at, &spike).status, Status::CooldownActive);
    // Another service is not affected.
    let other = incident("10:05", "checkout-api", "memory-leak", 0.95);
    assert_eq!(p.decide(other.at, &other).status, Status::Execute);
}
