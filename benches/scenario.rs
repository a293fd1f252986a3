//! A whole scenario at full fidelity: one replication of a week in production, both arms.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use understudy::policy::Policy;
use understudy::sim::{run_replication, scenario::Scenario};

fn week(c: &mut Criterion) {
    let policy = Policy::load(Path::new("scenarios/policy.yaml")).expect("policy").policy;
    let (s, _) = Scenario::load(Path::new("scenarios/week-in-prod.yaml")).expect("scenario");
    c.bench_function("week-in-prod-replication", |b| b.iter(|| run_replication(&s, &policy, 42, 0)));
}

criterion_group! { name = benches; config = Criterion::default().sample_size(10); targets = week }
criterion_main!(benches);
