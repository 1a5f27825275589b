//! `wflow serve --tenants` as an operator runs it, `wflow deploy` as a
//! tenant does, and the reference's Python client with a tenant's token.

use std::path::{Path, PathBuf};

use crate::server::Server;
use crate::{assert_contains, scratch, stderr, wflow_command, wflow_ok};

/// A new token and the tenants file line for it, from `wflow token`.
fn new_token(name: &str) -> (String, String) {
    let output = wflow_command()
        .args(["token", "--name", name])
        .output()
        .expect("wflow token runs");
    let token = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let entry = stderr(&output)
        .lines()
        .last()
        .expect("the line for the file")
        .trim()
        .to_string();
    (token, entry)
}

/// A tenants file in `dir` for tenants acme and globex; their tokens.
fn tenants_file(dir: &Path) -> (PathBuf, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let (acme, acme_entry) = new_token("ci");
    let (globex, globex_entry) = new_token("ci");
    let file = dir.join("tenants.toml");
    std::fs::write(
        &file,
        format!(
            "[tenants.acme]\ntokens = [{acme_entry}]\n[tenants.globex]\ntokens = [{globex_entry}]\n"
        ),
    )
    .unwrap();
    (file, acme, globex)
}

#[test]
fn the_reference_python_client_drives_a_tenant_with_its_token() {
    let dir = scratch("tenants-client", "");
    let (file, acme, _) = tenants_file(&dir);
    let server = Server::start(&[
        ".",
        "bench/ask",
        "--in-memory",
        "--tenants",
        file.to_str().unwrap(),
    ]);
    let text = crate::client_check(&server.addr, &["--token", &acme]);
    assert!(text.contains("ok 8 no token"), "{text}");
    assert!(text.contains("all 8 checks passed"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn deployments_and_the_runs_on_them_survive_a_restart() {
    let dir = scratch("tenants-deploy", "");
    let (file, acme, globex) = tenants_file(&dir);
    let db = dir.join("handlers.db");
    let args = [
        "--tenants",
        file.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    let server = Server::start(&args).with_token(&acme);
    let url = format!("http://{}", server.addr);
    // Version 1 asks for a name; it is deployed from its guest folder.
    let output = wflow_ok(
        &[
            "deploy",
            "bench/ask",
            "--name",
            "joke",
            "--server",
            &url,
            "--token",
            &acme,
        ],
        None,
    );
    assert_contains(&stderr(&output), "deployed joke version 1");
    let (status, body) = server.request(
        "POST",
        "/workflows/joke/run-nowait",
        r#"{"start_event": {"user": 1}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let waiting: serde_json::Value = serde_json::from_str(&body).unwrap();
    let waiting = waiting["handler_id"].as_str().unwrap().to_string();
    server.wait_for_event(&waiting, "InputRequiredEvent");
    // Version 2 tells a joke.
    let output = wflow_ok(
        &["deploy", "joke", "--server", &url, "--token", &acme],
        None,
    );
    assert_contains(&stderr(&output), "deployed joke version 2");
    drop(server);

    // Killed and started again on the same database: both versions, the
    // waiting run (on version 1), only for acme.
    let server = Server::start(&args).with_token(&acme);
    let listed = server.expect_status(200, "GET", "/deployments", "");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let versions: Vec<(u64, u64)> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["version"].as_u64().unwrap(),
                d["runs_in_flight"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(1, 1), (2, 0)], "{listed}");
    server.expect_status(
        200,
        "POST",
        &format!("/events/{waiting}"),
        r#"{"event": {"type": "HumanResponseEvent", "value": {"response": "Ada"}}}"#,
    );
    let ended = server.wait_ended(&waiting);
    assert_eq!(ended["status"], "completed", "{ended}");
    assert_contains(&ended["result"].to_string(), "Ada");
    let ran = server.expect_status(
        200,
        "POST",
        "/workflows/joke/run",
        r#"{"start_event": {"topic": "owls"}}"#,
    );
    assert_contains(&ran, "Why did the owls cross the road?");
    let server = server.with_token(&globex);
    server.expect_status(404, "GET", &format!("/handlers/{waiting}"), "");
    let theirs = server.expect_status(200, "GET", "/deployments", "");
    assert_eq!(theirs, r#"{"deployments":[]}"#);
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_server_whose_stderr_closed_answers_on_and_logs_nothing_to_it() {
    // `Server::start` closes the server's stderr once it has its address:
    // every refused token is logged there, and must neither kill the server
    // nor drop the request (it did both once).
    let dir = scratch("tenants-stderr", "");
    let (file, _, _) = tenants_file(&dir);
    let server = Server::start(&["joke", "--in-memory", "--tenants", file.to_str().unwrap()]);
    for _ in 0..3 {
        let refused = server.expect_status(401, "GET", "/workflows", "");
        assert_contains(&refused, "needs a token");
    }
    server.expect_status(200, "GET", "/health", "");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_audit_log_comes_as_json_lines_with_the_request_id() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = scratch("tenants-audit", "");
    let (file, _, _) = tenants_file(&dir);
    let mut child = wflow_command()
        .args(["serve", "joke", "--in-memory", "--log-format", "json"])
        .args(["--tenants", file.to_str().unwrap(), "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wflow starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.split_once(" on http://").map(|(_, a)| a.to_string()))
        .expect("the server's address");
    let mut stream = std::net::TcpStream::connect(&addr).expect("connects");
    write!(
        stream,
        "GET /handlers HTTP/1.1\r\nHost: {addr}\r\nx-request-id: audit-check-1\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_contains(&answer, "x-request-id: audit-check-1");
    let line = lines.next().expect("a log line").expect("readable");
    let _ = child.kill();
    let _ = child.wait();
    let logged: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(logged["target"], "wflow_audit", "{logged}");
    assert_eq!(logged["level"], "WARN");
    assert_eq!(logged["fields"]["message"], "token refused");
    assert_eq!(logged["fields"]["request_id"], "audit-check-1");
    assert_eq!(logged["fields"]["path"], "/handlers");
    std::fs::remove_dir_all(&dir).ok();
}
