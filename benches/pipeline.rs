//! The decision pipeline: one decision on the default policy, state included.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use understudy::clock::Time;
use understudy::decide::{Incident, Pipeline};
use understudy::policy::Policy;

fn decide(c: &mut Criterion) {
    let policy = Policy::load(Path::new("scenarios/policy.yaml")).expect("default policy").policy;
    let mut t = Time::parse_rfc3339("2026-11-24T00:00:00Z").unwrap().nanos();
    let services = ["payment-api", "checkout-api", "worker-consumer"];
    let types = ["memory-leak", "cpu-spike", "bad-deployment", "capacity-loss"];
    let mut p = Pipeline::new(policy);
    let mut i = 0usize;
    c.bench_function("decide", |b| {
        b.iter(|| {
            i += 1;
            t += 37_000_000_000;
            let inc = Incident {
                at: Time(t),
                service: services[i % 3].into(),
                namespace: "prod".into(),
                incident_type: types[i % 4].into(),
                confidence: 0.8 + (i % 20) as f64 / 100.0,
                signal: None,
                replicas: Some(3),
                id: None,
                target: None,
            };
            p.decide(inc.at, &inc)
        })
    });
}

/// The escalation book full (10,000 incidents remembered, as a receiver is after a day of
/// unique escalating incidents): the cost of one more, which forgets the oldest.
fn book_full(c: &mut Criterion) {
    use understudy::audit::AuditRecord;
    use understudy::escalate::{Book, Context};
    let policy = Policy::load(Path::new("scenarios/policy.yaml")).expect("default policy").policy;
    let fingerprint = policy.fingerprint();
    let mut pipeline = Pipeline::new(policy);
    let mut book = Book::new(Context {
        mode: "live".into(),
        scope: "live".into(),
        key_by_id: false,
        default_channel: "pagerduty-p1".into(),
        records: "audit.jsonl".into(),
        evidence_url: None,
        repeat: Default::default(),
    });
    let mut n = 0u64;
    let mut one = move || {
        n += 1;
        // A unique service each time, low confidence: every one escalates.
        let inc = Incident {
            at: Time(1_795_000_000_000_000_000 + (n as i64) * 1_000_000_000),
            service: format!("svc-{n}"),
            namespace: "prod".into(),
            incident_type: "memory-leak".into(),
            confidence: 0.5,
            signal: None,
            replicas: Some(3),
            id: Some(format!("e{n}")),
            target: None,
        };
        let d = pipeline.decide(inc.at, &inc);
        book.observe(&AuditRecord::Decision {
            policy_fingerprint: fingerprint.clone(),
            input: Box::new(inc),
            decision: Box::new(d),
        })
    };
    for _ in 0..10_000 {
        one();
    }
    c.bench_function("book_full_one_more_incident", |b| b.iter(&mut one));
}

criterion_group!(benches, decide, book_full);
criterion_main!(benches);
