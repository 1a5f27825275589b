//! The built-in event types: `StartEvent`, `StopEvent`, `InputRequiredEvent`
//! and `HumanResponseEvent`, with the seed's shapes. Their kinds and the
//! schemas they publish are those of `wit/sdk-defaults.json`, shared with
//! the Python and JavaScript SDKs (the unit tests of `defaults` check that
//! every type here is listed there with its kind).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StepError;

/// Implements `Event` for built-in type `$ty` of kind `$kind`, publishing
/// the schema `wit/sdk-defaults.json` gives it.
macro_rules! builtin_event {
    ($ty:ident, $kind:ident) => {
        impl crate::Event for $ty {
            const NAME: &'static str = stringify!($ty);
            const KIND: crate::EventKind = crate::EventKind::$kind;

            fn schema() -> String {
                crate::defaults::defaults()
                    .builtin(Self::NAME, Self::KIND)
                    .schema
                    .clone()
            }
        }

        crate::__impl_event_io!($ty);
    };
}

/// Reads a field of a dict-like event.
fn get_field<T: DeserializeOwned>(
    event: &str,
    fields: &Map<String, Value>,
    key: &str,
) -> Result<T, StepError> {
    let value = fields
        .get(key)
        .ok_or_else(|| StepError::invalid_event(format!("{event} has no field `{key}`")))?;
    T::deserialize(value).map_err(|err| StepError::invalid_event(format!("{event}.{key}: {err}")))
}

fn to_value(value: impl Serialize) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|err| Value::String(format!("<unserializable value: {err}>")))
}

/// The event a run starts with: a dict of whatever the caller passed
/// (`wflow run --input '{"topic": "pirates"}'`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StartEvent {
    /// The fields the caller passed.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

builtin_event!(StartEvent, Start);

impl StartEvent {
    /// The field `key`, decoded as `T`; an error if it is missing or of
    /// another shape.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, StepError> {
        get_field("StartEvent", &self.fields, key)
    }

    /// The field `key` decoded as `T`, or `default` when it is missing.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, StepError> {
        if self.fields.contains_key(key) {
            self.get(key)
        } else {
            Ok(default)
        }
    }
}

/// The event that ends a run; `result` is the run's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StopEvent {
    /// The run's result: any JSON value.
    #[serde(default)]
    pub result: Value,
}

builtin_event!(StopEvent, Stop);

impl StopEvent {
    /// A stop event carrying `result`.
    pub fn result(result: impl Serialize) -> Self {
        Self {
            result: to_value(result),
        }
    }
}

/// Asks a human for input: streamed to the caller, who answers with a
/// [`HumanResponseEvent`]. Dict-like; `prefix` is the prompt by convention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InputRequiredEvent {
    /// The event's fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

builtin_event!(InputRequiredEvent, InputRequired);

impl InputRequiredEvent {
    /// A request whose prompt (`prefix`) is `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self::default().with("prefix", prefix.into())
    }

    /// Adds a field.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.fields.insert(key.to_string(), to_value(value));
        self
    }

    /// The field `key`, decoded as `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, StepError> {
        get_field("InputRequiredEvent", &self.fields, key)
    }
}

/// A human's answer to an [`InputRequiredEvent`]. Dict-like; `response` is
/// the answer by convention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HumanResponseEvent {
    /// The event's fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

builtin_event!(HumanResponseEvent, HumanResponse);

impl HumanResponseEvent {
    /// An answer whose `response` is `response`.
    pub fn new(response: impl Into<String>) -> Self {
        let mut fields = Map::new();
        fields.insert("response".to_string(), Value::String(response.into()));
        Self { fields }
    }

    /// The `response` field, when it is a string.
    pub fn response(&self) -> Option<&str> {
        self.fields.get("response").and_then(Value::as_str)
    }

    /// The field `key`, decoded as `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, StepError> {
        get_field("HumanResponseEvent", &self.fields, key)
    }
}
