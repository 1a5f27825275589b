//! Events on the wire, as the reference server writes and reads them
//! (docs/SERVER-WIRE.md, section 3).
//!
//! Out: `{"value": {...}, "qualified_name": "...", "type": "Name",
//! "types": [ancestors] | null}`. The built-in events whose fields the
//! reference does not declare (`StartEvent`, `InputRequiredEvent`,
//! `HumanResponseEvent`) carry their payload under `value._data`.
//!
//! In: an envelope by `type` (or by `qualified_name`), with `value` or the
//! legacy `data`, flat or under `_data`, possibly as a JSON string; for a
//! start event also the bare payload.

use serde_json::{Map, Value, json};

use wflow_api::envelope::{
    BUILTIN_MODULE, BUILTINS, DYNAMIC_BUILTINS, Envelope, INTERNAL_BASE, flatten_dynamic,
};
use wflow_core::{Event, EventKind, Workflow, names};

/// The envelope of `event`, an event of `workflow` (or a run-ending one).
pub(crate) fn envelope(workflow: &Workflow, event: &Event) -> Envelope {
    let payload: Value = serde_json::from_str(&event.data).unwrap_or_else(|_| json!({}));
    let value = if DYNAMIC_BUILTINS.contains(&event.name.as_str()) {
        match payload {
            Value::Object(map) if map.is_empty() => Value::Object(map),
            other => json!({ "_data": other }),
        }
    } else if event.name == names::STEP_STATE_CHANGED {
        step_state_value(workflow, payload)
    } else {
        payload
    };
    Envelope {
        value,
        qualified_name: Some(qualified_name(workflow, &event.name)),
        type_name: event.name.clone(),
        types: ancestors(workflow, &event.name),
    }
}

/// A `StepStateChanged` as the reference writes it: when the step ends, its
/// input and output types are given as Python class reprs
/// (`<class 'workflows.events.StartEvent'>`).
fn step_state_value(workflow: &Workflow, mut payload: Value) -> Value {
    if payload["step_state"] == "not_running" {
        for key in ["input_event_name", "output_event_name"] {
            if let Some(name) = payload[key].as_str() {
                payload[key] = json!(format!("<class '{}'>", qualified_name(workflow, name)));
            }
        }
    }
    payload
}

/// The reference's `module.Class` name: built-ins in `workflows.events`,
/// the workflow's own types under `wflow.<workflow>`.
fn qualified_name(workflow: &Workflow, name: &str) -> String {
    if BUILTINS.contains(&name) {
        format!("{BUILTIN_MODULE}.{name}")
    } else {
        format!("wflow.{}.{name}", workflow.name())
    }
}

/// The event's ancestor types, nearest first, `None` when it has none: a
/// custom stop event is a `StopEvent`, a custom start event a `StartEvent`.
fn ancestors(workflow: &Workflow, name: &str) -> Option<Vec<String>> {
    if names::is_run_ending(name) {
        return Some(vec![names::STOP.to_string()]);
    }
    if names::is_internal(name) {
        return Some(vec![INTERNAL_BASE.to_string()]);
    }
    let base = match workflow.events().get(name).map(|info| info.kind)? {
        EventKind::Stop => names::STOP,
        EventKind::Start => names::START,
        EventKind::InputRequired => names::INPUT_REQUIRED,
        EventKind::HumanResponse => names::HUMAN_RESPONSE,
        EventKind::Plain => return None,
    };
    (base != name).then(|| vec![base.to_string()])
}

/// Why an incoming event cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    /// Not a JSON object (or a string holding one).
    #[error("Failed to deserialize event. Must be a json object, or stringified json object")]
    NotAnObject,
    /// Neither `type` nor `qualified_name`.
    #[error("Invalid client data. Must have a type or a qualified name, got {0}")]
    NoType(String),
    /// A type the workflow does not know.
    #[error("Invalid event type: {name}. Expected one of {expected}")]
    UnknownType { name: String, expected: String },
    /// The payload does not fit the type.
    #[error("Failed to deserialize event: {0}")]
    Invalid(String),
}

/// Reads an event sent to `workflow`. With `start`, a dict that is no
/// envelope is the start event's payload.
pub(crate) fn parse(
    workflow: &Workflow,
    input: &Value,
    start: bool,
) -> Result<Event, EnvelopeError> {
    let parsed;
    let input = match input {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|_| EnvelopeError::NotAnObject)?;
            &parsed
        }
        other => other,
    };
    let Value::Object(object) = input else {
        return Err(EnvelopeError::NotAnObject);
    };
    // A start event may come bare: a dict that is no envelope (it has no
    // `value`, and does not name its type with a qualified name or legacy
    // `data` beside it) is the start event's payload.
    let has_type = object.contains_key("type");
    let is_envelope = object.contains_key("value")
        || (has_type && (object.contains_key("qualified_name") || object.contains_key("data")));
    let (name, value) = if start && !is_envelope {
        (workflow.start_event().to_string(), input.clone())
    } else {
        let name = type_name(object)?;
        let value = object
            .get("value")
            .or_else(|| object.get("data"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        (name, value)
    };
    // The built-in types are always known: a step may wait for a
    // `HumanResponseEvent` without declaring it.
    let builtin = BUILTINS.contains(&name.as_str()) && !names::is_internal(&name);
    if !workflow.events().contains_key(&name) && !builtin {
        let expected: Vec<&str> = workflow.events().keys().map(String::as_str).collect();
        return Err(EnvelopeError::UnknownType {
            name,
            expected: expected.join(", "),
        });
    }
    let payload = flatten_dynamic(value).ok_or(EnvelopeError::NotAnObject)?;
    let event = Event::new(name, &Value::Object(payload))
        .map_err(|err| EnvelopeError::Invalid(err.to_string()))?;
    workflow
        .admit_event(event)
        .map_err(|err| EnvelopeError::Invalid(err.to_string()))
}

/// The type an envelope names: its `type`, else the class part of its
/// `qualified_name`.
fn type_name(object: &Map<String, Value>) -> Result<String, EnvelopeError> {
    if let Some(name) = object.get("type").and_then(Value::as_str) {
        return Ok(name.to_string());
    }
    if let Some(qualified) = object.get("qualified_name").and_then(Value::as_str) {
        return Ok(qualified
            .rsplit('.')
            .next()
            .unwrap_or(qualified)
            .to_string());
    }
    Err(EnvelopeError::NoType(
        Value::Object(object.clone()).to_string(),
    ))
}

#[cfg(test)]
mod props;
