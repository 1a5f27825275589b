//! The server's handlers: one per `handler_id`, each the record the API
//! returns and the log of the events its run streamed, which any number of
//! readers follow from any position.
//!
//! An event's sequence number is given once, when it is first logged, and
//! kept for good: a handler read back from the store keeps the numbers it
//! was stored with, so that a gap a crash or a damaged row left shows as a
//! gap, never as renumbered events.
//!
//! With a store, a handler's log is held in memory only in part: once its
//! events are stored, the oldest leave memory past `log_memory` bytes (all
//! of them once the run has ended), and readers page through them from the
//! store. Without one, the log is all in memory, bounded by the run's
//! `limits.max_stream_bytes`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::Notify;

use wflow_api::{Envelope, HandlerRecord, HandlerResult, Status, now};
use wflow_core::WorkflowHandler;

/// One handler: its record, its streamed events, its live run.
pub(crate) struct HandlerEntry {
    state: Mutex<EntryState>,
    /// Woken when an event is appended or the run ends.
    changed: Notify,
    /// The bytes of stored events a running handler keeps in memory,
    /// shared by every handler (`usize::MAX`: no store, every event stays).
    log_memory: Arc<AtomicUsize>,
}

/// An event in a handler's log.
struct Logged {
    sequence: u64,
    envelope: Envelope,
    /// Its size, roughly (its payload and type).
    size: usize,
}

struct EntryState {
    record: HandlerRecord,
    /// The events held in memory, in stream order, sequences increasing
    /// (with gaps only where events were lost); those before them are in
    /// the store only.
    events: VecDeque<Logged>,
    /// The size of `events`.
    held_bytes: usize,
    /// The last sequence known to be stored: events up to it may leave
    /// memory.
    stored_through: Option<u64>,
    /// The last sequence that left memory: events up to it are read from
    /// the store.
    spilled_through: Option<u64>,
    /// The run, while it goes on.
    live: Option<Arc<WorkflowHandler>>,
    /// The run's state when it ended: where a new run under the same id
    /// starts from.
    final_state: Option<Arc<Value>>,
    /// The handler was purged or its id taken by a new run: what the store
    /// holds under its id is no longer its own.
    retired: bool,
}

/// How a handler's run ended.
pub(crate) struct RunEnd {
    pub(crate) status: Status,
    pub(crate) error: Option<String>,
    /// The stop event, when completed.
    pub(crate) result: Option<Envelope>,
    /// The event that closes the stream.
    pub(crate) terminal: Option<Envelope>,
    /// The run's state at the end, if known.
    pub(crate) final_state: Option<Arc<Value>>,
}

impl RunEnd {
    /// An end with `status` and nothing else known.
    pub(crate) fn with_status(status: Status, error: Option<String>) -> Self {
        Self {
            status,
            error,
            result: None,
            terminal: None,
            final_state: None,
        }
    }
}

/// A point-in-time view of a handler's events after a cursor.
pub(crate) struct EventsAfter {
    /// `(sequence, envelope)` pairs.
    pub(crate) events: Vec<(u64, Envelope)>,
    /// Whether the handler is finished and this is the last page (no event
    /// will follow).
    pub(crate) finished: bool,
    /// The events after the cursor begin in the store, no longer in memory:
    /// read them there (`events` is empty), up to `spilled_through`.
    pub(crate) in_store: bool,
    /// The last sequence that left memory: past it, memory holds the rest.
    pub(crate) spilled_through: Option<u64>,
}

impl EntryState {
    /// The last sequence logged, in memory or not.
    fn last_sequence(&self) -> Option<u64> {
        self.events
            .back()
            .map(|logged| logged.sequence)
            .or(self.spilled_through)
    }

    /// The sequence the next event gets: one past the last one logged.
    fn next_sequence(&self) -> u64 {
        self.last_sequence().map_or(0, |sequence| sequence + 1)
    }

    /// Logs an event; `measured` when it may leave memory later (there is
    /// a store).
    fn log(&mut self, sequence: u64, envelope: Envelope, measured: bool) {
        let size = if measured { logged_size(&envelope) } else { 0 };
        self.held_bytes += size;
        self.events.push_back(Logged {
            sequence,
            envelope,
            size,
        });
    }

    /// Lets the oldest stored events leave memory while more than `budget`
    /// bytes are held.
    fn spill(&mut self, budget: usize) {
        let Some(stored) = self.stored_through else {
            return;
        };
        while self.held_bytes > budget {
            match self.events.front() {
                Some(oldest) if oldest.sequence <= stored => {}
                _ => break,
            }
            if let Some(oldest) = self.events.pop_front() {
                self.held_bytes -= oldest.size;
                self.spilled_through = Some(oldest.sequence);
            }
        }
    }
}

