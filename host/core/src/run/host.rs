//! The `context` imports: what a guest step calls to reach the run.

use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tracing::Instrument as _;
use wasmtime::component::Resource;

use crate::bindings::ContextError;
use crate::bindings::wflow::workflow::context::{Host, HostStateEdit};
use crate::bindings::wflow::workflow::types::ExpectedEvents;
use crate::definition::EmitError;
use crate::event::Event;
use crate::state::{EditGuard, StateError};

use super::failure::LimitTrap;
use super::message::{BrokerMsg, Wake};
use super::shared::{RunShared, TargetError};
use super::waiters::{Registration, Suspension};
use super::worker::WorkerState;

/// A state error as the guest sees it, or a trap when the state outgrew its
/// limit (which fails the run).
fn state_result<T>(result: Result<T, StateError>) -> wasmtime::Result<Result<T, ContextError>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(StateError::TooLarge(m)) => Err(limit_trap(m)),
        Err(StateError::InvalidPath(m)) => Ok(Err(ContextError::InvalidPath(m))),
        Err(StateError::MissingPath(m)) => Ok(Err(ContextError::MissingPath(m))),
        Err(StateError::SchemaViolation(m)) => Ok(Err(ContextError::SchemaViolation(m))),
        Err(StateError::InvalidJson(m)) => Ok(Err(ContextError::InvalidJson(m))),
    }
}

/// Traps the guest because it broke a run-wide limit; the broker fails the
/// run with the message.
fn limit_trap(message: String) -> wasmtime::Error {
    wasmtime::Error::new(LimitTrap(message))
}

fn no_context() -> wasmtime::Error {
    wasmtime::Error::msg("the workflow context is not available while a component is described")
}

const WRITER_IN_EDIT: &str = "writer called inside edit_state: mutate the yielded state instead";

fn parse_json(what: &str, text: &str) -> Result<Value, ContextError> {
    serde_json::from_str(text)
        .map_err(|err| ContextError::InvalidJson(format!("{what} is not valid JSON: {err}")))
}

impl WorkerState {
    fn run(&self) -> wasmtime::Result<&RunShared> {
        self.run.as_deref().ok_or_else(no_context)
    }

    fn run_arc(&self) -> wasmtime::Result<std::sync::Arc<RunShared>> {
        self.run.clone().ok_or_else(no_context)
    }

    fn check_writer(&self) -> Result<(), ContextError> {
        if self.editing {
            Err(ContextError::AlreadyEditing(WRITER_IN_EDIT.into()))
        } else {
            Ok(())
        }
    }

    /// Checks that this worker's step may emit `event`, that its payload is
    /// a JSON object, and that it matches the schemas other components
    /// declare for its type.
    async fn check_emitted(
        run: &RunShared,
        step: usize,
        event: &Event,
    ) -> Result<(), ContextError> {
        run.check_emitted(step, event)
            .await
            .map_err(|err| match err {
                EmitError::Undeclared(emits) => ContextError::EventNotAccepted(format!(
                    "step {} sent a {} event, which it does not declare among the events it emits ({emits})",
                    run.def.steps[step].name, event.name
                )),
                EmitError::NotAnObject(message) => ContextError::InvalidJson(message),
                EmitError::SchemaViolation(message) => ContextError::SchemaViolation(message),
            })
    }
}

impl Host for WorkerState {
    async fn get(
        &mut self,
        path: String,
    ) -> wasmtime::Result<Result<Option<String>, ContextError>> {
        let run = self.run()?;
        state_result(
            run.state
                .get(&path)
                .map(|value| value.map(|v| v.to_string())),
        )
    }

    async fn set(
        &mut self,
        path: String,
        value: String,
    ) -> wasmtime::Result<Result<(), ContextError>> {
        let run = self.run()?;
        if let Err(err) = self.check_writer() {
            return Ok(Err(err));
        }
        let value = match parse_json("the value", &value) {
            Ok(value) => value,
            Err(err) => return Ok(Err(err)),
        };
        state_result(run.state.set(&path, value).await)
    }

