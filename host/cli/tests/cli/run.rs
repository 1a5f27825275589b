//! `wflow run` on the example folders: results printed plain and as JSON
//! lines, exact counts, and a prompt answered on stdin.

use crate::{assert_contains, scratch, stderr, stdout, wflow_fails, wflow_ok};

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
    // Idle while it waited for the answer, which came: nothing to say.
    assert!(!stderr(&output).contains("idle"), "{}", stderr(&output));
    // Everything typed is the answer but the line ending.
    let output = wflow_ok(&["run", "testing/waits"], Some("  Ada Lovelace \r\n"));
    assert_contains(&stdout(&output), "answered:   Ada Lovelace \n");
}

#[test]
fn an_idle_run_is_said_to_be_idle_with_what_it_waits_for() {
    // `wait_timeout` waits 1.5 s for an Approval no prompt asks for: the
    // run is idle meanwhile, and `wflow run` says so before the wait times
    // out.
    let input = r#"{"mode": "timeout", "ms": 1500}"#;
    let output = wflow_fails(
        &["run", "testing/waits", "--input", input, "--timeout", "30"],
        None,
    );
    let text = stderr(&output);
    assert_contains(
        &text,
        r#"The run is idle: no step is running and no event is queued. It waits for an event sent in from outside: "Approval", until the run's timeout (30 s)."#,
    );
    assert_contains(&text, "run with --checkpoint FILE --detach");
    let notice = text.find("The run is idle").expect("the notice");
    let failure = text
        .find("error: TimeoutError")
        .expect("the wait timed out");
    assert!(notice < failure, "{text}");
}

#[test]
fn an_answer_the_wait_does_not_take_leaves_the_run_idle_and_said_so() {
    // `confirm` waits for a HumanResponseEvent with response "yes": "no"
    // is typed, the run idles without asking anew, and `wflow run` says
    // what the wait would take before the run times out.
    let output = wflow_fails(&["run", "testing/confirm", "--timeout", "3"], Some("no\n"));
    let text = stderr(&output);
    assert_contains(
        &text,
        r#"It waits for an event sent in from outside: "HumanResponseEvent" with "response" = "yes", until the run's timeout (3 s)."#,
    );
    assert_contains(&text, "error: WorkflowTimeoutError");
    assert_eq!(text.matches("The run is idle").count(), 1, "{text}");
    // The answer it takes ends the run, and nothing is said of idling.
    let output = wflow_ok(&["run", "testing/confirm", "--timeout", "3"], Some("yes\n"));
    assert_eq!(stdout(&output).lines().last(), Some("confirmed"));
    assert!(!stderr(&output).contains("idle"), "{}", stderr(&output));
}

#[test]
fn hitl_with_closed_stdin_fails_instead_of_hanging() {
    let output = wflow_fails(&["run", "hitl"], None);
    assert_contains(&stderr(&output), "stdin is closed");
}

#[test]
fn a_context_file_carries_the_state_from_run_to_run() {
    let context = scratch("context", ".json");
    let _ = std::fs::remove_file(&context);
    let path = context.to_str().unwrap();
    let run = |n: &str| {
        let input = format!(r#"{{"n": {n}}}"#);
        wflow_ok(
            &["run", "state", "--input", &input, "--context", path],
            None,
        )
    };
    assert_eq!(stdout(&run("5")).trim(), r#"{"count":5}"#);
    assert_eq!(stdout(&run("3")).trim(), r#"{"count":8}"#);
    // Not a context: refused, naming the problem, and left as it was.
    std::fs::write(&context, r#"{"format": "x"}"#).unwrap();
    let output = wflow_fails(&["run", "state", "--context", path], None);
    assert_contains(
        &stderr(&output),
        "ContextSerdeError: the context is not a valid wflow context",
    );
    assert_eq!(
        std::fs::read_to_string(&context).unwrap(),
        r#"{"format": "x"}"#
    );
    let _ = std::fs::remove_file(&context);
}

#[test]
fn json_logs_are_one_object_per_line_naming_the_run() {
    let output = wflow_ok(&["run", "retry", "--verbose", "--log-format", "json"], None);
    let logs = stderr(&output);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    let retries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("retrying"))
        })
        .collect();
    assert!(!retries.is_empty(), "{logs}");
    for retry in retries {
        let run_id = retry["span"]["run_id"].as_str().unwrap_or_default();
        assert!(run_id.starts_with("run-"), "{retry}");
        assert_eq!(retry["span"]["workflow"], "retry");
    }
}
