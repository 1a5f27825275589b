//! How failures reach the user: one line on stderr naming the error's kind,
//! and with `--json` the failing step's own error.

use crate::{assert_contains, stderr, stdout, wflow_fails};

#[test]
fn errors_are_one_line_naming_their_kind() {
    let output = wflow_fails(
        &[
            "run",
            "testing/faulty",
            "--input",
            r#"{"mode":"slow","ms":5000}"#,
            "--timeout",
            "0.3",
        ],
        None,
    );
    let text = stderr(&output);
    assert!(text.starts_with("error: WorkflowTimeoutError: "), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");

    let output = wflow_fails(&["run", "joke", "--input", "[1]"], None);
    assert_contains(&stderr(&output), "--input must be a JSON object");

    let output = wflow_fails(&["run", "no-such-folder"], None);
    assert_contains(&stderr(&output), "no-such-folder does not exist");
}

#[test]
fn a_step_error_reaches_the_caller_as_the_steps_own_error() {
    // A Python step raising ValueError("bad value: 42"): with --json the run
    // ends with that error, its kind the guest's exception type.
    let output = wflow_fails(&["run", "testing/raises-py", "--json"], None);
    let text = stdout(&output);
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a last line")).expect("JSON");
    assert_eq!(
        last,
        serde_json::json!({"error": {
            "kind": "ValueError",
            "message": "bad value: 42",
            "step": "first",
            "attempts": 1,
        }})
    );
    // Without --json, one line: the step's own error, as the reference
    // raises it, then the step.
    assert_eq!(
        stderr(&output).trim_end(),
        "error: ValueError: bad value: 42 (step `first`)"
    );
}