    async fn get_state(&mut self) -> wasmtime::Result<String> {
        Ok(self.run()?.state.snapshot().to_string())
    }

    async fn set_state(&mut self, state: String) -> wasmtime::Result<Result<(), ContextError>> {
        let run = self.run()?;
        if let Err(err) = self.check_writer() {
            return Ok(Err(err));
        }
        let state = match parse_json("the state", &state) {
            Ok(state) => state,
            Err(err) => return Ok(Err(err)),
        };
        state_result(run.state.set_state(state).await)
    }

    async fn edit_state(&mut self) -> wasmtime::Result<Result<Resource<EditGuard>, ContextError>> {
        let state = self.run()?.state.clone();
        if let Err(err) = self.check_writer() {
            return Ok(Err(err));
        }
        let guard = state.begin_edit().await;
        let token = self.table.push(guard)?;
        self.editing = true;
        Ok(Ok(token))
    }

    async fn clear(&mut self) -> wasmtime::Result<Result<(), ContextError>> {
        let run = self.run()?;
        if let Err(err) = self.check_writer() {
            return Ok(Err(err));
        }
        state_result(run.state.clear().await)
    }

    async fn send_event(
        &mut self,
        ev: Event,
        step: Option<String>,
    ) -> wasmtime::Result<Result<(), ContextError>> {
        let run = self.run_arc()?;
        if run.has_ended() {
            return Ok(Err(ContextError::RunEnded("the run has ended".into())));
        }
        run.check_event_size(&ev).map_err(limit_trap)?;
        if let Err(err) = Self::check_emitted(&run, self.step, &ev).await {
            return Ok(Err(err));
        }
        let target = match run.check_target(&ev, step.as_deref()) {
            Ok(target) => target,
            Err(TargetError::NoSuchStep(message)) => {
                return Ok(Err(ContextError::StepDoesNotExist(message)));
            }
            Err(TargetError::NotAccepted(message)) => {
                return Ok(Err(ContextError::EventNotAccepted(message)));
            }
        };
        run.admit_queued(&ev).map_err(limit_trap)?;
        // The broker outlives every worker of its run.
        let _ = run.broker.send(BrokerMsg::Send {
            event: ev,
            target,
            from_outside: false,
        });
        Ok(Ok(()))
    }

    async fn write_event_to_stream(&mut self, ev: Event) -> wasmtime::Result<()> {
        let run = self.run()?;
        run.check_event_size(&ev).map_err(limit_trap)?;
        if ev.check_object().is_ok() {
            let charge = run.admit_streamed(&ev).map_err(limit_trap)?;
            run.write_to_stream(ev, Some(charge)).map_err(limit_trap)?;
        } else {
            tracing::warn!(event = %ev.name, "dropped a streamed event whose payload is not a JSON object");
        }
        Ok(())
    }

    async fn collect_events(
        &mut self,
        ev: Event,
        expected: Vec<ExpectedEvents>,
        buffer_id: Option<String>,
    ) -> wasmtime::Result<Option<Vec<Event>>> {
        let run = self.run()?;
        run.check_event_size(&ev).map_err(limit_trap)?;
        let buffer_id = buffer_id.unwrap_or_else(|| "default".to_string());
        let limit = run.def.options.limits.max_collect_buffer;
        run.collect()
            .collect(self.step, buffer_id, ev, self.work_item, &expected, limit)
            .map_err(limit_trap)
    }

