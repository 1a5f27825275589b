//! The JSON the SDK publishes (event schemas, the state's schema and
//! defaults), in the form all three SDKs give it, so that one type declared
//! in Rust, Python and JavaScript publishes the same text:
//!
//! - canonical text: compact, object keys sorted (serde_json's own order
//!   without its `preserve_order` feature; sorted explicitly in case a
//!   dependency turns that feature on);
//! - schemars' numeric `format`s (`int64`, `uint32`, `double`, ...) are
//!   dropped: they are OpenAPI's, not JSON Schema's (draft 2020-12 validates
//!   no such format), and Python's `int` or JavaScript's `"integer"` cannot
//!   state a width;
//! - a `true` subschema (any value, schemars' form for `serde_json::Value`)
//!   is written `{}`, as the other SDKs write it.

use schemars::transform::transform_subschemas;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};

/// The numeric formats schemars adds for Rust's number types.
const NUMERIC_FORMATS: [&str; 14] = [
    "int8", "int16", "int32", "int64", "int128", "int", "uint8", "uint16", "uint32", "uint64",
    "uint128", "uint", "float", "double",
];

/// `value` as canonical JSON text: compact, object keys sorted.
pub(crate) fn canonical(mut value: Value) -> String {
    value.sort_all_objects();
    value.to_string()
}

/// `value` serialized as canonical JSON text.
pub(crate) fn canonical_of<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    serde_json::to_value(value).map(canonical)
}

/// The root JSON Schema of `T`, in the SDKs' common form, as canonical text.
pub(crate) fn derived<T: JsonSchema>() -> String {
    let mut schema = SchemaGenerator::default().into_root_schema_for::<T>();
    portable(&mut schema);
    canonical(schema.to_value())
}

/// Rewrites `schema` and its subschemas into the SDKs' common form.
fn portable(schema: &mut Schema) {
    if schema.as_bool() == Some(true) {
        *schema = Schema::from(Map::new());
        return;
    }
    let numeric = match schema.get("type") {
        Some(Value::String(ty)) => ty == "integer" || ty == "number",
        Some(Value::Array(types)) => types.iter().any(|ty| ty == "integer" || ty == "number"),
        _ => false,
    };
    let schemars_format = schema
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|format| NUMERIC_FORMATS.contains(&format));
    if numeric && schemars_format {
        schema.remove("format");
    }
    transform_subschemas(&mut portable, schema);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn portable_value(value: Value) -> Value {
        let mut schema = Schema::try_from(value).unwrap();
        portable(&mut schema);
        schema.to_value()
    }

    #[test]
    fn numeric_formats_and_true_schemas_take_the_common_form() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "format": "int64"},
                "count": {"type": ["integer", "null"], "format": "uint32", "minimum": 0},
                "email": {"type": "string", "format": "email"},
                "anything": true,
                "scores": {"type": "array", "items": {"type": "number", "format": "double"}},
                "format": {"type": "string"},
            },
            "$defs": {"Inner": {"type": "object", "additionalProperties": true}},
        });
        assert_eq!(
            portable_value(schema),
            json!({
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "count": {"type": ["integer", "null"], "minimum": 0},
                    "email": {"type": "string", "format": "email"},
                    "anything": {},
                    "scores": {"type": "array", "items": {"type": "number"}},
                    "format": {"type": "string"},
                },
                "$defs": {"Inner": {"type": "object", "additionalProperties": {}}},
            })
        );
    }

    #[test]
    fn canonical_text_is_compact_with_sorted_keys() {
        let text = canonical(json!({"b": 1, "a": {"d": [true, null], "c": "é"}}));
        assert_eq!(text, r#"{"a":{"c":"é","d":[true,null]},"b":1}"#);
    }
}
