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
//! events are stored, the oldest leave memory past the handler's share (all
//! of them once the run has ended, or while all logs together hold more
//! than their total), and readers page through them from the store.
//! Without one, the log is all in memory, bounded by the run's
//! `limits.max_stream_bytes`, and finished handlers are forgotten, oldest
//! first, while the logs hold more than their total. Past the total, new
//! runs are refused until the logs shrink.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// The memory of every handler's log.
    memory: Arc<LogMemory>,
    /// What the handlers of its tenant hold of it.
    share: LogShare,
    /// The deliveries from the inbox its run took and no checkpoint holds
    /// yet (with a store several hosts share).
    deliveries: std::sync::OnceLock<Arc<crate::deliveries::Deliveries>>,
}

/// The bytes a tenant's handlers' logs hold in memory.
type LogShare = Arc<AtomicUsize>;

/// Where a handler's logged bytes are counted: the server's logs, and its
/// tenant's share of them.
struct Account<'a> {
    memory: &'a LogMemory,
    share: &'a AtomicUsize,
}

impl Account<'_> {
    fn add(&self, bytes: usize) {
        self.memory.add(bytes);
        self.share.fetch_add(bytes, Ordering::Relaxed);
    }

    fn remove(&self, bytes: usize) {
        self.memory.remove(bytes);
        self.share.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// What the handlers' logs may hold in memory, and hold, shared by every
/// handler.
pub(crate) struct LogMemory {
    /// Whether events may leave memory (there is a store).
    spills: AtomicBool,
    /// The bytes of stored events a running handler keeps.
    per_handler: AtomicUsize,
    /// The bytes all logs together may hold.
    total: AtomicUsize,
    /// The bytes all logs together hold.
    held: AtomicUsize,
}

impl LogMemory {
    fn new() -> Self {
        Self {
            spills: AtomicBool::new(false),
            per_handler: AtomicUsize::new(DEFAULT_LOG_MEMORY),
            total: AtomicUsize::new(DEFAULT_LOG_MEMORY_TOTAL),
            held: AtomicUsize::new(0),
        }
    }

    fn over_total(&self) -> bool {
        self.held.load(Ordering::Relaxed) > self.total.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        self.held.fetch_add(bytes, Ordering::Relaxed);
    }

    fn remove(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Why a new run is refused: the logs hold more than their total, and the
/// caller's tenant more than its share of it.
#[derive(Debug)]
pub(crate) struct LogsFull {
    /// The bytes the logs hold.
    pub(crate) held: usize,
    /// Their total.
    pub(crate) total: usize,
    /// The bytes the tenant's handlers hold, and its share, when the server
    /// has several tenants.
    pub(crate) tenant: Option<(usize, usize)>,
}

impl std::fmt::Display for LogsFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = |bytes: usize| bytesize::ByteSize::b(bytes as u64);
        write!(
            f,
            "the handlers' event logs hold {} in memory, past the server's {} (--log-memory-total)",
            size(self.held),
            size(self.total)
        )?;
        if let Some((held, share)) = self.tenant {
            write!(
                f,
                ", and your handlers hold {} of them, more than your share ({})",
                size(held),
                size(share)
            )?;
        }
        f.write_str("; try again once runs have ended")
    }
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
    /// Readers see only the events stored (through `stored_through`): an
    /// event a crash loses before it is stored is seen by nobody, so a
    /// sequence a reader saw never names another event after the run
    /// resumes. False without a store, or once a write failed (then
    /// readers see what memory holds).
    durable: bool,
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

    /// Logs an event, counting its size in `account`.
    fn log(&mut self, sequence: u64, envelope: Envelope, account: &Account<'_>) {
        let size = logged_size(&envelope);
        self.held_bytes += size;
        account.add(size);
        self.events.push_back(Logged {
            sequence,
            envelope,
            size,
        });
    }

    /// Lets the oldest stored events leave memory while more than `budget`
    /// bytes are held.
    fn spill(&mut self, budget: usize, account: &Account<'_>) {
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
                account.remove(oldest.size);
                self.spilled_through = Some(oldest.sequence);
            }
        }
    }
}

/// An envelope's size in a handler's log, roughly: its JSON text, counted
/// without writing it out.
fn logged_size(envelope: &Envelope) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, envelope) {
        Ok(()) => counter.0,
        Err(_) => 0,
    }
}

