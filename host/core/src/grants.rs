//! Capability grants: what a step may reach beyond the workflow context. A
//! guest gets nothing by default: no filesystem, no environment, no network,
//! no stdin. A manifest grants, per step, preopened directories (read-only or
//! read-write), configuration values and environment entries — the seed's
//! Resources, as capabilities.
//!
//! ```toml
//! [resources.cache]
//! dir = "./cache"            # relative to the manifest
//! mode = "read-only"         # or "read-write"
//! guest_path = "/cache"      # where the guest sees it ("/<name>" by default)
//! steps = ["critique"]
//!
//! [resources.settings]
//! config = { model = "small", temperature = "0.2" }
//! steps = ["critique"]
//!
//! [resources.secrets]
//! env = { API_KEY = "..." }
//! steps = ["critique"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkflowError};

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DirMode {
    /// Read files and list directories.
    #[default]
    ReadOnly,
    /// Also create, write and remove.
    ReadWrite,
}

/// One `[resources.NAME]` entry of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// A host directory to preopen, relative to the manifest.
    pub dir: Option<PathBuf>,
    /// How the directory may be used.
    #[serde(default)]
    pub mode: DirMode,
    /// The directory's path inside the guest (`/<name>` by default).
    pub guest_path: Option<String>,
    /// Configuration values, read with `ctx.config(key)`.
    pub config: Option<BTreeMap<String, String>>,
    /// Environment entries.
    pub env: Option<BTreeMap<String, String>>,
    /// The steps granted this resource.
    pub steps: Vec<String>,
}

/// A directory granted to a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirGrant {
    /// The host directory (absolute).
    pub host_path: PathBuf,
    /// Where the guest sees it.
    pub guest_path: String,
    /// How it may be used.
    pub mode: DirMode,
}

/// Everything granted to one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Configuration values.
    pub config: BTreeMap<String, String>,
    /// Environment entries.
    pub env: BTreeMap<String, String>,
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.config.is_empty() && self.env.is_empty()
    }
}

/// Resolves a manifest's resources into per-step grants. Every resource must
/// hold exactly one of `dir`, `config`, `env`; directories must exist; steps
/// must be known.
pub fn resolve(
    resources: &BTreeMap<String, ResourceSpec>,
    base: &Path,
    steps: &[String],
) -> Result<BTreeMap<String, Grants>> {
    let mut grants: BTreeMap<String, Grants> = BTreeMap::new();
    for (name, spec) in resources {
        let fail =
            |message: String| WorkflowError::Configuration(format!("resource `{name}`: {message}"));
        let kinds = [
            spec.dir.is_some(),
            spec.config.is_some(),
            spec.env.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(fail("needs exactly one of `dir`, `config` or `env`".into()));
        }
        if spec.steps.is_empty() {
            return Err(fail(
                "grants nothing: list the steps it is for in `steps`".into(),
            ));
        }
        let dir = match &spec.dir {
            Some(dir) => {
                let host_path = base.join(dir);
                let host_path = host_path.canonicalize().map_err(|err| {
                    fail(format!(
                        "directory {} cannot be opened: {err}",
                        host_path.display()
                    ))
                })?;
                if !host_path.is_dir() {
                    return Err(fail(format!("{} is not a directory", host_path.display())));
                }
                let guest_path = spec
                    .guest_path
                    .clone()
                    .unwrap_or_else(|| format!("/{name}"));
                Some(DirGrant {
                    host_path,
                    guest_path,
                    mode: spec.mode,
                })
            }
            None => None,
        };
        for step in &spec.steps {
            if !steps.contains(step) {
                return Err(fail(format!(
                    "grants step `{step}`, which no component declares (steps: {})",
                    steps.join(", ")
                )));
            }
            let entry = grants.entry(step.clone()).or_default();
            if let Some(dir) = &dir {
                entry.dirs.push(dir.clone());
            }
            if let Some(config) = &spec.config {
                entry.config.extend(config.clone());
            }
            if let Some(env) = &spec.env {
                entry.env.extend(env.clone());
            }
        }
    }
    Ok(grants)
}
