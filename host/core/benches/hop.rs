//! The per-event hop and the 10-step chain's runs per second.
//!
//! `cargo bench -p wflow-host --bench hop`.
//!
//! - `pingpong/hops_N`: one run in which one step bounces an event back to
//!   itself N times on a warm instance; (t(N=1000) - t(N=0)) / 1000 is the
//!   cost of one hop: broker routing plus one guest call.
//! - `runs/chain10_run`: a run of the 10-step chain (11 events, 10 guest
//!   calls, 10 instances created, since every run instantiates its workers
//!   afresh); its inverse is runs per second.
//! - `runs/joke_run`: the two-step joke.

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
    let pingpong = runtime.block_on(wflow_tests::workflow("pingpong"));

    let mut group = c.benchmark_group("pingpong");
    for hops in [0u64, 1000] {
        group.bench_function(format!("hops_{hops}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let handler = pingpong.run(json!({ "hops": hops })).expect("run starts");
                handler.result().await.expect("run succeeds");
            })
        });
    }
    group.finish();

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