impl HandlerEntry {
    fn new(
        record: HandlerRecord,
        memory: Arc<LogMemory>,
        share: LogShare,
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
                durable: memory.spills.load(Ordering::Relaxed),
            }),
            changed: Notify::new(),
            memory,
            share,
            deliveries: std::sync::OnceLock::new(),
        }
    }

    /// Where its logged bytes are counted.
    fn account(&self) -> Account<'_> {
        Account {
            memory: &self.memory,
            share: &self.share,
        }
    }

    fn state(&self) -> MutexGuard<'_, EntryState> {
        // Every critical section leaves the state whole.
        wflow_core::sync::lock(&self.state)
    }

    /// Keeps `deliveries`, its run's (once).
    pub(crate) fn attach_deliveries(&self, deliveries: Arc<crate::deliveries::Deliveries>) {
        let _ = self.deliveries.set(deliveries);
    }

    /// Its run's deliveries from the inbox, if it takes any.
    pub(crate) fn deliveries(&self) -> Option<Arc<crate::deliveries::Deliveries>> {
        self.deliveries.get().cloned()
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
        let mut state = self.state();
        let sequence = state.next_sequence().max(least);
        state.log(sequence, envelope, &self.account());
        drop(state);
        self.changed.notify_waiters();
        sequence
    }

    /// The events up to `sequence` are in the store: past the handler's
    /// share (nothing once its run has ended or while the logs hold more
    /// than their total) they leave memory.
    pub(crate) fn mark_stored(&self, sequence: u64) {
        if !self.memory.spills.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        state.stored_through = state.stored_through.max(Some(sequence));
        let budget = if state.record.status.is_terminal() || self.memory.over_total() {
            0
        } else {
            self.memory.per_handler.load(Ordering::Relaxed)
        };
        state.spill(budget, &self.account());
        drop(state);
        // Readers see stored events only: these are new to them.
        self.changed.notify_waiters();
    }

    /// A write of the handler's events failed: readers see what memory
    /// holds from now on, stored or not.
    pub(crate) fn store_failed(&self) {
        self.state().durable = false;
        self.changed.notify_waiters();
    }

    /// The bytes of events held in memory.
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
        let sequence = terminal.map(|terminal| {
            let sequence = state.next_sequence();
            state.log(sequence, terminal, &self.account());
            sequence
        });
        // A finished handler keeps none of its stored events in memory.
        state.spill(0, &self.account());
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
        // Past the last stored event, readers wait (see `durable`).
        let visible = if state.durable {
            state
                .events
                .partition_point(|logged| Some(logged.sequence) <= state.stored_through)
        } else {
            state.events.len()
        };
        let events: Vec<(u64, Envelope)> = state
            .events
            .range(first.min(visible)..visible)
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

    /// Whether the handler is tenant `tenant`'s.
    pub(crate) fn belongs_to(&self, tenant: &str) -> bool {
        self.state().record.tenant == tenant
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

impl Drop for HandlerEntry {
    fn drop(&mut self) {
        let held = match self.state.get_mut() {
            Ok(state) => state.held_bytes,
            Err(poisoned) => poisoned.into_inner().held_bytes,
        };
        self.account().remove(held);
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
    /// What the logs may hold in memory, and hold.
    memory: Arc<LogMemory>,
    /// What each tenant's handlers hold of it.
    shares: Mutex<HashMap<String, LogShare>>,
}

/// The bytes of stored events a running handler keeps in memory by default.
pub const DEFAULT_LOG_MEMORY: usize = 8 * 1024 * 1024;

/// The bytes all handlers' logs may hold in memory by default.
pub const DEFAULT_LOG_MEMORY_TOTAL: usize = 1024 * 1024 * 1024;

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
pub(crate) struct AlreadyRunning;

impl HandlersInner {
    /// Registers `entry`, retiring the entry it replaces, if any.
    fn insert(&mut self, entry: Arc<HandlerEntry>) {
        let id = entry.id();
        match self.by_id.insert(id.clone(), entry) {
            Some(replaced) => replaced.retire(),
            None => self.order.push_back(id),
        }
    }

    /// Forgets finished handlers beyond `keep`, and more while the logs
    /// hold more than their total. Those beyond `keep` are taken from the
    /// tenants keeping the most finished handlers, each one's oldest first:
    /// one tenant's many short runs push out its own handlers, not another
    /// tenant's (see [`fair_excess`]).
    fn evict(&mut self, keep: usize, memory: &LogMemory) {
        if self.by_id.len() <= keep && !memory.over_total() {
            return;
        }
        let finished: Vec<(&String, &Arc<HandlerEntry>, String)> = self
            .order
            .iter()
            .filter_map(|id| Some((id, self.by_id.get(id)?)))
            .filter(|(_, entry)| entry.is_finished())
            .map(|(id, entry)| (id, entry, entry.state().record.tenant.clone()))
            .collect();
        let excess = finished.len().saturating_sub(keep);
        let mut to_forget = fair_excess(finished.iter().map(|(_, _, tenant)| tenant), excess);
        let mut forget: HashSet<String> = HashSet::new();
        // What forgetting them gives back (once their readers are done).
        let mut freed = 0;
        let held = memory.held.load(Ordering::Relaxed);
        let total = memory.total.load(Ordering::Relaxed);
        for (id, entry, tenant) in &finished {
            let bytes = entry.state().held_bytes;
            match to_forget.get_mut(tenant.as_str()) {
                Some(left) if *left > 0 => *left -= 1,
                // Past `keep`, only memory is a reason to forget, and only
                // a handler holding some (with a store, finished ones hold
                // none) gives any back.
                _ if held.saturating_sub(freed) <= total || bytes == 0 => continue,
                _ => {}
            }
            freed += bytes;
            forget.insert((*id).clone());
        }
        if forget.is_empty() {
            return;
        }
        self.order.retain(|id| !forget.contains(id));
        for id in &forget {
            self.by_id.remove(id);
        }
    }
}

/// How many finished handlers of each tenant to forget, `excess` in all,
/// given each finished handler's tenant: always one of the tenant keeping
/// the most, so that the tenants' counts even out from the top (a tenant
/// keeping few loses none while another keeps more).
fn fair_excess<'a>(
    tenants: impl Iterator<Item = &'a String>,
    excess: usize,
) -> HashMap<&'a str, usize> {
    let mut kept: HashMap<&str, usize> = HashMap::new();
    for tenant in tenants {
        *kept.entry(tenant.as_str()).or_default() += 1;
    }
    let mut most: std::collections::BinaryHeap<(usize, &str)> = kept
        .iter()
        .map(|(tenant, count)| (*count, *tenant))
        .collect();
    let mut forget: HashMap<&str, usize> = HashMap::new();
    for _ in 0..excess {
        let Some((count, tenant)) = most.pop() else {
            break;
        };
        *forget.entry(tenant).or_default() += 1;
        if count > 1 {
            most.push((count - 1, tenant));
        }
    }
    forget
}

