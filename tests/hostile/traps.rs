//! Guests that crash: a stack overflow, `unreachable` and a panic trap, and
//! the panic's message is kept.

use wflow_core::FailureCause;
use wflow_tests::step_failure;

use crate::{assert_failure, attack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_traps() {
    let err = attack("stack_overflow", 30.0).await;
    assert_failure(
        &err,
        "attack",
        "WasmTrap",
        "wasm trap: call stack exhausted",
        FailureCause::Trap,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_traps() {
    let err = attack("unreachable", 30.0).await;
    assert_failure(
        &err,
        "attack",
        "WasmTrap",
        "wasm trap: wasm `unreachable` instruction executed",
        FailureCause::Trap,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_traps_and_its_message_is_kept() {
    let err = attack("panic", 30.0).await;
    let (step, message) = step_failure(&err);
    assert_eq!(step, "attack");
    assert!(
        message.starts_with("WasmTrap: wasm trap: wasm `unreachable` instruction executed"),
        "{message}"
    );
    assert!(message.contains("hostile guest panics"), "{message}");
}
