//! A full fact gathering (`gather_subset: all`), uncached and cached.

use criterion::{Criterion, criterion_group, criterion_main};

fn gather(c: &mut Criterion) {
    let opts = agent_facts::Options::default();
    c.bench_function("gather_all_uncached", |b| {
        b.iter(|| {
            let mut cache = agent_facts::Cache::new();
            agent_facts::gather(&opts, &mut cache)
        })
    });
    let mut cache = agent_facts::Cache::new();
    c.bench_function("gather_all_cached", |b| {
        b.iter(|| agent_facts::gather(&opts, &mut cache))
    });
}

criterion_group!(benches, gather);
criterion_main!(benches);