impl Handlers {
    /// Handlers keeping at most `keep` finished ones in memory.
    pub(crate) fn keeping(keep: usize) -> Self {
        Self {
            inner: Mutex::default(),
            keep: AtomicUsize::new(keep),
            memory: Arc::new(LogMemory::new()),
            shares: Mutex::default(),
        }
    }

    /// What tenant `tenant`'s handlers hold of the logs.
    fn share_of(&self, tenant: &str) -> LogShare {
        wflow_core::sync::lock(&self.shares)
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// There is a store: running handlers keep at most `bytes` of their
    /// stored events in memory, finished ones none.
    pub(crate) fn spill_past(&self, bytes: usize) {
        self.memory.spills.store(true, Ordering::Relaxed);
        self.memory.per_handler.store(bytes, Ordering::Relaxed);
    }

    /// All logs together hold at most about `bytes` in memory: past it,
    /// stored events leave memory, finished handlers are forgotten, and
    /// new runs are refused (see [`Self::admit`]).
    pub(crate) fn hold_at_most(&self, bytes: usize) {
        self.memory.total.store(bytes, Ordering::Relaxed);
    }

    /// Whether a new run of tenant `tenant` (one of `tenants`) may start:
    /// while the logs hold more than their total once finished handlers are
    /// forgotten, it may not if its handlers hold more than its even share
    /// of the total; so one tenant's floods do not shut the others out.
    pub(crate) fn admit(&self, tenant: &str, tenants: usize) -> Result<(), LogsFull> {
        if !self.memory.over_total() {
            return Ok(());
        }
        self.forget_old_finished();
        let held = self.memory.held.load(Ordering::Relaxed);
        let total = self.memory.total.load(Ordering::Relaxed);
        if held <= total {
            return Ok(());
        }
        if tenants <= 1 {
            return Err(LogsFull {
                held,
                total,
                tenant: None,
            });
        }
        let share = total / tenants;
        let own = self.share_of(tenant).load(Ordering::Relaxed);
        if own > share {
            return Err(LogsFull {
                held,
                total,
                tenant: Some((own, share)),
            });
        }
        Ok(())
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

    /// Registers a running handler of `tenant` for `live` (a run of
    /// `workflow_name` at deployment `version`, if deployed, started in
    /// trace `trace`, if traced) under `id` (a finished handler's id may be
    /// reused; a running one's may not).
    pub(crate) fn start(
        &self,
        id: String,
        tenant: &str,
        workflow_name: &str,
        version: Option<u64>,
        trace: Option<String>,
        live: Arc<WorkflowHandler>,
    ) -> Result<Arc<HandlerEntry>, AlreadyRunning> {
        let mut inner = self.inner();
        if let Some(existing) = inner.by_id.get(&id)
            && !existing.is_finished()
        {
            return Err(AlreadyRunning);
        }
        let now = now();
        let record = HandlerRecord {
            handler_id: id.clone(),
            tenant: tenant.to_string(),
            version,
            trace,
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
        let share = self.share_of(&record.tenant);
        let entry = Arc::new(HandlerEntry::new(
            record,
            self.memory.clone(),
            share,
            Some(live),
            None,
        ));
        inner.insert(entry.clone());
        inner.evict(self.kept(), &self.memory);
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
        let entry = self.restored(record, events, live, final_state);
        self.register(entry, true)
    }

    /// Registers a finished handler read back from the store, as
    /// [`Self::restore`] does, unless one is registered under its id
    /// already (another request read it back first): then that one, so
    /// that concurrent readers share it and none is retired.
    pub(crate) fn read_back(
        &self,
        record: HandlerRecord,
        events: Vec<(u64, Envelope)>,
        final_state: Option<Arc<Value>>,
    ) -> Arc<HandlerEntry> {
        let entry = self.restored(record, events, None, final_state);
        self.register(entry, false)
    }

    /// Registers `entry`, replacing (and retiring) one under its id if
    /// `replace`, else giving back the one there; the entry registered.
    fn register(&self, entry: Arc<HandlerEntry>, replace: bool) -> Arc<HandlerEntry> {
        let mut inner = self.inner();
        if !replace && let Some(known) = inner.by_id.get(&entry.id()) {
            return known.clone();
        }
        inner.insert(entry.clone());
        inner.evict(self.kept(), &self.memory);
        entry
    }

    /// A handler as the store holds it, whole before anyone can see it: a
    /// reader never finds a restored handler without its events.
    fn restored(
        &self,
        record: HandlerRecord,
        events: Vec<(u64, Envelope)>,
        live: Option<Arc<WorkflowHandler>>,
        final_state: Option<Arc<Value>>,
    ) -> Arc<HandlerEntry> {
        let share = self.share_of(&record.tenant);
        let entry = Arc::new(HandlerEntry::new(
            record,
            self.memory.clone(),
            share,
            live,
            final_state,
        ));
        // Read back from the store: every one of them is stored.
        let last = events.last().map(|(sequence, _)| *sequence);
        {
            let mut state = entry.state();
            for (sequence, envelope) in events {
                state.log(sequence, envelope, &entry.account());
            }
        }
        if let Some(last) = last {
            entry.mark_stored(last);
        }
        entry
    }

    /// Forgets the oldest finished handlers beyond the number kept.
    pub(crate) fn forget_old_finished(&self) {
        self.inner().evict(self.kept(), &self.memory);
    }

    /// Forgets the handler `id`; whether it was there.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.remove_if(id, |_| true)
    }

    /// Forgets `entry`, if it is still the one registered under its id (a
    /// handler whose run another host took over: this host may have
    /// claimed it back since).
    pub(crate) fn remove_entry(&self, entry: &Arc<HandlerEntry>) -> bool {
        self.remove_if(&entry.id(), |known| Arc::ptr_eq(known, entry))
    }

    fn remove_if(&self, id: &str, matches: impl Fn(&Arc<HandlerEntry>) -> bool) -> bool {
        let mut inner = self.inner();
        if !inner.by_id.get(id).is_some_and(&matches) {
            return false;
        }
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
    random_id(NEW_ID_LEN)
}

/// `len` random characters of `[A-Za-z0-9]`, from the operating system's
/// random source.
pub(crate) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 62 * 4 = 248: bytes from 248 up are redrawn, so every letter is as
    // likely as any other.
    let mut id = String::with_capacity(len);
    let mut bytes = [0u8; 32];
    while id.len() < len {
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: fall back to the process's generator.
            fastrand::fill(&mut bytes);
        }
        for byte in bytes {
            if id.len() < len && usize::from(byte) < ALPHABET.len() * 4 {
                id.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    id
}

#[cfg(test)]
mod tests;
