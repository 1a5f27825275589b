//! Runtime settings: the pooling allocator, its limits, and on-demand
//! allocation.

use bytesize::ByteSize;
use serde_json::json;
use wflow_host::{InstanceAllocator, Runtime, RuntimeConfig, Workflow};
use wflow_tests::component_path;

fn runtime(allocator: InstanceAllocator) -> Runtime {
    Runtime::with_config(RuntimeConfig {
        allocator,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_makes_instances_wait_and_idle_ones_give_way() {
    // fanout wants up to six instances at once (fan_out, four work workers,
    // gather); a pool of three must still finish it.
    let runtime = runtime(InstanceAllocator::Pooling {
        max_instances: 3,
        max_memory: ByteSize::gib(1),
    });
    assert!(matches!(
        runtime.allocator(),
        InstanceAllocator::Pooling {
            max_instances: 3,
            ..
        }
    ));
    let fanout = Workflow::load(&runtime, &component_path("fanout"))
        .await
        .unwrap();
    let output = fanout
        .run(json!({"n": 200}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(output.result, json!({"sum": 19_900, "count": 200}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_allocation_runs_workflows_too() {
    let runtime = runtime(InstanceAllocator::OnDemand);
    assert_eq!(runtime.allocator(), InstanceAllocator::OnDemand);
    let joke = Workflow::load(&runtime, &component_path("joke"))
        .await
        .unwrap();
    let output = joke
        .run(json!({"topic": "heaps"}))
        .unwrap()
        .result()
        .await
        .unwrap();
    assert!(output.result.as_str().unwrap().contains("heaps"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_memory_limit_above_the_pool_is_refused_at_load() {
    let runtime = runtime(InstanceAllocator::Pooling {
        max_instances: 10,
        max_memory: ByteSize::mib(128),
    });
    let err = Workflow::load(&runtime, &component_path("joke"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowConfigurationError");
    assert_eq!(
        err.to_string(),
        "step `write_joke` may use 256.0 MiB of memory, more than the runtime's pooling allocator gives an instance (128.0 MiB)"
    );
}
