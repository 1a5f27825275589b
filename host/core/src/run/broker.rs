//! The broker: one task per run that owns the step queues and workers,
//! routes every event, enforces the run timeout, and ends the run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::error::WorkflowError;
use crate::event::{Event, EventKind, names};
use crate::handler::{RunOutcome, StopOutput};
use crate::snapshot::{
    CheckpointStore, QueuedEvent, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshot, SnapshotOutcome,
};

use super::worker::Worker;
use super::{RunShared, StepFailure, StreamMsg, check_event_size};

/// What the broker is told.
pub(crate) enum BrokerMsg {
    /// Route an event: from a step's `send_event` or from outside.
    Send {
        event: Event,
        target: Option<usize>,
        from_outside: bool,
    },
    /// A step call finished (after its retries).
    Done {
        step: usize,
        work_item: u64,
        outcome: Result<Vec<Event>, StepFailure>,
    },
    /// A step call began waiting in `wait_for_event`.
    Waiting,
    /// The caller asks for a snapshot.
    Snapshot(oneshot::Sender<Result<Snapshot, WorkflowError>>),
    /// The caller cancelled the run.
    Cancel,
}

/// How a broker begins.
pub(crate) enum Beginning {
    /// A new run: route the start event.
    Start(Event),
    /// A resumed run: its queues, in-progress events and counters.
    Resume(Box<Snapshot>),
}

/// A step call polled by the broker itself; it yields the step, the work
/// item and the outcome.
type InlineCall = Pin<Box<dyn Future<Output = StepDone> + Send>>;

/// A finished step call.
struct StepDone {
    step: usize,
    work_item: u64,
    outcome: Result<Vec<Event>, StepFailure>,
}

struct StepSlot {
    queue: VecDeque<(Event, u64)>,
    busy: u32,
    /// Worker numbers free again (numbers 0 to `busy + released.len()`
    /// have been used). The lowest free number serves the next call, as the
    /// reference numbers a step's workers.
    released: Vec<u32>,
}

impl StepSlot {
    /// A worker number for a call starting now.
    fn take_worker(&mut self) -> u32 {
        match self.released.iter().enumerate().min_by_key(|(_, w)| **w) {
            Some((index, _)) => self.released.swap_remove(index),
            None => self.busy,
        }
    }
}

/// A step call in progress: what a snapshot re-delivers, what its end
/// reports.
struct InFlight {
    step: usize,
    event: Event,
    worker: u32,
}

pub(crate) struct Broker {
    shared: Arc<RunShared>,
    inbox: mpsc::UnboundedReceiver<BrokerMsg>,
    slots: Vec<StepSlot>,
    /// Step calls running as tasks of their own, beside the broker.
    tasks: JoinSet<()>,
    /// The step call running inside the broker's own task, if any: a call
    /// that starts while no other runs goes here, so a sequence of hops
    /// costs no task spawn and no cross-thread wake-up. Calls that start
    /// while it runs are spawned and run in parallel.
    inline: Option<InlineCall>,
    /// Requests for input streamed and not answered yet.
    awaiting_input: u32,
    next_work_item: u64,
    /// Events routed so far, against `limits.max_events_per_run`.
    routed: u64,
    outcome: watch::Sender<Option<RunOutcome>>,
    started: Instant,
    /// Time the run had already run before it was resumed.
    earlier: Duration,
    /// Events being handled, by work item: what a snapshot re-delivers.
    in_flight: HashMap<u64, InFlight>,
    /// Whether the run was last seen waiting only on input from outside
    /// (a `WorkflowIdleEvent` was streamed, when internal events are).
    idle: bool,
    /// Snapshot requests waiting for the run to quiesce; dispatching is
    /// paused while there are any.
    snapshot_requests: Vec<oneshot::Sender<Result<Snapshot, WorkflowError>>>,
    /// Where checkpoints go, if the run is checkpointed.
    checkpoint: Option<Arc<dyn CheckpointStore>>,
    /// A checkpoint is due at the next quiescent moment (dispatching is
    /// paused until it is written).
    checkpoint_due: bool,
    /// Recorded in every snapshot.
    origin: Option<String>,
}

