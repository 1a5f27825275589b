//! JSON Schema validation of event payloads and state.
//!
//! Schemas come from guests and so may be hostile: a `pattern` with
//! catastrophic backtracking (`^(?:(a|aa)+(?!a)d|a+c)$`) could take seconds
//! per string. Patterns run on `fancy-regex`, which hands every pattern it
//! can to the linear-time `regex` engine and bounds the backtracking of the
//! rest ([`PATTERN_BACKTRACK_LIMIT`]); a string that needs more fails its
//! check. Compiled patterns are bounded in size too.

mod lax;

use std::fmt;

use serde_json::Value;

/// The most backtracking steps a `pattern` may take on one string; past
/// it the string fails the check (`Max limit for backtracking count
/// exceeded`). fancy-regex's own default is 1,000,000.
pub const PATTERN_BACKTRACK_LIMIT: usize = 10_000;
/// The largest compiled `pattern`, in bytes (and the largest lazy-DFA
/// cache per pattern).
pub const PATTERN_SIZE_LIMIT: usize = 1024 * 1024;

/// A compiled JSON Schema.
pub struct Schema {
    source: Value,
    validator: jsonschema::Validator,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("source", &self.source)
            .finish()
    }
}

impl Schema {
    /// Compiles `schema`; `what` names it in errors.
    pub fn compile(what: &str, schema: &Value) -> Result<Self, String> {
        let patterns = jsonschema::PatternOptions::fancy_regex()
            .backtrack_limit(PATTERN_BACKTRACK_LIMIT)
            .size_limit(PATTERN_SIZE_LIMIT)
            .dfa_size_limit(PATTERN_SIZE_LIMIT);
        let validator = jsonschema::options()
            .with_pattern_options(patterns)
            .build(schema)
            .map_err(|err| format!("the JSON Schema of {what} is invalid: {err}"))?;
        Ok(Self {
            source: schema.clone(),
            validator,
        })
    }

    /// The schema as JSON.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Checks `instance`; the error lists every violation with its location.
    pub fn check(&self, instance: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(instance)
            .map(|err| {
                let at = err.instance_path().to_string();
                if at.is_empty() {
                    err.to_string()
                } else {
                    format!("at {at}: {err}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

impl Schema {
    /// Checks `instance` as input from outside: `Ok(None)` when it matches
    /// as it is, `Ok(Some(converted))` when it matches once converted as
    /// pydantic's lax mode converts input (`"2"` to 2 for an integer; see
    /// `lax`), else the violations of the instance as it was.
    pub fn admit(&self, instance: &Value) -> Result<Option<Value>, String> {
        let problems = match self.check(instance) {
            Ok(()) => return Ok(None),
            Err(problems) => problems,
        };
        let mut converted = instance.clone();
        lax::convert(&self.source, &self.source, &mut converted);
        if converted != *instance && self.check(&converted).is_ok() {
            Ok(Some(converted))
        } else {
            Err(problems)
        }
    }
}

/// How an error names the type of a JSON value ("a string", "an object").
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_catastrophic_pattern_fails_its_check_instead_of_running_for_seconds() {
        let schema = Schema::compile(
            "the event",
            &json!({"type": "array", "items": {"type": "string", "pattern": "^(?:(a|aa)+(?!a)d|a+c)$"}}),
        )
        .unwrap();
        // Each string needs millions of backtracking steps to match.
        let hostile = format!("{}c", "a".repeat(40));
        let problems = schema.check(&json!(vec![hostile; 200])).unwrap_err();
        assert!(problems.contains("backtracking"), "{problems}");
        // Patterns that need no backtracking still work.
        assert!(schema.check(&json!(["aac", "ac"])).is_ok());
        assert!(schema.check(&json!(["b"])).is_err());
    }
}
