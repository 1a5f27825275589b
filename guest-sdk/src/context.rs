//! The run's context as a step sees it: the state store, sending and
//! streaming events, collecting them, and waiting for one.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::bindings::wflow::workflow::context as host;
use crate::bindings::wflow::workflow::types::ExpectedEvents;
use crate::error::context_error;
use crate::{AnyEvent, Event, StepError, ToAnyEvent};

/// The run's context, handed to steps that take `ctx: &Context`.
#[derive(Debug)]
pub struct Context {
    step: &'static str,
}

impl Context {
    pub(crate) fn new(step: &'static str) -> Self {
        Self { step }
    }

    /// The name of the step being run.
    pub fn step_name(&self) -> &str {
        self.step
    }

    /// The run's state store, shared by every step and worker.
    pub fn store(&self) -> StateStore {
        StateStore { _private: () }
    }

    /// Sends an event to every step that accepts its type. The step must
    /// declare the type (`#[step(emits = [...])]`).
    pub fn send_event<E: ToAnyEvent>(&self, ev: E) -> Result<(), StepError> {
        let ev = ev.to_any_event()?.into_wit();
        host::send_event(&ev, None).map_err(context_error)
    }

    /// Sends an event to the step named `step` only; an error if that step
    /// does not exist or does not accept the type.
    pub fn send_event_to<E: ToAnyEvent>(&self, ev: E, step: &str) -> Result<(), StepError> {
        let ev = ev.to_any_event()?.into_wit();
        host::send_event(&ev, Some(step)).map_err(context_error)
    }

    /// Writes an event to the run's stream for the caller to see.
    pub fn write_event_to_stream<E: ToAnyEvent>(&self, ev: &E) -> Result<(), StepError> {
        host::write_event_to_stream(&ev.to_any_event()?.into_wit());
        Ok(())
    }

    /// Buffers `ev` until one event of each type in `expected` has arrived
    /// (list a type several times to wait for several); then returns them in
    /// the order of `expected`. Returns `None` while some are missing.
    pub fn collect_events<E: ToAnyEvent>(
        &self,
        ev: &E,
        expected: &[&str],
    ) -> Result<Option<Vec<AnyEvent>>, StepError> {
        self.collect_events_in(ev, expected, None)
    }

    /// [`collect_events`](Self::collect_events) with an explicit buffer id.
    pub fn collect_events_in<E: ToAnyEvent>(
        &self,
        ev: &E,
        expected: &[&str],
        buffer_id: Option<&str>,
    ) -> Result<Option<Vec<AnyEvent>>, StepError> {
        let mut runs: Vec<ExpectedEvents> = Vec::new();
        for name in expected {
            match runs.last_mut() {
                Some(last) if last.name == *name => last.count += 1,
                _ => runs.push(ExpectedEvents {
                    name: name.to_string(),
                    count: 1,
                }),
            }
        }
        self.collect_expected(ev, &runs, buffer_id)
    }

    fn collect_expected<E: ToAnyEvent>(
        &self,
        ev: &E,
        expected: &[ExpectedEvents],
        buffer_id: Option<&str>,
    ) -> Result<Option<Vec<AnyEvent>>, StepError> {
        let ev = ev.to_any_event()?.into_wit();
        Ok(host::collect_events(&ev, expected, buffer_id)
            .map(|events| events.into_iter().map(AnyEvent::from_wit).collect()))
    }

    /// Collects `count` events of type `E`, returning them once all have
    /// arrived.
    pub fn collect_n<E: Event>(&self, ev: &E, count: usize) -> Result<Option<Vec<E>>, StepError> {
        let expected = [ExpectedEvents {
            name: E::NAME.to_string(),
            count: u32::try_from(count).map_err(|_| {
                StepError::new("ValueError", format!("cannot collect {count} events"))
            })?,
        }];
        match self.collect_expected(ev, &expected, None)? {
            Some(events) => events
                .iter()
                .map(AnyEvent::parse)
                .collect::<Result<_, _>>()
                .map(Some),
            None => Ok(None),
        }
    }

    /// Waits for an event of type `E`; configure the wait on the returned
    /// builder and call [`WaitForEvent::wait`].
    pub fn wait_for_event<E: Event>(&self) -> WaitForEvent<E> {
        WaitForEvent {
            waiter: None,
            waiter_id: None,
            requirements: Map::new(),
            timeout: None,
            _event: PhantomData,
        }
    }

    /// The names of the steps that are running now.
    pub fn running_steps(&self) -> Vec<String> {
        host::running_steps()
    }

    /// The configuration value `key`, if the workflow's manifest granted it
    /// to this step.
    pub fn config(&self, key: &str) -> Option<String> {
        host::config(key)
    }
}