    async fn wait_for_event(
        &mut self,
        name: String,
        waiter: Option<Event>,
        waiter_id: Option<String>,
        requirements: Option<String>,
        timeout_ms: Option<u64>,
    ) -> wasmtime::Result<Result<Event, ContextError>> {
        let run = self.run_arc()?;
        let requirements: Map<String, Value> = match requirements
            .as_deref()
            .map(|r| parse_json("requirements", r))
        {
            None => Map::new(),
            Some(Ok(Value::Object(map))) => map,
            Some(Ok(_)) => {
                return Ok(Err(ContextError::InvalidJson(
                    "requirements must be a JSON object".into(),
                )));
            }
            Some(Err(err)) => return Ok(Err(err)),
        };
        let id = waiter_id.unwrap_or_else(|| {
            format!(
                "waiter_{name}_{}_work_item_{}",
                Value::Object(requirements.clone()),
                self.work_item
            )
        });
        // A timeout too far off to represent is no timeout.
        let deadline = timeout_ms.and_then(|ms| {
            tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(ms))
        });
        let mut waiter = waiter;
        // The wait is traced as a `wait` span in the step call's.
        let span = tracing::info_span!(
            "wait",
            otel.name = %format!("wait for {name}"),
            event = %name,
            waiter = %id,
        );
        async move {
            loop {
                let registration = run.waiters().register(
                    id.clone(),
                    name.clone(),
                    requirements.clone(),
                    self.work_item,
                );
                match registration {
                    Registration::Answered(event) => return Ok(Ok(event)),
                    Registration::TimedOut => {
                        return Ok(Err(ContextError::Timeout(format!(
                            "Timed out waiting for {name}"
                        ))));
                    }
                    Registration::Waiting { first_time } => {
                        if first_time && let Some(waiter) = waiter.take() {
                            run.check_event_size(&waiter).map_err(limit_trap)?;
                            run.stream_prompt(waiter).map_err(limit_trap)?;
                        }
                    }
                }
                let suspension = Suspension {
                    waiter: id.clone(),
                    deadline,
                };
                if !self.wait_in_place(&run, suspension.clone()).await {
                    // The call ends here, holding nothing while it waits: the
                    // broker runs the step again once the answer is in.
                    return Err(wasmtime::Error::new(suspension));
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn running_steps(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.run()?.running_steps())
    }

    async fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let run = self.run()?;
        Ok(run.def.steps[self.step].grants.config.get(&key).cloned())
    }
}

impl WorkerState {
    /// Suspends the call in its wait, keeping the instance, until the
    /// broker wakes it: `true` to ask again (the wait is over), `false` to
    /// let go of the instance: it was held for `limits.wait_in_place`,
    /// another call needs its slot, or it may keep none (a step holding a
    /// state edit would block the others).
    async fn wait_in_place(&mut self, run: &RunShared, suspension: Suspension) -> bool {
        let hold = run.def.options.limits.wait_in_place;
        if hold.is_zero() || self.editing {
            return false;
        }
        let Some(let_go) = tokio::time::Instant::now().checked_add(hold) else {
            return false;
        };
        let (wake, woken) = oneshot::channel();
        let message = BrokerMsg::WaitsInPlace {
            work_item: self.work_item,
            suspension,
            wake,
            let_go,
        };
        if run.broker.send(message).is_err() {
            return false;
        }
        let (_ticket, needed) = self.engine().suspend_call(self.owner);
        let _suspended = self.suspended.start();
        tokio::select! {
            wake = woken => matches!(wake, Ok(Wake::AskAgain)),
            _ = needed => false,
        }
    }
}

impl HostStateEdit for WorkerState {
    async fn current(&mut self, this: Resource<EditGuard>) -> wasmtime::Result<String> {
        let guard = self.table.get(&this)?;
        Ok(guard.current().to_string())
    }

    async fn commit(
        &mut self,
        this: Resource<EditGuard>,
        state: String,
    ) -> wasmtime::Result<Result<(), ContextError>> {
        let guard = self.table.delete(this)?;
        self.editing = false;
        let run = self.run()?;
        let state_text = state;
        let state = match parse_json("the state", &state_text) {
            Ok(state) => state,
            Err(err) => return Ok(Err(err)),
        };
        state_result(run.state.commit_edit(guard, state))
    }

    async fn drop(&mut self, this: Resource<EditGuard>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        self.editing = false;
        Ok(())
    }
}
