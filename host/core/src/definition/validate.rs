//! Validation of a workflow's steps and event graph before any run, with the
//! seed's rules and messages.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::{EventTypeInfo, StepConfig, WorkflowDef, kind_of};
use crate::error::{Result, WorkflowError};
use crate::event::EventKind;

/// What validation looks at: the steps and the event types.
pub(crate) struct Graph<'a> {
    name: &'a str,
    steps: &'a [StepConfig],
    events: &'a BTreeMap<String, EventTypeInfo>,
    routes: &'a HashMap<String, Vec<usize>>,
}

impl Graph<'_> {
    fn kind_of(&self, name: &str) -> EventKind {
        kind_of(self.events, name)
    }
}

fn join<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// Checks the workflow; the first failing rule's error names the steps and
/// events at fault. Graph checks (reachability, dead ends, a path to a stop
/// event) are gathered into one error.
pub(crate) fn validate(def: &WorkflowDef) -> Result<()> {
    validate_graph(&Graph {
        name: def.display_name(),
        steps: &def.steps,
        events: &def.events,
        routes: &def.routes,
    })
}

fn validate_graph(def: &Graph<'_>) -> Result<()> {
    let workflow = def.name;
    let fail = |message: String| Err(WorkflowError::Validation(message));
    // What the reference raises as a configuration error (no steps, no or
    // several start or stop types) is one here too.
    let misconfigured = |message: String| Err(WorkflowError::Configuration(message));

    if def.steps.is_empty() {
        return misconfigured(format!(
            "Workflow '{workflow}' has no configured steps. Did you forget to declare them \
             (@step in Python, `static steps` in JavaScript, export_steps! in Rust)?"
        ));
    }
    for step in def.steps {
        if step.num_workers < 1 {
            return fail(format!(
                "Step '{}': num_workers must be an integer greater than 0",
                step.name
            ));
        }
    }

    let accepted: BTreeSet<&str> = def
        .steps
        .iter()
        .flat_map(|s| s.accepts.iter().map(String::as_str))
        .collect();
    let produced: BTreeSet<&str> = def
        .steps
        .iter()
        .flat_map(|s| s.emits.iter().map(String::as_str))
        .collect();
    let of_kind = |set: &BTreeSet<&str>, kind: EventKind| -> Vec<String> {
        set.iter()
            .filter(|n| def.kind_of(n) == kind)
            .map(|n| n.to_string())
            .collect()
    };

    let starts = of_kind(&accepted, EventKind::Start);
    match starts.len() {
        0 => {
            return misconfigured(format!(
                "At least one Event of type StartEvent must be received by any step. (Workflow '{workflow}' has no @step that accepts StartEvent.)"
            ));
        }
        1 => {}
        n => {
            return misconfigured(format!(
                "Only one type of StartEvent is allowed per workflow, found {n}: {{{}}} in workflow '{workflow}'.",
                starts.join(", ")
            ));
        }
    }
    let stops = of_kind(&produced, EventKind::Stop);
    match stops.len() {
        0 => {
            return misconfigured(format!(
                "At least one Event of type StopEvent must be returned by any step. (Workflow '{workflow}' has no @step that returns StopEvent.)"
            ));
        }
        1 => {}
        n => {
            return misconfigured(format!(
                "Only one type of StopEvent is allowed per workflow, found {n}: {{{}}} in workflow '{workflow}'.",
                stops.join(", ")
            ));
        }
    }

    let stop_acceptors: Vec<&str> = def
        .steps
        .iter()
        .filter(|s| s.accepts.iter().any(|e| def.kind_of(e) == EventKind::Stop))
        .map(|s| s.name.as_str())
        .collect();
    if !stop_acceptors.is_empty() {
        let plural = if stop_acceptors.len() > 1 { "s" } else { "" };
        return fail(format!(
            "Step{plural} '{}' cannot accept StopEvent. StopEvent signals the end of the workflow. Use a different Event type instead.",
            stop_acceptors.join("', '")
        ));
    }

    let boundary = |name: &&str| {
        matches!(
            def.kind_of(name),
            EventKind::InputRequired | EventKind::HumanResponse | EventKind::Stop
        )
    };
    let start = starts[0].as_str();
    let never_produced: Vec<&str> = accepted
        .iter()
        .filter(|n| **n != start && !produced.contains(*n) && !boundary(n))
        .copied()
        .collect();
    if !never_produced.is_empty() {
        return fail(format!(
            "The following events are consumed but never produced: {}",
            join(never_produced)
        ));
    }
    let never_consumed: Vec<&str> = produced
        .iter()
        .filter(|n| !accepted.contains(*n) && !boundary(n))
        .copied()
        .collect();
    if !never_consumed.is_empty() {
        return fail(format!(
            "The following events are produced but never consumed: {}",
            join(never_consumed)
        ));
    }

    graph_checks(def, start, &stops[0])
}