/// An envelope's size in a handler's log, roughly: its JSON text.
fn logged_size(envelope: &Envelope) -> usize {
    serde_json::to_vec(envelope).map_or(0, |text| text.len())
}

impl HandlerEntry {
    fn new(
        record: HandlerRecord,
        log_memory: Arc<AtomicUsize>,
        live: Option<Arc<WorkflowHandler>>,
        final_state: Option<Arc<Value>>,
    ) -> Self {
        Self {
            state: Mutex::new(EntryState {
                record,
                events: VecDeque::new(),
                held_bytes: 0,
                stored_through: None,
                spilled_through: None,
                live,
                final_state,
                retired: false,
            }),
            changed: Notify::new(),
            log_memory,
        }
    }

    fn state(&self) -> MutexGuard<'_, EntryState> {
        // Every critical section leaves the state whole.
        wflow_core::sync::lock(&self.state)
    }

    /// The handler's record.
    pub(crate) fn record(&self) -> HandlerRecord {
        self.state().record.clone()
    }

    /// The live run, if the handler is still running.
    pub(crate) fn live(&self) -> Option<Arc<WorkflowHandler>> {
        self.state().live.clone()
    }

    /// The state the handler's run ended with, once it has ended.
    pub(crate) fn final_state(&self) -> Option<Arc<Value>> {
        self.state().final_state.clone()
    }

    /// Whether the handler's run has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.state().record.status.is_terminal()
    }

    /// Appends a streamed event at the next sequence, or at `least` if that
    /// is higher (leaving a visible gap), and wakes the readers; its
    /// sequence.
    pub(crate) fn push_event_from(&self, least: u64, envelope: Envelope) -> u64 {
        let measured = self.log_memory().is_some();
        let mut state = self.state();
        let sequence = state.next_sequence().max(least);
        state.log(sequence, envelope, measured);
        drop(state);
        self.changed.notify_waiters();
        sequence
    }

    /// The events up to `sequence` are in the store: past the handler's
    /// memory budget (nothing once its run has ended) they leave memory.
    pub(crate) fn mark_stored(&self, sequence: u64) {
        let Some(running_budget) = self.log_memory() else {
            return;
        };
        let mut state = self.state();
        state.stored_through = state.stored_through.max(Some(sequence));
        let budget = if state.record.status.is_terminal() {
            0
        } else {
            running_budget
        };
        state.spill(budget);
    }

    /// The bytes of stored events a running handler keeps in memory; `None`
    /// without a store.
    fn log_memory(&self) -> Option<usize> {
        match self.log_memory.load(Ordering::Relaxed) {
            usize::MAX => None,
            bytes => Some(bytes),
        }
    }

    /// The bytes of events held in memory (measured only with a store).
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.state().held_bytes
    }

    /// Records the end of the run and appends its terminal event, at once:
    /// a reader sees both or neither. The record as it now is, and the
    /// terminal event's sequence.
    pub(crate) fn finish(&self, end: RunEnd) -> (HandlerRecord, Option<u64>) {
        let RunEnd {
            status,
            error,
            result,
            terminal,
            final_state,
        } = end;
        let mut state = self.state();
        state.final_state = final_state;
        let now = now();
        state.record.status = status;
        state.record.error = error;
        state.record.result = result.map(HandlerResult::Event);
        state.record.updated_at = Some(now.clone());
        state.record.completed_at = Some(now);
        state.live = None;
        let measured = self.log_memory().is_some();
        let sequence = terminal.map(|terminal| {
            let sequence = state.next_sequence();
            state.log(sequence, terminal, measured);
            sequence
        });
        if measured {
            // A finished handler keeps none of its stored events in memory.
            state.spill(0);
        }
        let record = state.record.clone();
        drop(state);
        self.changed.notify_waiters();
        (record, sequence)
    }

    /// The sequence of the last event logged, if any.
    pub(crate) fn last_sequence(&self) -> Option<u64> {
        self.state().last_sequence()
    }

    /// Up to `max` events with a sequence above `cursor` (`-1`: all), or
    /// word that they begin in the store.
    pub(crate) fn events_after(&self, cursor: i64, max: usize) -> EventsAfter {
        let state = self.state();
        let at_or_before = |sequence: u64| i64::try_from(sequence).is_ok_and(|s| s <= cursor);
        if state
            .spilled_through
            .is_some_and(|spilled| !at_or_before(spilled))
        {
            return EventsAfter {
                events: Vec::new(),
                finished: false,
                in_store: true,
                spilled_through: state.spilled_through,
            };
        }
        let first = state
            .events
            .partition_point(|logged| at_or_before(logged.sequence));
        let events: Vec<(u64, Envelope)> = state
            .events
            .range(first..)
            .take(max)
            .map(|logged| (logged.sequence, logged.envelope.clone()))
            .collect();
        let read_to_end = first.saturating_add(events.len()) >= state.events.len();
        EventsAfter {
            events,
            finished: read_to_end && state.record.status.is_terminal(),
            in_store: false,
            spilled_through: state.spilled_through,
        }
    }

    /// Whether the handler was purged or its id taken by a new run.
    pub(crate) fn is_retired(&self) -> bool {
        self.state().retired
    }

    /// The handler is purged or replaced: its readers stop reading the
    /// store under its id.
    fn retire(&self) {
        self.state().retired = true;
        self.changed.notify_waiters();
    }

    /// The handler's id.
    pub(crate) fn id(&self) -> String {
        self.state().record.handler_id.clone()
    }

    /// Resolves when an event is appended or the run ends; create it before
    /// reading, so nothing slips between the read and the wait.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// How many finished handlers the server keeps in memory by default, as the