impl Broker {
    pub(crate) fn new(
        shared: Arc<RunShared>,
        inbox: mpsc::UnboundedReceiver<BrokerMsg>,
        outcome: watch::Sender<Option<RunOutcome>>,
    ) -> Self {
        let slots = shared
            .def
            .steps
            .iter()
            .map(|_| StepSlot {
                queue: VecDeque::new(),
                busy: 0,
                released: Vec::new(),
            })
            .collect();
        Self {
            shared,
            inbox,
            slots,
            tasks: JoinSet::new(),
            inline: None,
            awaiting_input: 0,
            next_work_item: 0,
            routed: 0,
            outcome,
            started: Instant::now(),
            earlier: Duration::ZERO,
            in_flight: HashMap::new(),
            idle: false,
            snapshot_requests: Vec::new(),
            checkpoint: None,
            checkpoint_due: false,
            origin: None,
        }
    }

    /// Saves a checkpoint after every step completion and every event sent
    /// in from outside, and when the run ends.
    pub(crate) fn with_checkpoints(
        mut self,
        store: Option<Arc<dyn CheckpointStore>>,
        origin: Option<String>,
    ) -> Self {
        self.checkpoint = store;
        self.origin = origin;
        self
    }

    /// Runs the run to its end: routes `start`, then serves messages until a
    /// stop event, a failure, the timeout or a cancel.
    pub(crate) async fn run(mut self, beginning: Beginning, permit: Option<OwnedSemaphorePermit>) {
        let _permit = permit;
        self.started = Instant::now();
        let outcome = self.serve(beginning).await;
        self.finish(outcome).await;
    }

    /// Restores the queues and counters of a snapshot; in-progress events
    /// go first in their queues.
    fn restore(&mut self, snapshot: Snapshot) -> Result<(), WorkflowError> {
        let index = &self.shared.def.step_index;
        for (saved, front) in [(snapshot.in_progress, true), (snapshot.queues, false)] {
            for (step_name, events) in saved {
                let step = *index.get(&step_name).ok_or_else(|| {
                    WorkflowError::ContextSerde(format!(
                        "the snapshot queues events for unknown step `{step_name}`"
                    ))
                })?;
                let queue = &mut self.slots[step].queue;
                if front {
                    for queued in events.into_iter().rev() {
                        queue.push_front((queued.event, queued.work_item));
                    }
                } else {
                    queue.extend(events.into_iter().map(|q| (q.event, q.work_item)));
                }
            }
        }
        self.awaiting_input = snapshot.awaiting_input;
        self.routed = snapshot.routed;
        self.next_work_item = snapshot.next_work_item;
        self.earlier = Duration::from_millis(snapshot.elapsed_ms);
        Ok(())
    }

    async fn serve(&mut self, beginning: Beginning) -> RunOutcome {
        // A checkpointed run saves its beginning before any step runs.
        self.checkpoint_soon();
        match beginning {
            Beginning::Start(start) => {
                if let Some(end) = self.route(start, None, true) {
                    return end;
                }
            }
            Beginning::Resume(snapshot) => self.restore(*snapshot)?,
        }
        self.answer_snapshots();
        for step in 0..self.slots.len() {
            self.dispatch(step);
        }
        // A resumed run has the rest of its time.
        let deadline = self
            .shared
            .timeout
            .map(|t| tokio::time::Instant::now() + t.saturating_sub(self.earlier));
        self.serve_until(deadline).await
    }