/// A wait for an event, built by [`Context::wait_for_event`].
#[must_use = "call .wait() to wait"]
pub struct WaitForEvent<E> {
    waiter: Option<AnyEvent>,
    waiter_id: Option<String>,
    requirements: Map<String, Value>,
    timeout: Option<Duration>,
    _event: PhantomData<E>,
}

impl<E: Event> WaitForEvent<E> {
    /// Writes `ev` to the stream when the wait begins (once per waiter id),
    /// typically an [`InputRequiredEvent`](crate::InputRequiredEvent).
    pub fn waiter<W: ToAnyEvent>(mut self, ev: W) -> Result<Self, StepError> {
        self.waiter = Some(ev.to_any_event()?);
        Ok(self)
    }

    /// A stable id for this wait, so a retried step does not ask twice.
    pub fn waiter_id(mut self, id: impl Into<String>) -> Self {
        self.waiter_id = Some(id.into());
        self
    }

    /// Accepts only events whose field `key` equals `value`.
    pub fn requirement(mut self, key: &str, value: impl Serialize) -> Result<Self, StepError> {
        self.requirements
            .insert(key.to_string(), serde_json::to_value(value)?);
        Ok(self)
    }

    /// Gives up after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Blocks until the event arrives (or the timeout passes).
    pub fn wait(self) -> Result<E, StepError> {
        let waiter = self.waiter.map(AnyEvent::into_wit);
        let requirements =
            (!self.requirements.is_empty()).then(|| Value::Object(self.requirements).to_string());
        let timeout_ms = self
            .timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        let ev = host::wait_for_event(
            E::NAME,
            waiter.as_ref(),
            self.waiter_id.as_deref(),
            requirements.as_deref(),
            timeout_ms,
        )
        .map_err(context_error)?;
        AnyEvent::from_wit(ev).parse()
    }
}

/// The run's state store: a JSON object shared by all steps, read and
/// written by dot paths (`user.profile.name`, `items.0`), or whole.
#[derive(Debug)]
pub struct StateStore {
    _private: (),
}

impl StateStore {
    /// The value at `path`; an error if it does not exist.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, StepError> {
        self.get_opt(path)?.ok_or_else(|| {
            StepError::new("ValueError", format!("Path '{path}' not found in state"))
        })
    }

    /// The value at `path`, or `default` when it does not exist.
    pub fn get_or<T: DeserializeOwned>(&self, path: &str, default: T) -> Result<T, StepError> {
        Ok(self.get_opt(path)?.unwrap_or(default))
    }

    /// The value at `path`, or `None` when it does not exist.
    pub fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, StepError> {
        match host::get(path).map_err(context_error)? {
            Some(text) => Ok(Some(serde_json::from_str(&text)?)),
            None => Ok(None),
        }
    }

    /// Writes `value` at `path`, creating intermediate objects.
    pub fn set<T: Serialize + ?Sized>(&self, path: &str, value: &T) -> Result<(), StepError> {
        host::set(path, &serde_json::to_string(value)?).map_err(context_error)
    }

    /// The whole state, decoded as `T` (the workflow's state type, or a
    /// `serde_json::Value`).
    pub fn state<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        Ok(serde_json::from_str(&host::get_state())?)
    }

    /// Replaces the whole state.
    pub fn set_state<T: Serialize>(&self, state: &T) -> Result<(), StepError> {
        host::set_state(&serde_json::to_string(state)?).map_err(context_error)
    }

    /// Edits the state under the state lock: no other worker reads or writes
    /// it until `edit` returns, so no update is lost. The new state is
    /// written only if `edit` returns `Ok`. Top-level fields of the state
    /// that `T` does not carry (set by path, or by a step in another
    /// language) are kept as they were.
    pub fn edit<T, R>(
        &self,
        edit: impl FnOnce(&mut T) -> Result<R, StepError>,
    ) -> Result<R, StepError>
    where
        T: Serialize + DeserializeOwned,
    {
        let lock = host::edit_state().map_err(context_error)?;
        let current: serde_json::Value = serde_json::from_str(&lock.current())?;
        let mut state: T = serde_json::from_value(current.clone())?;
        // What `T` carries of the state: the fields it would drop are the
        // ones missing here.
        let carried = serde_json::to_value(&state)?;
        let out = edit(&mut state)?;
        let mut edited = serde_json::to_value(&state)?;
        if let (
            serde_json::Value::Object(whole),
            serde_json::Value::Object(carried),
            serde_json::Value::Object(edited),
        ) = (current, &carried, &mut edited)
        {
            for (key, value) in whole {
                if !carried.contains_key(&key) {
                    edited.entry(key).or_insert(value);
                }
            }
        }
        host::StateEdit::commit(lock, &edited.to_string()).map_err(context_error)?;
        Ok(out)
    }

    /// Resets the state to the workflow's defaults.
    pub fn clear(&self) -> Result<(), StepError> {
        host::clear().map_err(context_error)
    }
}
