//! Runtime settings: the pooling allocator, its limits, and on-demand
//! allocation; the cap on the runtime's own events and on queued events.

use bytesize::ByteSize;
use std::time::Duration;

use serde_json::json;
use std::sync::Arc;
use wflow_core::{
    BoxFuture, CheckpointStore, Event, InstanceAllocator, RunOptions, Runtime, RuntimeConfig,
    Snapshot, StepComponent, Workflow, WorkflowOptions,
};
use wflow_tests::{component_path, error_of, output_of};

/// A runtime whose pool holds `slots` instances of up to 1 GiB.
fn pooled_runtime(slots: u32) -> Runtime {
    runtime(InstanceAllocator::Pooling {
        max_instances: slots,
        max_memory: ByteSize::gib(1),
    })
}

fn runtime(allocator: InstanceAllocator) -> Runtime {
    Runtime::with_config(RuntimeConfig {
        allocator,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Starts a ticker run whose one tick sleeps for a minute in an instance;
/// returns once the tick holds it.
async fn hog_an_instance(ticker: &Workflow) -> wflow_core::WorkflowHandler {
    let hog = ticker
        .run(json!({"laps": 1, "width": 1, "pause_ms": 60_000}))
        .unwrap();
    let mut stream = hog.stream_events().unwrap();
    assert_eq!(stream.next().await.unwrap().name, "Progress");
    hog
}

/// A runtime whose memory budget is `budget`.
fn budgeted_runtime(budget: ByteSize) -> Runtime {
    Runtime::with_config(RuntimeConfig {
        memory_budget: budget,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Guest `name`, loaded into `runtime`.
async fn load(runtime: &Runtime, name: &str) -> Workflow {
    wflow_build::load_workflow(runtime, &component_path(name))
        .await
        .unwrap_or_else(|err| panic!("loading {name}: {err}"))
}

/// Waits until the memory budget of `runtime` holds nothing (runs' brokers
/// let go of their pools just after their results), and asserts it.
async fn assert_budget_empties(runtime: &Runtime) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runtime.memory_in_use().0 > ByteSize::b(0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        runtime.memory_in_use().0,
        ByteSize::b(0),
        "every byte came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_makes_instances_wait_and_idle_ones_give_way() {
    // fanout wants up to six instances at once (fan_out, four work workers,
    // gather); a pool of three must still finish it.
    let runtime = pooled_runtime(3);
    assert!(matches!(
        runtime.allocator(),
        InstanceAllocator::Pooling {
            max_instances: 3,
            ..
        }
    ));
    let fanout = load(&runtime, "fanout").await;
    let output = output_of(&fanout, json!({"n": 200})).await;
    assert_eq!(output, json!({"sum": 19_900, "count": 200}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waiting_for_a_human_holds_no_instance_slot() {
    // 30 runs waiting for an answer on a pool of three slots: each gets its
    // prompt, another workflow's run completes meanwhile, and every answer
    // is taken. A waiting call keeps its instance only until another call
    // needs the slot: it lets go, and its step runs again from the start
    // once answered, as in the reference.
    let runtime = pooled_runtime(3);
    let waits = load(&runtime, "waits").await;
    let joke = load(&runtime, "joke").await;
    let mut handlers = Vec::new();
    for run in 0..30 {
        let handler = waits.run(json!({"mode": "require"})).unwrap();
        let mut stream = handler.stream_events().unwrap();
        let prompt = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap_or_else(|_| panic!("run {run} got no prompt: the waiting runs hold the slots"))
            .unwrap();
        assert_eq!(prompt.name, "InputRequiredEvent");
        handlers.push(handler);
    }
    let output = output_of(&joke, json!({"topic": "slots"})).await;
    assert!(output.as_str().unwrap().contains("slots"));
    for handler in &handlers {
        let approval = Event::new("Approval", &json!({"user": "ada", "ok": true})).unwrap();
        handler.send_event(approval).unwrap();
    }
    for handler in handlers {
        assert_eq!(
            handler.result().await.unwrap().result,
            json!({"user": "ada", "ok": true})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_gets_no_instance_slot_in_time_fails_naming_why() {
    let runtime = pooled_runtime(1);
    let ticker = load(&runtime, "ticker").await;
    let joke_component = StepComponent::load(&runtime, &component_path("joke"))
        .await
        .unwrap();
    let mut options = WorkflowOptions::named("joke");
    options.limits.instance_wait = Duration::from_millis(300);
    let joke = Workflow::from_components(&runtime, vec![joke_component], options).unwrap();
    // The ticker's one tick sleeps for a minute in the only slot.
    let hog = hog_an_instance(&ticker).await;
    let err = error_of(&joke, json!({"topic": "slots"})).await;
    let failure = wflow_tests::failure(&err);
    assert_eq!(failure.kind, "InstanceUnavailable");
    assert_eq!(
        failure.message,
        "step `write_joke` got no instance slot within 300ms (limits.instance_wait): 1 of the runtime's 1 slots are in use, 0 of them by this workflow"
    );
    hog.cancel();
    assert!(hog.result().await.is_err());
    let output = output_of(&joke, json!({"topic": "slots"})).await;
    assert!(output.as_str().unwrap().contains("slots"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_capped_below_its_steps_still_completes() {
    // fanout wants six instances at once; capped at one it takes turns.
    let mut options = WorkflowOptions::named("fanout");
    options.limits.max_instances = Some(1);
    let fanout = wflow_tests::workflow_with("fanout", options).await.unwrap();
    let output = output_of(&fanout, json!({"n": 50})).await;
    assert_eq!(output, json!({"sum": 1_225, "count": 50}));
    let mut options = WorkflowOptions::named("fanout");
    options.limits.max_instances = Some(0);
    let err = wflow_tests::workflow_with("fanout", options)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "limits.max_instances is 0: no step could ever run (give at least 1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_allocation_runs_workflows_too() {
    let runtime = runtime(InstanceAllocator::OnDemand);
    assert_eq!(runtime.allocator(), InstanceAllocator::OnDemand);
    let joke = load(&runtime, "joke").await;
    let output = output_of(&joke, json!({"topic": "heaps"})).await;
    assert!(output.as_str().unwrap().contains("heaps"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_instances_holds_with_on_demand_allocation_too() {
    let runtime = runtime(InstanceAllocator::OnDemand);
    let component = StepComponent::load(&runtime, &component_path("ticker"))
        .await
        .unwrap();
    let mut options = WorkflowOptions::named("ticker");
    options.limits.max_instances = Some(1);
    options.limits.instance_wait = Duration::from_millis(300);
    let ticker = Workflow::from_components(&runtime, vec![component], options).unwrap();
    // One tick sleeping for a minute holds the workflow's only instance.
    let hog = hog_an_instance(&ticker).await;
    let err = error_of(&ticker, json!({"laps": 1, "width": 1, "pause_ms": 0})).await;
    let failure = wflow_tests::failure(&err);
    assert_eq!(failure.kind, "InstanceUnavailable");
    assert!(
        failure
            .message
            .ends_with("this workflow holds 1 instances, its limit (limits.max_instances)"),
        "{}",
        failure.message
    );
    hog.cancel();
    assert!(hog.result().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_together_stay_within_the_host_memory_budget() {
    // Each instance may take 256 MiB (limits.memory); the host gives all
    // of them 96 MiB together. A memory bomb is refused at the budget, its
    // memory comes back, and a neighbour runs on.
    let runtime = budgeted_runtime(ByteSize::mib(96));
    let hostile = load(&runtime, "hostile").await;
    let joke = load(&runtime, "joke").await;
    let err = error_of(&hostile, json!({"mode": "memory_bomb"})).await;
    let failure = wflow_tests::failure(&err);
    assert_eq!(failure.kind, "HostMemoryExhausted", "{}", failure.message);
    assert!(
        failure
            .message
            .contains("but the host's guest memory budget (96.0 MiB) has "),
        "{}",
        failure.message
    );
    let (in_use, budget) = runtime.memory_in_use();
    assert_eq!(budget, ByteSize::mib(96));
    assert!(
        in_use < ByteSize::mib(32),
        "the bomb's memory came back: {in_use}"
    );
    let output = output_of(&joke, json!({"topic": "budgets"})).await;
    assert!(output.as_str().unwrap().contains("budgets"));
    assert!(
        runtime.memory_in_use().0 > ByteSize::b(0),
        "the idle joke instance holds memory"
    );
    drop((hostile, joke));
    assert_budget_empties(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_flight_count_against_the_host_memory_budget() {
    let runtime = budgeted_runtime(ByteSize::mib(64));
    let hostile = load(&runtime, "hostile").await;
    let flood = json!({"mode": "stream_mib", "mib": 100});
    // Nobody reads the stream: its unread events hold the budget until it
    // has no room left, and the run is refused, naming it.
    let unread = hostile.run(flood.clone()).unwrap();
    let err = unread.result().await.unwrap_err();
    assert_eq!(err.kind(), "WorkflowLimitError");
    let message = err.to_string();
    assert!(
        message.starts_with("HostMemoryExhausted: a Attack event of 1.0 MiB would pass the host's memory budget (64.0 MiB, "),
        "{message}"
    );
    // Dropped unread, its events give their memory back.
    drop(unread);
    // Read as they come, the same 100 MiB pass through 64 MiB.
    let read = hostile.run(flood).unwrap();
    let mut stream = read.stream_events().unwrap();
    let mut floods = 0;
    while let Some(event) = stream.next().await {
        floods += usize::from(event.name == "Attack");
    }
    assert_eq!(floods, 100);
    assert_eq!(read.result().await.unwrap().result, json!("flooded"));
    drop(read);
    // And a fan-out's queued events all leave the budget.
    let fanout = load(&runtime, "fanout").await;
    let output = output_of(&fanout, json!({"n": 500})).await;
    assert_eq!(output, json!({"sum": 124_750, "count": 500}));
    drop((hostile, fanout));
    assert_budget_empties(&runtime).await;
}

#[tokio::test(flavor = "current_thread")]
async fn runs_may_go_on_a_runtime_of_their_own() {
    // The caller's runtime has one thread; the runs get two of their own.
    let runtime = Runtime::with_config(RuntimeConfig {
        run_threads: std::num::NonZeroUsize::new(2),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let fanout = load(&runtime, "fanout").await;
    let hostile = load(&runtime, "hostile").await;
    let spinning: Vec<_> = (0..4)
        .map(|_| hostile.run(json!({"mode": "infinite_loop"})).unwrap())
        .collect();
    let output = output_of(&fanout, json!({"n": 200})).await;
    assert_eq!(output, json!({"sum": 19_900, "count": 200}));
    for run in spinning {
        let err = run.result().await.unwrap_err();
        assert_eq!(wflow_tests::failure(&err).kind, "StepTimeoutError");
    }
    // Where the run's tasks go: its checkpoint writer saves on a thread of
    // the runs' runtime, not on the caller's.
    let saver = Arc::new(ThreadProbe::default());
    let options = RunOptions {
        checkpoint: Some(saver.clone() as Arc<dyn CheckpointStore>),
        ..RunOptions::default()
    };
    let start = Event {
        name: "StartEvent".into(),
        data: json!({"n": 3}).to_string(),
    };
    fanout
        .run_with(start, options)
        .unwrap()
        .result()
        .await
        .unwrap();
    let threads = saver.threads.lock().unwrap().clone();
    assert!(!threads.is_empty());
    assert!(
        threads.iter().all(|name| name == "wflow-run"),
        "{threads:?}"
    );
    drop((fanout, hostile, runtime));
}

/// A checkpoint store that notes the thread each save runs on.
#[derive(Default)]
struct ThreadProbe {
    threads: std::sync::Mutex<Vec<String>>,
}

impl CheckpointStore for ThreadProbe {
    fn save<'a>(&'a self, _snapshot: &'a Snapshot) -> BoxFuture<'a, wflow_core::Result<()>> {
        Box::pin(async move {
            let name = std::thread::current().name().unwrap_or("").to_string();
            self.threads.lock().unwrap().push(name);
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_memory_limit_above_the_pool_is_refused_at_load() {
    let runtime = runtime(InstanceAllocator::Pooling {
        max_instances: 10,
        max_memory: ByteSize::mib(128),
    });
    let err = wflow_build::load_workflow(&runtime, &component_path("joke"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "WorkflowConfigurationError");
    assert_eq!(
        err.to_string(),
        "step `write_joke` may use 256.0 MiB of memory, more than the runtime's pooling allocator gives an instance (128.0 MiB)"
    );
}

/// A runtime caching compiled components in a fresh directory.
fn cached_runtime(dir: &std::path::Path) -> Runtime {
    let _ = std::fs::remove_dir_all(dir);
    Runtime::with_config(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn cache_entry(dir: &std::path::Path, ext: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("no .{ext} entry in {}", dir.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("wflow-cache-{}", std::process::id()));
    let runtime = cached_runtime(&dir);
    let path = component_path("joke");
    let first = StepComponent::load(&runtime, &path).await.unwrap();
    assert!(!first.from_cache, "a cold cache compiles");
    let second = StepComponent::load(&runtime, &path).await.unwrap();
    assert!(second.from_cache, "a warm cache loads");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&cache_entry(&dir, "cwasm")), 0o600);
    assert_eq!(mode(&cache_entry(&dir, "mac")), 0o600);
    assert_eq!(mode(&dir.join("cache.key")), 0o600);
    // A workflow from cached code runs.
    let joke = Workflow::from_components(
        &runtime,
        vec![second],
        wflow_core::WorkflowOptions::named("joke"),
    )
    .unwrap();
    let output = output_of(&joke, json!({"topic": "caches"})).await;
    assert!(output.as_str().unwrap().contains("caches"));
    assert_eq!(wflow_core::clear_cache_dir(&dir).unwrap(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_forged_cache_entry_is_rebuilt_never_loaded() {
    let dir = std::env::temp_dir().join(format!("wflow-cache-bad-{}", std::process::id()));
    let runtime = cached_runtime(&dir);
    let path = component_path("joke");
    StepComponent::load(&runtime, &path).await.unwrap();
    let code = cache_entry(&dir, "cwasm");
    let tag = cache_entry(&dir, "mac");
    type Tampering<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let tamperings: [Tampering; 3] = [
        (
            "one flipped byte",
            Box::new(|| {
                let mut bytes = std::fs::read(&code).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(&code, bytes).unwrap();
            }),
        ),
        (
            "a truncated file",
            Box::new(|| {
                let bytes = std::fs::read(&code).unwrap();
                std::fs::write(&code, &bytes[..bytes.len() / 3]).unwrap();
            }),
        ),
        (
            "a forged MAC",
            Box::new(|| std::fs::write(&tag, [0u8; 32]).unwrap()),
        ),
    ];
    for (what, tamper) in tamperings {
        tamper();
        let reloaded = StepComponent::load(&runtime, &path).await.unwrap();
        assert!(!reloaded.from_cache, "{what} must not be loaded");
        let again = StepComponent::load(&runtime, &path).await.unwrap();
        assert!(again.from_cache, "after {what} the entry is rebuilt");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_streams_at_most_max_internal_events_of_the_runtimes_own() {
    use wflow_core::{Event, RunOptions, WorkflowOptions};
    let mut options = WorkflowOptions::named("loop-example");
    options.limits.max_internal_events = 10;
    let looping = wflow_tests::workflow_with("loop-example", options)
        .await
        .unwrap();
    let start = Event::new("StartEvent", &json!({"target": 40})).unwrap();
    let run_options = RunOptions {
        internal_events: true,
        ..RunOptions::default()
    };
    let handler = looping.run_with(start, run_options).unwrap();
    let mut stream = handler.stream_events().unwrap();
    let mut internal = 0;
    let mut last = None;
    while let Some(event) = stream.next().await {
        internal += usize::from(event.name == "StepStateChanged");
        last = Some(event.name);
    }
    // Forty laps make over eighty step calls, two events each: ten are told.
    assert_eq!(internal, 10);
    assert_eq!(last.as_deref(), Some("StopEvent"));
    assert_eq!(
        handler.result().await.unwrap().result,
        json!({"value": 40, "laps": 40})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_past_max_queued_bytes_is_refused_and_the_run_goes_on() {
    use wflow_core::{Event, WorkflowError, WorkflowOptions};
    let mut options = WorkflowOptions::named("ticker");
    options.limits.max_queued_bytes = ByteSize::kib(1);
    let ticker = wflow_tests::workflow_with("ticker", options).await.unwrap();
    // One lap that pauses for a minute keeps the run going; the laps sent
    // in pause as long, so they queue once the step's four workers are
    // busy.
    let slow = json!({"branch": 9, "lap": 0, "laps": 1, "pause_ms": 60_000});
    let handler = ticker
        .run(json!({"laps": 1, "width": 1, "pause_ms": 60_000}))
        .unwrap();
    let lap = Event::new("Lap", &slow).unwrap();
    let mut refused = None;
    for sent in 0..1000 {
        if let Err(err) = handler.send_event(lap.clone()) {
            refused = Some((sent, err));
            break;
        }
    }
    let (sent, err) = refused.expect("a send is refused");
    assert!(matches!(err, WorkflowError::QueueFull(_)), "{err:?}");
    assert_eq!(err.kind(), "WorkflowLimitError");
    assert!(
        err.to_string()
            .contains("limits.max_queued_bytes (1.0 KiB)"),
        "{err}"
    );
    // A lap is about 70 bytes: some fifteen fit, three more went to
    // workers.
    assert!((10..30).contains(&sent), "{sent} sends were taken");
    assert!(!handler.is_done(), "the run goes on");
    handler.cancel();
    assert!(matches!(
        handler.result().await,
        Err(WorkflowError::Cancelled(_))
    ));
}
