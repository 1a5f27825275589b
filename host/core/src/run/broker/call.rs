//! One step call: an instance from the pool, the guest's `handle`, the
//! checks of what it returned, and retries as the step's policy says.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;
use tracing::field::Empty;

use crate::definition::EmitError;
use crate::error::FailureCause;
use crate::event::Event;
use crate::run::failure::{CallFailure, FailedCall};
use crate::run::message::CallEnd;
use crate::run::pool::InstancePool;
use crate::run::shared::{RunShared, check_event_size};

/// A step call polled by the broker itself; it yields the step, the work
/// item and the outcome.
pub(super) type InlineCall = Pin<Box<dyn Future<Output = StepDone> + Send>>;

/// A finished step call.
pub(super) struct StepDone {
    pub(super) step: usize,
    pub(super) work_item: u64,
    pub(super) outcome: Result<CallEnd, FailedCall>,
}

/// Polls the inline step call; pending when there is none.
pub(super) async fn poll_inline(inline: &mut Option<InlineCall>) -> StepDone {
    match inline {
        Some(call) => call.await,
        None => std::future::pending().await,
    }
}

/// Runs one event through a step, retrying on fresh instances as its policy
/// says. The instance comes from the run's pool and goes back to it only
/// when the call returned; a call that let go of its instance in a wait
/// ends there (the instance dropped), to run again once answered.
///
/// Each attempt is a `step` span under `run_span`: the step, the worker, the
/// attempt, the event taken and the events emitted, the fuel burned,
/// whether the instance was reused or new, and the outcome.
pub(super) async fn run_step(
    shared: Arc<RunShared>,
    pool: Arc<InstancePool>,
    step: usize,
    event: Event,
    work_item: u64,
    worker: u32,
    run_span: tracing::Span,
) -> StepDone {
    let config = &shared.def.steps[step];
    let started = Instant::now();
    let mut failures = 0u32;
    let outcome = loop {
        let span = tracing::info_span!(
            parent: &run_span,
            "step",
            otel.name = %format!("step {}", config.name),
            step = %config.name,
            worker,
            attempt = failures + 1,
            event = %event.name,
            emitted = Empty,
            fuel = Empty,
            instance = Empty,
            outcome = Empty,
            otel.status_code = Empty,
        );
        let attempt = async {
            let mut worker = pool.instance(&shared, step).await?;
            let end = worker
                .handle(
                    &config.name,
                    &event,
                    work_item,
                    config.timeout,
                    &config.limits,
                )
                .await?;
            if let CallEnd::Returned(events) = &end {
                check_outputs(&shared, step, events).await?;
                if worker.detach() {
                    pool.give_back(step, worker);
                }
            }
            Ok::<_, CallFailure>(end)
        };
        let attempt = attempt.instrument(span.clone()).await;
        record_outcome(&span, &attempt);
        match attempt {
            Ok(end) => break Ok(end),
            Err(failure) if failure.run_limit => break Err(FailedCall::RunLimit(failure.message)),
            Err(failure) => {
                failures += 1;
                let delay = config.retry.as_ref().and_then(|policy| {
                    policy.next_delay(failures, started.elapsed(), &failure.kind, &failure.message)
                });
                match delay {
                    Some(delay) => {
                        tracing::debug!(
                            step = %config.name, failures, ?delay,
                            "retrying: {}: {}", failure.kind, failure.message
                        );
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        let failure = failure.into_step_failure(&config.name, failures);
                        break Err(FailedCall::Step(Box::new(failure)));
                    }
                }
            }
        }
    };
    StepDone {
        step,
        work_item,
        outcome,
    }
}

/// Records how an attempt ended on its span.
fn record_outcome(span: &tracing::Span, attempt: &Result<CallEnd, CallFailure>) {
    match attempt {
        Ok(CallEnd::Returned(events)) => {
            let emitted: Vec<&str> = events.iter().map(|event| event.name.as_str()).collect();
            span.record("outcome", "returned");
            span.record("emitted", emitted.join(",").as_str());
        }
        Ok(CallEnd::Waiting(_)) => {
            span.record("outcome", "let go of its instance in a wait");
        }
        Err(failure) => {
            span.record("outcome", failure.kind.as_str());
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// A step may only return event types it declared, with object payloads
/// within the size limit.
async fn check_outputs(
    shared: &RunShared,
    step: usize,
    events: &[Event],
) -> Result<(), CallFailure> {
    for event in events {
        check_event_size(&shared.def.options.limits, event).map_err(CallFailure::run_limit)?;
        shared
            .check_emitted(step, event)
            .await
            .map_err(|err| match err {
                EmitError::Undeclared(emits) => CallFailure::new(
                    FailureCause::InvalidOutput,
                    "UndeclaredEventError",
                    format!(
                        "step `{}` emitted a {} event, which it does not declare (it emits: {emits})",
                        shared.def.steps[step].name, event.name
                    ),
                ),
                EmitError::NotAnObject(message) | EmitError::SchemaViolation(message) => {
                    CallFailure::new(FailureCause::InvalidOutput, "InvalidEventError", message)
                }
            })?;
    }
    Ok(())
}
