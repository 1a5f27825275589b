//! Building a Rust guest crate into a component, on demand: `cargo build
//! --release --target wasm32-wasip2`, whose own incremental build is the
//! cache.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;

use wflow_core::{Result, WorkflowError};

/// The target guests are built for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

/// Builds the Rust guest crate in `dir` and returns the path of its
/// component.
pub async fn build_rust_guest(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let manifest = manifest
        .canonicalize()
        .map_err(|err| WorkflowError::io(format!("cannot find {}", manifest.display()), err))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = tokio::process::Command::new(&cargo)
        .args(["build", "--release", "--target", GUEST_TARGET, "--message-format", "json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|err| {
            WorkflowError::Load(format!(
                "cannot run cargo to build the guest in {}: {err}. Building a Rust guest needs Rust (https://rustup.rs) and `rustup target add {GUEST_TARGET}`",
                dir.display()
            ))
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if guest_target_installed().await == Some(false) {
            format!(
                "\nhint: the {GUEST_TARGET} target is not installed: run `rustup target add {GUEST_TARGET}`"
            )
        } else {
            String::new()
        };
        return Err(WorkflowError::Load(format!(
            "building the guest in {} failed:\n{}{hint}",
            dir.display(),
            stderr.trim_end()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let artifact = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
        .filter(|m| {
            m.reason == "compiler-artifact"
                && m.manifest_path.as_deref() == Some(manifest.as_path())
        })
        .flat_map(|m| m.filenames)
        .find(|f| f.extension().is_some_and(|e| e == "wasm"));
    artifact.ok_or_else(|| {
        WorkflowError::Load(format!(
            "building {} produced no .wasm component: is it a `cdylib` crate using wflow-guest?",
            dir.display()
        ))
    })
}

/// Whether the standard library for [`GUEST_TARGET`] is installed, asked of
/// rustc itself (`--print target-libdir` names the folder the target's
/// libraries live in, whether or not they are there); `None` when rustc
/// cannot be asked.
async fn guest_target_installed() -> Option<bool> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = tokio::process::Command::new(rustc)
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .stdin(Stdio::null())
        .output()
        .await
        .ok()
        .filter(|output| output.status.success())?;
    let libdir = String::from_utf8(output.stdout).ok()?;
    Some(Path::new(libdir.trim_end()).is_dir())
}
