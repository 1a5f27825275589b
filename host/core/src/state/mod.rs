//! The run's state store: a JSON object shared by every step, read and
//! written by dot path or whole, edited transactionally, optionally typed by
//! a JSON Schema with defaults.
//!
//! Semantics follow the seed's `InMemoryStateStore`: reads never take the
//! writer lock and see the last committed state; writers (`set`,
//! `set_state`, `clear`, and an edit for its whole duration) are serialised
//! by one async lock, so concurrent edits never lose an update.

pub mod path;

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};
use thiserror::Error;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::schema::Schema;

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    /// The path is empty, too deep, or runs through a non-container.
    #[error("{0}")]
    InvalidPath(String),
    /// The path does not exist.
    #[error("{0}")]
    MissingPath(String),
    /// The new state breaks the state schema.
    #[error("{0}")]
    SchemaViolation(String),
    /// A value is not valid JSON, or the state is not an object.
    #[error("{0}")]
    InvalidJson(String),
    /// The new state is larger than `limits.max_state_bytes`.
    #[error("{0}")]
    TooLarge(String),
}

/// A typed state declaration: the schema and the defaults `clear` resets to.
#[derive(Debug, Clone)]
pub struct StateType {
    /// What every write must satisfy: the declared schema, closed to
    /// fields it does not list.
    pub(crate) schema: Arc<Schema>,
    /// The schema as declared: what a state saved before (a checkpoint, a
    /// context) must satisfy to be restored, so that one written when
    /// typed states were open still restores.
    declared: Arc<Schema>,
    pub(crate) defaults: Value,
}

impl StateType {
    /// A state type from its JSON Schema and default value; the defaults must
    /// satisfy the schema. A state whose schema lists its fields
    /// (`properties`) and says nothing of others holds only those: writing
    /// a field the state type does not have is an error, as writing one to
    /// the reference's pydantic state model is.
    pub fn new(schema: Value, defaults: Value) -> Result<Self, StateError> {
        let compile = |schema: &Value| {
            Schema::compile("the state", schema)
                .map_err(|err| StateError::SchemaViolation(err.to_string()))
        };
        let declared = compile(&schema)?;
        let mut closed = schema;
        if let Some(root) = closed.as_object_mut()
            && root.contains_key("properties")
            && !root.contains_key("additionalProperties")
        {
            root.insert("additionalProperties".into(), Value::Bool(false));
        }
        let schema = compile(&closed)?;
        if !defaults.is_object() {
            return Err(StateError::InvalidJson(
                "the state defaults must be a JSON object".into(),
            ));
        }
        schema
            .check(&defaults)
            .map_err(|err| StateError::SchemaViolation(format!("the state defaults: {err}")))?;
        Ok(Self {
            schema: Arc::new(schema),
            declared: Arc::new(declared),
            defaults,
        })
    }
}

/// The state store of a run (and of a context reused across runs).
#[derive(Debug, Clone)]
pub struct StateStore {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    committed: Mutex<Arc<Value>>,
    writer: Arc<AsyncMutex<()>>,
    state_type: Option<StateType>,
    max_bytes: u64,
}

/// The state size limit when none is given.
const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The writer lock held by a transactional edit; dropping it ends the edit.
pub struct EditGuard {
    _writer: OwnedMutexGuard<()>,
    snapshot: Arc<Value>,
}

impl EditGuard {
    /// The state when the edit began.
    pub fn current(&self) -> &Value {
        &self.snapshot
    }
}

impl StateStore {
    /// An untyped store, starting empty.
    pub fn new() -> Self {
        Self::with_limit(None, DEFAULT_MAX_BYTES)
    }

    /// A typed store starting at the type's defaults.
    pub fn typed(state_type: StateType) -> Self {
        Self::with_limit(Some(state_type), DEFAULT_MAX_BYTES)
    }

    /// A store, typed or not, whose serialized state may not exceed
    /// `max_bytes`.
    pub fn with_limit(state_type: Option<StateType>, max_bytes: u64) -> Self {
        let initial = match &state_type {
            Some(state_type) => state_type.defaults.clone(),
            None => Value::Object(Map::new()),
        };
        Self {
            inner: Arc::new(StoreInner {
                committed: Mutex::new(Arc::new(initial)),
                writer: Arc::new(AsyncMutex::new(())),
                state_type,
                max_bytes,
            }),
        }
    }

