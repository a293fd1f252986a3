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
            };
            p.decide(inc.at, &inc)
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
