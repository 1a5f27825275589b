//! The `wflow` command line, run as a user would, on the example folders
//! (which it builds on demand).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples-guests")
}

fn wflow(args: &[&str], stdin: Option<&str>) -> Output {
    wflow_with_env(args, stdin, &[])
}

fn wflow_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(examples())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wflow starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wflow ends")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let output = wflow(&["--help"], None);
    assert!(output.status.success());
    let text = stdout(&output);
    for command in ["run", "validate", "describe"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn run_prints_the_joke_and_json_lines_parse() {
    let output = wflow(&["run", "joke", "--input", r#"{"topic":"pirates"}"#], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("pirates"));

    let output = wflow(
        &["run", "joke", "--input", r#"{"topic":"pirates"}"#, "--json"],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let last = lines.last().expect("a result line");
    assert!(last["result"].as_str().unwrap().contains("pirates"));
}

#[test]
fn fanout_state_and_hitl_give_exact_results() {
    let output = wflow(
        &["run", "fanout", "--input", r#"{"n": 1000}"#, "--json"],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(r#""sum":499500"#),
        "{}",
        stdout(&output)
    );

    let output = wflow(&["run", "state", "--input", r#"{"n": 500}"#], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), r#"{"count":500}"#);

    let output = wflow(&["run", "hitl"], Some("Ada\n"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Hello, Ada!"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn hitl_with_closed_stdin_fails_instead_of_hanging() {
    let output = wflow(&["run", "hitl"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("stdin is closed"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn validate_names_the_unconsumed_event_and_exits_non_zero() {
    let output = wflow(&["validate", "testing/invalid/workflow.toml"], None);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("WorkflowValidationError"), "{text}");
    assert!(text.contains("Orphan"), "{text}");

    let output = wflow(&["validate", "joke"], None);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn errors_are_one_line_naming_their_kind() {
    let output = wflow(
        &[
            "run",
            "testing/faulty",
            "--input",
            r#"{"mode":"slow","ms":5000}"#,
            "--timeout",
            "0.3",
        ],
        None,
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.starts_with("error: WorkflowTimeoutError: "), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");

    let output = wflow(&["run", "joke", "--input", "[1]"], None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--input must be a JSON object"));

    let output = wflow(&["run", "no-such-folder"], None);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no-such-folder does not exist"));
}

#[test]
fn a_step_error_reaches_the_caller_as_the_steps_own_error() {
    // A Python step raising ValueError("bad value: 42"): with --json the run
    // ends with that error, its kind the guest's exception type.
    let output = wflow(&["run", "testing/raises-py", "--json"], None);
    assert!(!output.status.success());
    let text = stdout(&output);
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a last line")).expect("JSON");
    assert_eq!(
        last,
        serde_json::json!({"error": {
            "kind": "ValueError",
            "message": "bad value: 42",
            "step": "first",
            "attempts": 1,
        }})
    );
    // Without --json, one line naming the workflow error's kind and the
    // step's error.
    assert_eq!(
        stderr(&output).trim_end(),
        "error: WorkflowStepError: step `first` failed: ValueError: bad value: 42"
    );
}

#[test]
fn describe_lists_steps_and_event_schemas() {
    let output = wflow(&["describe", "fanout", "--json"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let description: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let steps = description["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1]["name"], "work");
    assert_eq!(steps[1]["num_workers"], 4);
    assert_eq!(
        description["events"]["Work"]["schema"]["properties"]["value"]["type"],
        "integer"
    );
}

#[test]
fn run_builds_and_assembles_a_manifest_of_crate_folders() {
    let output = wflow(&["run", "testing/split", "--input", r#"{"n": 4}"#], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "8");
}

#[test]
fn cache_dir_and_clear() {
    let dir = std::env::temp_dir().join(format!("wflow-cli-cache-{}", std::process::id()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wflow"))
            .args(args)
            .current_dir(examples())
            .env("WFLOW_CACHE_DIR", &dir)
            .output()
            .expect("wflow runs")
    };
    let output = run(&["cache", "dir"]);
    assert_eq!(stdout(&output).trim(), dir.display().to_string());
    let output = run(&["run", "joke", "--input", r#"{"topic":"cache"}"#]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run(&["cache", "clear"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        format!("removed 1 compiled component(s) from {}", dir.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_detached_human_prompt_is_answered_by_resume() {
    let checkpoint = std::env::temp_dir().join(format!("wflow-hitl-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&checkpoint);
    let path = checkpoint.to_str().unwrap();
    let output = wflow(&["run", "hitl", "--checkpoint", path, "--detach"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("The workflow waits for input: What's your name?"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains(&format!("wflow resume {path} --send HumanResponseEvent")));
    let output = wflow(
        &[
            "resume",
            path,
            "--send",
            "HumanResponseEvent",
            r#"{"response":"Ada"}"#,
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "Hello, Ada!");
    // The finished run's checkpoint keeps its result.
    let output = wflow(&["resume", path], None);
    assert_eq!(stdout(&output).trim(), "Hello, Ada!");
    let _ = std::fs::remove_file(&checkpoint);
}

#[test]
fn a_tampered_checkpoint_is_refused_naming_the_problem() {
    let checkpoint = std::env::temp_dir().join(format!("wflow-bad-{}.json", std::process::id()));
    std::fs::write(
        &checkpoint,
        "{\"format\": \"wflow-snapshot\", \"version\": 7}",
    )
    .unwrap();
    let output = wflow(&["resume", checkpoint.to_str().unwrap()], None);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "error: ContextSerdeError: snapshot format version 7 is not supported (this host reads version 1)"
    );
    std::fs::write(&checkpoint, "{\"format\": \"wflow-snap").unwrap();
    let output = wflow(&["resume", checkpoint.to_str().unwrap()], None);
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

/// Kills the host at random moments of a run in progress, 20 times, resuming
/// from the checkpoint each time: the run must still count every increment
/// exactly once. Each kill waits for the run to checkpoint progress first
/// (then a random few milliseconds more), so kills land mid-run however slow
/// the machine is.
#[test]
fn a_run_killed_twenty_times_still_ends_with_the_exact_count() {
    let checkpoint = std::env::temp_dir().join(format!("wflow-crash-{}.json", std::process::id()));
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
        let args: Vec<&str> = if checkpoint.exists() {
            vec!["resume", &path]
        } else {
            vec![
                "run",
                "state",
                "--input",
                r#"{"n": 2000}"#,
                "--checkpoint",
                &path,
            ]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
            .args(&args)
            .current_dir(examples())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wflow starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while child.try_wait().expect("child status").is_none()
            && checkpointed_count(&checkpoint) <= before
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the run made no progress in 120 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(0..30)));
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
                assert!(text.contains(r#"\"count\":2000"#), "{text}");
                std::fs::remove_file(&checkpoint).unwrap();
            }
        }
    }
    // Let it finish.
    let output = if checkpoint.exists() {
        wflow(&["resume", &path], None)
    } else {
        wflow(
            &[
                "run",
                "state",
                "--input",
                r#"{"n": 2000}"#,
                "--checkpoint",
                &path,
            ],
            None,
        )
    };
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), r#"{"count":2000}"#);
    assert!(
        mid_run_resumes >= 10,
        "only {mid_run_resumes} killed resumes had started from a run in progress"
    );
    let _ = std::fs::remove_file(&checkpoint);
}

#[test]
fn python_and_javascript_guests_build_and_run_from_their_folders() {
    for folder in ["joke-py", "joke-js"] {
        let output = wflow(&["run", folder, "--input", r#"{"topic": "pirates"}"#], None);
        assert!(output.status.success(), "{folder}: {}", stderr(&output));
        assert!(
            stdout(&output).contains("pirates"),
            "{folder}: {}",
            stdout(&output)
        );
    }
    let output = wflow(&["build", "fanout-py"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let component = PathBuf::from(stdout(&output).trim());
    assert!(
        component.extension().is_some_and(|e| e == "wasm") && component.is_file(),
        "{}",
        component.display()
    );
    let output = wflow(
        &[
            "run",
            component.to_str().unwrap(),
            "--input",
            r#"{"n": 1000}"#,
        ],
        None,
    );
    assert_eq!(stdout(&output).trim(), r#"{"count":1000,"sum":499500}"#);
}

#[test]
fn build_names_a_missing_toolchain_and_how_to_install_it() {
    let nowhere = std::env::temp_dir().join(format!("wflow-no-tools-{}", std::process::id()));
    let nowhere = nowhere.to_str().unwrap();
    let env = [("WFLOW_TOOLS_DIR", nowhere), ("PATH", "/usr/bin:/bin")];
    let output = wflow_with_env(&["build", "joke-py"], None, &env);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.starts_with("error: WorkflowLoadError: componentize-py")
            && text.contains("pip install componentize-py==0.25.1"),
        "{text}"
    );
    let output = wflow_with_env(&["build", "joke-js"], None, &env);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("@bytecodealliance/componentize-js") && text.contains("npm install --prefix"),
        "{text}"
    );
    let output = wflow(&["build", "testing"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is not a guest folder"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn serve_answers_http_on_the_address_it_prints() {
    let server = Server::start(&["joke", "--in-memory"]);
    let (status, body) = server.request("GET", "/health", "");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"healthy"}"#));
    let (status, body) = server.request(
        "POST",
        "/workflows/joke/run",
        r#"{"start_event": {"topic": "pirates"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""status":"completed""#) && body.contains("pirates"),
        "{body}"
    );
}

/// A `wflow serve` child and the address it listens on.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_wflow"))
            .arg("serve")
            .args(args)
            .args(["--bind", "127.0.0.1:0"])
            .current_dir(examples())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wflow starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        while stderr.read_line(&mut line).expect("stderr is readable") > 0 {
            if let Some((_, url)) = line.trim().split_once(" on http://") {
                let addr = url.to_string();
                return Self { child, addr };
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server printed no address");
    }

    /// One request; the status code and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("connects");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let status = response[9..12].parse().expect("a status code");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Reads the handler's event stream until `needle` shows up.
    fn wait_for_event(&self, handler: &str, needle: &str) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("a timeout");
        write!(
            stream,
            "GET /events/{handler}?after_sequence=-1&sse=false HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .expect("sends");
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let read = stream.read(&mut buffer).expect("the stream goes on");
            assert!(read > 0, "the stream ended without {needle}");
            seen.extend_from_slice(&buffer[..read]);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_answers_a_waiting_run_after_being_killed_and_restarted_on_its_database() {
    let dir = std::env::temp_dir().join(format!("wflow-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handlers.db");
    let db = db.to_str().unwrap();

    let server = Server::start(&["bench/ask", "joke", "hitl", "--db", db]);
    let (status, _) = server.request(
        "POST",
        "/workflows/joke/run",
        r#"{"handler_id": "done", "start_event": {"topic": "pirates"}}"#,
    );
    assert_eq!(status, 200);
    let (status, body) = server.request(
        "POST",
        "/workflows/ask/run-nowait",
        r#"{"handler_id": "waiting", "start_event": {"user": 5}}"#,
    );
    assert_eq!(status, 200, "{body}");
    server.wait_for_event("waiting", "InputRequiredEvent");
    // The `hitl` example asks from inside its step (`ctx.wait_for_event`).
    let (status, body) = server.request(
        "POST",
        "/workflows/hitl/run-nowait",
        r#"{"handler_id": "asking"}"#,
    );
    assert_eq!(status, 200, "{body}");
    server.wait_for_event("asking", "What's your name?");
    // Let the checkpoints of the waiting runs land, then kill -9.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(server);

    let server = Server::start(&["bench/ask", "joke", "hitl", "--db", db]);
    let (status, body) = server.request("GET", "/handlers/done", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pirates"), "{body}");
    let (status, body) = server.request("GET", "/handlers/waiting", "");
    assert_eq!(status, 202, "{body}");
    assert!(body.contains(r#""status":"running""#), "{body}");
    let (status, body) = server.request(
        "POST",
        "/events/waiting",
        r#"{"event": {"type": "HumanResponseEvent", "value": {"_data": {"response": "Ada"}}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    server.wait_for_event("waiting", "Hello, Ada!");
    let (status, body) = server.request("GET", "/handlers/waiting", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"completed""#), "{body}");
    // The stream kept its sequence: the prompt before the restart, the
    // stop event after it.
    let (status, body) = server.request("GET", "/events/waiting?after_sequence=-1&sse=false", "");
    assert_eq!(status, 200);
    let types: Vec<String> = body
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        types,
        [r#""InputRequiredEvent""#, r#""StopEvent""#],
        "{body}"
    );
    // The step blocked in wait_for_event asks again after the restart
    // without a second prompt, and takes the answer.
    let (status, body) = server.request("GET", "/handlers/asking", "");
    assert_eq!(status, 202, "{body}");
    let (status, body) = server.request(
        "POST",
        "/events/asking",
        r#"{"event": {"type": "HumanResponseEvent", "value": {"response": "Grace"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    server.wait_for_event("asking", "Hello, Grace!");
    let (_, body) = server.request("GET", "/events/asking?after_sequence=-1&sse=false", "");
    assert_eq!(
        body.matches(r#""type":"InputRequiredEvent""#).count(),
        1,
        "{body}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_with_server_drives_a_run_on_the_server_and_answers_its_prompt_from_stdin() {
    let server = Server::start(&["bench/ask", "joke", "--in-memory"]);
    let url = format!("http://{}", server.addr);
    let output = wflow(
        &["run", "--server", &url, "ask", "--input", r#"{"user": 2}"#],
        Some("Ada\n"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("[InputRequiredEvent]"), "{text}");
    assert!(text.trim_end().ends_with("Hello, Ada!"), "{text}");
    assert!(stderr(&output).contains("name?"), "{}", stderr(&output));

    let output = wflow(&["run", "--server", &url, "nope"], None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("404 Not Found: Workflow not found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_reference_python_client_drives_wflow_serve_unchanged() {
    let tools = std::env::var_os("WFLOW_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share/wflow/tools")
        });
    let python = tools.join("client/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh to install llama-agents-client",
        python.display()
    );
    // The whole examples folder, as a user would serve it, and the
    // benchmark's `ask`.
    let server = Server::start(&[".", "bench/ask", "--in-memory"]);
    let script = examples().join("../tests/python/client_check.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{}", server.addr))
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("all 7 checks passed"), "{text}");
}
