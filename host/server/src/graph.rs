//! What the server says about a workflow's shape: each event type's JSON
//! Schema, and the step/event graph of `/representation`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use wflow_core::{EventKind, Workflow, names};

/// The JSON Schema of event type `name`, titled with the type's name; an
/// open object schema for types published without one.
pub(crate) fn event_schema(workflow: &Workflow, name: &str) -> Value {
    let schema = workflow
        .events()
        .get(name)
        .and_then(|info| info.schema.as_ref())
        .map(|schema| schema.source().clone());
    let mut schema = match schema {
        Some(Value::Object(map)) => Value::Object(map),
        _ => json!({ "type": "object" }),
    };
    if let Value::Object(map) = &mut schema {
        map.entry("title").or_insert_with(|| json!(name));
    }
    schema
}

/// The graph the reference's `/representation` answers: a node per step
/// and per event type, edges event -> accepting step and step -> emitted
/// event, and an `external_step` node between a request for input and its
/// answer.
pub(crate) fn representation(workflow: &Workflow) -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut events = BTreeSet::new();
    for step in workflow.steps() {
        nodes.push(json!({
            "id": step.name,
            "label": step.name,
            "node_type": "step",
            "description": Value::Null,
        }));
        for accepted in &step.accepts {
            events.insert(accepted.clone());
            edges.push(json!({ "source": accepted, "target": step.name, "label": Value::Null }));
        }
        for emitted in &step.emits {
            events.insert(emitted.clone());
            edges.push(json!({ "source": step.name, "target": emitted, "label": Value::Null }));
        }
    }
    let kind = |name: &str| workflow.events().get(name).map(|info| info.kind);
    for event in &events {
        let produced_by: Vec<&str> = workflow
            .steps()
            .iter()
            .filter(|step| step.emits.contains(event))
            .map(|step| step.name.as_str())
            .collect();
        let mut event_types = vec![event.clone()];
        let base = match kind(event) {
            Some(EventKind::Start) => Some(names::START),
            Some(EventKind::Stop) => Some(names::STOP),
            Some(EventKind::InputRequired) => Some(names::INPUT_REQUIRED),
            Some(EventKind::HumanResponse) => Some(names::HUMAN_RESPONSE),
            _ => None,
        };
        if let Some(base) = base
            && base != event
        {
            event_types.push(base.to_string());
        }
        nodes.push(json!({
            "id": event,
            "label": event,
            "node_type": "event",
            "event_type": event,
            "event_types": event_types,
            "event_schema": event_schema(workflow, event),
            "produced_by": produced_by,
        }));
    }
    let asks = events
        .iter()
        .find(|event| kind(event) == Some(EventKind::InputRequired));
    let answers = events
        .iter()
        .find(|event| kind(event) == Some(EventKind::HumanResponse));
    if let (Some(asks), Some(answers)) = (asks, answers) {
        nodes.push(
            json!({ "id": "external_step", "label": "external_step", "node_type": "external" }),
        );
        edges.push(json!({ "source": asks, "target": "external_step", "label": Value::Null }));
        edges.push(json!({ "source": "external_step", "target": answers, "label": Value::Null }));
    }
    json!({
        "name": workflow.name(),
        "nodes": nodes,
        "edges": edges,
        "description": Value::Null,
    })
}
