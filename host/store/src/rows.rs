//! What every store writes and reads back alike, whatever its database: a
//! handler's row, an event's row, and how rows that no longer read back
//! are reported (left out, named as damage).

use wflow_api::{Envelope, HandlerRecord, HandlerResult, Status};
use wflow_core::Snapshot;

use crate::StoreError;

/// A status as stored.
pub(crate) fn status_text(status: Status) -> &'static str {
    match status {
        Status::Running => "running",
        Status::Completed => "completed",
        Status::Failed => "failed",
        Status::Cancelled => "cancelled",
    }
}

/// A version or a sequence as a signed 64-bit column holds it.
pub(crate) fn version_value(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// A record's result as stored: the stop event's envelope as JSON.
pub(crate) fn result_text(record: &HandlerRecord) -> Result<Option<String>, StoreError> {
    match &record.result {
        Some(HandlerResult::Event(envelope)) => {
            serde_json::to_string(envelope)
                .map(Some)
                .map_err(|err| StoreError::Serialize {
                    what: "a result",
                    cause: err.into(),
                })
        }
        Some(HandlerResult::Value(value)) => Ok(Some(value.to_string())),
        None => Ok(None),
    }
}

/// An event as its row holds it: `(sequence, envelope as JSON)`.
pub(crate) fn event_row(sequence: u64, envelope: &Envelope) -> Result<(i64, String), StoreError> {
    let sequence = i64::try_from(sequence).map_err(|err| StoreError::Database {
        action: "cannot store an event",
        cause: err.into(),
    })?;
    let text = serde_json::to_string(envelope).map_err(|err| StoreError::Serialize {
        what: "an event",
        cause: err.into(),
    })?;
    Ok((sequence, text))
}

/// A checkpoint as stored: its JSON.
pub(crate) fn snapshot_text(snapshot: &Snapshot) -> Result<String, StoreError> {
    snapshot.to_json().map_err(|err| StoreError::Serialize {
        what: "a checkpoint",
        cause: err.into(),
    })
}

/// Events as their rows hold them, in one go (see [`event_row`]).
pub(crate) fn event_rows(events: &[(u64, Envelope)]) -> Result<Vec<(i64, String)>, StoreError> {
    events
        .iter()
        .map(|(sequence, envelope)| event_row(*sequence, envelope))
        .collect()
}

/// A handler's events as read back, in order: those that read, and what is
/// wrong with those that do not (left out; their sequences show as gaps).
pub(crate) fn decode_events(
    rows: impl IntoIterator<Item = (i64, String)>,
) -> (Vec<(u64, Envelope)>, Vec<String>) {
    let mut events = Vec::new();
    let mut damage = Vec::new();
    for (sequence, text) in rows {
        let Ok(position) = u64::try_from(sequence) else {
            damage.push(format!("its event {sequence} has a negative sequence"));
            continue;
        };
        match serde_json::from_str::<Envelope>(&text) {
            Ok(envelope) => events.push((position, envelope)),
            Err(err) => damage.push(format!("its event {sequence} is not valid: {err}")),
        }
    }
    (events, damage)
}

/// A page of events as a reader pages through them: a row that does not
/// read back is logged and left out.
pub(crate) fn decode_page(
    handler_id: &str,
    rows: impl IntoIterator<Item = (i64, String)>,
) -> Vec<(u64, Envelope)> {
    let mut events = Vec::new();
    for (sequence, text) in rows {
        let parsed = u64::try_from(sequence)
            .ok()
            .zip(serde_json::from_str::<Envelope>(&text).ok());
        match parsed {
            Some(event) => events.push(event),
            None => tracing::error!(
                handler = handler_id,
                sequence,
                "a stored event cannot be read back: it is left out"
            ),
        }
    }
    events
}

/// A stored checkpoint read back, or what is wrong with it (added to
/// `damage`).
pub(crate) fn decode_snapshot(text: Option<String>, damage: &mut Vec<String>) -> Option<Snapshot> {
    let text = text?;
    match Snapshot::from_json(&text) {
        Ok(snapshot) => Some(snapshot),
        Err(err) => {
            damage.push(format!("its checkpoint is not valid: {err}"));
            None
        }
    }
}

/// A `handlers` row.
pub(crate) struct HandlerRow {
    pub(crate) handler_id: String,
    pub(crate) workflow: String,
    pub(crate) run_id: Option<String>,
    pub(crate) status: String,
    pub(crate) error: Option<String>,
    pub(crate) result: Option<String>,
    pub(crate) started_at: String,
    pub(crate) updated_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    pub(crate) tenant: String,
    pub(crate) version: Option<u64>,
    pub(crate) trace: Option<String>,
}

impl HandlerRow {
    /// The record the row holds. A result that no longer reads back is
    /// marked unreadable; an unknown status, which cannot be resumed,
    /// counts as failed.
    pub(crate) fn into_record(self) -> HandlerRecord {
        let (result, result_unreadable) = match self.result.as_deref().map(serde_json::from_str) {
            None => (None, false),
            Some(Ok(envelope)) => (Some(HandlerResult::Event(envelope)), false),
            Some(Err(_)) => (None, true),
        };
        HandlerRecord {
            handler_id: self.handler_id,
            tenant: self.tenant,
            version: self.version,
            trace: self.trace,
            workflow_name: self.workflow,
            run_id: self.run_id,
            error: self.error,
            result,
            result_unreadable,
            status: Status::parse(&self.status).unwrap_or(Status::Failed),
            started_at: self.started_at,
            updated_at: self.updated_at,
            completed_at: self.completed_at,
        }
    }
}
