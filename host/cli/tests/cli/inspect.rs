//! The commands that look at a workflow without running it: `--help`,
//! `validate` and `describe`.

use crate::{assert_contains, stderr, stdout, wflow_fails, wflow_ok};

#[test]
fn help_lists_the_commands() {
    let text = stdout(&wflow_ok(&["--help"], None));
    for command in ["run", "validate", "describe"] {
        assert_contains(&text, command);
    }
}

#[test]
fn validate_names_the_unconsumed_event_and_exits_non_zero() {
    let output = wflow_fails(&["validate", "testing/invalid/workflow.toml"], None);
    let text = stderr(&output);
    assert_contains(&text, "WorkflowValidationError");
    assert_contains(&text, "Orphan");

    wflow_ok(&["validate", "joke"], None);
}

#[test]
fn describe_lists_steps_and_event_schemas() {
    let output = wflow_ok(&["describe", "fanout", "--json"], None);
    let description: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let steps = description["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1]["name"], "work");
    assert_eq!(steps[1]["num_workers"], 4);
    assert_eq!(
        description["events"]["Work"]["schema"]["properties"]["value"]["type"],
        "integer"
    );
}
