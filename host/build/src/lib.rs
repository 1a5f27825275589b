//! Building a guest folder into a component, in any of the three SDK
//! languages: a Rust crate (cargo), a Python project (componentize-py) or a
//! JavaScript package (componentize-js). `wflow build` and `wflow run` on a
//! source folder both come through [`build_guest`].
//!
//! Rust builds are cached by cargo itself. Python and JavaScript builds are
//! cached in `<cache dir>/builds`, keyed by the SHA-256 of everything that
//! goes into them (the guest's files, the embedded SDK and WIT, the tool), so
//! an unchanged guest is not rebuilt and its component then hits the
//! compiled-component cache.

mod embedded;
mod javascript;
mod loader;
mod python;
mod rust;
mod tools;

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use self::embedded::SdkFiles;

use wflow_core::{Result, WorkflowError};

pub use loader::{build_cache_dir, default_build_dir, load_workflow, name_of as workflow_name_of};
pub use rust::{GUEST_TARGET, build_rust_guest};
pub use tools::{COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION, tools_dir};

/// The language a guest folder is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestLanguage {
    /// A Rust crate (`Cargo.toml`) using `wflow-guest`.
    Rust,
    /// A Python project (`pyproject.toml`) using the `wflow` Python SDK.
    Python,
    /// A JavaScript package (`package.json`) using the `wflow` JS SDK.
    JavaScript,
}

impl GuestLanguage {
    /// The language of the guest in `dir`, by the project file it holds.
    pub fn detect(dir: &Path) -> Option<Self> {
        [
            ("Cargo.toml", Self::Rust),
            ("pyproject.toml", Self::Python),
            ("package.json", Self::JavaScript),
        ]
        .into_iter()
        .find(|(file, _)| dir.join(file).is_file())
        .map(|(_, language)| language)
    }
}

impl fmt::Display for GuestLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rust => "Rust",
            Self::Python => "Python",
            Self::JavaScript => "JavaScript",
        })
    }
}

/// Builds the guest in `dir` into a component and returns its path. The
/// component lives in cargo's target folder (Rust) or in the build cache
/// under `cache_dir` (Python, JavaScript).
pub async fn build_guest(dir: &Path, cache_dir: &Path) -> Result<PathBuf> {
    let language = GuestLanguage::detect(dir).ok_or_else(|| {
        WorkflowError::Load(format!(
            "{} is not a guest folder: it holds no Cargo.toml (Rust), pyproject.toml (Python) or package.json (JavaScript)",
            dir.display()
        ))
    })?;
    match language {
        GuestLanguage::Rust => build_rust_guest(dir).await,
        GuestLanguage::Python => python::build(dir, &BuildCache::new(cache_dir)).await,
        GuestLanguage::JavaScript => javascript::build(dir, &BuildCache::new(cache_dir)).await,
    }
}

/// Built components of Python and JavaScript guests, by the hash of their
/// inputs.
pub(crate) struct BuildCache {
    root: PathBuf,
    dir: PathBuf,
}

impl BuildCache {
    fn new(cache_dir: &Path) -> Self {
        Self {
            root: cache_dir.to_path_buf(),
            dir: cache_dir.join("builds"),
        }
    }

    /// Looks up the build of the `language` guest in `dir` by `tool`: the
    /// component when these inputs were built before, else what a fresh
    /// build needs.
    fn prepare(&self, language: GuestLanguage, tool: &Path, dir: &Path) -> Result<Build> {
        let key = build_key(language, tool, dir)?;
        let entry = self.dir.join(format!("{key}.wasm"));
        if entry.is_file() {
            return Ok(Build::Cached(entry));
        }
        // The same inputs failed to build before: the same error, at once.
        let failure = self.dir.join(format!("{key}.failed"));
        if let Some(kept) = std::fs::read_to_string(&failure)
            .ok()
            .and_then(|text| serde_json::from_str::<KeptFailure>(&text).ok())
        {
            return Err(kept.into_error());
        }
        Ok(Build::Fresh(FreshBuild {
            sdk: SdkFiles::materialize(&self.root)?,
            scratch: self.scratch()?,
            entry,
            failure,
        }))
    }

