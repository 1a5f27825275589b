//! Checkpoints and `wflow resume`: a detached prompt answered later, a
//! tampered checkpoint refused, and a run killed twenty times that still
//! counts exactly.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{
    assert_contains, assert_success, scratch, stderr, stdout, wflow, wflow_command, wflow_fails,
    wflow_ok,
};

#[test]
fn a_detached_human_prompt_is_answered_by_resume() {
    let checkpoint = scratch("hitl", ".json");
    let _ = std::fs::remove_file(&checkpoint);
    let path = checkpoint.to_str().unwrap();
    let output = wflow_ok(&["run", "hitl", "--checkpoint", path, "--detach"], None);
    let text = stderr(&output);
    assert_contains(&text, "The workflow waits for input: What's your name?");
    assert_contains(
        &text,
        &format!("wflow resume {path} --send HumanResponseEvent"),
    );
    let output = wflow_ok(
        &[
            "resume",
            path,
            "--send",
            "HumanResponseEvent",
            r#"{"response":"Ada"}"#,
        ],
        None,
    );
    assert_eq!(stdout(&output).trim(), "Hello, Ada!");
    // The finished run's checkpoint keeps its result.
    let output = wflow(&["resume", path], None);
    assert_eq!(stdout(&output).trim(), "Hello, Ada!");
    let _ = std::fs::remove_file(&checkpoint);
}

#[test]
fn an_answer_the_waiter_does_not_take_leaves_the_run_waiting_and_saved() {
    // `wait_require` waits for Ada's Approval: Bob's is sent in, the run
    // goes on waiting without asking anew, and `--detach` saves it again
    // rather than wait for its timeout.
    let checkpoint = scratch("waits", ".json");
    let _ = std::fs::remove_file(&checkpoint);
    let path = checkpoint.to_str().unwrap();
    let require = r#"{"mode": "require"}"#;
    let output = wflow_ok(
        &[
            "run",
            "testing/waits",
            "--input",
            require,
            "--checkpoint",
            path,
            "--detach",
        ],
        None,
    );
    assert_contains(
        &stderr(&output),
        "The workflow waits for input: Ada must approve",
    );
    let bob = r#"{"user": "bob", "ok": true}"#;
    // (Waiting out the timeout instead would end the run with an error.)
    let output = wflow_ok(
        &["resume", path, "--send", "Approval", bob, "--detach"],
        None,
    );
    assert_contains(
        &stderr(&output),
        "The workflow waits for input: the run waits for an event sent in from outside",
    );
    let ada = r#"{"user": "ada", "ok": true}"#;
    let output = wflow_ok(&["resume", path, "--send", "Approval", ada], None);
    assert_eq!(stdout(&output).trim(), r#"{"ok":true,"user":"ada"}"#);
    let _ = std::fs::remove_file(&checkpoint);
}

#[test]
fn a_tampered_checkpoint_is_refused_naming_the_problem() {
    let checkpoint = scratch("bad", ".json");
    let path = checkpoint.to_str().unwrap();
    std::fs::write(
        &checkpoint,
        "{\"format\": \"wflow-snapshot\", \"version\": 7}",
    )
    .unwrap();
    let output = wflow_fails(&["resume", path], None);
    assert_eq!(
        stderr(&output).trim(),
        "error: ContextSerdeError: snapshot format version 7 is not supported (this host reads version 1)"
    );
    std::fs::write(&checkpoint, "{\"format\": \"wflow-snap").unwrap();
    let output = wflow(&["resume", path], None);
    assert!(
        stderr(&output).starts_with("error: ContextSerdeError: the snapshot is not valid JSON"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_file(&checkpoint);
}

/// The count a checkpoint file holds, if it holds a readable one.
fn checkpointed_count(checkpoint: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(checkpoint).ok()?;
    let saved: serde_json::Value = serde_json::from_str(&text).ok()?;
    saved["state"]["count"].as_u64()
}

/// The arguments that carry the count to 20,000 on: `resume` from the
/// checkpoint at `path` if there is one, else a fresh `run` checkpointing
/// there.
fn count_to_20000(path: &str) -> Vec<&str> {
    if Path::new(path).exists() {
        vec!["resume", path]
    } else {
        vec![
            "run",
            "state",
            "--input",
            r#"{"n": 20000}"#,
            "--checkpoint",
            path,
        ]
    }
}

/// Kills the host at random moments of a run in progress, 20 times, resuming
/// from the checkpoint each time: the run must still count every increment
/// exactly once. Each kill waits for the run to checkpoint progress first
/// (then a random few milliseconds more), so kills land mid-run however slow
/// the machine is; the run is long enough (20,000 increments, several
/// checkpoint intervals even on a fast machine) for most kills to land
/// between two checkpoints of progress.
#[test]
fn a_run_killed_twenty_times_still_ends_with_the_exact_count() {
    let checkpoint = scratch("crash", ".json");
    let _ = std::fs::remove_file(&checkpoint);
    let path = checkpoint.to_str().unwrap().to_string();
    // Build the guest once, so the kills land in the run, not in cargo.
    assert!(wflow(&["validate", "state"], None).status.success());
    let mut rng = fastrand::Rng::with_seed(7);
    let mut kills = 0;
    let mut attempts = 0;
    let mut mid_run_resumes = 0;
    while kills < 20 {
        attempts += 1;
        assert!(
            attempts < 200,
            "the run kept finishing before it could be killed"
        );
        let before = checkpointed_count(&checkpoint);
        let mut child = wflow_command()
            .args(count_to_20000(&path))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wflow starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait().expect("child status").is_none()
            && checkpointed_count(&checkpoint) <= before
        {
            assert!(
                Instant::now() < deadline,
                "the run made no progress in 120 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.u64(0..30)));
        if child.try_wait().expect("child status").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
            if before.is_some_and(|count| count > 0) {
                mid_run_resumes += 1;
            }
        }
        child.wait().expect("reaped");
        if checkpoint.exists() {
            let text = std::fs::read_to_string(&checkpoint).unwrap();
            if text.contains("\"status\": \"completed\"") {
                // Finished between kills: start over to keep killing.
                assert!(text.contains(r#"\"count\":20000"#), "{text}");
                std::fs::remove_file(&checkpoint).unwrap();
            }
        }
    }
    // Let it finish.
    let output = wflow(&count_to_20000(&path), None);
    assert_success(&output);
    assert_eq!(stdout(&output).trim(), r#"{"count":20000}"#);
    assert!(
        mid_run_resumes >= 10,
        "only {mid_run_resumes} killed resumes had started from a run in progress"
    );
    let _ = std::fs::remove_file(&checkpoint);
}
