//! Resolving a path to a workflow: a component, a manifest, or a folder
//! holding either (or a guest source folder in Rust, Python or JavaScript,
//! built on demand).

use std::path::{Path, PathBuf};

use wflow_core::{
    Manifest, Result, Runtime, StepComponent, Workflow, WorkflowError, WorkflowOptions,
    default_cache_dir,
};

use crate::{GuestLanguage, build_guest};

/// What a path holds.
enum Source {
    Component(PathBuf),
    Manifest(PathBuf),
    Guest(PathBuf),
}

fn classify(path: &Path) -> Result<Source> {
    if path.is_dir() {
        let manifest = path.join("workflow.toml");
        if manifest.is_file() {
            return Ok(Source::Manifest(manifest));
        }
        if GuestLanguage::detect(path).is_some() {
            return Ok(Source::Guest(path.to_path_buf()));
        }
        return Err(WorkflowError::Load(format!(
            "{} holds no workflow.toml and is no guest folder (Cargo.toml, pyproject.toml or package.json)",
            path.display()
        )));
    }
    if !path.exists() {
        return Err(WorkflowError::Load(format!(
            "{} does not exist",
            path.display()
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => Ok(Source::Component(path.to_path_buf())),
        Some("toml") if path.file_name().is_some_and(|n| n == "Cargo.toml") => path
            .parent()
            .map(|dir| Source::Guest(dir.to_path_buf()))
            .ok_or_else(|| WorkflowError::Load(format!("{} has no folder", path.display()))),
        Some("toml") => Ok(Source::Manifest(path.to_path_buf())),
        _ => Err(WorkflowError::Load(format!(
            "{} is neither a .wasm component, a workflow.toml, nor a folder",
            path.display()
        ))),
    }
}

/// The name a workflow loaded from `path` gets when nothing names it: the
/// file's or folder's stem.
pub fn name_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow".into())
}

/// Where Python and JavaScript guests are built: the compiled-component
/// cache's directory, else the default one, else a temporary folder.
pub fn build_cache_dir(runtime: &Runtime) -> PathBuf {
    runtime
        .cache()
        .map(|cache| cache.dir().to_path_buf())
        .unwrap_or_else(default_build_dir)
}

/// Where guests are built without a runtime to ask: the default cache
/// directory, else a temporary folder.
pub fn default_build_dir() -> PathBuf {
    default_cache_dir().unwrap_or_else(|| std::env::temp_dir().join("wflow-builds"))
}

async fn component_at(runtime: &Runtime, path: &Path) -> Result<StepComponent> {
    // A manifest may sit inside the guest folder it names (`path = "."`).
    let source = if path.is_dir() && GuestLanguage::detect(path).is_some() {
        Source::Guest(path.to_path_buf())
    } else {
        classify(path)?
    };
    let (wasm, source_dir) = match source {
        Source::Component(wasm) => (wasm, None),
        Source::Guest(dir) => (
            build_guest(&dir, &build_cache_dir(runtime)).await?,
            Some(dir),
        ),
        Source::Manifest(manifest) => {
            return Err(WorkflowError::Configuration(format!(
                "a manifest component must be a .wasm file or a guest folder, not the manifest {}",
                manifest.display()
            )));
        }
    };
    let mut component = StepComponent::load(runtime, &wasm).await?;
    // Errors name the guest folder a component was built from, not the
    // build cache's file.
    if let Some(dir) = source_dir {
        component.path = dir;
    }
    Ok(component)
}

/// Loads a workflow from a path: a `.wasm` component, a `workflow.toml`, or
/// a folder holding one of those, or a guest folder in Rust, Python or
/// JavaScript (built on demand).
pub async fn load_workflow(runtime: &Runtime, path: &Path) -> Result<Workflow> {
    match classify(path)? {
        Source::Component(_) | Source::Guest(_) => {
            let component = component_at(runtime, path).await?;
            Workflow::from_components(
                runtime,
                vec![component],
                WorkflowOptions::named(name_of(path)),
            )
        }
        Source::Manifest(file) => {
            let manifest = Manifest::load(&file)?;
            let base = file.parent().unwrap_or(Path::new("."));
            let mut components = Vec::with_capacity(manifest.components.len());
            for entry in &manifest.components {
                components.push(component_at(runtime, &base.join(&entry.path)).await?);
            }
            let default_name = if file.file_name().is_some_and(|n| n == "workflow.toml") {
                name_of(base)
            } else {
                name_of(&file)
            };
            Workflow::from_manifest(runtime, &manifest, &file, default_name, components)
        }
    }
}