    /// A fresh scratch folder for one build, removed when dropped. The cache
    /// and its `builds` folder are owner-only, as the compiled cache is.
    fn scratch(&self) -> Result<Scratch> {
        create_owner_only(&self.root)?;
        create_owner_only(&self.dir)?;
        let path = self.dir.join(format!(
            "tmp-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir(&path)
            .map_err(|err| WorkflowError::io(format!("cannot create {}", path.display()), err))?;
        Ok(Scratch(path))
    }
}

/// The outcome of [`BuildCache::prepare`].
enum Build {
    /// The component built from the same inputs before.
    Cached(PathBuf),
    /// No build of these inputs yet.
    Fresh(FreshBuild),
}

/// What a fresh build needs: the SDK files, a scratch folder, and where the
/// component goes once built.
struct FreshBuild {
    sdk: SdkFiles,
    scratch: Scratch,
    entry: PathBuf,
    /// Where the error goes when the tool refuses these inputs.
    failure: PathBuf,
}

impl FreshBuild {
    /// Runs the build tool. When it refuses the inputs, `explain` may say
    /// why better than the tool's output: the guest's own error (a bad
    /// step, a syntax error), which is then kept for these inputs, so that
    /// building them again fails at once. An error nothing pins on the
    /// guest (a full disk, a tool that could not start or was killed) is
    /// kept for nothing: the next build tries again.
    async fn run_tool(
        &self,
        command: &mut tokio::process::Command,
        what: &str,
        explain: impl FnOnce() -> Option<WorkflowError>,
    ) -> Result<()> {
        match run_tool(command, what).await {
            Ok(()) => Ok(()),
            Err(ToolFailure::Environment(err)) => Err(err),
            Err(ToolFailure::Inputs(err)) => {
                let Some(err) = explain() else {
                    return Err(err);
                };
                let kept = KeptFailure {
                    kind: err.kind().to_string(),
                    message: err.to_string(),
                };
                let written = serde_json::to_string(&kept)
                    .map_err(std::io::Error::other)
                    .and_then(|text| std::fs::write(&self.failure, text));
                if let Err(io) = written {
                    tracing::warn!(
                        "cannot keep the build error in {}: {io}",
                        self.failure.display()
                    );
                }
                Err(err)
            }
        }
    }

    /// Where the tool should write the component.
    fn output(&self) -> PathBuf {
        self.scratch.path().join("component.wasm")
    }

    /// Moves the built component into its cache entry and returns its path.
    fn publish(self) -> Result<PathBuf> {
        let built = self.output();
        std::fs::rename(&built, &self.entry).map_err(|err| {
            WorkflowError::io(
                format!("cannot move the component to {}", self.entry.display()),
                err,
            )
        })?;
        Ok(self.entry)
    }
}

/// A temporary build folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a file or folder of a guest is left out of its build inputs:
/// hidden files, caches, dependencies and build outputs.
fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "__pycache__" | "node_modules" | "target")
        || name.ends_with(".wasm")
        || name.ends_with(".pyc")
}

