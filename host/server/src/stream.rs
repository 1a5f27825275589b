//! `GET /events/{handler_id}`: a handler's streamed events as SSE (`id:` and
//! one-line `data:` per event, a heartbeat comment after a quiet spell) or
//! NDJSON, from a cursor, closing after the terminal event
//! (docs/SERVER-WIRE.md, section 6). Events the handler no longer holds in
//! memory are paged from the store.

use crate::metrics::Reading;
use crate::tenants::quota::ReaderPermit;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::cluster::POLL;
use super::runs::HandlerEntry;
use axum::body::{Body, Bytes};
use wflow_api::Envelope;
use wflow_store::Store;

/// The most events a reader copies out of the log at a time: a slow reader
/// holds one page, not the handler's whole backlog.
const READ_PAGE: usize = 256;

/// How a reader wants its events.
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    /// SSE (true) or NDJSON.
    pub(crate) sse: bool,
    /// Events after this sequence (`-1`: all).
    pub(crate) after: i64,
    /// Keep `qualified_name` in the envelopes.
    pub(crate) qualified_name: bool,
    /// Include the runtime's own events (`StepStateChanged`,
    /// `WorkflowIdleEvent`).
    pub(crate) internal: bool,
    /// A heartbeat comment after this long without an event (SSE only).
    pub(crate) heartbeat: Duration,
}

/// Where a reader is.
struct Reader {
    entry: Arc<HandlerEntry>,
    /// Where the events that left memory are.
    store: Option<Arc<dyn Store>>,
    options: StreamOptions,
    cursor: i64,
    /// Chunks ready to send.
    pending: std::collections::VecDeque<Bytes>,
    done: bool,
    /// Counts the reader against its tenant's `max_stream_readers`, and in
    /// the metrics, for as long as the body lives.
    _permit: (ReaderPermit, Reading),
}

/// The streaming body of a reader of `entry` (whose older events are in
/// `store`, if it has one).
pub(crate) fn body(
    entry: Arc<HandlerEntry>,
    store: Option<Arc<dyn Store>>,
    options: StreamOptions,
    permit: (ReaderPermit, Reading),
) -> Body {
    let reader = Reader {
        cursor: options.after,
        entry,
        store,
        options,
        pending: Default::default(),
        done: false,
        _permit: permit,
    };
    streaming(reader)
}

/// A reader of a stream, chunk by chunk.
trait Chunks: Send + 'static {
    /// The next chunk to send; `None` ends the body.
    fn next_chunk(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send;
}

/// The body that sends `reader`'s chunks until it ends.
fn streaming(reader: impl Chunks) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        reader,
        |mut reader| async move {
            reader
                .next_chunk()
                .await
                .map(|chunk| (Ok::<_, Infallible>(chunk), reader))
        },
    ))
}

impl Chunks for Reader {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        self.next_logged().await
    }
}

impl Chunks for RemoteReader {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let chunk = self.next_event_or_heartbeat().await;
        self.last_sent = Instant::now();
        chunk
    }
}

impl Reader {
    async fn next_logged(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.done {
                return None;
            }
            let entry = self.entry.clone();
            let changed = entry.changed();
            let mut batch = entry.events_after(self.cursor, READ_PAGE);
            if batch.in_store {
                let page = self.page_from_store().await?;
                if entry.is_retired() {
                    // The id now names another run (or none): what the
                    // store holds under it is not this handler's.
                    return None;
                }
                if page.is_empty() {
                    // The store holds none of what left memory (a row
                    // damaged or gone): go on from what memory holds; the
                    // skipped sequences show as a gap.
                    if let Some(spilled) = batch.spilled_through {
                        self.cursor = self.cursor.max(spilled as i64);
                    }
                    continue;
                }
                batch.events = page;
            }
            if !batch.events.is_empty() {
                for (sequence, envelope) in batch.events {
                    self.cursor = sequence as i64;
                    if envelope.is_internal() && !self.options.internal {
                        continue;
                    }
                    let terminal = envelope.is_terminal();
                    self.pending.push_back(self.encode(sequence, envelope));
                    if terminal {
                        self.done = true;
                        break;
                    }
                }
                continue;
            }
            if batch.finished {
                return None;
            }
            if self.options.sse {
                match tokio::time::timeout(self.options.heartbeat, changed).await {
                    Ok(()) => {}
                    Err(_) => return Some(Bytes::from_static(b": heartbeat\n\n")),
                }
            } else {
                changed.await;
            }
        }
    }

    /// The next page of events from the store; `None` ends the stream when
    /// the store cannot be read (the client may reconnect from its last
    /// event id).
    async fn page_from_store(&self) -> Option<Vec<(u64, Envelope)>> {
        let store = self.store.as_ref()?;
        let id = self.entry.id();
        match store.events_after(&id, self.cursor, READ_PAGE).await {
            Ok(events) => Some(events),
            Err(err) => {
                tracing::error!(handler = %id, "cannot read the stream from the store: {err}");
                None
            }
        }
    }

    fn encode(&self, sequence: u64, envelope: Envelope) -> Bytes {
        encode(&self.options, sequence, envelope)
    }
}

