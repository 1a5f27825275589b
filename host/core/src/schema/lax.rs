//! Lax conversion of an event sent in from outside, as pydantic's lax mode
//! converts a model's input: where the schema asks for an integer and the
//! payload has `"2"`, the run gets 2. A reference workflow started with
//! `{"qty": "2"}` for `qty: int` runs; so does wflow's, whatever language
//! its steps are written in.
//!
//! Conversion only runs on a payload that fails its schema, and the result
//! is checked again: what it cannot mend keeps the original error. It
//! follows the schema where the payload goes (`properties`,
//! `additionalProperties`, `items`, `prefixItems`, local `$ref`s, `anyOf` /
//! `oneOf` branches), bounded in depth, so a hostile schema's `$ref` cycle
//! ends.

use serde_json::{Map, Number, Value};

/// How deep conversion follows a schema (through `$ref`s and branches as
/// well as nested values).
const MAX_DEPTH: u32 = 64;

/// `value` converted toward `schema` (whose `$defs` `root` holds) where
/// pydantic's lax mode would convert it: strings holding integers, numbers
/// or booleans to those, integral floats and booleans to integers, `0`/`1`
/// to booleans. What no rule converts is left as it was.
pub(crate) fn convert(schema: &Value, root: &Value, value: &mut Value) {
    let walk = Walk {
        root,
        steps_left: std::cell::Cell::new(MAX_STEPS),
    };
    convert_at(schema, &walk, value, 0);
}

/// The most schema nodes one conversion visits: unions nested in a
/// hostile schema multiply the work, and past this it stops (the check
/// then reports the payload as it is).
const MAX_STEPS: u32 = 100_000;

/// One conversion: the schema's root (for `$ref`s) and the work left.
struct Walk<'a> {
    root: &'a Value,
    steps_left: std::cell::Cell<u32>,
}

impl Walk<'_> {
    /// Takes one step of work; false once none is left.
    fn step(&self) -> bool {
        let left = self.steps_left.get();
        self.steps_left.set(left.saturating_sub(1));
        left > 0
    }

    /// The schema `#/$defs/NAME` (or `#/definitions/NAME`) names.
    fn resolve(&self, target: &str) -> Option<&Value> {
        let path = target.strip_prefix('#')?;
        self.root.pointer(path)
    }
}

