//! `wflow run` on the example folders: results printed plain and as JSON
//! lines, exact counts, and a prompt answered on stdin.

use crate::{assert_contains, stderr, stdout, wflow_fails, wflow_ok};

#[test]
fn run_prints_the_joke_and_json_lines_parse() {
    let input = r#"{"topic":"pirates"}"#;
    let output = wflow_ok(&["run", "joke", "--input", input], None);
    assert_contains(&stdout(&output), "pirates");

    let output = wflow_ok(&["run", "joke", "--input", input, "--json"], None);
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let last = lines.last().expect("a result line");
    assert!(last["result"].as_str().unwrap().contains("pirates"));
}

#[test]
fn fanout_state_and_hitl_give_exact_results() {
    let output = wflow_ok(
        &["run", "fanout", "--input", r#"{"n": 1000}"#, "--json"],
        None,
    );
    assert_contains(&stdout(&output), r#""sum":499500"#);

    let output = wflow_ok(&["run", "state", "--input", r#"{"n": 500}"#], None);
    assert_eq!(stdout(&output).trim(), r#"{"count":500}"#);

    let output = wflow_ok(&["run", "hitl"], Some("Ada\n"));
    assert_contains(&stdout(&output), "Hello, Ada!");
    // Everything typed is the answer but the line ending.
    let output = wflow_ok(&["run", "testing/waits"], Some("  Ada Lovelace \r\n"));
    assert_contains(&stdout(&output), "answered:   Ada Lovelace \n");
}

#[test]
fn hitl_with_closed_stdin_fails_instead_of_hanging() {
    let output = wflow_fails(&["run", "hitl"], None);
    assert_contains(&stderr(&output), "stdin is closed");
}
