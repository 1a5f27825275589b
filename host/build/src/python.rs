//! Python guests: a folder with `pyproject.toml` and the guest module
//! (`app.py` unless `[tool.wflow] module` names another), built with
//! componentize-py against the embedded Python SDK.
//!
//! The build copies the guest's files to a scratch folder, writes an entry
//! module that imports the guest module (which registers its steps) and the
//! SDK's `WitWorld` export class, then runs `componentize-py -d WIT -w steps
//! componentize -p SDK -p GUEST -p ENTRY wflow_entry -o OUT`
//! (guest-sdk/python/README.md).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Build, BuildCache, GuestLanguage, copy_inputs, tools};
use wflow_core::{Result, WorkflowError};

#[derive(Deserialize, Default)]
struct PyProject {
    #[serde(default)]
    tool: Tool,
}

#[derive(Deserialize, Default)]
struct Tool {
    #[serde(default)]
    wflow: WflowTable,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WflowTable {
    module: Option<String>,
}

/// The guest module named by `pyproject.toml` (`app` by default), checked
/// to exist.
fn guest_module(dir: &Path) -> Result<String> {
    let file = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&file)
        .map_err(|err| WorkflowError::io(format!("cannot read {}", file.display()), err))?;
    let project: PyProject = toml::from_str(&text)
        .map_err(|err| WorkflowError::Configuration(format!("{}: {err}", file.display())))?;
    let module = project.tool.wflow.module.unwrap_or_else(|| "app".into());
    let valid = !module.is_empty()
        && module.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    if !valid {
        return Err(WorkflowError::Configuration(format!(
            "{}: [tool.wflow] module = {module:?} is not a Python module name",
            file.display()
        )));
    }
    let relative: PathBuf = module.split('.').collect();
    let as_file = dir.join(&relative).with_extension("py");
    if !as_file.is_file() && !dir.join(&relative).join("__init__.py").is_file() {
        return Err(WorkflowError::Load(format!(
            "the Python guest in {} has no module `{module}` ({} does not exist); name the module with [tool.wflow] module = \"...\" in pyproject.toml",
            dir.display(),
            as_file.display()
        )));
    }
    Ok(module)
}

/// Builds the Python guest in `dir` (or reuses its cached build).
pub(super) async fn build(dir: &Path, cache: &BuildCache) -> Result<PathBuf> {
    let module = guest_module(dir)?;
    let componentize_py = tools::componentize_py()?;
    let build = match cache.prepare(GuestLanguage::Python, &componentize_py, dir)? {
        Build::Cached(component) => return Ok(component),
        Build::Fresh(build) => build,
    };
    let scratch = build.scratch.path();
    let entry_dir = scratch.join("entry");
    std::fs::create_dir(&entry_dir)
        .map_err(|err| WorkflowError::io(format!("cannot create {}", entry_dir.display()), err))?;
    let entry_module = entry_dir.join("wflow_entry.py");
    std::fs::write(
        &entry_module,
        // A guest that does not import (a syntax error, a module that is
        // not there) is reported by the SDK, as a bad step is.
        format!(
            "try:\n    import {module}\nexcept BaseException as exc:\n    from wflow import _build_error\n\n    _build_error.report(exc)\n    raise\nfrom wflow._component import WitWorld\n"
        ),
    )
    .map_err(|err| WorkflowError::io(format!("cannot write {}", entry_module.display()), err))?;
    let guest = scratch.join("guest");
    copy_inputs(dir, &guest)?;
    let mut command = tokio::process::Command::new(&componentize_py);
    command
        .arg("-d")
        .arg(build.sdk.wit())
        .args(["-w", "steps", "componentize", "-p"])
        .arg(build.sdk.python())
        .arg("-p")
        .arg(&guest)
        .arg("-p")
        .arg(&entry_dir)
        .arg("wflow_entry")
        .arg("-o")
        .arg(build.output());
    build
        .run_tool(
            &mut command,
            &format!("the Python guest in {}", dir.display()),
            || super::reported_error(&entry_dir.join("describe-error.json"), dir, "Python"),
        )
        .await?;
    build.publish()
}
