//! Steps: what `#[step]` implements, and how inputs and outputs map to
//! events.

use crate::{AnyEvent, Context, EventRegistry, RetryPolicy, StepError};

/// A step's declaration, read from its signature and options.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The step's name.
    pub name: &'static str,
    /// The event types it accepts.
    pub accepts: Vec<&'static str>,
    /// The event types it may emit or send.
    pub emits: Vec<&'static str>,
    /// How many events it handles at once.
    pub num_workers: u32,
    /// Its retry policy.
    pub retry: Option<RetryPolicy>,
    /// The longest one call may take, in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl StepSpec {
    /// A step accepting `accepts` and emitting `emits`, with the shared
    /// defaults of `wit/sdk-defaults.json` for the rest (as the seed's
    /// `@step`: 4 workers, no retry policy, no timeout).
    pub fn new(name: &'static str, accepts: Vec<&'static str>, emits: Vec<&'static str>) -> Self {
        let defaults = crate::defaults::defaults();
        Self {
            name,
            accepts,
            emits,
            num_workers: defaults.num_workers,
            retry: defaults.step_retry.clone(),
            timeout_ms: defaults.timeout_ms,
        }
    }
}

/// A workflow step; `#[step]` implements it on a marker type named after the
/// function.
pub trait Step {
    /// The step's name.
    const NAME: &'static str;
    /// The step's declaration.
    fn spec() -> StepSpec;
    /// Adds the event types the step mentions to `registry`.
    fn register(registry: &mut EventRegistry);
    /// Runs the step on one event.
    fn call(ctx: &Context, ev: AnyEvent) -> Result<Vec<AnyEvent>, StepError>;
}

/// What a step can take: one event type, or a `#[derive(Events)]` enum.
pub trait StepInput: Sized {
    /// Appends the accepted type names.
    fn accepts(out: &mut Vec<&'static str>);
    /// Adds the accepted types to `registry`.
    fn register(registry: &mut EventRegistry);
    /// Decodes an incoming event.
    fn from_raw(ev: AnyEvent) -> Result<Self, StepError>;
}

/// What a step can return: an event, a `#[derive(Events)]` enum, `Option`
/// of one (none emits nothing), `Vec` of one (emits each), `()`, or a
/// `Result` of any of these.
pub trait StepOutput {
    /// Appends the emitted type names.
    fn emits(out: &mut Vec<&'static str>);
    /// Adds the emitted types to `registry`.
    fn register(registry: &mut EventRegistry);
    /// Turns the value into the events to emit.
    fn into_events(self, out: &mut Vec<AnyEvent>) -> Result<(), StepError>;
}

impl StepOutput for () {
    fn emits(_: &mut Vec<&'static str>) {}
    fn register(_: &mut EventRegistry) {}
    fn into_events(self, _: &mut Vec<AnyEvent>) -> Result<(), StepError> {
        Ok(())
    }
}

/// A raw event is emitted as it is: its type is not declared by the
/// signature (declare it with `emits = [...]`), and the host checks it like
/// any other output.
impl StepOutput for AnyEvent {
    fn emits(_: &mut Vec<&'static str>) {}
    fn register(_: &mut EventRegistry) {}
    fn into_events(self, out: &mut Vec<AnyEvent>) -> Result<(), StepError> {
        out.push(self);
        Ok(())
    }
}

impl<T: StepOutput> StepOutput for Option<T> {
    fn emits(out: &mut Vec<&'static str>) {
        T::emits(out);
    }
    fn register(registry: &mut EventRegistry) {
        T::register(registry);
    }
    fn into_events(self, out: &mut Vec<AnyEvent>) -> Result<(), StepError> {
        match self {
            Some(value) => value.into_events(out),
            None => Ok(()),
        }
    }
}

impl<T: StepOutput> StepOutput for Vec<T> {
    fn emits(out: &mut Vec<&'static str>) {
        T::emits(out);
    }
    fn register(registry: &mut EventRegistry) {
        T::register(registry);
    }
    fn into_events(self, out: &mut Vec<AnyEvent>) -> Result<(), StepError> {
        self.into_iter()
            .try_for_each(|value| value.into_events(out))
    }
}

impl<T: StepOutput, E: Into<StepError>> StepOutput for Result<T, E> {
    fn emits(out: &mut Vec<&'static str>) {
        T::emits(out);
    }
    fn register(registry: &mut EventRegistry) {
        T::register(registry);
    }
    fn into_events(self, out: &mut Vec<AnyEvent>) -> Result<(), StepError> {
        self.map_err(Into::into)?.into_events(out)
    }
}
