//! Guests that break the step protocol: an undeclared event type, malformed
//! JSON in an event, a send to a step that does not exist.

use wflow_tests::step_failure;

use crate::attack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_event_type_is_refused() {
    let err = attack("undeclared", 30.0).await;
    assert_eq!(
        step_failure(&err).1,
        "UndeclaredEventError: step `attack` emitted a Ghost event, which it does not declare (it emits: StopEvent, Attack)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_in_an_event_is_refused() {
    let err = attack("malformed_json", 30.0).await;
    let message = step_failure(&err).1;
    assert!(
        message.starts_with("InvalidEventError: the payload of a StopEvent must be a JSON object:"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_missing_step_fails_the_step() {
    let err = attack("send_nowhere", 30.0).await;
    assert_eq!(
        step_failure(&err).1,
        "WorkflowRuntimeError: Step nowhere does not exist"
    );
}
