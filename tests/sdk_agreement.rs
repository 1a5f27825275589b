//! The three guest SDKs agree. One small workflow is written three times —
//! `examples-guests/testing/golden` (Rust), `golden-py` (Python) and
//! `golden-js` (JavaScript): a step with the default options, one with
//! workers, a retry policy and a timeout, typed events with fields of several
//! types (a nested one, an optional one), a custom stop event, a step waiting
//! for a `HumanResponseEvent`, a typed state. Built by the host, the three
//! components must describe themselves byte for byte alike (the
//! `component-info` the host gets), and run alike.
//!
//! What the SDKs share beyond the WIT (defaults, built-in event types) comes
//! from `wit/sdk-defaults.json`; the Python and JavaScript SDKs read
//! generated copies of it, checked here too.

use serde_json::{Value, json};
use wflow_core::{Event, WorkflowHandler};
use wflow_tests::{repo_root, source_workflow};

/// The golden workflow in each language: the language and the guest folder.
const GOLDEN: [(&str, &str); 3] = [
    ("Rust", "testing/golden"),
    ("Python", "testing/golden-py"),
    ("JavaScript", "testing/golden-js"),
];

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {relative}: {err}"))
}

/// Where `expected` and `actual` (pretty JSON) first differ, with the lines
/// around it, for a failure message that fits on a screen.
fn first_difference(expected: &str, actual: &str) -> String {
    let (expected, actual): (Vec<&str>, Vec<&str>) =
        (expected.lines().collect(), actual.lines().collect());
    let at = expected
        .iter()
        .zip(&actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let around = |lines: &[&str]| lines[at.saturating_sub(3)..(at + 3).min(lines.len())].join("\n");
    format!(
        "first difference at line {}:\n--- Rust\n{}\n--- this one\n{}",
        at + 1,
        around(&expected),
        around(&actual)
    )
}

#[test]
fn the_python_and_javascript_sdks_hold_the_text_of_sdk_defaults_json() {
    let source = read("wit/sdk-defaults.json");
    serde_json::from_str::<Value>(&source).expect("wit/sdk-defaults.json is JSON");
    for copy in [
        "guest-sdk/python/wflow/_sdk_defaults.py",
        "guest-sdk/js/sdk-defaults.js",
    ] {
        assert!(
            read(copy).contains(source.trim_end()),
            "{copy} does not hold the text of wit/sdk-defaults.json: run python3 scripts/sync-sdk-defaults.py"
        );
    }
}

/// Streams the run to its end, answering its prompt with `answer`; returns
/// the prompts, the result and the final state.
async fn run_to_end(handler: &WorkflowHandler, answer: &str) -> (Vec<Value>, Value, Value) {
    let mut prompts = Vec::new();
    let mut stream = handler.stream_events().expect("first stream");
    while let Some(event) = stream.next().await {
        if event.name == "InputRequiredEvent" {
            prompts.push(serde_json::from_str(&event.data).expect("a JSON payload"));
            let response =
                Event::new("HumanResponseEvent", &json!({ "response": answer })).unwrap();
            handler.send_event(response).unwrap();
        }
    }
    let result = handler.result().await.expect("the run succeeds").result;
    (prompts, result, handler.store().snapshot().as_ref().clone())
}

/// One test, so that the Python and JavaScript guests are built once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_workflow_describes_itself_byte_for_byte_and_runs_alike_in_the_three_languages()
{
    let mut workflows = Vec::new();
    for (language, guest) in GOLDEN {
        workflows.push((language, source_workflow(guest).await));
    }

    let described: Vec<(&str, String, String)> = workflows
        .iter()
        .map(|(language, workflow)| {
            let [component] = workflow.components() else {
                panic!("{language}: expected one component");
            };
            let info = &component.info;
            let compact = serde_json::to_string(info).expect("ComponentInfo serializes");
            let pretty = serde_json::to_string_pretty(info).expect("ComponentInfo serializes");
            (*language, compact, pretty)
        })
        .collect();
    let (_, rust, rust_pretty) = &described[0];
    for (language, compact, pretty) in &described[1..] {
        assert!(
            compact == rust,
            "the {language} SDK describes the golden workflow unlike the Rust SDK; {}",
            first_difference(rust_pretty, pretty)
        );
    }
    // The shared defaults are there: a step left alone has 4 workers and
    // neither retry policy nor timeout.
    let info: Value = serde_json::from_str(rust).unwrap();
    let take_order = &info["steps"][0];
    assert_eq!(take_order["name"], "take_order", "{info}");
    assert_eq!(
        (
            &take_order["num_workers"],
            &take_order["retry"],
            &take_order["timeout_ms"]
        ),
        (&json!(4), &Value::Null, &Value::Null),
        "{info}"
    );

    let input = json!({
        "id": "A-1", "quantity": 3, "price": 2.5, "tags": ["gift"], "customer": "Ada",
    });
    for (language, workflow) in &workflows {
        let handler = workflow.run(input.clone()).unwrap();
        let (prompts, result, state) = run_to_end(&handler, "yes").await;
        assert_eq!(
            prompts,
            [json!({"prefix": "Approve order A-1 for 7.5? "})],
            "{language}"
        );
        assert_eq!(
            result,
            json!({"order_id": "A-1", "total": 7.5, "approved": true, "reviewer": "yes"}),
            "{language}"
        );
        assert_eq!(
            state,
            json!({"orders": 1, "approvals": ["A-1"], "last_order": "A-1"}),
            "{language}"
        );
    }
}
