//! Instantiation per worker: the pooling allocator versus on-demand.
//!
//! `cargo bench -p wflow-host --bench instantiate`. Each iteration creates a
//! store and an instance of the `joke` component from its pre-linked
//! `InstancePre` and drops them, as a run does for every worker it starts.

use bytesize::ByteSize;
use criterion::{Criterion, criterion_group, criterion_main};
use wflow_core::{InstanceAllocator, Runtime, RuntimeConfig, StepComponent};

fn bench(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let path = wflow_tests::component_path("joke");
    let mut group = c.benchmark_group("instantiate");
    for (name, allocator) in [
        (
            "pooling",
            InstanceAllocator::Pooling {
                max_instances: 1000,
                max_memory: ByteSize::gib(1),
            },
        ),
        ("on_demand", InstanceAllocator::OnDemand),
    ] {
        let runtime = Runtime::with_config(RuntimeConfig {
            allocator,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        assert_eq!(runtime.allocator(), allocator, "{name} is in use");
        let component = tokio
            .block_on(StepComponent::load(&runtime, &path))
            .expect("component loads");
        group.bench_function(name, |b| {
            b.to_async(&tokio).iter(|| async {
                component
                    .probe_instantiate(&runtime)
                    .await
                    .expect("instantiates");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