/// The seed's graph checks: every step reachable from the start (or a human
/// response), every emitting step able to reach a stop (or a request for
/// input), and a stop reachable from the start at all.
fn graph_checks(def: &Graph<'_>, start: &str, stop: &str) -> Result<()> {
    let steps_accepting = |event: &str| def.routes.get(event).cloned().unwrap_or_default();

    // Forward: events -> steps accepting them -> events they emit.
    let mut reached_events: HashSet<&str> = HashSet::new();
    let mut reached_steps: HashSet<usize> = HashSet::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for (name, info) in def.events {
        if name == start || info.kind == EventKind::HumanResponse {
            queue.push_back(name);
        }
    }
    while let Some(event) = queue.pop_front() {
        if !reached_events.insert(event) {
            continue;
        }
        for index in steps_accepting(event) {
            if reached_steps.insert(index) {
                queue.extend(def.steps[index].emits.iter().map(String::as_str));
            }
        }
    }

    // Backward: which steps can reach a stop or a request for input.
    let mut can_finish: HashSet<usize> = HashSet::new();
    loop {
        let before = can_finish.len();
        for (index, step) in def.steps.iter().enumerate() {
            if can_finish.contains(&index) {
                continue;
            }
            let finishes = step.emits.iter().any(|event| {
                matches!(
                    def.kind_of(event),
                    EventKind::Stop | EventKind::InputRequired
                ) || steps_accepting(event)
                    .iter()
                    .any(|s| can_finish.contains(s))
            });
            if finishes {
                can_finish.insert(index);
            }
        }
        if can_finish.len() == before {
            break;
        }
    }

    let mut problems = Vec::new();
    let unreachable: BTreeSet<&str> = def
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| !reached_steps.contains(i))
        .map(|(_, s)| s.name.as_str())
        .collect();
    if !unreachable.is_empty() {
        problems.push(format!(
            "  - [reachability] Unreachable steps: {}\n    Steps must be reachable from StartEvent or HumanResponseEvent.",
            join(unreachable)
        ));
    }
    let dead_ends: BTreeSet<&str> = def
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.emits.is_empty() && !can_finish.contains(i))
        .map(|(_, s)| s.name.as_str())
        .collect();
    if !dead_ends.is_empty() {
        problems.push(format!(
            "  - [dead_end] Dead-end steps: {}\n    Steps must have a path to StopEvent or InputRequiredEvent.",
            join(dead_ends)
        ));
    }
    if !reached_events.contains(stop) {
        problems.push(format!(
            "  - [stop_path] No path from {start} to {stop}\n    A run must be able to reach its stop event."
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::Validation(format!(
            "Graph validation failed:\n{}",
            problems.join("\n")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::routes_of;

    fn step(name: &str, accepts: &[&str], emits: &[&str]) -> StepConfig {
        StepConfig {
            name: name.into(),
            component: 0,
            accepts: accepts.iter().map(|s| s.to_string()).collect(),
            emits: emits.iter().map(|s| s.to_string()).collect(),
            num_workers: 4,
            retry: None,
            timeout: None,
            limits: crate::limits::StepLimits {
                memory: bytesize::ByteSize::mib(1),
                fuel: None,
            },
            grants: Default::default(),
        }
    }

    fn check(steps: Vec<StepConfig>, custom: &[(&str, EventKind)]) -> Result<()> {
        let mut events = BTreeMap::new();
        for step in &steps {
            for name in step.accepts.iter().chain(&step.emits) {
                let kind = custom
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, k)| *k)
                    .or_else(|| EventKind::of_builtin(name))
                    .unwrap_or(EventKind::Plain);
                events.insert(
                    name.clone(),
                    EventTypeInfo {
                        name: name.clone(),
                        kind,
                        schema: None,
                        declared: Vec::new(),
                    },
                );
            }
        }
        let routes = routes_of(&steps);
        validate_graph(&Graph {
            name: "wf",
            steps: &steps,
            events: &events,
            routes: &routes,
        })
    }

    fn message(result: Result<()>) -> String {
        match result {
            Err(WorkflowError::Validation(message)) => message,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// What the reference raises as a `WorkflowConfigurationError`.
    fn misconfiguration(result: Result<()>) -> String {
        match result {
            Err(WorkflowError::Configuration(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_chain_passes() {
        let steps = vec![
            step("a", &["StartEvent"], &["B"]),
            step("b", &["B"], &["StopEvent"]),
        ];
        check(steps, &[]).unwrap();
    }

    #[test]
    fn no_steps_and_no_start_consumer() {
        assert!(misconfiguration(check(vec![], &[])).contains("has no configured steps"));
        let steps = vec![step("a", &["B"], &["StopEvent"])];
        assert_eq!(
            misconfiguration(check(steps, &[])),
            "At least one Event of type StartEvent must be received by any step. (Workflow 'wf' has no @step that accepts StartEvent.)"
        );
    }

    #[test]
    fn no_stop_producer_and_two_stop_types() {
        let steps = vec![step("a", &["StartEvent"], &[])];
        assert!(
            misconfiguration(check(steps, &[]))
                .starts_with("At least one Event of type StopEvent must be returned")
        );
        let steps = vec![step("a", &["StartEvent"], &["StopEvent", "MyStop"])];
        assert_eq!(
            misconfiguration(check(steps, &[("MyStop", EventKind::Stop)])),
            "Only one type of StopEvent is allowed per workflow, found 2: {MyStop, StopEvent} in workflow 'wf'."
        );
    }

    #[test]
    fn a_step_accepting_stop_is_refused() {
        let steps = vec![
            step("a", &["StartEvent"], &["StopEvent"]),
            step("t", &["StopEvent"], &[]),
        ];
        assert_eq!(
            message(check(steps, &[])),
            "Step 't' cannot accept StopEvent. StopEvent signals the end of the workflow. Use a different Event type instead."
        );
    }

    #[test]
    fn consumed_but_never_produced_and_produced_but_never_consumed() {
        let steps = vec![
            step("a", &["StartEvent"], &["StopEvent"]),
            step("b", &["Ghost"], &["StopEvent"]),
        ];
        assert_eq!(
            message(check(steps, &[])),
            "The following events are consumed but never produced: Ghost"
        );
        let steps = vec![step("a", &["StartEvent"], &["StopEvent", "Orphan"])];
        assert_eq!(
            message(check(steps, &[])),
            "The following events are produced but never consumed: Orphan"
        );
    }

    #[test]
    fn hitl_boundary_events_are_exempt() {
        let steps = vec![
            step("ask", &["StartEvent"], &["InputRequiredEvent"]),
            step("answer", &["HumanResponseEvent"], &["StopEvent"]),
        ];
        check(steps, &[]).unwrap();
    }

    #[test]
    fn unreachable_steps_dead_ends_and_no_path_to_stop() {
        // `loop_a` and `loop_b` feed each other: produced and consumed, but
        // never reached from the start and never reaching a stop.
        let steps = vec![
            step("a", &["StartEvent"], &["StopEvent"]),
            step("loop_a", &["X"], &["Y"]),
            step("loop_b", &["Y"], &["X"]),
        ];
        assert_eq!(
            message(check(steps, &[])),
            "Graph validation failed:\n  - [reachability] Unreachable steps: loop_a, loop_b\n    Steps must be reachable from StartEvent or HumanResponseEvent.\n  - [dead_end] Dead-end steps: loop_a, loop_b\n    Steps must have a path to StopEvent or InputRequiredEvent."
        );
        // The start only leads into a cycle; the stop comes from elsewhere.
        let steps = vec![
            step("a", &["StartEvent"], &["X"]),
            step("b", &["X"], &["X"]),
            step("c", &["HumanResponseEvent"], &["StopEvent"]),
        ];
        let text = message(check(steps, &[]));
        assert!(text.contains("[dead_end] Dead-end steps: a, b"), "{text}");
    }
}
