//! The per-event hop and the 10-step chain's runs per second.
//!
//! `cargo bench -p wflow-host --bench hop`. A run of the 10-step chain
//! routes 11 events (start, 9 hops, stop) through 10 guest calls; its time
//! divided by 10 bounds the cost of one hop (broker + guest call), run
//! set-up included. Workers are warm within a run but every run creates its
//! instances afresh, as every run does.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let chain = runtime.block_on(wflow_tests::workflow("chain"));
    let joke = runtime.block_on(wflow_tests::workflow("joke"));

    let mut group = c.benchmark_group("runs");
    group.bench_function("chain10_run", |b| {
        b.to_async(&runtime).iter(|| async {
            let handler = chain.run(json!({"n": 0})).expect("run starts");
            let output = handler.result().await.expect("run succeeds");
            assert_eq!(output.result, json!(10));
        })
    });
    group.bench_function("joke_run", |b| {
        b.to_async(&runtime).iter(|| async {
            let handler = joke.run(json!({"topic": "bench"})).expect("run starts");
            handler.result().await.expect("run succeeds");
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
