//! Events as the host sees them: a type name and a JSON object as text.

use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkflowError};

/// Names of the built-in event types.
pub mod names {
    /// The default start event.
    pub const START: &str = "StartEvent";
    /// The default stop event.
    pub const STOP: &str = "StopEvent";
    /// The default request for human input.
    pub const INPUT_REQUIRED: &str = "InputRequiredEvent";
    /// The default human answer.
    pub const HUMAN_RESPONSE: &str = "HumanResponseEvent";
    /// Streamed last when a run fails.
    pub const WORKFLOW_FAILED: &str = "WorkflowFailedEvent";
    /// Streamed last when a run times out.
    pub const WORKFLOW_TIMED_OUT: &str = "WorkflowTimedOutEvent";
    /// Streamed last when a run is cancelled.
    pub const WORKFLOW_CANCELLED: &str = "WorkflowCancelledEvent";

    /// Streamed when a step call starts or ends, for callers that ask for
    /// the runtime's own events.
    pub const STEP_STATE_CHANGED: &str = "StepStateChanged";
    /// Streamed when a run comes to wait only on input from outside, for
    /// callers that ask for the runtime's own events.
    pub const WORKFLOW_IDLE: &str = "WorkflowIdleEvent";

    /// Whether `name` is one of the runtime's own events, streamed only to
    /// callers that ask for them.
    pub fn is_internal(name: &str) -> bool {
        [STEP_STATE_CHANGED, WORKFLOW_IDLE].contains(&name)
    }

    /// Whether `name` is one of the events streamed last when a run ends
    /// without a stop event.
    pub fn is_run_ending(name: &str) -> bool {
        [WORKFLOW_FAILED, WORKFLOW_TIMED_OUT, WORKFLOW_CANCELLED].contains(&name)
    }
}

/// An event: its type's name (`name`) and its payload (`data`), a JSON
/// object as text. This is the WIT `event` record itself, so it crosses into
/// and out of guests without conversion.
pub use crate::bindings::wflow::workflow::types::Event;

impl Event {
    /// An event from a name and a JSON value; the value must be an object.
    pub fn new(name: impl Into<String>, data: &serde_json::Value) -> Result<Self> {
        let name = name.into();
        if !data.is_object() {
            return Err(WorkflowError::InvalidEvent(format!(
                "the payload of a {name} must be a JSON object, got {}",
                crate::schema::json_type_name(data)
            )));
        }
        Ok(Self {
            name,
            data: data.to_string(),
        })
    }

    /// An event from a name and JSON text, which must hold an object.
    pub fn from_json_text(name: impl Into<String>, data: impl Into<String>) -> Result<Self> {
        let event = Self {
            name: name.into(),
            data: data.into(),
        };
        event.check_object()?;
        Ok(event)
    }

    /// The payload parsed as JSON.
    pub fn payload(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.data).map_err(|err| {
            WorkflowError::InvalidEvent(format!(
                "the payload of a {} is not JSON: {err}",
                self.name
            ))
        })
    }

    /// Checks that the payload is a JSON object, without building it.
    pub fn check_object(&self) -> Result<()> {
        struct ObjectOnly;
        impl<'de> Deserialize<'de> for ObjectOnly {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(ObjectOnlyVisitor)
            }
        }
        struct ObjectOnlyVisitor;
        impl<'de> serde::de::Visitor<'de> for ObjectOnlyVisitor {
            type Value = ObjectOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ObjectOnly, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ObjectOnly)
            }
        }
        serde_json::from_str::<ObjectOnly>(&self.data)
            .map(|_| ())
            .map_err(|err| {
                WorkflowError::InvalidEvent(format!(
                    "the payload of a {} must be a JSON object: {err}",
                    self.name
                ))
            })
    }
}

/// The role an event type plays in a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An ordinary event.
    Plain,
    /// A start event.
    Start,
    /// A stop event: routing one ends the run.
    Stop,
    /// A request for human input.
    InputRequired,
    /// A human's answer.
    HumanResponse,
}

impl EventKind {
    /// The kind of a built-in type, if `name` is one.
    pub fn of_builtin(name: &str) -> Option<Self> {
        match name {
            names::START => Some(Self::Start),
            names::STOP => Some(Self::Stop),
            names::INPUT_REQUIRED => Some(Self::InputRequired),
            names::HUMAN_RESPONSE => Some(Self::HumanResponse),
            _ => None,
        }
    }
}
