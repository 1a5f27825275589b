//! How hosts hear of each other's writes: `pg_notify` on channel `wflow`,
//! and one connection per host that `LISTEN`s, reconnecting with backoff.
//!
//! Notices of streams and inboxes (many, one per write) are sent after
//! their write commits, in batches, by a task of the writing host's
//! ([`Notifier`]): a transaction that notifies takes a lock every other
//! notifying commit waits for, so notifying in each write would serialize
//! them all. Notices of deployments and tenants (rare) are sent in their
//! transaction. Notices can be lost (a host dying between a write and its
//! notice, the listening connection down, a receiver falling behind):
//! [`Notice::Resync`] says so where it can, and readers also poll.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::failed;
use crate::{Notice, StoreError};

/// The channel.
const CHANNEL: &str = "wflow";

/// How many notices a receiver may fall behind by before it is told to
/// resync.
pub(super) const NOTICES_KEPT: usize = 4096;

/// The first and the longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// A notice as sent on the channel.
fn payload(notice: &Notice) -> String {
    match notice {
        Notice::Events(id) => format!("e:{id}"),
        Notice::Inbox(id) => format!("i:{id}"),
        Notice::Forgotten(id) => format!("f:{id}"),
        Notice::Deployments => "d:".to_string(),
        Notice::Tenants => "t:".to_string(),
        Notice::Resync => "r:".to_string(),
    }
}

/// A notice as received; `None` for one this wflow does not know.
fn parse(payload: &str) -> Option<Notice> {
    let (kind, rest) = payload.split_once(':')?;
    match kind {
        "e" => Some(Notice::Events(rest.to_string())),
        "i" => Some(Notice::Inbox(rest.to_string())),
        "f" => Some(Notice::Forgotten(rest.to_string())),
        "d" => Some(Notice::Deployments),
        "t" => Some(Notice::Tenants),
        "r" => Some(Notice::Resync),
        _ => None,
    }
}

/// Sends `notice` to every listening host when the transaction `client`
/// is in commits (at once, outside one).
pub(super) async fn announce(
    client: &impl GenericClient,
    notice: &Notice,
) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload(notice)])
        .await
        .map(drop)
        .map_err(failed("cannot notify the other hosts"))
}

/// The most notices waiting to be sent: past it they are dropped (readers
/// poll).
const NOTICES_WAITING: usize = 16_384;

/// The most notices sent in one statement.
const NOTICES_PER_BATCH: usize = 1_000;

/// Sends notices after the writes they announce, in batches.
pub(super) struct Notifier {
    queue: tokio::sync::mpsc::Sender<String>,
    task: tokio::task::AbortHandle,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Notifier {
    /// A notifier sending through connections of `pool`.
    pub(super) fn start(pool: deadpool_postgres::Pool) -> Self {
        let (queue, waiting) = tokio::sync::mpsc::channel(NOTICES_WAITING);
        let task = tokio::spawn(send_batches(pool, waiting)).abort_handle();
        Self { queue, task }
    }

    /// Sends `notice` soon; dropped if too many wait.
    pub(super) fn send(&self, notice: &Notice) {
        if self.queue.try_send(payload(notice)).is_err() {
            tracing::debug!("a notice to the other hosts was dropped: too many wait");
        }
    }
}

async fn send_batches(
    pool: deadpool_postgres::Pool,
    mut waiting: tokio::sync::mpsc::Receiver<String>,
) {
    let mut batch = Vec::new();
    while waiting.recv_many(&mut batch, NOTICES_PER_BATCH).await > 0 {
        batch.sort_unstable();
        batch.dedup();
        let sent = match pool.get().await {
            Ok(client) => client
                .execute(
                    "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
                    &[&CHANNEL, &batch],
                )
                .await
                .map(drop)
                .map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = sent {
            tracing::warn!("notices to the other hosts were lost (they poll): {err}");
        }
        batch.clear();
    }
}

/// The task listening for notices, stopped when dropped.
pub(super) struct Listener(tokio::task::AbortHandle);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    /// Listens on the database `config` names (`target` in messages),
    /// passing what it hears to `notices`.
    pub(super) fn start(
        config: tokio_postgres::Config,
        target: String,
        notices: broadcast::Sender<Notice>,
    ) -> Self {
        Self(tokio::spawn(listen(config, target, notices)).abort_handle())
    }
}

async fn listen(
    config: tokio_postgres::Config,
    target: String,
    notices: broadcast::Sender<Notice>,
) {
    let mut backoff = BACKOFF.0;
    let mut first = true;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let statement = format!("LISTEN {CHANNEL}");
                let listening = async {
                    // The LISTEN is answered through `messages`, which
                    // must be polled meanwhile.
                    tokio::select! {
                        listened = client.batch_execute(&statement) => listened.map(|_| true),
                        _ = messages.next() => Ok(false),
                    }
                };
                match listening.await {
                    Ok(true) => {
                        backoff = BACKOFF.0;
                        if !first {
                            // Whatever was sent while the connection was
                            // down is lost.
                            let _ = notices.send(Notice::Resync);
                        }
                        while let Some(message) = messages.next().await {
                            match message {
                                Ok(AsyncMessage::Notification(notification)) => {
                                    if let Some(notice) = parse(notification.payload()) {
                                        let _ = notices.send(notice);
                                    }
                                }
                                Ok(_) => {}
                                Err(err) => {
                                    tracing::warn!(
                                        "the database connection hosts listen on was lost ({target}): {err}"
                                    );
                                    break;
                                }
                            }
                        }
                    }
                    Ok(false) => {
                        tracing::warn!(
                            "cannot listen for other hosts' notices on {target}: the connection closed"
                        )
                    }
                    Err(err) => {
                        tracing::warn!("cannot listen for other hosts' notices on {target}: {err}")
                    }
                }
            }
            Err(err) => {
                tracing::warn!(
                    "cannot connect to {target} to listen for other hosts' notices: {err}"
                )
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_their_payloads() {
        for notice in [
            Notice::Events("acme:run-1".into()),
            Notice::Inbox("h:with:colons".into()),
            Notice::Forgotten("acme:run-2".into()),
            Notice::Deployments,
            Notice::Tenants,
            Notice::Resync,
        ] {
            assert_eq!(parse(&payload(&notice)), Some(notice));
        }
        assert_eq!(parse("x:unknown"), None);
        assert_eq!(parse("no colon"), None);
    }
}
