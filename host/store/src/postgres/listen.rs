//! How hosts hear of each other's writes: `pg_notify` on channel `wflow`
//! in the writing transaction (so a notice goes out only if the write
//! commits), and one connection per host that `LISTEN`s, reconnecting with
//! backoff. Notices can be lost (while the connection is down, or by a
//! receiver that falls behind): [`Notice::Resync`] says so, and readers
//! also poll.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::{AsyncMessage, NoTls};

use super::failed;
use crate::{Notice, StoreError};

/// The channel.
pub(super) const CHANNEL: &str = "wflow";

/// How many notices a receiver may fall behind by before it is told to
/// resync.
pub(super) const NOTICES_KEPT: usize = 4096;

/// The first and the longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

/// A notice as sent on the channel.
pub(super) fn payload(notice: &Notice) -> String {
    match notice {
        Notice::Events(id) => format!("e:{id}"),
        Notice::Inbox(id) => format!("i:{id}"),
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