/// One event as `options` wants it on the wire.
fn encode(options: &StreamOptions, sequence: u64, mut envelope: Envelope) -> Bytes {
    if !options.qualified_name {
        envelope.qualified_name = None;
    }
    // An envelope is plain JSON data: it always serializes.
    let json = serde_json::to_string(&envelope).unwrap_or_default();
    if options.sse {
        Bytes::from(format!("id: {sequence}\ndata: {json}\n\n"))
    } else {
        Bytes::from(format!("{json}\n"))
    }
}

/// The streaming body of a reader of handler `id`, whose run another host
/// sharing `store` holds: events come from the store, read again when
/// `wake` says the stream grew (another host's notice) and every
/// [`POLL`] in any case; the body ends after the terminal event, or when
/// the stored record says the run has ended and no event is left.
pub(crate) fn remote_body(
    id: String,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    options: StreamOptions,
    permit: (ReaderPermit, Reading),
) -> Body {
    let reader = RemoteReader {
        id,
        store,
        wake,
        cursor: options.after,
        options,
        pending: Default::default(),
        done: false,
        last_sent: Instant::now(),
        notified: false,
        _permit: permit,
    };
    streaming(reader)
}

/// Where a reader of a run held elsewhere is.
struct RemoteReader {
    id: String,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    options: StreamOptions,
    cursor: i64,
    pending: std::collections::VecDeque<Bytes>,
    done: bool,
    /// When the last chunk went out (for SSE heartbeats).
    last_sent: Instant,
    /// Whether the last wait ended with a notice (not a timeout).
    notified: bool,
    _permit: (ReaderPermit, Reading),
}

impl RemoteReader {
    async fn next_event_or_heartbeat(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.done {
                return None;
            }
            let wake = self.wake.clone();
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.read_page().await? {
                continue;
            }
            // Caught up. A run that ended without a terminal event
            // (cancelled) is noticed by its record, read when no notice
            // came for a while (a notice means a new event to read).
            if !self.notified {
                let cluster = self.store.cluster()?;
                match cluster.current(&self.id).await {
                    Ok(Some(current)) if !current.record.status.is_terminal() => {}
                    Ok(_) => {
                        // Ended: with one stored since the page was read?
                        if self.read_page().await? {
                            continue;
                        }
                        return None;
                    }
                    Err(err) => {
                        tracing::error!(handler = %self.id, "cannot read the stream from the store: {err}");
                        return None;
                    }
                }
            }
            let mut wait = POLL;
            if self.options.sse {
                let heartbeat_due = self.last_sent + self.options.heartbeat;
                let now = Instant::now();
                if now >= heartbeat_due {
                    return Some(Bytes::from_static(b": heartbeat\n\n"));
                }
                wait = wait.min(heartbeat_due - now);
            }
            self.notified = tokio::time::timeout(wait, notified).await.is_ok();
        }
    }

    /// Reads the next page into `pending`: whether it had events; `None`
    /// ends the stream when the store cannot be read (the client may
    /// reconnect from its last event id).
    async fn read_page(&mut self) -> Option<bool> {
        let page = match self
            .store
            .events_after(&self.id, self.cursor, READ_PAGE)
            .await
        {
            Ok(page) => page,
            Err(err) => {
                tracing::error!(handler = %self.id, "cannot read the stream from the store: {err}");
                return None;
            }
        };
        let read = !page.is_empty();
        for (sequence, envelope) in page {
            self.cursor = sequence as i64;
            if envelope.is_internal() && !self.options.internal {
                continue;
            }
            let terminal = envelope.is_terminal();
            self.pending
                .push_back(encode(&self.options, sequence, envelope));
            if terminal {
                self.done = true;
                break;
            }
        }
        Some(read)
    }
}
