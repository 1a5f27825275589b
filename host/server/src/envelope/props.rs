//! Property tests of the HTTP event parser: random JSON, and valid
//! envelopes with random damage, sent as a start event and as an event to a
//! run. None may panic; every refusal names its problem.

use proptest::prelude::*;
use serde_json::json;
use wflow_tests::props::{any_json, damaged_json, json_damage, runner};

use super::parse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_event_parser_refuses_damage_with_a_reason_and_never_panics() {
    let waits = wflow_tests::workflow("waits").await;
    let seeds = [
        json!({"type": "Approval", "value": {"user": "ada", "ok": true}}),
        json!({"qualified_name": "app.Approval", "value": {"_data": {"user": "ada"}, "ok": false}}),
        json!({"type": "StartEvent", "data": {"mode": "require"}}),
        json!({"mode": "timeout", "ms": 10}),
    ];
    for seed in &seeds {
        parse(&waits, seed, true).expect("a seed parses");
    }
    let mut runner = runner(3_000);
    runner
        .run(
            &(0..seeds.len(), json_damage(), any::<bool>()),
            |(seed, damage, start)| {
                let doc = damaged_json(&seeds[seed], &damage);
                for input in [doc.clone(), doc.to_string().into()] {
                    if let Err(err) = parse(&waits, &input, start) {
                        prop_assert!(!err.to_string().is_empty());
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    runner
        .run(&(any_json(), any::<bool>()), |(input, start)| {
            if let Err(err) = parse(&waits, &input, start) {
                prop_assert!(!err.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}
