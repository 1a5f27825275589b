//! Events on the wire, as the reference server writes them
//! (docs/SERVER-WIRE.md, section 3): `{"value": {...}, "qualified_name":
//! "...", "type": "Name", "types": [ancestors] | null}`. The built-in events
//! whose fields the reference does not declare (`StartEvent`,
//! `InputRequiredEvent`, `HumanResponseEvent`) carry their payload under
//! `value._data`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wflow_core::{Event, WorkflowError, names};

/// The module the reference gives its built-in events.
pub const BUILTIN_MODULE: &str = "workflows.events";

/// Built-in events whose fields are all dynamic in the reference, so their
/// payload travels under `_data`.
pub const DYNAMIC_BUILTINS: [&str; 3] =
    [names::START, names::INPUT_REQUIRED, names::HUMAN_RESPONSE];

/// The base type of the runtime's own events, which streams carry only to
/// readers that ask for them.
pub const INTERNAL_BASE: &str = "InternalDispatchEvent";

/// Built-in event types: their qualified names live in the reference's
/// module.
pub const BUILTINS: [&str; 9] = [
    names::START,
    names::STOP,
    names::INPUT_REQUIRED,
    names::HUMAN_RESPONSE,
    names::WORKFLOW_FAILED,
    names::WORKFLOW_TIMED_OUT,
    names::WORKFLOW_CANCELLED,
    names::STEP_STATE_CHANGED,
    names::WORKFLOW_IDLE,
];

/// An event as the server writes it, its keys in the reference's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub value: Value,
    pub qualified_name: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub types: Option<Vec<String>>,
}

impl Envelope {
    /// The event's type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Whether the event is of type `kind` or derives from it.
    pub fn is_a(&self, kind: &str) -> bool {
        self.type_name == kind
            || self
                .types
                .as_ref()
                .is_some_and(|types| types.iter().any(|t| t == kind))
    }

    /// Whether the event ends a stream (a stop event of any kind).
    pub fn is_terminal(&self) -> bool {
        self.is_a(names::STOP)
    }

    /// Whether the event is one of the runtime's own, streamed only to
    /// readers that ask for internal events.
    pub fn is_internal(&self) -> bool {
        self.is_a(INTERNAL_BASE)
    }

    /// The envelope's value: for a plain `StopEvent`, its `result`; for
    /// any other event, its fields with the reference's dynamic `_data`
    /// fields merged in.
    pub fn result(&self) -> Value {
        if self.type_name == names::STOP {
            return self.value.get("result").cloned().unwrap_or(Value::Null);
        }
        flatten_dynamic(self.value.clone()).map_or_else(|| self.value.clone(), Value::Object)
    }

    /// The event the envelope carries, its dynamic `_data` fields merged
    /// into its payload.
    pub fn to_event(&self) -> wflow_core::Result<Event> {
        let payload = flatten_dynamic(self.value.clone()).ok_or_else(|| {
            WorkflowError::InvalidEvent(format!(
                "the value of a {} envelope is not a JSON object",
                self.type_name
            ))
        })?;
        Event::new(self.type_name.clone(), &Value::Object(payload))
    }
}

/// A payload with its `_data` fields (the reference's dynamic fields)
/// merged into the top level; `None` when it is not an object.
pub fn flatten_dynamic(value: Value) -> Option<Map<String, Value>> {
    let value = match value {
        Value::String(text) => serde_json::from_str(&text).ok()?,
        other => other,
    };
    let Value::Object(mut map) = value else {
        return None;
    };
    if let Some(Value::Object(dynamic)) = map.remove("_data") {
        for (key, value) in dynamic {
            map.entry(key).or_insert(value);
        }
    }
    Some(map)
}