    async fn serve_until(&mut self, deadline: Option<tokio::time::Instant>) -> RunOutcome {
        loop {
            if self.inbox.is_empty()
                && let Some(stuck) = self.stuck()
            {
                return Err(stuck);
            }
            if self.shared.internal_events {
                self.note_idle();
            }
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                message = self.inbox.recv() => {
                    let Some(message) = message else {
                        return Err(WorkflowError::Runtime("the run's broker lost its inbox".into()));
                    };
                    if let Some(end) = self.handle(message) {
                        return end;
                    }
                }
                done = poll_inline(&mut self.inline), if self.inline.is_some() => {
                    self.inline = None;
                    // Through the inbox, behind the events the call sent, as
                    // a spawned call's report would be: a snapshot taken on
                    // `Done` must see them routed.
                    let StepDone { step, work_item, outcome } = done;
                    let _ = self.shared.broker.send(BrokerMsg::Done { step, work_item, outcome });
                }
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Err(err) = joined
                        && err.is_panic()
                    {
                        return Err(WorkflowError::Runtime(format!("a step task panicked: {err}")));
                    }
                }
                () = sleep => return Err(self.timeout_error()),
            }
        }
    }

    fn handle(&mut self, message: BrokerMsg) -> Option<RunOutcome> {
        match message {
            BrokerMsg::Send {
                event,
                target,
                from_outside,
            } => {
                let end = self.route(event, target, from_outside);
                if from_outside && end.is_none() {
                    // Save the outside event before going on: when nothing
                    // is in flight, that is now.
                    self.checkpoint_soon();
                    self.answer_snapshots();
                }
                end
            }
            BrokerMsg::Done {
                step,
                work_item,
                outcome,
            } => {
                let call = self.in_flight.remove(&work_item);
                let slot = &mut self.slots[step];
                slot.busy -= 1;
                self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
                if let Some(call) = call {
                    slot.released.push(call.worker);
                    if self.shared.internal_events {
                        let output = match &outcome {
                            Ok(events) => events.first().map(|e| e.name.as_str()),
                            Err(_) => None,
                        };
                        stream_step_state(&self.shared, &call, false, output);
                    }
                }
                match outcome {
                    Ok(events) => {
                        for event in events {
                            if let Some(end) = self.route(event, None, false) {
                                return Some(end);
                            }
                        }
                    }
                    Err(failure) if failure.limit => {
                        return Some(Err(WorkflowError::LimitExceeded(failure.message)));
                    }
                    Err(failure) => {
                        return Some(Err(WorkflowError::StepFailed {
                            step: self.shared.def.steps[step].name.clone(),
                            message: failure.message,
                        }));
                    }
                }
                self.checkpoint_soon();
                self.dispatch(step);
                self.answer_snapshots();
                None
            }
            BrokerMsg::Waiting => {
                // A step began waiting for an answer: save the run as it
                // waits (with its prompt streamed), so a resumed run waits
                // again instead of asking again.
                self.checkpoint_soon();
                self.answer_snapshots();
                None
            }
            BrokerMsg::Snapshot(reply) => {
                self.snapshot_requests.push(reply);
                self.answer_snapshots();
                None
            }
            BrokerMsg::Cancel => Some(Err(WorkflowError::Cancelled(
                "the run was cancelled by its caller".into(),
            ))),
        }
    }

    /// Routes one event; returns the run's outcome if it ends the run.
    fn route(
        &mut self,
        event: Event,
        target: Option<usize>,
        from_outside: bool,
    ) -> Option<RunOutcome> {
        let def = self.shared.def.clone();
        self.routed += 1;
        let max_events = def.options.limits.max_events_per_run;
        if self.routed > max_events {
            return Some(Err(WorkflowError::LimitExceeded(format!(
                "TooManyEvents: the run routed more than {max_events} events (limits.max_events_per_run)"
            ))));
        }
        let kind = def.kind_of(&event.name);
        if kind == EventKind::Stop {
            return Some(Ok(stop_output(event)));
        }
        if from_outside && kind == EventKind::HumanResponse {
            self.awaiting_input = self.awaiting_input.saturating_sub(1);
        }
        let payload: Option<Value> = serde_json::from_str(&event.data).ok();
        if self.shared.waiters().deliver(&event, payload.as_ref()) {
            return None;
        }
        if kind == EventKind::InputRequired && !from_outside {
            self.awaiting_input += 1;
            if let Err(message) = self.shared.write_to_stream(event.clone()) {
                return Some(Err(WorkflowError::LimitExceeded(message)));
            }
        }
        match target {
            Some(step) => self.enqueue(step, event),
            None => {
                let steps = def
                    .routes
                    .get(&event.name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                match steps.split_last() {
                    Some((last, rest)) => {
                        for &step in rest {
                            self.enqueue(step, event.clone());
                        }
                        self.enqueue(*last, event);
                    }
                    None => tracing::debug!(event = %event.name, "no step accepts this event"),
                }
            }
        }
        None
    }

    fn enqueue(&mut self, step: usize, event: Event) {
        self.next_work_item += 1;
        self.slots[step]
            .queue
            .push_back((event, self.next_work_item));
        self.dispatch(step);
    }

    /// Starts queued events on free workers of `step`.
    fn dispatch(&mut self, step: usize) {
        if !self.snapshot_requests.is_empty() || self.checkpoint_due {
            // Paused until the pending snapshot is taken.
            return;
        }
        let num_workers = self.shared.def.steps[step].num_workers.max(1);
        let slot = &mut self.slots[step];
        while slot.busy < num_workers {
            let Some((event, work_item)) = slot.queue.pop_front() else {
                break;
            };
            let worker = slot.take_worker();
            slot.busy += 1;
            let call = InFlight {
                step,
                event: event.clone(),
                worker,
            };
            if self.shared.internal_events {
                stream_step_state(&self.shared, &call, true, None);
            }
            self.in_flight.insert(work_item, call);
            let call = run_step(self.shared.clone(), step, event, work_item);
            if self.inline.is_none() && self.in_flight.len() == 1 {
                self.inline = Some(Box::pin(call));
            } else {
                let broker = self.shared.broker.clone();
                self.tasks.spawn(async move {
                    let StepDone {
                        step,
                        work_item,
                        outcome,
                    } = call.await;
                    // The broker outlives its tasks, unless the run ended.
                    let _ = broker.send(BrokerMsg::Done {
                        step,
                        work_item,
                        outcome,
                    });
                });
            }
        }
        self.shared.busy[step].store(slot.busy, Ordering::Relaxed);
    }

    /// Takes the pending snapshots if the run is quiescent: every step call
    /// in flight is blocked in `wait_for_event`. Then resumes dispatching.
    fn answer_snapshots(&mut self) {
        if self.snapshot_requests.is_empty() && !self.checkpoint_due {
            return;
        }
        let waiting = self.shared.waiting_items();
        if self.in_flight.keys().any(|item| !waiting.contains(item)) {
            return;
        }
        let snapshot = self.snapshot();
        if self.checkpoint_due {
            self.checkpoint_due = false;
            self.save_checkpoint(&snapshot);
        }
        for reply in self.snapshot_requests.drain(..) {
            let _ = reply.send(Ok(snapshot.clone()));
        }
        for step in 0..self.slots.len() {
            self.dispatch(step);
        }
    }

    /// Asks for a checkpoint at the next quiescent moment, if checkpointed.
    fn checkpoint_soon(&mut self) {
        if self.checkpoint.is_some() {
            self.checkpoint_due = true;
        }
    }

    fn save_checkpoint(&self, snapshot: &Snapshot) {
        if let Some(store) = &self.checkpoint
            && let Err(err) = store.save(snapshot)
        {
            tracing::error!("cannot save a checkpoint: {err}");
        }
    }

    fn snapshot(&self) -> Snapshot {
        let def = &self.shared.def;
        let names: Vec<String> = def.steps.iter().map(|s| s.name.clone()).collect();
        let mut queues = BTreeMap::new();
        for (step, slot) in self.slots.iter().enumerate() {
            if !slot.queue.is_empty() {
                let events = slot
                    .queue
                    .iter()
                    .map(|(event, work_item)| QueuedEvent {
                        work_item: *work_item,
                        event: event.clone(),
                    })
                    .collect();
                queues.insert(names[step].clone(), events);
            }
        }
        let mut in_progress: BTreeMap<String, Vec<QueuedEvent>> = BTreeMap::new();
        let mut flying: Vec<(&u64, &InFlight)> = self.in_flight.iter().collect();
        flying.sort_by_key(|(item, _)| **item);
        for (work_item, call) in flying {
            in_progress
                .entry(names[call.step].clone())
                .or_default()
                .push(QueuedEvent {
                    work_item: *work_item,
                    event: call.event.clone(),
                });
        }
        Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            version: SNAPSHOT_VERSION,
            workflow: crate::snapshot::WorkflowIdentity {
                name: def.options.name.clone(),
                components: def.components.iter().map(|c| c.digest.clone()).collect(),
            },
            run_id: self.shared.run_id.clone(),
            state: (*self.shared.state.snapshot()).clone(),
            queues,
            in_progress,
            collect_buffers: self.shared.collect().snapshot(&names),
            waiters: self.shared.waiters().snapshot(),
            awaiting_input: self.awaiting_input,
            stream_position: self.shared.streamed.load(Ordering::Acquire),
            routed: self.routed,
            next_work_item: self.next_work_item,
            elapsed_ms: u64::try_from((self.earlier + self.started.elapsed()).as_millis())
                .unwrap_or(u64::MAX),
            origin: self.origin.clone(),
            outcome: None,
        }
    }

    /// Streams a `WorkflowIdleEvent` when the run has come to wait only on
    /// input from outside: nothing queued, every call in progress blocked
    /// in `wait_for_event`, and a request for input or a waiter open.
    fn note_idle(&mut self) {
        let queued = self.slots.iter().any(|slot| !slot.queue.is_empty());
        let idle = !queued && (self.awaiting_input > 0 || !self.in_flight.is_empty()) && {
            let waiting = self.shared.waiting_items();
            self.in_flight.keys().all(|item| waiting.contains(item))
        };
        if idle
            && !self.idle
            && let Ok(event) = Event::new(names::WORKFLOW_IDLE, &json!({}))
        {
            self.shared.write_to_stream_past_limit(event);
        }
        self.idle = idle;
    }

    /// Whether the run can make no more progress: nothing queued, nothing
    /// running, no request for input outstanding.
    fn stuck(&self) -> Option<WorkflowError> {
        let busy = self.slots.iter().any(|s| s.busy > 0 || !s.queue.is_empty());
        if busy || self.awaiting_input > 0 {
            return None;
        }
        let names: Vec<String> = self
            .shared
            .def
            .steps
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let buffers = self.shared.collect().summary(&names);
        let detail = if buffers.is_empty() {
            "no step holds any buffered event".to_string()
        } else {
            buffers.join("; ")
        };
        Some(WorkflowError::Runtime(format!(
            "The workflow is stuck: no event is queued, no step is running and no input is awaited, so it can never reach a stop event ({detail})"
        )))
    }

    fn timeout_error(&self) -> WorkflowError {
        let active = self.shared.running_steps();
        let steps = if active.is_empty() {
            "No steps active".to_string()
        } else {
            format!("Currently active steps: {}", active.join(", "))
        };
        let timeout = self
            .shared
            .timeout
            .map(|t| t.as_secs_f64())
            .unwrap_or_default();
        WorkflowError::Timeout(format!(
            "Operation timed out after {timeout:?} seconds. {steps}"
        ))
    }

    /// Ends the run: stops every worker, streams the terminal event, and
    /// publishes the outcome.
    async fn finish(mut self, outcome: RunOutcome) {
        self.shared.ended.store(true, Ordering::Release);
        for reply in self.snapshot_requests.drain(..) {
            let _ = reply.send(Err(WorkflowError::ContextSerde(
                "the run ended before a snapshot could be taken".into(),
            )));
        }
        self.inline = None;
        self.tasks.shutdown().await;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.queue.clear();
            self.shared.busy[index].store(0, Ordering::Relaxed);
        }
        if self.checkpoint.is_some() {
            let mut last = self.snapshot();
            last.outcome = Some(match &outcome {
                Ok(stop) => SnapshotOutcome::Completed {
                    stop_event: stop.event.clone(),
                },
                Err(err) => SnapshotOutcome::Failed {
                    kind: err.kind().to_string(),
                    message: err.to_string(),
                },
            });
            self.save_checkpoint(&last);
        }
        let terminal = match &outcome {
            Ok(stop) => Some(stop.event.clone()),
            Err(err) => terminal_event(err, self.started.elapsed().as_secs_f64()),
        };
        if let Some(event) = terminal {
            self.shared.write_to_stream_past_limit(event);
        }
        let _ = self.shared.stream.send(StreamMsg::Closed);
        self.outcome.send_replace(Some(outcome));
    }
}

