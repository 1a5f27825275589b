//! Starting runs and the handle a caller keeps on one: await its result,
//! stream its events, send events in, cancel it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::Instrument as _;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::context::Context;
use crate::error::{Result, WorkflowError};
use crate::event::{Event, EventKind};
use crate::run::broker::Broker;
use crate::run::collect::CollectBuffers;
use crate::run::message::{Beginning, BrokerMsg};
use crate::run::outcome::RunOutcome;
use crate::run::output::LogEntry;
use crate::run::shared::{RunShared, TargetError, check_event_size};
use crate::run::stream::{StreamMsg, StreamWriter};
use crate::run::waiters::Waiters;
use crate::snapshot::{CheckpointStore, Snapshot, SnapshotOutcome, WaiterSnapshot};
use crate::state::StateStore;
use crate::workflow::Workflow;

/// How to run: a context to share, a checkpoint store.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// A context whose state carries over from run to run.
    pub context: Option<Context>,
    /// Where to save checkpoints: at the beginning, after step completions
    /// (at most every 100 ms), after every event sent in from outside and
    /// every prompt (which is streamed once its checkpoint is saved), and
    /// at the end.
    pub checkpoint: Option<Arc<dyn CheckpointStore>>,
    /// Where the workflow was loaded from, recorded in snapshots.
    pub origin: Option<String>,
    /// Also stream the runtime's own events: a `StepStateChanged` when a
    /// step call starts (`running`) and ends (`not_running`), and a
    /// `WorkflowIdleEvent` when the run comes to wait only on input from
    /// outside (the reference's internal events).
    pub internal_events: bool,
    /// Stream a `WorkflowIdleEvent` when the run comes to wait only on input
    /// from outside, without the `StepStateChanged` events
    /// `internal_events` adds (what a terminal needs to say a run is idle).
    pub idle_events: bool,
    /// Events sent into the run before it starts (or, resumed, goes on),
    /// checked as [`WorkflowHandler::send_event`] checks them: the answer a
    /// resumed run was waiting for is there before the run can look idle.
    /// One refused fails the call, and the run never starts.
    pub send_first: Vec<Event>,
    /// The span the run goes on in, its step calls' spans its children: by
    /// default a new `run` span under the current one. A server passes one
    /// of its own (declaring a `run_id` field, recorded here) to put the
    /// run in a request's trace without keeping the request's span open for
    /// as long as the run lasts.
    pub span: Option<tracing::Span>,
}

impl Workflow {
    /// Starts a run whose start event carries `input` (a JSON object), as
    /// the seed's `run(**kwargs)`.
    pub fn run(&self, input: Value) -> Result<WorkflowHandler> {
        let start = Event::new(self.start_event(), &input).map_err(|err| match err {
            WorkflowError::InvalidEvent(message) => {
                WorkflowError::InvalidEvent(format!("the run's input: {message}"))
            }
            other => other,
        })?;
        self.run_event(start, None)
    }

    /// Starts a run with an explicit start event and, optionally, a context
    /// whose state carries over. Must be called within a tokio runtime.
    pub fn run_event(&self, start: Event, ctx: Option<&Context>) -> Result<WorkflowHandler> {
        self.run_with(
            start,
            RunOptions {
                context: ctx.cloned(),
                ..RunOptions::default()
            },
        )
    }

    /// Starts a run with an explicit start event and options.
    pub fn run_with(&self, start: Event, options: RunOptions) -> Result<WorkflowHandler> {
        let def = &self.def;
        if def.kind_of(&start.name) != EventKind::Start || start.name != def.start_event() {
            return Err(WorkflowError::Runtime(format!(
                "a run must start with a {} event, got {}",
                def.start_event(),
                start.name
            )));
        }
        check_event_size(&def.options.limits, &start).map_err(WorkflowError::LimitExceeded)?;
        let start = def.admit_payload(start)?;
        // Converted, it may have grown (`"1e15"` to `1000000000000000.0`).
        check_event_size(&def.options.limits, &start).map_err(WorkflowError::LimitExceeded)?;
        let state = match &options.context {
            Some(ctx) => ctx.store().clone(),
            None => Context::new(self).store().clone(),
        };
        self.launch(
            new_run_id(),
            state,
            CollectBuffers::default(),
            Waiters::default(),
            Beginning::Start(start),
            options,
        )
    }

