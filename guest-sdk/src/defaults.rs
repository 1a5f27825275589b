//! The defaults and built-in event types the three SDKs share, read from
//! `wit/sdk-defaults.json`, their one source of truth.
//!
//! The file is compiled in (`include_str!`) and parsed on first use. The
//! Python and JavaScript SDKs read generated copies of it
//! (`scripts/sync-sdk-defaults.py`); `tests/sdk_agreement.rs` checks that
//! the three SDKs describe one workflow identically.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{EventKind, RetryPolicy, schema};

/// The text of `wit/sdk-defaults.json`.
const SOURCE: &str = include_str!("../../wit/sdk-defaults.json");

/// The file's shape (its `$comment` is ignored).
#[derive(Deserialize)]
struct Source {
    step: StepSource,
    retry_policy: RetryPolicy,
    exponential_backoff: Map<String, Value>,
    events: Vec<BuiltinSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSource {
    num_workers: u32,
    retry_policy: Option<Map<String, Value>>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinSource {
    name: String,
    kind: EventKind,
    schema: Value,
}

/// A built-in event type: its name, kind and published schema.
pub(crate) struct Builtin {
    pub(crate) name: String,
    pub(crate) kind: EventKind,
    /// The JSON Schema, as canonical text.
    pub(crate) schema: String,
}

/// The parsed file.
pub(crate) struct SdkDefaults {
    /// How many events a step handles at once unless it says otherwise.
    pub(crate) num_workers: u32,
    /// A step's retry policy unless it declares one.
    pub(crate) step_retry: Option<RetryPolicy>,
    /// A step's timeout unless it declares one.
    pub(crate) timeout_ms: Option<u64>,
    /// Every field of a retry policy that the policy does not set.
    pub(crate) retry: RetryPolicy,
    /// `retry` with the changes of an exponential policy.
    pub(crate) exponential: RetryPolicy,
    /// The built-in event types.
    pub(crate) builtins: Vec<Builtin>,
}

impl SdkDefaults {
    fn parse(text: &str) -> Result<Self, String> {
        let source: Source = serde_json::from_str(text).map_err(|err| err.to_string())?;
        let retry = source.retry_policy;
        let step_retry = source
            .step
            .retry_policy
            .map(|fields| overlay(&retry, fields))
            .transpose()
            .map_err(|err| format!("step.retry_policy: {err}"))?;
        let exponential = overlay(&retry, source.exponential_backoff)
            .map_err(|err| format!("exponential_backoff: {err}"))?;
        if source.step.num_workers == 0 {
            return Err("step.num_workers must be at least 1".to_string());
        }
        let builtins = source
            .events
            .into_iter()
            .map(|event| {
                let title = event.schema.get("title").and_then(Value::as_str);
                if title != Some(event.name.as_str()) {
                    return Err(format!(
                        "the schema of {} must have the title {0:?}",
                        event.name
                    ));
                }
                Ok(Builtin {
                    schema: schema::canonical(event.schema),
                    name: event.name,
                    kind: event.kind,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            num_workers: source.step.num_workers,
            step_retry,
            timeout_ms: source.step.timeout_ms,
            retry,
            exponential,
            builtins,
        })
    }

    /// The built-in event type `name`, which the SDK defines as `kind`;
    /// panics if the file does not list it so.
    pub(crate) fn builtin(&self, name: &str, kind: EventKind) -> &Builtin {
        let builtin = self
            .builtins
            .iter()
            .find(|builtin| builtin.name == name)
            .unwrap_or_else(|| panic!("wit/sdk-defaults.json lists no built-in event {name}"));
        assert_eq!(
            builtin.kind, kind,
            "wit/sdk-defaults.json and wflow-guest disagree on the kind of {name}"
        );
        builtin
    }
}

/// `base` with the fields in `fields` replaced.
fn overlay(base: &RetryPolicy, fields: Map<String, Value>) -> Result<RetryPolicy, String> {
    let mut value = serde_json::to_value(base).map_err(|err| err.to_string())?;
    if let Value::Object(map) = &mut value {
        map.extend(fields);
    }
    serde_json::from_value(value).map_err(|err| err.to_string())
}

/// The shared defaults; panics if `wit/sdk-defaults.json` is malformed
/// (the SDK's unit tests parse it).
pub(crate) fn defaults() -> &'static SdkDefaults {
    static DEFAULTS: LazyLock<SdkDefaults> = LazyLock::new(|| {
        SdkDefaults::parse(SOURCE).unwrap_or_else(|err| {
            panic!("wit/sdk-defaults.json, compiled into wflow-guest, is malformed: {err}")
        })
    });
    &DEFAULTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent};

    #[test]
    fn the_file_parses() {
        let defaults = SdkDefaults::parse(SOURCE).unwrap();
        assert!(defaults.num_workers >= 1);
        assert_eq!(defaults.exponential.backoff, crate::Backoff::Exponential);
    }

    #[test]
    fn every_builtin_type_is_in_the_file_with_its_kind() {
        fn check<E: Event>(seen: &mut Vec<&'static str>) {
            let builtin = defaults().builtin(E::NAME, E::KIND);
            assert_eq!(E::schema(), builtin.schema, "{}", E::NAME);
            seen.push(E::NAME);
        }
        let mut seen = Vec::new();
        check::<StartEvent>(&mut seen);
        check::<StopEvent>(&mut seen);
        check::<InputRequiredEvent>(&mut seen);
        check::<HumanResponseEvent>(&mut seen);
        let listed: Vec<&str> = defaults()
            .builtins
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(listed, seen, "the file's built-in events and the SDK's");
    }

    #[test]
    fn malformed_files_are_refused_with_the_reason() {
        let err = SdkDefaults::parse(&SOURCE.replace("\"num_workers\": 4", "\"num_workers\": 0"))
            .err()
            .unwrap();
        assert!(err.contains("num_workers"), "{err}");
        let err = SdkDefaults::parse(&SOURCE.replace("\"kind\": \"stop\"", "\"kind\": \"end\""))
            .err()
            .unwrap();
        assert!(err.contains("unknown variant `end`"), "{err}");
    }
}