/// reference's `max_completed`; older ones are forgotten, or read back from
/// the store when asked for.
pub const DEFAULT_KEEP_FINISHED: usize = 1000;

/// The server's handlers in memory, by id, in creation order: every running
/// one and the most recent finished ones.
pub(crate) struct Handlers {
    inner: Mutex<HandlersInner>,
    /// How many finished handlers to keep.
    keep: AtomicUsize,
    /// The bytes of stored events a running handler keeps in memory, once
    /// there is a store (`usize::MAX`: no store, nothing leaves memory).
    log_memory: Arc<AtomicUsize>,
}

/// The bytes of stored events a running handler keeps in memory by default.
pub const DEFAULT_LOG_MEMORY: usize = 8 * 1024 * 1024;

impl Default for Handlers {
    fn default() -> Self {
        Self::keeping(DEFAULT_KEEP_FINISHED)
    }
}

#[derive(Default)]
struct HandlersInner {
    by_id: HashMap<String, Arc<HandlerEntry>>,
    order: VecDeque<String>,
}

/// Why a handler cannot be started under an id.
pub(crate) struct AlreadyRunning(pub(crate) String);

impl HandlersInner {
    /// Registers `entry`, retiring the entry it replaces, if any.
    fn insert(&mut self, entry: Arc<HandlerEntry>) {
        let id = entry.id();
        match self.by_id.insert(id.clone(), entry) {
            Some(replaced) => replaced.retire(),
            None => self.order.push_back(id),
        }
    }

    /// Forgets the oldest finished handlers beyond `keep`.
    fn evict(&mut self, keep: usize) {
        if self.by_id.len() <= keep {
            return;
        }
        let finished: Vec<&String> = self
            .order
            .iter()
            .filter(|id| self.by_id.get(*id).is_some_and(|e| e.is_finished()))
            .collect();
        let excess = finished.len().saturating_sub(keep);
        if excess == 0 {
            return;
        }
        let forget: HashSet<String> = finished[..excess].iter().map(|id| (*id).clone()).collect();
        self.order.retain(|id| !forget.contains(id));
        for id in &forget {
            self.by_id.remove(id);
        }
    }
}

impl Handlers {
    /// Handlers keeping at most `keep` finished ones in memory.
    pub(crate) fn keeping(keep: usize) -> Self {
        Self {
            inner: Mutex::default(),
            keep: AtomicUsize::new(keep),
            log_memory: Arc::new(AtomicUsize::new(usize::MAX)),
        }
    }

    /// Running handlers keep at most `bytes` of stored events in memory
    /// (there is a store), finished ones none.
    pub(crate) fn spill_past(&self, bytes: usize) {
        self.log_memory
            .store(bytes.min(usize::MAX - 1), Ordering::Relaxed);
    }

    /// Keeps at most `keep` finished handlers from now on, forgetting the
    /// oldest beyond it; every other handler stays.
    pub(crate) fn keep_finished(&self, keep: usize) {
        self.keep.store(keep, Ordering::Relaxed);
        self.forget_old_finished();
    }

    fn kept(&self) -> usize {
        self.keep.load(Ordering::Relaxed)
    }

