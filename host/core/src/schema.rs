//! JSON Schema validation of event payloads and state.

use std::fmt;

use serde_json::Value;

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
        let validator = jsonschema::validator_for(schema)
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
