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
fn a_bind_reachable_from_other_machines_needs_tokens_or_insecure_no_auth() {
    let output = wflow_fails(
        &["serve", "joke", "--in-memory", "--bind", "0.0.0.0:0"],
        None,
    );
    let text = stderr(&output);
    assert_contains(&text, "0.0.0.0:0 is reachable from other machines");
    assert_contains(&text, "--tenants FILE");
    assert_contains(&text, "--insecure-no-auth");

    let dir = scratch("guard-bind", "");
    std::fs::create_dir_all(&dir).unwrap();
    let tenants = dir.join("tenants.toml");
    std::fs::write(&tenants, "[tenants.acme]\n").unwrap();
    let output = wflow_fails(
        &[
            "serve",
            "joke",
            "--in-memory",
            "--bind",
            "0.0.0.0:0",
            "--tenants",
            tenants.to_str().unwrap(),
        ],
        None,
    );
    assert_contains(&stderr(&output), "gives no token");

    let before_serving = stderr_until_serving(&["--insecure-no-auth"]);
    assert_contains(&before_serving, "is reachable from other machines");
    assert_contains(&before_serving, "no authentication");

    let token = wflow_command()
        .args(["token", "--name", "ci"])
        .output()
        .expect("wflow token runs");
    let hash_line = stderr(&token);
    let entry = hash_line
        .lines()
        .last()
        .expect("the line for the file")
        .trim();
    std::fs::write(&tenants, format!("[tenants.acme]\ntokens = [{entry}]\n")).unwrap();
    let before_serving = stderr_until_serving(&["--tenants", tenants.to_str().unwrap()]);
    assert!(
        !before_serving.contains("no authentication"),
        "with tokens there is nothing to warn about: {before_serving}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// What `wflow serve joke --in-memory --bind 0.0.0.0:0 ARGS` prints before
/// it serves; the server is then stopped.
fn stderr_until_serving(args: &[&str]) -> String {
    let mut child = wflow_command()
        .args(["serve", "joke", "--in-memory", "--bind", "0.0.0.0:0"])
        .args(args)
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
    before_serving
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
