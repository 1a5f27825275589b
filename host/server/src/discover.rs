//! Finding the workflows to serve: each path is a workflow (a component, a
//! manifest, a folder holding one, a guest source folder), or a folder whose
//! children are.

use std::path::{Path, PathBuf};

use wflow_core::Workflow;
use wflow_core::{Result, Runtime, WorkflowError};

/// Loads the workflows at `paths`. A path that is a workflow must load; in
/// a folder of workflows, a child that fails to load is skipped with a
/// warning naming it and the error. Finding none in the paths given is an
/// error (no paths at all: none to serve, as a server of deployments only).
pub async fn discover(runtime: &Runtime, paths: &[PathBuf]) -> Result<Vec<Workflow>> {
    let mut workflows = Vec::new();
    for path in paths {
        if is_workflow(path) {
            workflows.push(wflow_build::load_workflow(runtime, path).await?);
            continue;
        }
        if !path.is_dir() {
            return Err(WorkflowError::Load(format!(
                "{} is neither a workflow nor a folder of workflows",
                path.display()
            )));
        }
        for child in children(path)? {
            match wflow_build::load_workflow(runtime, &child).await {
                Ok(workflow) => workflows.push(workflow),
                Err(err) => {
                    tracing::warn!("skipping {}: {err}", child.display());
                }
            }
        }
    }
    if workflows.is_empty() && !paths.is_empty() {
        return Err(WorkflowError::Load(
            "no workflow found to serve in the paths given".into(),
        ));
    }
    Ok(workflows)
}

/// Whether `path` is one workflow: a file (component or manifest), or a
/// folder with a manifest or a guest project of its own (a Cargo workspace
/// root is not one: its members are).
fn is_workflow(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    if !path.is_dir() {
        return false;
    }
    if ["workflow.toml", "pyproject.toml", "package.json"]
        .iter()
        .any(|file| path.join(file).is_file())
    {
        return true;
    }
    std::fs::read_to_string(path.join("Cargo.toml"))
        .is_ok_and(|text| text.lines().any(|line| line.trim() == "[package]"))
}

/// The workflows directly inside `dir`, by name: folders that are workflows
/// and `.wasm` components.
fn children(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|err| WorkflowError::io(format!("cannot read {}", dir.display()), err))?;
    let mut children: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            if path.is_dir() {
                is_workflow(path)
            } else {
                path.extension().is_some_and(|ext| ext == "wasm")
            }
        })
        .collect();
    children.sort();
    Ok(children)
}
