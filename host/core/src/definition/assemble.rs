//! Assembling a workflow's definition from what its components declare.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::bindings::{ComponentInfo, WitEventKind};
use crate::error::{Result, WorkflowError};
use crate::event::EventKind;
use crate::limits::StepLimits;
use crate::retry::RetryPolicy;
use crate::schema::Schema;
use crate::state::StateType;

use super::{ComponentOrigin, EventTypeInfo, StepConfig, WorkflowDef, WorkflowOptions, routes_of};

fn kind_from_wit(kind: WitEventKind) -> EventKind {
    match kind {
        WitEventKind::Plain => EventKind::Plain,
        WitEventKind::Start => EventKind::Start,
        WitEventKind::Stop => EventKind::Stop,
        WitEventKind::InputRequired => EventKind::InputRequired,
        WitEventKind::HumanResponse => EventKind::HumanResponse,
    }
}

/// Gathers the steps, event types and state type that `components` (each
/// with where it came from) declare, applies `options`, and builds the
/// routing table. The graph is not validated here.
pub(crate) fn assemble(
    components: &[(ComponentOrigin, &ComponentInfo)],
    options: WorkflowOptions,
) -> Result<WorkflowDef> {
    let mut steps = Vec::new();
    let mut step_index = HashMap::new();
    let mut events: BTreeMap<String, EventTypeInfo> = BTreeMap::new();
    let mut state_type: Option<(StateType, String)> = None;

    for (index, (source, info)) in components.iter().enumerate() {
        let origin = source.path.display().to_string();
        for event in &info.events {
            let kind = kind_from_wit(event.kind);
            if let Some(builtin) = EventKind::of_builtin(&event.name)
                && builtin != kind
            {
                return Err(WorkflowError::Configuration(format!(
                    "{origin} declares the built-in event {} as {kind:?}",
                    event.name
                )));
            }
            let schema = serde_json::from_str(&event.schema)
                .map_err(|err| err.to_string())
                .and_then(|schema| Schema::compile(&format!("event {}", event.name), &schema))
                .map_err(|err| WorkflowError::Load(format!("{origin}: {err}")))?;
            match events.get_mut(&event.name) {
                Some(known) if known.kind != kind => {
                    return Err(WorkflowError::Configuration(format!(
                        "event {} is declared as {:?} by one component and as {kind:?} by {origin}",
                        event.name, known.kind
                    )));
                }
                Some(known) => {
                    match known
                        .declared
                        .iter_mut()
                        .find(|(_, same)| same.source() == schema.source())
                    {
                        Some((owners, _)) => owners.push(index),
                        None => known.declared.push((vec![index], Arc::new(schema))),
                    }
                }
                None => {
                    let schema = Arc::new(schema);
                    events.insert(
                        event.name.clone(),
                        EventTypeInfo {
                            name: event.name.clone(),
                            kind,
                            schema: Some(schema.clone()),
                            declared: vec![(vec![index], schema)],
                        },
                    );
                }
            }
        }
        if let Some(spec) = &info.state {
            let parse = |what: &str, text: &str| {
                serde_json::from_str(text).map_err(|err| {
                    WorkflowError::Load(format!("{origin}: the state {what} is not JSON: {err}"))
                })
            };
            let declared = StateType::new(
                parse("schema", &spec.schema)?,
                parse("defaults", &spec.defaults)?,
            )
            .map_err(|err| WorkflowError::Load(format!("{origin}: {err}")))?;
            match &state_type {
                Some((existing, first)) if existing.schema.source() != declared.schema.source() => {
                    return Err(WorkflowError::Configuration(format!(
                        "{first} and {origin} declare different state types; a workflow has one state"
                    )));
                }
                Some(_) => {}
                None => state_type = Some((declared, origin.clone())),
            }
        }
        for spec in &info.steps {
            if step_index.contains_key(&spec.name) {
                return Err(WorkflowError::Validation(format!(
                    "A step {} is already part of this workflow, please choose another name. ({origin} declares it again)",
                    spec.name
                )));
            }
            step_index.insert(spec.name.clone(), steps.len());
            steps.push(StepConfig {
                name: spec.name.clone(),
                component: index,
                accepts: spec.accepts.clone(),
                emits: spec.emits.clone(),
                num_workers: spec.num_workers,
                retry: spec.retry.clone().map(RetryPolicy::from),
                timeout: spec
                    .timeout_ms
                    .map(Duration::from_millis)
                    .or(options.limits.step_timeout),
                limits: StepLimits {
                    memory: options.limits.memory,
                    fuel: options.limits.fuel,
                },
                grants: options.grants.get(&spec.name).cloned().unwrap_or_default(),
            });
        }
    }

    if let Some(unknown) = options
        .grants
        .keys()
        .find(|name| !step_index.contains_key(*name))
    {
        return Err(WorkflowError::Configuration(format!(
            "grants are given to step `{unknown}`, which no component declares"
        )));
    }
    for (name, step_override) in &options.step_overrides {
        let Some(&index) = step_index.get(name) else {
            let known: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            return Err(WorkflowError::Configuration(format!(
                "the manifest overrides step `{name}`, which no component declares (steps: {})",
                known.join(", ")
            )));
        };
        let step = &mut steps[index];
        if let Some(n) = step_override.num_workers {
            step.num_workers = n;
        }
        if let Some(timeout) = step_override.timeout {
            step.timeout = Some(timeout);
        }
        if let Some(retry) = &step_override.retry {
            step.retry = Some(retry.clone().into());
        }
        if let Some(memory) = step_override.memory {
            step.limits.memory = memory;
        }
        if let Some(fuel) = step_override.fuel {
            step.limits.fuel = Some(fuel);
        }
    }

    for step in &steps {
        for name in step.accepts.iter().chain(&step.emits) {
            if !events.contains_key(name) {
                events.insert(
                    name.clone(),
                    EventTypeInfo {
                        name: name.clone(),
                        kind: EventKind::of_builtin(name).unwrap_or(EventKind::Plain),
                        schema: None,
                        declared: Vec::new(),
                    },
                );
            }
        }
    }

    let routes = routes_of(&steps);

    if let Some(0) = options.num_concurrent_runs {
        return Err(WorkflowError::Validation(
            "num_concurrent_runs must be an integer greater than 0 or None".into(),
        ));
    }
    Ok(WorkflowDef {
        declared_name: declared_name(components),
        options,
        components: components
            .iter()
            .map(|(origin, _)| origin.clone())
            .collect(),
        steps,
        step_index,
        events,
        routes,
        state_type: state_type.map(|(t, _)| t),
    })
}