/// Streams a `StepStateChanged` for `call` starting (`running`) or ending
/// (`not_running`, with the type of the event it returned, if any).
fn stream_step_state(shared: &RunShared, call: &InFlight, running: bool, output: Option<&str>) {
    let data = json!({
        "name": shared.def.steps[call.step].name,
        "step_state": if running { "running" } else { "not_running" },
        "worker_id": call.worker.to_string(),
        "input_event_name": call.event.name,
        "output_event_name": output,
    });
    if let Ok(event) = Event::new(names::STEP_STATE_CHANGED, &data) {
        shared.write_to_stream_past_limit(event);
    }
}

/// The stop-like event streamed when a run fails, times out or is cancelled
/// (the seed's `WorkflowFailedEvent`, `WorkflowTimedOutEvent`,
/// `WorkflowCancelledEvent`).
fn terminal_event(err: &WorkflowError, elapsed_seconds: f64) -> Option<Event> {
    let (name, data) = match err {
        WorkflowError::Timeout(message) => {
            (names::WORKFLOW_TIMED_OUT, json!({ "message": message }))
        }
        WorkflowError::Cancelled(_) => (names::WORKFLOW_CANCELLED, json!({})),
        WorkflowError::StepFailed { step, message } => {
            let (kind, text) = message.split_once(": ").unwrap_or(("StepError", message));
            (
                names::WORKFLOW_FAILED,
                json!({
                    "step_name": step,
                    "exception": { "exception_type": kind, "exception_message": text },
                    "elapsed_seconds": elapsed_seconds,
                }),
            )
        }
        other => (
            names::WORKFLOW_FAILED,
            json!({
                "step_name": Value::Null,
                "exception": { "exception_type": other.kind(), "exception_message": other.to_string() },
                "elapsed_seconds": elapsed_seconds,
            }),
        ),
    };
    Event::new(name, &data).ok()
}

