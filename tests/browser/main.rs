//! The web debugger `wflow serve` serves at `/`, driven in headless Chromium
//! (Debian's, through Playwright for Python: `debugger.py` next to this
//! file): the workflow list with its graphs, a `hitl` run started from the
//! form, its prompt answered, its result seen, and no request to any other
//! host. Set `WFLOW_SCREENSHOTS=DIR` to keep the screenshots (the ones in
//! docs/images/ were taken so).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use wflow_server::App;
use wflow_tests::workflow;

/// The Python with Playwright (scripts/setup.sh installs it next to the
/// reference's client) and Chromium, or `None` (outside CI) when either is
/// missing.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let tools = wflow_build::tools_dir().expect("a tools folder: set WFLOW_TOOLS_DIR or HOME");
    let python = tools.join("client/bin/python");
    let chromium = PathBuf::from(
        std::env::var_os("WFLOW_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    let has_playwright = std::process::Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let missing = match (has_playwright, chromium.exists()) {
        (true, true) => return Some((python, chromium)),
        (false, _) => format!(
            "Playwright is not installed in {} (scripts/setup.sh installs it)",
            python.display()
        ),
        (true, false) => format!(
            "no Chromium at {} (scripts/test-browser.sh installs Debian's)",
            chromium.display()
        ),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI runs the browser test: {missing}"
    );
    eprintln!("{missing}: the web debugger is not tested here");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debugger_starts_a_hitl_run_answers_it_and_shows_the_result() {
    let Some((python, chromium)) = browser_tools() else {
        return;
    };
    let app = App::new(vec![
        workflow("hitl").await,
        workflow("joke").await,
        workflow("fanout").await,
    ])
    .expect("app");
    let listener = wflow_server::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(wflow_server::serve(listener, app));

    let scratch = tempfile::tempdir().expect("temp dir");
    let screenshots = std::env::var_os("WFLOW_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/debugger.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg("--base-url")
        .arg(&base)
        .arg("--screenshots")
        .arg(&screenshots)
        .arg("--chromium")
        .arg(&chromium)
        .kill_on_drop(true)
        .output()
        .await
        .expect("runs the browser script");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser test failed:\n{report}"
    );
    assert!(report.contains("PASS"), "{report}");
    for shot in ["debugger-workflows.png", "debugger-run.png"] {
        let size = std::fs::metadata(screenshots.join(shot)).map_or(0, |meta| meta.len());
        assert!(size > 10_000, "{shot} is {size} bytes:\n{report}");
    }
}
