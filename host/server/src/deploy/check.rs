//! A deployment checked into a workflow: every component compiled (cached
//! by content), linked against the wflow world only and described; the
//! manifest parsed, granting no host path; the event graph validated; the
//! tenant's limit caps applied.

use std::path::Path;

use wflow_core::{Manifest, Runtime, StepComponent, Workflow, WorkflowError, WorkflowOptions};

use crate::error::ApiError;

/// What a deployment is made of: its files, as uploaded or stored.
pub(crate) struct Parts<'a> {
    /// The name asked for, if any.
    pub(crate) name: Option<&'a str>,
    /// The manifest's text, if any.
    pub(crate) manifest: Option<&'a str>,
    /// The components: file name and bytes.
    pub(crate) components: Vec<(&'a str, Vec<u8>)>,
}

/// The workflow `parts` make, named; a 400 naming what is wrong.
pub(crate) async fn workflow_of(
    runtime: &Runtime,
    parts: Parts<'_>,
) -> Result<(String, Workflow), ApiError> {
    let manifest = parts
        .manifest
        .map(|text| {
            Manifest::parse(text).map_err(|err| ApiError::bad_request(format!("manifest: {err}")))
        })
        .transpose()?;
    if let Some((resource, _)) = manifest
        .iter()
        .flat_map(|manifest| &manifest.resources)
        .find(|(_, spec)| spec.dir.is_some())
    {
        return Err(ApiError::bad_request(format!(
            "manifest: resource `{resource}` grants a host directory: a deployment cannot \
             grant host paths (config and env resources are fine)"
        )));
    }
    let name = parts
        .name
        .map(str::to_string)
        .or_else(|| manifest.as_ref().and_then(|m| m.name.clone()))
        .or_else(|| {
            parts.components.first().map(|(file, _)| {
                Path::new(file)
                    .file_stem()
                    .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
            })
        })
        .unwrap_or_default();
    check_name(&name)?;
    let ordered = match &manifest {
        Some(manifest) => in_manifest_order(manifest, parts.components)?,
        None => parts.components,
    };
    let mut components = Vec::with_capacity(ordered.len());
    for (file, bytes) in ordered {
        let component = StepComponent::from_bytes(runtime, Path::new(file), bytes)
            .await
            .map_err(rejected)?;
        components.push(component);
    }
    let workflow = match &manifest {
        Some(manifest) => {
            // It runs under the deployed name (the default name), whatever
            // the manifest's says; a manifest naming it otherwise does not
            // name it in messages either.
            let mut manifest = manifest.clone();
            manifest.name = manifest.name.filter(|own| *own == name);
            Workflow::from_manifest(
                runtime,
                &manifest,
                Path::new("workflow.toml"),
                name.clone(),
                components,
            )
        }
        None => Workflow::from_components(runtime, components, WorkflowOptions::named(&name)),
    }
    .map_err(rejected)?;
    // A deployment is always validated, whatever its manifest says.
    workflow.validate().map_err(rejected)?;
    Ok((name, workflow))
}

/// The uploaded components in the order the manifest lists them, matched by
/// file name; one missing, or one the manifest does not list, is a 400.
fn in_manifest_order<'a>(
    manifest: &Manifest,
    mut uploaded: Vec<(&'a str, Vec<u8>)>,
) -> Result<Vec<(&'a str, Vec<u8>)>, ApiError> {
    let mut ordered = Vec::with_capacity(manifest.components.len());
    for entry in &manifest.components {
        let wanted = entry
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at = uploaded
            .iter()
            .position(|(file, _)| *file == wanted)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "manifest: component `{}` was not uploaded (send it as a `component` part named `{wanted}`)",
                    entry.path.display()
                ))
            })?;
        ordered.push(uploaded.remove(at));
    }
    if let Some((extra, _)) = uploaded.first() {
        return Err(ApiError::bad_request(format!(
            "component `{extra}` is not in the manifest's [[components]]"
        )));
    }
    Ok(ordered)
}

/// A workflow's name appears in URLs: 1 to 64 of `[A-Za-z0-9_-]`.
fn check_name(name: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(ApiError::bad_request(format!(
            "workflow name `{name}`: use 1 to 64 of A-Z, a-z, 0-9, _ and -"
        )));
    }
    Ok(())
}

/// A deployment the engine refused, as a 400 with its message.
fn rejected(err: WorkflowError) -> ApiError {
    ApiError::bad_request(err.to_string())
}
