//! The glue `export_steps!` expands to: `describe` and `handle` over a table
//! of steps.

use crate::bindings::wflow::workflow::types as wit;
use crate::{AnyEvent, Context, EventRegistry, Step, StepError, StepSpec};

/// One exported step: its declaration and entry points.
pub struct StepEntry {
    name: &'static str,
    spec: fn() -> StepSpec,
    register: fn(&mut EventRegistry),
    call: fn(&Context, AnyEvent) -> Result<Vec<AnyEvent>, StepError>,
}

impl StepEntry {
    /// The entry of step `S`.
    pub const fn of<S: Step>() -> Self {
        Self {
            name: S::NAME,
            spec: S::spec,
            register: S::register,
            call: S::call,
        }
    }
}

/// A typed state declaration: its schema and default value.
pub struct StateDecl {
    schema: String,
    defaults: String,
}

impl StateDecl {
    /// The declaration of state type `T`: its schema and its `Default`
    /// value, both as canonical JSON text (see [`Event::schema`](crate::Event::schema)).
    pub fn of<T>() -> Self
    where
        T: serde::Serialize + Default + schemars::JsonSchema,
    {
        Self {
            schema: crate::schema::derived::<T>(),
            defaults: crate::schema::canonical_of(&T::default())
                .unwrap_or_else(|_| "{}".to_string()),
        }
    }
}

/// Implements the `describe` export: the steps, the event types they use,
/// the typed state and the workflow's name, if given.
pub fn describe(
    steps: &[StepEntry],
    state: Option<StateDecl>,
    workflow: Option<&str>,
) -> wit::ComponentInfo {
    let mut registry = EventRegistry::default();
    let specs = steps
        .iter()
        .map(|entry| {
            (entry.register)(&mut registry);
            let spec = (entry.spec)();
            wit::StepSpec {
                name: spec.name.to_string(),
                accepts: spec.accepts.iter().map(|s| s.to_string()).collect(),
                emits: spec.emits.iter().map(|s| s.to_string()).collect(),
                num_workers: spec.num_workers,
                retry: spec.retry.map(|r| r.into_wit()),
                timeout_ms: spec.timeout_ms,
            }
        })
        .collect();
    wit::ComponentInfo {
        steps: specs,
        events: registry.into_types(),
        state: state.map(|s| wit::StateSpec {
            schema: s.schema,
            defaults: s.defaults,
        }),
        workflow: workflow.map(str::to_string),
    }
}

/// Implements the `handle` export.
pub fn handle(
    steps: &[StepEntry],
    step: String,
    ev: wit::Event,
) -> Result<Vec<wit::Event>, wit::StepError> {
    let Some(entry) = steps.iter().find(|entry| entry.name == step) else {
        return Err(wit::StepError::Failed(wit::GuestError {
            kind: "WorkflowStepDoesNotExistError".into(),
            message: format!("this component has no step `{step}`"),
        }));
    };
    let ctx = Context::new(entry.name);
    let events = (entry.call)(&ctx, AnyEvent::from_wit(ev)).map_err(wit::StepError::from)?;
    Ok(events.into_iter().map(AnyEvent::into_wit).collect())
}

/// Exports steps as this crate's component. List every step function;
/// optionally name the workflow and declare its typed state first:
///
/// - `export_steps!(write_joke, critique);`
/// - `export_steps!(state = Counter; increment, report);` where `Counter`
///   implements `Serialize`, `Default` and `JsonSchema` (an `#[event]`-style
///   struct works; so does serde + schemars);
/// - `export_steps!(workflow = "JokeFlow"; write_joke, critique);` or
///   `export_steps!(workflow = "JokeFlow", state = Counter; ...)`: the name
///   validation messages call the workflow by, as a Python or JavaScript
///   workflow is called by its class (without it, by the name it is
///   deployed under).
#[macro_export]
macro_rules! export_steps {
    (workflow = $name:literal, state = $state:ty; $($step:path),+ $(,)?) => {
        $crate::export_steps!(@impl ::std::option::Option::Some($crate::__private::StateDecl::of::<$state>()), ::std::option::Option::Some::<&'static str>($name); $($step),+);
    };
    (state = $state:ty, workflow = $name:literal; $($step:path),+ $(,)?) => {
        $crate::export_steps!(workflow = $name, state = $state; $($step),+);
    };
    (workflow = $name:literal; $($step:path),+ $(,)?) => {
        $crate::export_steps!(@impl ::std::option::Option::None, ::std::option::Option::Some::<&'static str>($name); $($step),+);
    };
    (state = $state:ty; $($step:path),+ $(,)?) => {
        $crate::export_steps!(@impl ::std::option::Option::Some($crate::__private::StateDecl::of::<$state>()), ::std::option::Option::None; $($step),+);
    };
    ($($step:path),+ $(,)?) => {
        $crate::export_steps!(@impl ::std::option::Option::None, ::std::option::Option::None; $($step),+);
    };
    (@impl $state:expr, $name:expr; $($step:path),+) => {
        #[doc(hidden)]
        struct __WflowSteps;

        impl __WflowSteps {
            const ENTRIES: &'static [$crate::__private::StepEntry] =
                &[$($crate::__private::StepEntry::of::<$step>()),+];
        }

        impl $crate::bindings::Guest for __WflowSteps {
            fn describe() -> $crate::bindings::wflow::workflow::types::ComponentInfo {
                $crate::__private::describe(Self::ENTRIES, $state, $name)
            }

            fn handle(
                step: ::std::string::String,
                ev: $crate::bindings::wflow::workflow::types::Event,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::wflow::workflow::types::Event>,
                $crate::bindings::wflow::workflow::types::StepError,
            > {
                $crate::__private::handle(Self::ENTRIES, step, ev)
            }
        }

        $crate::bindings::__export_component!(__WflowSteps with_types_in $crate::bindings);
    };
}
