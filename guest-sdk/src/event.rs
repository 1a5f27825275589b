//! Event types: the `Event` trait, untyped events and the registry of
//! schemas a component publishes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StepError;
use crate::bindings::wflow::workflow::types::{self as wit};

/// The role an event type plays in a workflow (the WIT `event-kind`; in
/// `wit/sdk-defaults.json`, its kebab-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// An ordinary event passed between steps.
    Plain,
    /// A start event: a run begins with one.
    Start,
    /// A stop event: emitting one ends the run.
    Stop,
    /// A request for human input, streamed to the caller.
    InputRequired,
    /// A human's answer, sent into the run from outside.
    HumanResponse,
}

impl From<EventKind> for wit::EventKind {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::Plain => wit::EventKind::Plain,
            EventKind::Start => wit::EventKind::Start,
            EventKind::Stop => wit::EventKind::Stop,
            EventKind::InputRequired => wit::EventKind::InputRequired,
            EventKind::HumanResponse => wit::EventKind::HumanResponse,
        }
    }
}

/// A workflow event type: serializable to a JSON object, with a name, a role
/// and a JSON Schema. Implement it with `#[event]`.
pub trait Event: Serialize + DeserializeOwned + schemars::JsonSchema {
    /// The type's name, unique within a workflow.
    const NAME: &'static str;
    /// The type's role.
    const KIND: EventKind;

    /// The JSON Schema the component publishes for the type, as canonical
    /// JSON text (compact, keys sorted). Derived from the type with
    /// schemars, in the form the Python and JavaScript SDKs derive too; the
    /// built-in events publish the schemas of `wit/sdk-defaults.json`.
    fn schema() -> String {
        crate::schema::derived::<Self>()
    }
}

/// Anything that can be turned into an untyped event: every event type, and
/// every `#[derive(Events)]` enum.
pub trait ToAnyEvent {
    /// The event as a name and a JSON payload.
    fn to_any_event(&self) -> Result<AnyEvent, StepError>;
}

impl<E: Event> ToAnyEvent for E {
    fn to_any_event(&self) -> Result<AnyEvent, StepError> {
        AnyEvent::from_event(self)
    }
}

/// An event of any type: its name and its JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct AnyEvent {
    name: String,
    data: String,
}

impl AnyEvent {
    /// An event from a type name and a JSON object (as text).
    pub fn new(name: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            data: data.into(),
        }
    }

    /// Serializes a typed event.
    pub fn from_event<E: Event>(ev: &E) -> Result<Self, StepError> {
        let data = serde_json::to_string(ev)
            .map_err(|err| StepError::new("SerializationError", format!("{}: {err}", E::NAME)))?;
        Ok(Self::new(E::NAME, data))
    }

    /// The event type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JSON payload, as text.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Whether the event is of type `E`.
    pub fn is<E: Event>(&self) -> bool {
        self.name == E::NAME
    }

    /// Decodes the event as `E`; fails if it is of another type or its
    /// payload does not fit.
    pub fn parse<E: Event>(&self) -> Result<E, StepError> {
        if self.name != E::NAME {
            return Err(StepError::invalid_event(format!(
                "expected a {} event, got {}",
                E::NAME,
                self.name
            )));
        }
        serde_json::from_str(&self.data)
            .map_err(|err| StepError::invalid_event(format!("{}: {err}", E::NAME)))
    }

    pub(crate) fn into_wit(self) -> wit::Event {
        wit::Event {
            name: self.name,
            data: self.data,
        }
    }

    pub(crate) fn from_wit(ev: wit::Event) -> Self {
        Self::new(ev.name, ev.data)
    }
}

/// The event types a component publishes, with their schemas.
#[derive(Default)]
pub struct EventRegistry {
    types: Vec<wit::EventType>,
}

impl EventRegistry {
    /// Adds `E` (once).
    pub fn add<E: Event>(&mut self) {
        if self.types.iter().any(|t| t.name == E::NAME) {
            return;
        }
        self.types.push(wit::EventType {
            name: E::NAME.to_string(),
            kind: E::KIND.into(),
            schema: E::schema(),
        });
    }

    pub(crate) fn into_types(self) -> Vec<wit::EventType> {
        self.types
    }
}

/// Implements the step input/output traits for one event type.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_event_io {
    ($ty:ty) => {
        impl $crate::StepInput for $ty {
            fn accepts(out: &mut ::std::vec::Vec<&'static str>) {
                out.push(<$ty as $crate::Event>::NAME);
            }
            fn register(registry: &mut $crate::EventRegistry) {
                registry.add::<$ty>();
            }
            fn from_raw(ev: $crate::AnyEvent) -> ::std::result::Result<Self, $crate::StepError> {
                ev.parse::<$ty>()
            }
        }

        impl $crate::StepOutput for $ty {
            fn emits(out: &mut ::std::vec::Vec<&'static str>) {
                out.push(<$ty as $crate::Event>::NAME);
            }
            fn register(registry: &mut $crate::EventRegistry) {
                registry.add::<$ty>();
            }
            fn into_events(
                self,
                out: &mut ::std::vec::Vec<$crate::AnyEvent>,
            ) -> ::std::result::Result<(), $crate::StepError> {
                out.push($crate::AnyEvent::from_event(&self)?);
                ::std::result::Result::Ok(())
            }
        }
    };
}
