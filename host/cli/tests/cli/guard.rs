//! What `wflow serve` refuses or warns about at start, and what guests
//! flooding it leave of its memory.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use bytesize::ByteSize;

use crate::server::Server;
use crate::{assert_contains, scratch, stderr, wflow_command, wflow_fails};

#[test]
fn a_second_server_on_one_database_refuses_to_start_naming_it() {
    let dir = scratch("guard-db", "");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let db = db.to_str().unwrap();
    let first = Server::start(&["joke", "--db", db]);
    let output = wflow_fails(
        &["serve", "joke", "--db", db, "--bind", "127.0.0.1:0"],
        None,
    );
    let text = stderr(&output);
    assert_contains(&text, "is in use by another wflow process");
    assert_contains(&text, "give this one another --db");
    // The first one serves on.
    first.expect_status(200, "GET", "/health", "");
    drop(first);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bind_reachable_from_other_machines_is_warned_about() {
    let mut child = wflow_command()
        .args(["serve", "joke", "--in-memory", "--bind", "0.0.0.0:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wflow starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut before_serving = String::new();
    for line in stderr.lines() {
        let line = line.expect("stderr is readable");
        if line.contains(" on http://") {
            break;
        }
        before_serving.push_str(&line);
        before_serving.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_contains(&before_serving, "is reachable from other machines");
    assert_contains(&before_serving, "no authentication");
}

/// What the server may hold above its resident memory before the floods,
/// once they are over.
const LEFT_AFTER_FLOODS: ByteSize = ByteSize::mib(128);

#[test]
fn guest_floods_leave_the_servers_memory_bounded() {
    // Three rounds of four runs each streaming 100 events of 1 MiB at once:
    // 1.2 GiB through a server on SQLite. What it holds after each round
    // stays within a bound, and every run completes.
    let dir = scratch("guard-floods", "");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let server = Server::start(&["hostile", "joke", "--db", db.to_str().unwrap()]);
    server.expect_status(
        200,
        "POST",
        "/workflows/joke/run",
        r#"{"start_event": {"topic": "warm-up"}}"#,
    );
    let before = server.rss();
    for round in 0..3 {
        let ids: Vec<String> = (0..4)
            .map(|_| {
                let body = server.expect_status(
                    200,
                    "POST",
                    "/workflows/hostile/run-nowait",
                    r#"{"start_event": {"mode": "stream_mib", "mib": 100}}"#,
                );
                let handler: serde_json::Value = serde_json::from_str(&body).unwrap();
                handler["handler_id"].as_str().unwrap().to_string()
            })
            .collect();
        for id in &ids {
            let record = server.wait_ended(id);
            assert_eq!(record["status"], "completed", "{record}");
        }
        server.expect_status(200, "GET", "/health", "");
        let after = server.rss();
        eprintln!("round {round}: resident {after} (before the floods {before})");
        assert!(
            after.as_u64() < before.as_u64() + LEFT_AFTER_FLOODS.as_u64(),
            "round {round}: the server holds {after} after the floods, {before} before"
        );
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}