/// Feeds every input file under `dir` (relative path and contents, in a
/// stable order) into `hasher`.
fn hash_tree(hasher: &mut Sha256, root: &Path, dir: &Path) -> Result<()> {
    let listing = |err| WorkflowError::io(format!("cannot list {}", dir.display()), err);
    let mut entries = std::fs::read_dir(dir)
        .map_err(listing)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(listing)?;
    entries.sort();
    for path in entries {
        if path
            .file_name()
            .is_none_or(|name| ignored(&name.to_string_lossy()))
        {
            continue;
        }
        if path.is_dir() {
            hash_tree(hasher, root, &path)?;
        } else {
            let bytes = wflow_core::files::read_regular_file(
                &path,
                "the guest source file",
                wflow_core::files::MAX_COMPONENT_BYTES,
            )?;
            let relative = path.strip_prefix(root).unwrap_or(&path);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    Ok(())
}

/// Copies a guest's input files (those [`hash_tree`] hashes) from `from`
/// into `to`, so a build reads exactly what was hashed and writes nothing
/// (a `__pycache__`, say) into the guest's own folder.
fn copy_inputs(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)
        .map_err(|err| WorkflowError::io(format!("cannot create {}", to.display()), err))?;
    let entries = std::fs::read_dir(from)
        .map_err(|err| WorkflowError::io(format!("cannot list {}", from.display()), err))?;
    for entry in entries {
        let path = entry
            .map_err(|err| WorkflowError::io(format!("cannot list {}", from.display()), err))?
            .path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if ignored(&name.to_string_lossy()) {
            continue;
        }
        let target = to.join(name);
        if path.is_dir() {
            copy_inputs(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .map_err(|err| WorkflowError::io(format!("cannot copy {}", path.display()), err))?;
        }
    }
    Ok(())
}

/// The build key of a guest: the SHA-256 of its language, the tool building
/// it, the embedded SDK and WIT, and its own files.
fn build_key(language: GuestLanguage, tool: &Path, dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(language.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(tool.as_os_str().as_encoded_bytes());
    if let Ok(modified) = std::fs::metadata(tool).and_then(|m| m.modified()) {
        hasher.update(format!("{modified:?}").as_bytes());
    }
    hasher.update(embedded::digest().as_bytes());
    hash_tree(&mut hasher, dir, dir)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A build's error, kept for its inputs.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptFailure {
    kind: String,
    message: String,
}

impl KeptFailure {
    /// The error again, of its kind, saying it was kept.
    fn into_error(self) -> WorkflowError {
        let message = format!(
            "{}\n(the last build of these very inputs gave this error: change a file of the \
             guest to build it again, or run `wflow cache clear`)",
            self.message
        );
        error_of_kind(&self.kind, message)
    }
}

/// Why a guest could not be described, as its SDK reported it from inside
/// the build in `file` (Python's `wflow/_build_error.py`, JavaScript's
/// `build.mjs --error-file`): its own error (a bad step declaration, a
/// syntax error, a missing module) at the user's file and line, rather than
/// the build tool's report. `language` names the guest's language.
fn reported_error(file: &Path, guest_dir: &Path, language: &str) -> Option<WorkflowError> {
    #[derive(serde::Deserialize)]
    struct Reported {
        kind: String,
        message: String,
        file: Option<String>,
        line: Option<u64>,
    }
    let text = std::fs::read_to_string(file).ok()?;
    let reported: Reported = serde_json::from_str(&text).ok()?;
    let at = match (&reported.file, reported.line) {
        (Some(file), Some(line)) => format!("{}:{line}: ", guest_dir.join(file).display()),
        (Some(file), None) => format!("{}: ", guest_dir.join(file).display()),
        _ => String::new(),
    };
    let message = format!("{at}{}", reported.message);
    Some(match reported.kind.as_str() {
        "WorkflowValidationError" | "WorkflowConfigurationError" => {
            error_of_kind(&reported.kind, message)
        }
        other => WorkflowError::Load(format!(
            "the {language} guest in {} does not load: {other}: {message}",
            guest_dir.display()
        )),
    })
}

/// An error of `kind` (a [`WorkflowError::kind`]) a build reports: the
/// guest's own validation or configuration error, else a load error.
fn error_of_kind(kind: &str, message: String) -> WorkflowError {
    match kind {
        "WorkflowValidationError" => WorkflowError::Validation(message),
        "WorkflowConfigurationError" => WorkflowError::Configuration(message),
        _ => WorkflowError::Load(message),
    }
}

/// How a build tool's run failed.
enum ToolFailure {
    /// It could not start, or a signal ended it: nothing says the inputs
    /// are at fault.
    Environment(WorkflowError),
    /// It ran and exited with an error code: the inputs, or what it met
    /// (a full disk), may be at fault.
    Inputs(WorkflowError),
}

/// Runs a build tool; on failure, an error carrying its output and `what`
/// was being built.
async fn run_tool(
    command: &mut tokio::process::Command,
    what: &str,
) -> std::result::Result<(), ToolFailure> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|err| {
            ToolFailure::Environment(WorkflowError::Load(format!(
                "cannot start the build of {what}: {err}"
            )))
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        text = format!("{}\n{text}", stdout.trim_end());
    }
    let err = WorkflowError::Load(format!("building {what} failed:\n{text}"));
    Err(match output.status.code() {
        Some(_) => ToolFailure::Inputs(err),
        None => ToolFailure::Environment(err),
    })
}

/// Creates `dir` (and its parents) and makes it owner-only.
fn create_owner_only(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |err| WorkflowError::io(format!("cannot create {}", dir.display()), err);
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|err| WorkflowError::io(format!("cannot restrict {}", dir.display()), err))
}