/// The longest workflow name a component may declare; a longer one is
/// ignored (it only ever goes into messages).
const MAX_DECLARED_NAME: usize = 128;

/// The workflow's name as its components declare it: the one name they
/// give, or `None` when none gives one or two disagree (a polyglot
/// workflow's Python and JavaScript classes, say). Only a name shaped like
/// a class name counts: letters, digits, `_`, `$`, `.` and `-`, at most
/// [`MAX_DECLARED_NAME`] bytes (no control, invisible or direction
/// characters reach a message).
fn declared_name(components: &[(ComponentOrigin, &ComponentInfo)]) -> Option<String> {
    let mut names = components
        .iter()
        .filter_map(|(_, info)| info.workflow.as_deref())
        .filter(|name| {
            !name.is_empty()
                && name.len() <= MAX_DECLARED_NAME
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '-'))
        });
    let first = names.next()?;
    names.all(|name| name == first).then(|| first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(workflow: Option<&str>) -> (ComponentOrigin, ComponentInfo) {
        let origin = ComponentOrigin {
            path: "guest".into(),
            digest: String::new(),
        };
        let info = ComponentInfo {
            steps: Vec::new(),
            events: Vec::new(),
            state: None,
            workflow: workflow.map(str::to_string),
        };
        (origin, info)
    }

    fn declared(names: &[Option<&str>]) -> Option<String> {
        let components: Vec<_> = names.iter().map(|name| component(*name)).collect();
        let refs: Vec<_> = components.iter().map(|(o, i)| (o.clone(), i)).collect();
        declared_name(&refs)
    }

    #[test]
    fn the_declared_name_is_the_one_the_components_agree_on() {
        assert_eq!(declared(&[Some("JokeFlow")]), Some("JokeFlow".into()));
        assert_eq!(
            declared(&[None, Some("JokeFlow"), Some("JokeFlow")]),
            Some("JokeFlow".into())
        );
        assert_eq!(declared(&[None, None]), None);
        assert_eq!(declared(&[Some("PyFlow"), Some("JsFlow")]), None);
    }

    #[test]
    fn messages_call_the_workflow_by_its_chosen_then_declared_then_deployed_name() {
        let display = |declared: Option<&str>, chosen: Option<&str>| {
            let (origin, info) = component(declared);
            let options = WorkflowOptions {
                display_name: chosen.map(str::to_string),
                ..WorkflowOptions::named("folder")
            };
            let def = assemble(&[(origin, &info)], options).expect("assembles");
            def.display_name().to_string()
        };
        assert_eq!(display(Some("JokeFlow"), None), "JokeFlow");
        assert_eq!(display(Some("JokeFlow"), Some("checkout")), "checkout");
        assert_eq!(display(None, None), "folder");
    }

    #[test]
    fn only_names_shaped_like_class_names_count() {
        assert_eq!(
            declared(&[Some("Überweisung_2")]),
            Some("Überweisung_2".into())
        );
        assert_eq!(declared(&[Some("  ")]), None);
        assert_eq!(declared(&[Some("Evil\nFlow")]), None);
        assert_eq!(declared(&[Some("Evil\u{202e}Flow")]), None);
        assert_eq!(declared(&[Some("Zero\u{200b}Width")]), None);
        assert_eq!(declared(&[Some("Joke Flow")]), None);
        let long = "F".repeat(MAX_DECLARED_NAME + 1);
        assert_eq!(declared(&[Some(&long)]), None);
        assert_eq!(
            declared(&[Some(&long), Some("JokeFlow")]),
            Some("JokeFlow".into())
        );
    }
}