    fn committed(&self) -> MutexGuard<'_, Arc<Value>> {
        // A poisoned lock only means a panic elsewhere mid-read; the value
        // itself is always a complete committed state.
        crate::sync::lock(&self.inner.committed)
    }

    /// The committed state.
    pub fn snapshot(&self) -> Arc<Value> {
        self.committed().clone()
    }

    /// The value at `path` (`None` if it does not exist).
    pub fn get(&self, path: &str) -> Result<Option<Value>, StateError> {
        let state = self.snapshot();
        Ok(path::get(&state, path)?.cloned())
    }

    /// Writes `value` at `path`.
    pub async fn set(&self, path: &str, value: Value) -> Result<(), StateError> {
        let _writer = self.inner.writer.lock().await;
        let mut next = (*self.snapshot()).clone();
        path::set(&mut next, path, value)?;
        self.commit_locked(next)
    }

    /// Replaces the whole state.
    pub async fn set_state(&self, state: Value) -> Result<(), StateError> {
        let _writer = self.inner.writer.lock().await;
        self.commit_locked(state)
    }

    /// Replaces the state without waiting for the writer lock: for a store
    /// nobody uses yet (restoring a snapshot). The state is still checked,
    /// against the schema as declared: a state saved before typed states
    /// were closed to undeclared fields restores (later writes are held to
    /// the closed schema).
    pub fn restore(&self, state: Value) -> Result<(), StateError> {
        self.commit_checked(state, Check::Restored)
    }

    /// Resets the state to its defaults (an empty object when untyped).
    pub async fn clear(&self) -> Result<(), StateError> {
        let _writer = self.inner.writer.lock().await;
        let defaults = self.defaults();
        self.commit_locked(defaults)
    }

    /// The value `clear` resets to.
    pub fn defaults(&self) -> Value {
        match &self.inner.state_type {
            Some(state_type) => state_type.defaults.clone(),
            None => Value::Object(Map::new()),
        }
    }

    /// Begins a transactional edit: waits for the writer lock and holds it
    /// until the guard is dropped.
    pub async fn begin_edit(&self) -> EditGuard {
        let writer = self.inner.writer.clone().lock_owned().await;
        EditGuard {
            _writer: writer,
            snapshot: self.snapshot(),
        }
    }

    /// Commits a new state from inside an edit.
    pub fn commit_edit(&self, guard: EditGuard, state: Value) -> Result<(), StateError> {
        let result = self.commit_locked(state);
        drop(guard);
        result
    }

    /// Edits the state under the writer lock with a Rust closure.
    pub async fn edit<R>(&self, edit: impl FnOnce(&mut Value) -> R) -> Result<R, StateError> {
        let guard = self.begin_edit().await;
        let mut state = guard.current().clone();
        let out = edit(&mut state);
        self.commit_edit(guard, state)?;
        Ok(out)
    }

    /// Checks `state` and swaps it in; the writer lock must be held.
    fn commit_locked(&self, state: Value) -> Result<(), StateError> {
        self.commit_checked(state, Check::Written)
    }

    fn commit_checked(&self, state: Value, check: Check) -> Result<(), StateError> {
        if !state.is_object() {
            return Err(StateError::InvalidJson(format!(
                "the state must be a JSON object, got {}",
                crate::schema::json_type_name(&state)
            )));
        }
        if let Some(state_type) = &self.inner.state_type {
            let schema = match check {
                Check::Written => &state_type.schema,
                Check::Restored => &state_type.declared,
            };
            schema
                .check(&state)
                .map_err(|err| StateError::SchemaViolation(err.to_string()))?;
        }
        let size = serialized_size(&state);
        if size > self.inner.max_bytes {
            return Err(StateError::TooLarge(format!(
                "StateTooLarge: the state would take {} serialized, over limits.max_state_bytes ({})",
                bytesize::ByteSize::b(size),
                bytesize::ByteSize::b(self.inner.max_bytes)
            )));
        }
        *self.committed() = Arc::new(state);
        Ok(())
    }
}

/// Which schema a new state is checked against.
#[derive(Clone, Copy)]
enum Check {
    /// A write: the closed schema.
    Written,
    /// A state saved before: the schema as declared.
    Restored,
}

/// The length of `value` as compact JSON, without building the text.
fn serialized_size(value: &Value) -> u64 {
    struct Counter(u64);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

impl Default for StateStore {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn typed_state_rejects_schema_violations_and_keeps_old_value() {
        let schema = json!({
            "type": "object",
            "properties": {"count": {"type": "integer"}},
            "required": ["count"]
        });
        let store = StateStore::typed(StateType::new(schema, json!({"count": 0})).unwrap());
        store.set("count", json!(3)).await.unwrap();
        let err = store.set("count", json!("three")).await.unwrap_err();
        assert!(matches!(err, StateError::SchemaViolation(_)), "{err}");
        assert_eq!(store.get("count").unwrap(), Some(json!(3)));
        store.clear().await.unwrap();
        assert_eq!(store.get("count").unwrap(), Some(json!(0)));
        // A field the type does not have is refused, as on a pydantic model.
        let err = store.set("extra", json!(1)).await.unwrap_err();
        assert!(matches!(err, StateError::SchemaViolation(_)), "{err}");
        assert_eq!(*store.snapshot(), json!({"count": 0}));
        // A state saved when typed states were open still restores.
        store.restore(json!({"count": 4, "extra": 1})).unwrap();
        assert_eq!(store.get("extra").unwrap(), Some(json!(1)));
        assert!(store.set("more", json!(1)).await.is_err());
    }

    #[tokio::test]
    async fn a_state_schema_saying_what_else_it_holds_is_kept() {
        let schema = json!({
            "type": "object",
            "properties": {"count": {"type": "integer"}},
            "additionalProperties": {"type": "string"}
        });
        let store = StateStore::typed(StateType::new(schema, json!({"count": 0})).unwrap());
        store.set("note", json!("kept")).await.unwrap();
        assert!(store.set("other", json!(1)).await.is_err());
    }

    #[tokio::test]
    async fn concurrent_edits_lose_no_update() {
        let store = StateStore::new();
        store.set("n", json!(0)).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..100 {
                    store
                        .edit(|state| {
                            let n = state["n"].as_i64().unwrap_or(0);
                            state["n"] = json!(n + 1);
                        })
                        .await
                        .unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(store.get("n").unwrap(), Some(json!(800)));
    }

    #[tokio::test]
    async fn a_state_over_its_size_limit_is_refused() {
        let store = StateStore::with_limit(None, 64);
        store.set("a", json!("short")).await.unwrap();
        let err = store.set("b", json!("x".repeat(100))).await.unwrap_err();
        assert!(matches!(err, StateError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("limits.max_state_bytes"), "{err}");
        assert_eq!(*store.snapshot(), json!({"a": "short"}));
    }

    #[tokio::test]
    async fn untyped_clear_empties_the_state() {
        let store = StateStore::new();
        store.set("a.b", json!(1)).await.unwrap();
        store.clear().await.unwrap();
        assert_eq!(*store.snapshot(), json!({}));
        assert!(store.set_state(json!([1])).await.is_err());
    }
}