    fn inner(&self) -> MutexGuard<'_, HandlersInner> {
        wflow_core::sync::lock(&self.inner)
    }

    /// The handler `id`.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<HandlerEntry>> {
        self.inner().by_id.get(id).cloned()
    }

    /// Every handler, oldest first.
    pub(crate) fn all(&self) -> Vec<Arc<HandlerEntry>> {
        let inner = self.inner();
        inner
            .order
            .iter()
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect()
    }

    /// Registers a running handler for `live` under `id` (a finished
    /// handler's id may be reused; a running one's may not).
    pub(crate) fn start(
        &self,
        id: String,
        workflow_name: &str,
        live: Arc<WorkflowHandler>,
    ) -> Result<Arc<HandlerEntry>, AlreadyRunning> {
        let mut inner = self.inner();
        if let Some(existing) = inner.by_id.get(&id)
            && !existing.is_finished()
        {
            return Err(AlreadyRunning(id));
        }
        let now = now();
        let record = HandlerRecord {
            handler_id: id.clone(),
            workflow_name: workflow_name.to_string(),
            run_id: Some(live.run_id().to_string()),
            error: None,
            result: None,
            result_unreadable: false,
            status: Status::Running,
            started_at: now.clone(),
            updated_at: Some(now),
            completed_at: None,
        };
        let entry = Arc::new(HandlerEntry::new(
            record,
            self.log_memory.clone(),
            Some(live),
            None,
        ));
        inner.insert(entry.clone());
        inner.evict(self.kept());
        Ok(entry)
    }

    /// Registers a handler read back from the store (its events with the
    /// sequences they were stored with, in order), with the run that goes
    /// on (if it does) or the state its run ended with.
    pub(crate) fn restore(
        &self,
        record: HandlerRecord,
        events: Vec<(u64, Envelope)>,
        live: Option<Arc<WorkflowHandler>>,
        final_state: Option<Arc<Value>>,
    ) -> Arc<HandlerEntry> {
        // Whole before anyone can see it: a reader never finds a restored
        // handler without its events.
        let entry = Arc::new(HandlerEntry::new(
            record,
            self.log_memory.clone(),
            live,
            final_state,
        ));
        // Read back from the store: every one of them is stored.
        let last = events.last().map(|(sequence, _)| *sequence);
        let measured = entry.log_memory().is_some();
        {
            let mut state = entry.state();
            for (sequence, envelope) in events {
                state.log(sequence, envelope, measured);
            }
        }
        if let Some(last) = last {
            entry.mark_stored(last);
        }
        let mut inner = self.inner();
        inner.insert(entry.clone());
        inner.evict(self.kept());
        entry
    }

    /// Forgets the oldest finished handlers beyond the number kept.
    pub(crate) fn forget_old_finished(&self) {
        self.inner().evict(self.kept());
    }

    /// Forgets the handler `id`; whether it was there.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut inner = self.inner();
        let Some(removed) = inner.by_id.remove(id) else {
            return false;
        };
        inner.order.retain(|known| known != id);
        drop(inner);
        removed.retire();
        true
    }
}

/// The longest handler id a caller may choose.
pub(crate) const MAX_CHOSEN_ID_LEN: usize = 128;

/// Checks a handler id chosen by a caller: 1 to [`MAX_CHOSEN_ID_LEN`]
/// characters of `[A-Za-z0-9._:@-]`, not starting with a dot (ids appear in
/// URLs, logs and file names).
pub(crate) fn check_chosen_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:@-".contains(c);
    if id.len() > MAX_CHOSEN_ID_LEN {
        return Err(format!(
            "handler_id is {} bytes long; at most {MAX_CHOSEN_ID_LEN} are allowed",
            id.len()
        ));
    }
    if let Some(bad) = id.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "handler_id may hold only letters, digits and . _ : @ -, not {bad:?}"
        ));
    }
    if id.starts_with('.') {
        return Err("handler_id may not start with a dot".into());
    }
    Ok(())
}

/// How long a fresh handler id is: 22 characters of `[A-Za-z0-9]` carry
/// 130 random bits (the reference's ids have 10).
const NEW_ID_LEN: usize = 22;

/// A fresh handler id from `[A-Za-z0-9]`, from the operating system's
/// random source: ids are not guessable.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 62 * 4 = 248: bytes from 248 up are redrawn, so every letter is as
    // likely as any other.
    let mut id = String::with_capacity(NEW_ID_LEN);
    let mut bytes = [0u8; 32];
    while id.len() < NEW_ID_LEN {
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: fall back to the process's generator.
            fastrand::fill(&mut bytes);
        }
        for byte in bytes {
            if id.len() < NEW_ID_LEN && usize::from(byte) < ALPHABET.len() * 4 {
                id.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    id
}

#[cfg(test)]
mod tests;