    /// Resumes a run from a snapshot (the seed's `Context.from_dict` and
    /// `run(ctx=...)`): the state, queues, collect buffers and waiters are
    /// restored; step calls that were blocked in `wait_for_event` run again
    /// and find an answer that arrived for their waiter id. A snapshot of
    /// another workflow, of other components, or of another format version
    /// is refused with a `ContextSerdeError`.
    pub fn resume(&self, snapshot: Snapshot) -> Result<WorkflowHandler> {
        self.resume_with(snapshot, RunOptions::default())
    }

    /// Resumes a run from a snapshot with options (a checkpoint store to go
    /// on checkpointing into). A snapshot of a run that already ended is
    /// refused.
    pub fn resume_with(&self, snapshot: Snapshot, options: RunOptions) -> Result<WorkflowHandler> {
        snapshot.check_workflow(&self.identity())?;
        if let Some(outcome) = &snapshot.outcome {
            return Err(WorkflowError::ContextSerde(format!(
                "the run in this snapshot has already ended ({})",
                match outcome {
                    SnapshotOutcome::Completed { .. } => "completed".to_string(),
                    SnapshotOutcome::Failed { kind, .. } => format!("failed with {kind}"),
                }
            )));
        }
        let def = &self.def;
        let state = StateStore::with_limit(
            def.state_type.clone(),
            def.options.limits.max_state_bytes.as_u64(),
        );
        state
            .restore(snapshot.state.clone())
            .map_err(|err| WorkflowError::ContextSerde(format!("the snapshot's state: {err}")))?;
        let collect = CollectBuffers::restore(snapshot.collect_buffers.clone(), &def.step_index)
            .map_err(|err| {
                WorkflowError::ContextSerde(format!("the snapshot's collect buffers: {err}"))
            })?;
        let waiters = Waiters::restore(snapshot.waiters.clone());
        let run_id = snapshot.run_id.clone();
        self.launch(
            run_id,
            state,
            collect,
            waiters,
            Beginning::Resume(Box::new(snapshot)),
            options,
        )
    }

    fn launch(
        &self,
        run_id: String,
        state: StateStore,
        collect: CollectBuffers,
        waiters: Waiters,
        beginning: Beginning,
        options: RunOptions,
    ) -> Result<WorkflowHandler> {
        // Runs go on wflow's own runtime if it has one, else on the
        // caller's; without either the broker cannot be spawned: say so
        // rather than panic in `tokio::spawn`.
        let tokio = match self.code.runtime.core().run_executor() {
            Some(runs) => runs.clone(),
            None => tokio::runtime::Handle::try_current().map_err(|_| {
                WorkflowError::Runtime(
                    "a workflow runs on a tokio runtime: call run or resume from within one".into(),
                )
            })?,
        };
        let def = self.def.clone();
        let given_span = options.span.clone();
        let (broker_tx, broker_rx) = mpsc::unbounded_channel();
        let (stream_tx, stream_rx) = mpsc::unbounded_channel();
        let (outcome_tx, outcome_rx) = watch::channel(None);
        let unread = Arc::new(AtomicUsize::new(0));
        let (stream_position, internal_streamed, streamed_bytes) = match &beginning {
            Beginning::Resume(snapshot) => (
                snapshot.stream_position,
                snapshot.internal_streamed,
                snapshot.streamed_bytes,
            ),
            Beginning::Start(_) => (0, 0, 0),
        };
        let shared = Arc::new(RunShared {
            busy: def.steps.iter().map(|_| AtomicU32::new(0)).collect(),
            def: def.clone(),
            run_id,
            state,
            broker: broker_tx,
            stream: StreamWriter::new(stream_position, stream_tx),
            collect: Mutex::new(collect),
            waiters: Mutex::new(waiters),
            prompts: Mutex::default(),
            ended: AtomicBool::new(false),
            unread: unread.clone(),
            log: Default::default(),
            timeout: self.timeout,
            internal_events: options.internal_events,
            idle_events: options.internal_events || options.idle_events,
            internal_streamed: AtomicU64::new(internal_streamed),
            streamed_bytes: AtomicU64::new(streamed_bytes),
            queued_bytes: AtomicU64::new(0),
            queued_events: AtomicU64::new(0),
            engine: self.code.runtime.core().clone(),
        });
        let handler = WorkflowHandler {
            shared: shared.clone(),
            outcome: outcome_rx,
            stream: Mutex::new(Some((stream_rx, unread))),
        };
        // Queued ahead of anything else the broker will find in its inbox;
        // one refused, and nothing was started (no checkpoint writer
        // either).
        for event in options.send_first {
            handler.send(event, None)?;
        }
        let pool = self.code.run_pool(&def);
        let broker = Broker::new(shared, pool, broker_rx, outcome_tx).with_checkpoints(
            &tokio,
            options.checkpoint,
            options.origin,
        );
        let slots = self.code.run_slots.clone();
        // Every log line of the run names it (`--log-format json`: in its
        // `span` field).
        let span = match given_span {
            Some(span) => {
                span.record("run_id", handler.run_id());
                span
            }
            None => tracing::info_span!(
                "run",
                run_id = %handler.run_id(),
                workflow = %def.options.name
            ),
        };
        tokio.spawn(
            async move {
                let permit = match slots {
                    Some(slots) => slots.acquire_owned().await.ok(),
                    None => None,
                };
                broker.run(beginning, permit).await;
            }
            .instrument(span),
        );
        Ok(handler)
    }
}

