//! The event queue under the hold model (see `understudy bench engine` for the headline figure).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn hold(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine-hold");
    for pending in [1_000usize, 100_000] {
        g.throughput(Throughput::Elements(1_000_000));
        g.bench_function(format!("pending-{pending}"), |b| {
            b.iter(|| understudy::bench::hold(pending, 1_000_000, 42, None))
        });
    }
    g.finish();
}

criterion_group! { name = benches; config = Criterion::default().sample_size(10); targets = hold }
criterion_main!(benches);
