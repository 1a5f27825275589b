//! Building guests: a manifest of crate folders, Python and JavaScript
//! folders, the compiled-component cache, and a missing toolchain named with
//! how to install it.

use std::path::PathBuf;

use crate::{
    assert_contains, assert_failure, assert_success, scratch, stderr, stdout, wflow, wflow_fails,
    wflow_ok, wflow_with_env,
};

#[test]
fn run_builds_and_assembles_a_manifest_of_crate_folders() {
    let output = wflow_ok(&["run", "testing/split", "--input", r#"{"n": 4}"#], None);
    assert_eq!(stdout(&output).trim(), "8");
}

#[test]
fn cache_dir_and_clear() {
    let dir = scratch("cli-cache", "");
    let env = [("WFLOW_CACHE_DIR", dir.to_str().unwrap())];
    let output = wflow_with_env(&["cache", "dir"], None, &env);
    assert_eq!(stdout(&output).trim(), dir.display().to_string());
    let output = wflow_with_env(
        &["run", "joke", "--input", r#"{"topic":"cache"}"#],
        None,
        &env,
    );
    assert_success(&output);
    let output = wflow_with_env(&["cache", "clear"], None, &env);
    assert_success(&output);
    assert_eq!(
        stdout(&output).trim(),
        format!("removed 1 compiled component(s) from {}", dir.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
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
    let output = wflow_ok(&["build", "fanout-py"], None);
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
    let nowhere = scratch("no-tools", "");
    let env = [
        ("WFLOW_TOOLS_DIR", nowhere.to_str().unwrap()),
        ("PATH", "/usr/bin:/bin"),
    ];
    let output = wflow_with_env(&["build", "joke-py"], None, &env);
    assert_failure(&output);
    let text = stderr(&output);
    assert!(
        text.starts_with("error: WorkflowLoadError: componentize-py")
            && text.contains("pip install componentize-py==0.25.1"),
        "{text}"
    );
    let output = wflow_with_env(&["build", "joke-js"], None, &env);
    assert_failure(&output);
    let text = stderr(&output);
    assert!(
        text.contains("@bytecodealliance/componentize-js") && text.contains("npm install --prefix"),
        "{text}"
    );
    let output = wflow_fails(&["build", "testing"], None);
    assert_contains(&stderr(&output), "is not a guest folder");
}

#[test]
fn a_build_that_failed_fails_again_at_once_until_its_inputs_change() {
    let cache = scratch("failed-build-cache", "");
    let guest = scratch("failed-build-guest", "");
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&guest).unwrap();
    std::fs::write(
        guest.join("pyproject.toml"),
        "[project]\nname = \"broken\"\nversion = \"0.1.0\"\n\n[tool.wflow]\nmodule = \"app\"\n",
    )
    .unwrap();
    std::fs::write(guest.join("app.py"), "def broken(:\n    pass\n").unwrap();
    let env = [("WFLOW_CACHE_DIR", cache.to_str().unwrap())];
    let path = guest.to_str().unwrap();
    let first = wflow_with_env(&["run", path], None, &env);
    assert_failure(&first);
    // The user's file and line, not the build tool's traceback.
    assert_contains(
        &stderr(&first),
        &format!("does not load: SyntaxError: {path}/app.py:1: invalid syntax"),
    );
    assert!(!stderr(&first).contains("Traceback"), "{}", stderr(&first));
    // The same inputs: the same error, from the cache.
    let again = wflow_with_env(&["run", path], None, &env);
    assert_failure(&again);
    assert_contains(&stderr(&again), "SyntaxError");
    assert_contains(&stderr(&again), "the last build of these very inputs gave");
    // Changed inputs are built again. A bad step is reported as the
    // reference reports it, at the step's line.
    let bad_step = "from wflow import StartEvent, StopEvent, Workflow, step\n\n\n\
                    class Bad(Workflow):\n    @step\n    async def no_return(self, ev: StartEvent):\n\
                    \x20       return StopEvent(result=1)\n";
    std::fs::write(guest.join("app.py"), bad_step).unwrap();
    let changed = wflow_with_env(&["run", path], None, &env);
    assert_failure(&changed);
    assert_contains(
        &stderr(&changed),
        &format!(
            "error: WorkflowValidationError: {path}/app.py:5: step `no_return`: Return types of \
             workflows step functions must be annotated"
        ),
    );
    assert!(
        !stderr(&changed).contains("the last build of these very inputs gave"),
        "{}",
        stderr(&changed)
    );
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&guest);
}

#[test]
fn a_javascript_step_the_sdk_refuses_is_reported_at_the_users_line_and_kept() {
    let cache = scratch("refused-js-cache", "");
    let guest = scratch("refused-js-guest", "");
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&guest).unwrap();
    std::fs::write(
        guest.join("package.json"),
        r#"{"name": "refused", "version": "0.1.0", "type": "module", "main": "app.js"}"#,
    )
    .unwrap();
    // A plain function where a step(...) is expected.
    let app = "import { Workflow, StopEvent } from \"wflow\";\n\n\
               const go = (ctx, ev) => new StopEvent({ result: 1 });\n\n\
               export default new Workflow({ steps: { go } });\n";
    std::fs::write(guest.join("app.js"), app).unwrap();
    let env = [("WFLOW_CACHE_DIR", cache.to_str().unwrap())];
    let path = guest.to_str().unwrap();
    let first = wflow_with_env(&["run", path], None, &env);
    assert_failure(&first);
    assert_eq!(
        stderr(&first).trim(),
        format!(
            "error: WorkflowLoadError: the JavaScript guest in {path} does not load: TypeError: \
             {path}/app.js:5: step go: declare what it accepts and emits with step({{ accepts, \
             emits }}, fn)"
        )
    );
    // Kept with its inputs: the same error at once, without a build.
    let again = wflow_with_env(&["run", path], None, &env);
    assert_failure(&again);
    assert_contains(
        &stderr(&again),
        "app.js:5: step go: declare what it accepts",
    );
    assert_contains(&stderr(&again), "the last build of these very inputs gave");
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&guest);
}
