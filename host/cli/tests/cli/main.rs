//! The `wflow` command line, run as a user would, on the example folders
//! (which it builds on demand). One test binary, a module per job; the
//! helpers every module uses are here.
//!
//! - `inspect`: `--help`, `validate` and `describe`; `draw`: pictures of
//!   a workflow.
//! - `run`: `wflow run` results, plain and as JSON lines, and prompts on stdin.
//! - `errors`: failures reach the user as one line naming their kind.
//! - `build`: guest folders in Rust, Python and JavaScript, the cache, and
//!   missing toolchains.
//! - `resume`: checkpoints: detached prompts, tampered files, runs killed
//!   mid-way.
//! - `serve`: `wflow serve` over HTTP, restarts on its database,
//!   `run --server`, and the reference Python client (`server` drives a
//!   `wflow serve` child).
//! - `crash`: `wflow serve` killed with SIGKILL while runs stream.
//! - `cluster`: three `wflow serve` hosts on one PostgreSQL database,
//!   killed one after another while runs go on.
//! - `guard`: what `wflow serve` refuses or warns about at start, and its
//!   memory after guests flood it.

mod build;
mod cluster;
mod crash;
mod draw;
mod errors;
mod guard;
mod inspect;
mod resume;
mod run;
mod serve;
mod server;
mod tenants;
mod traces;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs tests/python/client_check.py (the reference's Python client, unchanged)
/// against the server at `addr` with `args`; what it printed, once it passed.
pub fn client_check(addr: &str, args: &[&str]) -> String {
    let output = Command::new(client_python())
        .arg(examples().join("../tests/python/client_check.py"))
        .arg(format!("http://{addr}"))
        .args(args)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// The Python of the reference client's virtualenv (llama-agents-client,
/// installed by scripts/setup.sh).
fn client_python() -> PathBuf {
    let tools = wflow_build::tools_dir().expect("a tools folder: set WFLOW_TOOLS_DIR or HOME");
    let python = tools.join("client/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh to install llama-agents-client",
        python.display()
    );
    python
}

/// The example guests' folder, where every command runs.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples-guests")
}

/// The `wflow` binary, to run in the examples' folder.
pub fn wflow_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wflow"));
    command.current_dir(examples());
    command
}

/// Runs `wflow args`, writing `stdin` (if any) to it and then closing it.
pub fn wflow(args: &[&str], stdin: Option<&str>) -> Output {
    wflow_with_env(args, stdin, &[])
}

/// [`wflow`] with extra environment variables.
pub fn wflow_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let mut child = wflow_command()
        .args(args)
        .envs(env.iter().copied())
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

/// [`wflow`], which must succeed.
pub fn wflow_ok(args: &[&str], stdin: Option<&str>) -> Output {
    let output = wflow(args, stdin);
    assert_success(&output);
    output
}

/// [`wflow`], which must fail.
pub fn wflow_fails(args: &[&str], stdin: Option<&str>) -> Output {
    let output = wflow(args, stdin);
    assert_failure(&output);
    output
}

/// Asserts that the command succeeded, showing its stderr if not.
pub fn assert_success(output: &Output) {
    assert!(output.status.success(), "{}", stderr(output));
}

/// Asserts that the command failed, showing its stdout if not.
pub fn assert_failure(output: &Output) {
    assert!(!output.status.success(), "{}", stdout(output));
}

/// Asserts that `text` contains `needle`, showing `text` if not.
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `wflow-<stem>-<pid><suffix>` in the temporary folder: a path of this
/// test process's own.
pub fn scratch(stem: &str, suffix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wflow-{stem}-{}{suffix}", std::process::id()))
}