fn convert_at(schema: &Value, walk: &Walk<'_>, value: &mut Value, depth: u32) {
    if depth > MAX_DEPTH || !walk.step() {
        return;
    }
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(resolved) = walk.resolve(target) {
            convert_at(resolved, walk, value, depth + 1);
        }
        return;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            convert_to_a_branch(branches, walk, value, depth);
            return;
        }
    }
    if let Some(types) = schema.get("type") {
        let wanted = type_names(types);
        if !wanted.iter().any(|name| has_type(value, name)) {
            for name in &wanted {
                if let Some(converted) = scalar(name, value) {
                    *value = converted;
                    break;
                }
            }
        }
    }
    match value {
        Value::Object(object) => convert_object(schema, walk, object, depth),
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            let rest = schema.get("items");
            for (index, item) in items.iter_mut().enumerate() {
                match prefix.and_then(|prefix| prefix.get(index)) {
                    Some(item_schema) => convert_at(item_schema, walk, item, depth + 1),
                    None => {
                        if let Some(item_schema) = rest {
                            convert_at(item_schema, walk, item, depth + 1);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

fn convert_object(
    schema: &Map<String, Value>,
    walk: &Walk<'_>,
    object: &mut Map<String, Value>,
    depth: u32,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, field) in object.iter_mut() {
        match properties.and_then(|properties| properties.get(key)) {
            Some(field_schema) => convert_at(field_schema, walk, field, depth + 1),
            None => {
                if let Some(field_schema) = additional {
                    convert_at(field_schema, walk, field, depth + 1);
                }
            }
        }
    }
}

/// A union: a value that already fits a branch is left as it is (`int |
/// str` keeps `"5"` a string, as pydantic's smart mode does); else it
/// converts to the first branch it then fits.
fn convert_to_a_branch(branches: &[Value], walk: &Walk<'_>, value: &mut Value, depth: u32) {
    if branches
        .iter()
        .any(|branch| fits(branch, walk, value, depth + 1))
    {
        return;
    }
    // The first branch the converted value then fits: a discriminating
    // field (`kind: "b"`) picks its branch even when another converts too.
    for branch in branches {
        let mut attempt = value.clone();
        convert_at(branch, walk, &mut attempt, depth + 1);
        if attempt != *value && fits(branch, walk, &attempt, depth + 1) {
            *value = attempt;
            return;
        }
    }
}

/// Whether `value` fits `schema` as far as types, constants, enums,
/// required fields and closed objects tell (what picks a union's branch;
/// the whole check runs after conversion anyway).
fn fits(schema: &Value, walk: &Walk<'_>, value: &Value, depth: u32) -> bool {
    if depth > MAX_DEPTH || !walk.step() {
        return false;
    }
    let Some(schema) = schema.as_object() else {
        return true;
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return walk
            .resolve(target)
            .is_none_or(|resolved| fits(resolved, walk, value, depth + 1));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return branches
                .iter()
                .any(|branch| fits(branch, walk, value, depth + 1));
        }
    }
    if schema
        .get("const")
        .is_some_and(|constant| constant != value)
    {
        return false;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return false;
    }
    if let Some(types) = schema.get("type")
        && !type_names(types).iter().any(|name| has_type(value, name))
    {
        return false;
    }
    match value {
        Value::Object(object) => {
            let required = schema.get("required").and_then(Value::as_array);
            if required.is_some_and(|required| {
                required
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|key| !object.contains_key(key))
            }) {
                return false;
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            object.iter().all(|(key, field)| {
                match properties.and_then(|properties| properties.get(key)) {
                    Some(field_schema) => fits(field_schema, walk, field, depth + 1),
                    None => match additional {
                        Some(Value::Bool(allowed)) => *allowed,
                        Some(field_schema) => fits(field_schema, walk, field, depth + 1),
                        None => true,
                    },
                }
            })
        }
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            let rest = schema.get("items");
            items.iter().enumerate().all(|(index, item)| {
                match prefix.and_then(|prefix| prefix.get(index)).or(rest) {
                    Some(item_schema) => fits(item_schema, walk, item, depth + 1),
                    None => true,
                }
            })
        }
        _ => true,
    }
}

fn type_names(types: &Value) -> Vec<&str> {
    match types {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// `value` as a scalar of JSON type `name`, where lax mode converts it.
fn scalar(name: &str, value: &Value) -> Option<Value> {
    match (name, value) {
        ("integer", Value::String(text)) => integer_of(text.trim()),
        ("integer", Value::Number(number)) => number
            .as_f64()
            .filter(|float| float.fract() == 0.0 && float.abs() < 9.007_199_254_740_992e15)
            .map(|float| Value::from(float as i64)),
        ("integer", Value::Bool(flag)) => Some(Value::from(i64::from(*flag))),
        ("number", Value::String(text)) => number_of(text.trim()),
        ("number", Value::Bool(flag)) => {
            Number::from_f64(f64::from(u8::from(*flag))).map(Value::Number)
        }
        ("boolean", Value::String(text)) => boolean_of(&text.trim().to_ascii_lowercase()),
        ("boolean", Value::Number(number)) => match number.as_f64() {
            Some(0.0) => Some(Value::Bool(false)),
            Some(1.0) => Some(Value::Bool(true)),
            _ => None,
        },
        _ => None,
    }
}

/// An integer written as pydantic reads one: a sign, digits with single
/// underscores between them, or an integral decimal (`"2.0"`).
fn integer_of(text: &str) -> Option<Value> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits_ok = !unsigned.is_empty()
        && !unsigned.starts_with('_')
        && !unsigned.ends_with('_')
        && !unsigned.contains("__")
        && unsigned.chars().all(|c| c.is_ascii_digit() || c == '_');
    if digits_ok {
        let plain: String = text.chars().filter(|c| *c != '_').collect();
        if let Ok(signed) = plain.parse::<i64>() {
            return Some(Value::from(signed));
        }
        return plain.parse::<u64>().ok().map(Value::from);
    }
    // An integral decimal, as pydantic reads one: digits, a point, zeros
    // (`"2.0"`; not `"1e3"`, which pydantic refuses for an integer).
    let (whole, fraction) = text.split_once('.')?;
    if fraction.chars().all(|c| c == '0') {
        integer_of(whole)
    } else {
        None
    }
}

/// A number written as Python's `float()` reads one, underscores between
/// digits included (`"1_000.5"`), finite (JSON holds no `inf`).
fn number_of(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let underscores_ok = bytes.iter().enumerate().all(|(at, byte)| {
        *byte != b'_'
            || (at > 0
                && bytes[at - 1].is_ascii_digit()
                && bytes.get(at + 1).is_some_and(u8::is_ascii_digit))
    });
    if !underscores_ok {
        return None;
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    plain
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

fn boolean_of(text: &str) -> Option<Value> {
    match text {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(Value::Bool(true)),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(Value::Bool(false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn converted(schema: Value, mut value: Value) -> Value {
        convert(&schema, &schema, &mut value);
        value
    }

    #[test]
    fn strings_numbers_and_booleans_convert_as_pydantic_lax_mode_does() {
        let schema = json!({
            "type": "object",
            "properties": {
                "qty": {"type": "integer", "minimum": 0},
                "price": {"type": "number"},
                "flag": {"type": "boolean"},
                "maybe": {"type": ["integer", "null"]},
                "name": {"type": "string"},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            }
        });
        let cases = [
            (json!({"qty": "2"}), json!({"qty": 2})),
            (json!({"qty": " 3 "}), json!({"qty": 3})),
            (json!({"qty": "1_000"}), json!({"qty": 1000})),
            (json!({"qty": "2.0"}), json!({"qty": 2})),
            (json!({"qty": 4.0}), json!({"qty": 4})),
            (json!({"qty": true}), json!({"qty": 1})),
            (json!({"price": "2.5"}), json!({"price": 2.5})),
            (json!({"flag": "yes"}), json!({"flag": true})),
            (json!({"flag": "Off"}), json!({"flag": false})),
            (json!({"flag": 1}), json!({"flag": true})),
            (json!({"maybe": "5"}), json!({"maybe": 5})),
            (json!({"maybe": null}), json!({"maybe": null})),
            // A string stays a string; a union keeps a value of one of its types.
            (json!({"name": 5}), json!({"name": 5})),
            (json!({"either": "5"}), json!({"either": "5"})),
            // What lax mode refuses is left for the check to refuse.
            (json!({"qty": "x"}), json!({"qty": "x"})),
            (json!({"qty": 2.5}), json!({"qty": 2.5})),
            (json!({"qty": "1__0"}), json!({"qty": "1__0"})),
            (json!({"qty": "1e3"}), json!({"qty": "1e3"})),
            (json!({"qty": "2.5"}), json!({"qty": "2.5"})),
            (json!({"price": "1_000.5"}), json!({"price": 1000.5})),
            (json!({"price": "1e3"}), json!({"price": 1000.0})),
            (json!({"flag": "maybe"}), json!({"flag": "maybe"})),
            (json!({"flag": 2}), json!({"flag": 2})),
            (json!({"price": "inf"}), json!({"price": "inf"})),
        ];
        for (input, expected) in cases {
            assert_eq!(
                converted(schema.clone(), input.clone()),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn conversion_follows_refs_items_and_maps() {
        let schema = json!({
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "$defs": {"Item": {"type": "object", "properties": {"qty": {"type": "integer"}}}}
        });
        let input = json!({
            "items": [{"qty": "1"}, {"qty": 2}],
            "pair": ["7", "true"],
            "counts": {"a": "3"},
        });
        let expected = json!({
            "items": [{"qty": 1}, {"qty": 2}],
            "pair": [7, true],
            "counts": {"a": 3},
        });
        assert_eq!(converted(schema, input), expected);
    }

    #[test]
    fn a_union_converts_to_the_branch_the_value_then_fits() {
        // `kind` discriminates: branch `b` is picked though `a` converts
        // `n` too, and its `flag` converts with it.
        let schema = json!({
            "anyOf": [
                {"type": "object", "required": ["kind", "n"],
                 "properties": {"kind": {"const": "a"}, "n": {"type": "integer"}}},
                {"type": "object", "required": ["kind", "n", "flag"],
                 "properties": {"kind": {"const": "b"}, "n": {"type": "integer"},
                                "flag": {"type": "boolean"}}},
            ]
        });
        let input = json!({"kind": "b", "n": "1", "flag": "yes"});
        assert_eq!(
            converted(schema, input),
            json!({"kind": "b", "n": 1, "flag": true})
        );
    }

    #[test]
    fn nested_unions_in_a_hostile_schema_end_within_the_step_budget() {
        // Ten branches at each of 30 levels (a schema of linear size, by
        // `$ref`s): 10^30 paths without a budget.
        let mut defs = serde_json::Map::new();
        defs.insert("L0".into(), json!({"type": "integer"}));
        let mut value = json!("1");
        for level in 1..=30 {
            let inner = format!("#/$defs/L{}", level - 1);
            let branch = json!({"type": "object", "properties": {"x": {"$ref": inner}}});
            defs.insert(format!("L{level}"), json!({"anyOf": vec![branch; 10]}));
            value = json!({"x": value});
        }
        let schema = json!({"$ref": "#/$defs/L30", "$defs": defs});
        let before = value.clone();
        convert(&schema, &schema, &mut value);
        // Too much work to finish: left as it was, for the check to refuse.
        assert_eq!(value, before);
    }

    #[test]
    fn a_ref_cycle_ends() {
        let schema = json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}});
        assert_eq!(converted(schema, json!({"x": "1"})), json!({"x": "1"}));
    }
}