/// A fresh run id: 128 bits from the operating system's random source.
fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the process's generator is better than nothing.
        fastrand::fill(&mut bytes);
    }
    format!("run-{:032x}", u128::from_le_bytes(bytes))
}

/// The caller's handle on a run.
pub struct WorkflowHandler {
    shared: Arc<RunShared>,
    outcome: watch::Receiver<Option<RunOutcome>>,
    stream: Mutex<Option<(mpsc::UnboundedReceiver<StreamMsg>, Arc<AtomicUsize>)>>,
}

impl WorkflowHandler {
    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// Waits for the run to end and returns its result or error.
    pub async fn result(&self) -> RunOutcome {
        let mut outcome = self.outcome.clone();
        match outcome.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or_else(|| {
                Err(WorkflowError::Runtime(
                    "the run ended without an outcome".into(),
                ))
            }),
            Err(_) => Err(WorkflowError::Runtime(
                "the run's broker stopped without an outcome".into(),
            )),
        }
    }

    /// Whether the run has ended.
    pub fn is_done(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    /// The run's event stream: events steps wrote to it, requests for input,
    /// and last the stop event (or the failure, timeout or cancel event).
    /// Events can be streamed once; a second call is an error.
    pub fn stream_events(&self) -> Result<EventStream> {
        let mut slot = crate::sync::lock(&self.stream);
        slot.take()
            .map(|(receiver, unread)| EventStream {
                receiver,
                unread,
                closed: false,
            })
            .ok_or_else(|| {
                WorkflowError::Runtime("All the streamed events have already been consumed.".into())
            })
    }

    /// Sends an event into the run (e.g. a `HumanResponseEvent`); it is
    /// checked against its type's schema and must be something a step or a
    /// waiter of the run can take.
    pub fn send_event(&self, event: Event) -> Result<()> {
        self.send(event, None)
    }

    /// Sends an event to one step only.
    pub fn send_event_to(&self, event: Event, step: &str) -> Result<()> {
        self.send(event, Some(step))
    }

    fn send(&self, event: Event, step: Option<&str>) -> Result<()> {
        if self.shared.has_ended() || self.is_done() {
            return Err(WorkflowError::RunEnded(format!(
                "cannot send a {} event: the run has ended",
                event.name
            )));
        }
        self.shared
            .check_event_size(&event)
            .map_err(WorkflowError::LimitExceeded)?;
        let event = self.shared.def.admit_payload(event)?;
        // Converted, it may have grown (`"1e15"` to `1000000000000000.0`).
        self.shared
            .check_event_size(&event)
            .map_err(WorkflowError::LimitExceeded)?;
        let target = self
            .shared
            .check_target(&event, step)
            .map_err(|err| match err {
                TargetError::NoSuchStep(message) => WorkflowError::StepDoesNotExist(message),
                TargetError::NotAccepted(message) => WorkflowError::Runtime(message),
            })?;
        let routable = target.is_some()
            || self.shared.def.routes.contains_key(&event.name)
            || self.shared.waiters().waits_for(&event.name);
        if !routable {
            return Err(WorkflowError::Runtime(format!(
                "no step of workflow {} accepts a {} event, and no step waits for one",
                self.shared.def.options.name, event.name
            )));
        }
        // An answer to a waiter takes no queue space: it is never refused.
        if !self.shared.waiters().waits_for(&event.name) {
            self.shared
                .admit_queued(&event)
                .map_err(WorkflowError::QueueFull)?;
        }
        self.shared
            .broker
            .send(BrokerMsg::Send {
                event,
                target,
                from_outside: true,
            })
            .map_err(|_| WorkflowError::RunEnded("the run has ended".into()))
    }

    /// A snapshot of the run, taken as soon as no step call is running
    /// except calls blocked in `wait_for_event` (new calls are held back
    /// meanwhile). Pass it to [`Workflow::resume`], here or in another
    /// process, after [`Snapshot::to_json`] / [`Snapshot::from_json`].
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .broker
            .send(BrokerMsg::Snapshot(reply))
            .map_err(|_| WorkflowError::ContextSerde("the run has ended".into()))?;
        answer.await.map_err(|_| {
            WorkflowError::ContextSerde("the run ended before a snapshot could be taken".into())
        })?
    }

    /// Cancels the run; its result becomes `WorkflowError::Cancelled`.
    pub fn cancel(&self) {
        let _ = self.shared.broker.send(BrokerMsg::Cancel);
    }

    /// The run's state store.
    pub fn store(&self) -> &StateStore {
        &self.shared.state
    }

    /// The names of the steps running now.
    pub fn running_steps(&self) -> Vec<String> {
        self.shared.running_steps()
    }

    /// The waits of the run not answered yet (`wait_for_event` calls): the
    /// event type each waits for and the fields its answer must have.
    pub fn pending_waits(&self) -> Vec<WaiterSnapshot> {
        self.shared.waiters().pending()
    }

    /// The stream position of the `WorkflowIdleEvent` that began the run's
    /// current idle period, once every event sent in before this call has
    /// been taken; `None` when the run is not idle then (or streams no idle
    /// events, or has ended). An idle event read from the stream is news
    /// only when this gives its position: otherwise the run has moved on
    /// (an answer sent since woke it) and any later idle period streams an
    /// idle event of its own.
    pub async fn idle_position(&self) -> Option<u64> {
        let (reply, answer) = oneshot::channel();
        self.shared.broker.send(BrokerMsg::Idleness(reply)).ok()?;
        answer.await.ok().flatten()
    }

    /// The run's timeout; `None` for none.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.shared.timeout
    }

    /// What the run's steps wrote to stdout and stderr so far, in order,
    /// with the number of bytes dropped past `limits.max_log_bytes`.
    pub fn logs(&self) -> (Vec<LogEntry>, usize) {
        let log = crate::sync::lock(&self.shared.log);
        (log.entries().to_vec(), log.dropped)
    }
}

/// The events of a run, in the order they were written.
pub struct EventStream {
    receiver: mpsc::UnboundedReceiver<StreamMsg>,
    unread: Arc<AtomicUsize>,
    closed: bool,
}

impl EventStream {
    /// The next event, or `None` once the run has ended and every event was
    /// seen.
    pub async fn next(&mut self) -> Option<Event> {
        self.next_at().await.map(|(_, event)| event)
    }

    /// The next event with its stream position (0 for a run's first event;
    /// a resumed run's go on from its snapshot's `stream_position`), or
    /// `None` once the run has ended and every event was seen. Positions
    /// come in order, one after the other.
    pub async fn next_at(&mut self) -> Option<(u64, Event)> {
        if self.closed {
            return None;
        }
        match self.receiver.recv().await {
            Some(StreamMsg::Event {
                position,
                event,
                charge,
            }) => {
                self.unread.fetch_sub(1, Ordering::AcqRel);
                // Read: the event is the reader's now, off the host's budget.
                drop(charge);
                Some((position, event))
            }
            Some(StreamMsg::Closed) | None => {
                self.closed = true;
                None
            }
        }
    }
}
