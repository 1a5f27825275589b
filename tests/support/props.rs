//! Strategies for the property tests of parsers: any JSON value, and random
//! damage done to a text or a JSON document.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

/// Any JSON value, a few levels deep.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Damage done to a text: a cut, an insertion, or a truncation.
#[derive(Debug, Clone)]
pub enum TextDamage {
    /// The text between two positions goes.
    Cut(Index, Index),
    /// A string is inserted.
    Insert(Index, String),
    /// The text ends early.
    Truncate(Index),
}

/// Any damage to a text.
pub fn text_damage() -> impl Strategy<Value = TextDamage> {
    prop_oneof![
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextDamage::Cut(a, b)),
        (any::<Index>(), ".{1,8}").prop_map(|(at, s)| TextDamage::Insert(at, s)),
        any::<Index>().prop_map(TextDamage::Truncate),
    ]
}

/// `text` with `damage` done, cut on character boundaries.
pub fn damaged(text: &str, damage: &TextDamage) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = |index: &Index| bounds[index.index(bounds.len())];
    match damage {
        TextDamage::Cut(a, b) => {
            let (from, to) = (at(a).min(at(b)), at(a).max(at(b)));
            format!("{}{}", &text[..from], &text[to..])
        }
        TextDamage::Insert(index, inserted) => {
            let at = at(index);
            format!("{}{inserted}{}", &text[..at], &text[at..])
        }
        TextDamage::Truncate(index) => text[..at(index)].to_string(),
    }
}

/// Damage done to a JSON document: a value replaced or altered keeping its
/// type (so the document still parses, with wrong values), or a key removed.
#[derive(Debug, Clone)]
pub enum JsonDamage {
    /// A value keeps its type but changes: a string becomes this one, a
    /// number this one, a boolean flips, an array loses its first item or
    /// gains a copy of it.
    Alter(Index, String, u64),
    /// A value (the root, a field, an item) becomes another.
    Replace(Index, Value),
    /// A field or an item goes.
    Remove(Index),
}

/// Any damage to a JSON document.
pub fn json_damage() -> impl Strategy<Value = JsonDamage> {
    prop_oneof![
        (any::<Index>(), ".{0,12}", any::<u64>())
            .prop_map(|(at, text, number)| JsonDamage::Alter(at, text, number)),
        (any::<Index>(), any_json()).prop_map(|(at, v)| JsonDamage::Replace(at, v)),
        any::<Index>().prop_map(JsonDamage::Remove),
    ]
}

/// The JSON pointers of every value in `value`, the root first.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{here}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{index}"), out);
            }
        }
        _ => {}
    }
}

/// `doc` with `damage` done.
pub fn damaged_json(doc: &Value, damage: &JsonDamage) -> Value {
    let mut doc = doc.clone();
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    match damage {
        JsonDamage::Alter(index, text, number) => {
            let pointer = &all[index.index(all.len())];
            match doc.pointer_mut(pointer) {
                Some(Value::String(s)) => *s = text.clone(),
                Some(Value::Number(n)) => *n = (*number % 1_000).into(),
                Some(Value::Bool(b)) => *b = !*b,
                Some(Value::Array(items)) => match items.first().cloned() {
                    Some(first) if number % 2 == 0 => items.push(first),
                    Some(_) => {
                        items.remove(0);
                    }
                    None => {}
                },
                _ => {}
            }
        }
        JsonDamage::Replace(index, value) => {
            let pointer = &all[index.index(all.len())];
            if let Some(slot) = doc.pointer_mut(pointer) {
                *slot = value.clone();
            }
        }
        JsonDamage::Remove(index) => {
            let pointer = &all[index.index(all.len())];
            if let Some((parent, key)) = pointer.rsplit_once('/') {
                match doc.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = key.parse::<usize>()
                            && i < items.len()
                        {
                            items.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    doc
}

/// A runner of `cases` cases that keeps no failure file.
pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}
