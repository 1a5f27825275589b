//! `GET /metrics`: what the server does, in the Prometheus text format
//! (prometheus-client): runs started and finished, step calls and how long
//! they took, store writes and how long they took, readers, handlers in
//! memory, by workflow and tenant; and what the runtime holds now (read
//! when asked): instances in use, idle and waiting for a slot, calls
//! waiting in place, events queued for steps, fuel burned, memory.
//!
//! Step calls are timed from the run's own stream: each call's
//! `StepStateChanged` events (running, then not running), which the server
//! follows for every run. A call that failed and was retried counts each
//! attempt.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use wflow_api::{Envelope, Status};
use wflow_core::{InstanceUse, Runtime, Workflow};

/// A run's workflow and tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RunLabels {
    pub(crate) workflow: String,
    pub(crate) tenant: String,
}

/// How a run ended, with its workflow and tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    workflow: String,
    tenant: String,
    outcome: String,
}

/// A step of a workflow of a tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    workflow: String,
    tenant: String,
    step: String,
}

/// A kind of write to the store.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    write: String,
}

/// A tenant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

/// A served workflow.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabels {
    workflow: String,
}

/// What the runtime holds now.
struct RuntimeGauges {
    instances_in_use: Gauge,
    instance_slots: Gauge,
    instance_slot_waiters: Gauge,
    instances_idle: Family<WorkflowLabels, Gauge>,
    calls_waiting_in_place: Gauge,
    queued_events: Gauge,
    fuel_burned: Counter,
    memory_in_use: Gauge,
    memory_budget: Gauge,
    /// Held while the gauges are read: two `/metrics` requests at once
    /// would both add the fuel burned since the counter's value.
    reading: std::sync::Mutex<()>,
}

impl RuntimeGauges {
    fn register(registry: &mut Registry) -> Self {
        let gauges = Self {
            instances_in_use: Gauge::default(),
            instance_slots: Gauge::default(),
            instance_slot_waiters: Gauge::default(),
            instances_idle: Family::default(),
            calls_waiting_in_place: Gauge::default(),
            queued_events: Gauge::default(),
            fuel_burned: Counter::default(),
            memory_in_use: Gauge::default(),
            memory_budget: Gauge::default(),
            reading: std::sync::Mutex::default(),
        };
        registry.register(
            "instances_in_use",
            "Live step instances: running a call, waiting in place, or idle in a pool",
            gauges.instances_in_use.clone(),
        );
        registry.register(
            "instance_slots",
            "The pooling allocator's instance slots (0: instances are allocated on demand)",
            gauges.instance_slots.clone(),
        );
        registry.register(
            "instance_slot_waiters",
            "Step calls queued for an instance slot",
            gauges.instance_slot_waiters.clone(),
        );
        registry.register(
            "instances_idle",
            "Idle instances a served workflow keeps for its next calls",
            gauges.instances_idle.clone(),
        );
        registry.register(
            "calls_waiting_in_place",
            "Step calls suspended in wait_for_event, each keeping its instance",
            gauges.calls_waiting_in_place.clone(),
        );
        registry.register(
            "queued_events",
            "Events sent or emitted and not yet taken by a step, in every run",
            gauges.queued_events.clone(),
        );
        registry.register(
            "fuel_burned",
            "Fuel the step calls burned (wasm instructions, roughly)",
            gauges.fuel_burned.clone(),
        );
        registry.register(
            "memory_in_use_bytes",
            "Guest linear memory and events in flight, against the memory budget",
            gauges.memory_in_use.clone(),
        );
        registry.register(
            "memory_budget_bytes",
            "The host's memory budget (--memory-budget)",
            gauges.memory_budget.clone(),
        );
        gauges
    }

    /// Reads `runtime` and `workflows` now.
    fn read(&self, runtime: &Runtime, workflows: &[&Workflow]) {
        let _reading = wflow_core::sync::lock(&self.reading);
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let InstanceUse {
            slots,
            in_use,
            waiting,
        } = runtime.instance_use();
        self.instances_in_use.set(in_use.into());
        self.instance_slots.set(slots.map_or(0, i64::from));
        self.instance_slot_waiters.set(gauge(waiting as u64));
        for workflow in workflows {
            self.instances_idle
                .get_or_create(&WorkflowLabels {
                    workflow: workflow.name().to_string(),
                })
                .set(gauge(workflow.idle_instances() as u64));
        }
        self.calls_waiting_in_place
            .set(gauge(runtime.calls_waiting_in_place() as u64));
        self.queued_events.set(gauge(runtime.queued_events()));
        // The runtime counts; the counter catches up with it.
        let burned = runtime.fuel_burned();
        self.fuel_burned
            .inc_by(burned.saturating_sub(self.fuel_burned.get()));
        let (memory, budget) = runtime.memory_in_use();
        self.memory_in_use.set(gauge(memory.as_u64()));
        self.memory_budget.set(gauge(budget.as_u64()));
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Step calls: 1 ms to about 9 hours.
fn call_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 25))
}

