//! A handler as the API returns it and the store keeps it.

use serde::Serialize;
use serde_json::Value;

use crate::Envelope;

/// A handler's status, as the reference names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The run goes on (or waits).
    Running,
    /// It stopped with its stop event.
    Completed,
    /// A step failed, a limit was hit, or it timed out.
    Failed,
    /// It was cancelled.
    Cancelled,
}

impl Status {
    /// Parses a `status` filter value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(Self::Running),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        self != Self::Running
    }
}

/// What the API returns for a handler, with every key present in the
/// reference's order.
#[derive(Debug, Clone, Serialize)]
pub struct HandlerRecord {
    pub handler_id: String,
    /// The tenant the handler belongs to (empty on a server without
    /// tenants). Not on the wire: a caller only ever sees its own.
    #[serde(skip)]
    pub tenant: String,
    /// The version of the tenant's deployment its run uses; `None` for a
    /// workflow the operator serves. Not on the wire.
    #[serde(skip)]
    pub version: Option<u64>,
    /// The W3C `traceparent` of the request that started the run, if it
    /// was traced: a run resumed later (after a restart, or on another
    /// host) continues that trace. Not on the wire.
    #[serde(skip)]
    pub trace: Option<String>,
    pub workflow_name: String,
    pub run_id: Option<String>,
    pub error: Option<String>,
    /// The stop event, once completed.
    pub result: Option<HandlerResult>,
    pub result_unreadable: bool,
    pub status: Status,
    pub started_at: String,
    pub updated_at: Option<String>,
    pub completed_at: Option<String>,
}

/// A handler's result: the stop event's envelope, or (on the deprecated
/// `/results` route) its unwrapped value.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum HandlerResult {
    /// The stop event.
    Event(Envelope),
    /// The stop event's result, unwrapped.
    Value(Value),
}

/// Now, as the reference writes times: RFC 3339 in UTC with microseconds.
pub fn now() -> String {
    let now = std::time::SystemTime::now();
    let text = humantime::format_rfc3339_micros(now).to_string();
    // humantime ends with `Z`; the reference writes `+00:00`.
    match text.strip_suffix('Z') {
        Some(stem) => format!("{stem}+00:00"),
        None => text,
    }
}
