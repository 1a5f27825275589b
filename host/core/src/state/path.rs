//! Dot paths into a JSON state: `user.profile.name`, `items.0`, `items.-1`.
//!
//! The seed's semantics: segments are split on `.`; objects are indexed by
//! key, arrays by (possibly negative) index; `set` creates missing
//! intermediate containers as objects.

use serde_json::{Map, Value};

use super::StateError;

/// The most segments a path may have.
pub const MAX_DEPTH: usize = 1000;

fn segments(path: &str) -> Result<Vec<&str>, StateError> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > MAX_DEPTH {
        return Err(StateError::InvalidPath(format!(
            "Path length exceeds {MAX_DEPTH} segments"
        )));
    }
    Ok(segments)
}

fn array_index(len: usize, segment: &str) -> Option<usize> {
    let index: i64 = segment.parse().ok()?;
    let resolved = if index < 0 {
        i64::try_from(len).ok()? + index
    } else {
        index
    };
    usize::try_from(resolved).ok().filter(|&i| i < len)
}

/// The value at `path`; `None` when any segment is missing. The empty path
/// is the whole state.
pub fn get<'a>(state: &'a Value, path: &str) -> Result<Option<&'a Value>, StateError> {
    if path.is_empty() {
        return Ok(Some(state));
    }
    let mut current = state;
    for segment in segments(path)? {
        current = match current {
            Value::Object(map) => match map.get(segment) {
                Some(next) => next,
                None => return Ok(None),
            },
            Value::Array(items) => match array_index(items.len(), segment) {
                Some(i) => &items[i],
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(current))
}

/// Writes `value` at `path`, creating missing intermediate objects.
pub fn set(state: &mut Value, path: &str, value: Value) -> Result<(), StateError> {
    if path.is_empty() {
        return Err(StateError::InvalidPath("Path cannot be empty".into()));
    }
    let segments = segments(path)?;
    let (last, parents) = segments
        .split_last()
        .ok_or_else(|| StateError::InvalidPath("Path cannot be empty".into()))?;
    let mut current = state;
    for (depth, segment) in parents.iter().enumerate() {
        current = child_mut(current, segment, path, depth, true)?;
    }
    match current {
        Value::Object(map) => {
            map.insert((*last).to_string(), value);
            Ok(())
        }
        Value::Array(items) => match array_index(items.len(), last) {
            Some(i) => {
                items[i] = value;
                Ok(())
            }
            None => Err(bad_index(path, last, items.len())),
        },
        other => Err(not_container(path, &segments[..segments.len() - 1], other)),
    }
}

fn child_mut<'a>(
    current: &'a mut Value,
    segment: &str,
    path: &str,
    depth: usize,
    create: bool,
) -> Result<&'a mut Value, StateError> {
    match current {
        Value::Object(map) => {
            if create && !map.contains_key(segment) {
                map.insert(segment.to_string(), Value::Object(Map::new()));
            }
            map.get_mut(segment)
                .ok_or_else(|| StateError::MissingPath(format!("Path '{path}' not found in state")))
        }
        Value::Array(items) => {
            let len = items.len();
            match array_index(len, segment) {
                Some(i) => Ok(&mut items[i]),
                None => Err(bad_index(path, segment, len)),
            }
        }
        other => {
            let parent: Vec<&str> = path.split('.').take(depth).collect();
            Err(not_container(path, &parent, other))
        }
    }
}

fn bad_index(path: &str, segment: &str, len: usize) -> StateError {
    StateError::InvalidPath(format!(
        "cannot set '{path}': '{segment}' is not an index of a list of {len} items"
    ))
}

fn not_container(path: &str, parent: &[&str], value: &Value) -> StateError {
    StateError::InvalidPath(format!(
        "cannot set '{path}': '{}' is {}, not an object or a list",
        parent.join("."),
        crate::schema::json_type_name(value)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_walks_objects_and_lists() {
        let state = json!({"user": {"profile": {"name": "Ada"}}, "items": [1, 2, 3]});
        assert_eq!(
            get(&state, "user.profile.name").unwrap(),
            Some(&json!("Ada"))
        );
        assert_eq!(get(&state, "items.1").unwrap(), Some(&json!(2)));
        assert_eq!(get(&state, "items.-1").unwrap(), Some(&json!(3)));
        assert_eq!(get(&state, "items.9").unwrap(), None);
        assert_eq!(get(&state, "user.missing").unwrap(), None);
        assert_eq!(get(&state, "user.profile.name.x").unwrap(), None);
        assert_eq!(get(&state, "").unwrap(), Some(&state));
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut state = json!({});
        set(&mut state, "a.0.b", json!(1)).unwrap();
        assert_eq!(state, json!({"a": {"0": {"b": 1}}}));
        set(&mut state, "a.0.c", json!([1, 2])).unwrap();
        set(&mut state, "a.0.c.-1", json!(20)).unwrap();
        assert_eq!(get(&state, "a.0.c").unwrap(), Some(&json!([1, 20])));
    }

    #[test]
    fn set_rejects_bad_paths() {
        let mut state = json!({"x": 5, "list": [1]});
        let err = set(&mut state, "x.y", json!(1)).unwrap_err();
        assert!(err.to_string().contains("'x' is a number"), "{err}");
        let err = set(&mut state, "list.3", json!(1)).unwrap_err();
        assert!(
            err.to_string()
                .contains("not an index of a list of 1 items"),
            "{err}"
        );
        assert!(
            set(&mut state, "", json!(1))
                .unwrap_err()
                .to_string()
                .contains("Path cannot be empty")
        );
        let deep = vec!["a"; MAX_DEPTH + 1].join(".");
        assert!(
            get(&state, &deep)
                .unwrap_err()
                .to_string()
                .contains("exceeds 1000 segments")
        );
        assert!(set(&mut state, &deep, json!(1)).is_err());
    }
}