/// Store writes: 0.1 ms to about 3 s.
fn write_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    runs_started: Family<RunLabels, Counter>,
    runs_finished: Family<EndLabels, Counter>,
    runs_running: Family<RunLabels, Gauge>,
    step_calls: Histograms<StepLabels>,
    store_writes: Histograms<WriteLabels>,
    store_write_failures: Family<WriteLabels, Counter>,
    stream_readers: Family<TenantLabels, Gauge>,
    handlers_in_memory: Gauge,
    runtime: RuntimeGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wflow");
        let runs_started = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs_started",
            "Runs started (resumed runs are not counted again)",
            runs_started.clone(),
        );
        let runs_finished = Family::<EndLabels, Counter>::default();
        registry.register(
            "runs_finished",
            "Runs ended, by outcome: completed, failed or cancelled",
            runs_finished.clone(),
        );
        let runs_running = Family::<RunLabels, Gauge>::default();
        registry.register(
            "runs_running",
            "Runs going on in this server",
            runs_running.clone(),
        );
        let step_calls: Histograms<StepLabels> =
            Family::new_with_constructor(call_histogram as fn() -> Histogram);
        registry.register(
            "step_call_seconds",
            "How long step calls took, each attempt on its own",
            step_calls.clone(),
        );
        let store_writes: Histograms<WriteLabels> =
            Family::new_with_constructor(write_histogram as fn() -> Histogram);
        registry.register(
            "store_write_seconds",
            "How long writes to the handler store took",
            store_writes.clone(),
        );
        let store_write_failures = Family::<WriteLabels, Counter>::default();
        registry.register(
            "store_write_failures",
            "Writes to the handler store that failed",
            store_write_failures.clone(),
        );
        let stream_readers = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "stream_readers",
            "Event streams being read (GET /events/{id})",
            stream_readers.clone(),
        );
        let handlers_in_memory = Gauge::default();
        registry.register(
            "handlers_in_memory",
            "Handlers held in memory, running and finished",
            handlers_in_memory.clone(),
        );
        let runtime = RuntimeGauges::register(&mut registry);
        Self {
            registry,
            runtime,
            runs_started,
            runs_finished,
            runs_running,
            step_calls,
            store_writes,
            store_write_failures,
            stream_readers,
            handlers_in_memory,
        }
    }
}

impl Metrics {
    /// A run of `labels` started (`fresh`) or was resumed here.
    pub(crate) fn run_began(&self, labels: &RunLabels, fresh: bool) {
        if fresh {
            self.runs_started.get_or_create(labels).inc();
        }
        self.runs_running.get_or_create(labels).inc();
    }

    /// A run of `labels` stopped here without ending (another host took
    /// it over).
    pub(crate) fn run_left(&self, labels: &RunLabels) {
        self.runs_running.get_or_create(labels).dec();
    }

    /// A run of `labels` ended with `status`.
    pub(crate) fn run_ended(&self, labels: &RunLabels, status: Status) {
        self.runs_running.get_or_create(labels).dec();
        let outcome = match status {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Running => "running",
        };
        self.runs_finished
            .get_or_create(&EndLabels {
                workflow: labels.workflow.clone(),
                tenant: labels.tenant.clone(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A write of kind `write` took `took`, and landed or not.
    pub(crate) fn store_write(&self, write: &str, took: Duration, landed: bool) {
        let labels = WriteLabels {
            write: write.to_string(),
        };
        self.store_writes
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if !landed {
            self.store_write_failures.get_or_create(&labels).inc();
        }
    }

    /// A reader of tenant `tenant`'s handler began (`+1`) or ended (`-1`).
    pub(crate) fn reader(&self, tenant: &str, change: i64) {
        self.stream_readers
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .inc_by(change);
    }

    /// The text `GET /metrics` answers, with `handlers` held in memory and
    /// `runtime` running `workflows` (and tenants' deployments).
    pub(crate) fn render(
        &self,
        handlers: usize,
        runtime: Option<&Runtime>,
        workflows: &[&Workflow],
    ) -> String {
        self.handlers_in_memory
            .set(i64::try_from(handlers).unwrap_or(i64::MAX));
        if let Some(runtime) = runtime {
            self.runtime.read(runtime, workflows);
        }
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One stream being read, counted in `wflow_stream_readers` while it lives.
pub(crate) struct Reading {
    metrics: std::sync::Arc<Metrics>,
    tenant: String,
}

impl Reading {
    /// A reader of tenant `tenant`'s handler begins.
    pub(crate) fn begin(metrics: std::sync::Arc<Metrics>, tenant: &str) -> Self {
        metrics.reader(tenant, 1);
        Self {
            metrics,
            tenant: tenant.to_string(),
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.metrics.reader(&self.tenant, -1);
    }
}

/// Times one run's step calls from its stream's `StepStateChanged` events.
pub(crate) struct StepTimer {
    labels: RunLabels,
    /// When each call going on began, by step and worker.
    began: HashMap<(String, String), Instant>,
}

impl StepTimer {
    /// The timer of a run of `labels`.
    pub(crate) fn new(labels: RunLabels) -> Self {
        Self {
            labels,
            began: HashMap::new(),
        }
    }

    /// Looks at one event of the run's stream.
    pub(crate) fn saw(&mut self, metrics: &Metrics, envelope: &Envelope) {
        if envelope.type_name != "StepStateChanged" {
            return;
        }
        let field = |name: &str| {
            envelope
                .value
                .get(name)
                .and_then(|value| value.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let key = (field("name"), field("worker_id"));
        match field("step_state").as_str() {
            "running" => {
                // Bounded by the run's steps and workers.
                self.began.insert(key, Instant::now());
            }
            "not_running" => {
                if let Some(began) = self.began.remove(&key) {
                    metrics
                        .step_calls
                        .get_or_create(&StepLabels {
                            workflow: self.labels.workflow.clone(),
                            tenant: self.labels.tenant.clone(),
                            step: key.0,
                        })
                        .observe(began.elapsed().as_secs_f64());
                }
            }
            _ => {}
        }
    }
}
