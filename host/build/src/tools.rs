//! Finding the toolchains that turn Python and JavaScript into components.
//!
//! Each tool is looked for, in order: in the environment variable naming it,
//! in wflow's tools folder (`$WFLOW_TOOLS_DIR`, else
//! `~/.local/share/wflow/tools`, where `scripts/setup.sh` installs the pinned
//! versions), then on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use wflow_core::{Result, WorkflowError};

/// The componentize-py release wflow's Python SDK is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release wflow's JavaScript SDK is built and tested with.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// wflow's tools folder: `$WFLOW_TOOLS_DIR`, else
/// `~/.local/share/wflow/tools`.
pub fn tools_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WFLOW_TOOLS_DIR") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share/wflow/tools"))
}

fn on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The error for a missing tool: where it was looked for and how to
/// install it.
fn missing(tool: &str, looked: &[String], install: &str) -> WorkflowError {
    WorkflowError::Load(format!(
        "{tool} is not installed (looked for {}). Install it with `./scripts/setup.sh` from the wflow repository, or by hand: {install}",
        looked.join(", ")
    ))
}

/// The `componentize-py` executable: `$WFLOW_COMPONENTIZE_PY`, the tools
/// folder's `python/bin/componentize-py`, or `componentize-py` on `PATH`.
pub fn componentize_py() -> Result<PathBuf> {
    if let Some(path) = from_env("WFLOW_COMPONENTIZE_PY") {
        return Ok(path);
    }
    let in_tools = tools_dir().map(|dir| dir.join("python/bin/componentize-py"));
    if let Some(path) = in_tools.as_ref().filter(|p| p.is_file()) {
        return Ok(path.clone());
    }
    on_path("componentize-py").ok_or_else(|| {
        missing(
            "componentize-py (needed to build a Python guest)",
            &in_tools
                .iter()
                .map(|p| p.display().to_string())
                .chain(["componentize-py on PATH".to_string()])
                .collect::<Vec<_>>(),
            &format!(
                "`python3 -m venv ~/.local/share/wflow/tools/python && ~/.local/share/wflow/tools/python/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}`"
            ),
        )
    })
}

/// What building a JavaScript guest needs: `node`, and the installed
/// `@bytecodealliance/componentize-js` package.
pub struct JsToolchain {
    /// The `node` executable.
    pub node: OsString,
    /// The componentize-js package folder (`.../node_modules/@bytecodealliance/componentize-js`).
    pub componentize_js: PathBuf,
}

/// Finds node (`$WFLOW_NODE`, else `node` on `PATH`) and componentize-js
/// (installed under `$WFLOW_COMPONENTIZE_JS`, the tools folder's `node`, or
/// the current folder).
pub fn js_toolchain() -> Result<JsToolchain> {
    let node = match from_env("WFLOW_NODE") {
        Some(node) => node.into_os_string(),
        None => on_path("node").map(PathBuf::into_os_string).ok_or_else(|| {
            WorkflowError::Load(
                "node is not installed (needed to build a JavaScript guest): install Node.js 20 or newer (e.g. `apt install nodejs npm`)".into(),
            )
        })?,
    };
    let package = |dir: &Path| dir.join("node_modules/@bytecodealliance/componentize-js");
    let candidates: Vec<PathBuf> = from_env("WFLOW_COMPONENTIZE_JS")
        .into_iter()
        .chain(tools_dir().map(|dir| dir.join("node")))
        .chain(std::env::current_dir().ok())
        .collect();
    let componentize_js = candidates
        .iter()
        .map(|dir| package(dir))
        .find(|package| package.join("package.json").is_file())
        .ok_or_else(|| {
            missing(
                "@bytecodealliance/componentize-js (needed to build a JavaScript guest)",
                &candidates
                    .iter()
                    .map(|dir| package(dir).display().to_string())
                    .collect::<Vec<_>>(),
                &format!(
                    "`npm install --prefix ~/.local/share/wflow/tools/node @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}`"
                ),
            )
        })?;
    Ok(JsToolchain {
        node,
        componentize_js,
    })
}