fn stop_output(event: Event) -> StopOutput {
    let payload: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    let result = if event.name == names::STOP {
        payload.get("result").cloned().unwrap_or(Value::Null)
    } else {
        payload
    };
    StopOutput { event, result }
}

/// Polls the inline step call; pending when there is none.
async fn poll_inline(inline: &mut Option<InlineCall>) -> StepDone {
    match inline {
        Some(call) => call.await,
        None => std::future::pending().await,
    }
}

/// Runs one event through a step, retrying on fresh instances as its policy
/// says. The instance comes from the run's pool and goes back to it only
/// when the call succeeded.
async fn run_step(shared: Arc<RunShared>, step: usize, event: Event, work_item: u64) -> StepDone {
    let config = &shared.def.steps[step];
    let started = Instant::now();
    let mut failures = 0u32;
    let outcome = loop {
        let attempt = async {
            let mut worker = match shared.pool.take(step) {
                Some(mut idle) => {
                    idle.attach(&shared);
                    idle
                }
                None => Worker::new(&shared, step).await?,
            };
            let events = worker
                .handle(
                    &config.name,
                    &event,
                    work_item,
                    config.timeout,
                    &config.limits,
                )
                .await?;
            check_outputs(&shared, step, &events)?;
            if worker.detach() {
                shared.pool.give_back(step, worker);
            }
            Ok::<_, StepFailure>(events)
        };
        match attempt.await {
            Ok(events) => break Ok(events),
            Err(failure) if failure.limit => break Err(failure),
            Err(mut failure) => {
                failures += 1;
                let delay = config.retry.as_ref().and_then(|policy| {
                    policy.next_delay(failures, started.elapsed(), &failure.message)
                });
                match delay {
                    Some(delay) => {
                        tracing::debug!(step = %config.name, failures, ?delay, "retrying: {}", failure.message);
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        if failures > 1 {
                            failure.message =
                                format!("{} (after {failures} attempts)", failure.message);
                        }
                        break Err(failure);
                    }
                }
            }
        }
    };
    StepDone {
        step,
        work_item,
        outcome,
    }
}

/// A step may only return event types it declared, with object payloads
/// within the size limit.
fn check_outputs(shared: &RunShared, step: usize, events: &[Event]) -> Result<(), StepFailure> {
    let config = &shared.def.steps[step];
    for event in events {
        check_event_size(&shared.def.options.limits, event).map_err(StepFailure::limit)?;
        if !config.emits.contains(&event.name) {
            return Err(StepFailure::step(format!(
                "UndeclaredEventError: step `{}` emitted a {} event, which it does not declare (it emits: {})",
                config.name,
                event.name,
                config.emits.join(", ")
            )));
        }
        event
            .check_object()
            .map_err(|err| StepFailure::step(format!("InvalidEventError: {err}")))?;
        shared
            .def
            .check_foreign_schemas(config.component, event)
            .map_err(|err| StepFailure::step(format!("InvalidEventError: {err}")))?;
    }
    Ok(())
}
