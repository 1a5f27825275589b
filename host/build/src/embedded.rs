//! The WIT contract and the Python and JavaScript SDKs, embedded in the
//! binary by `host/build.rs`, and written out once per content hash for the
//! build tools to read.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use wflow_core::{Result, WorkflowError};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Embedded files: each a path relative to its tree and its bytes.
type Files = &'static [(&'static str, &'static [u8])];

/// The embedded trees: folder name and files.
const TREES: [(&str, Files); 3] = [("wit", WIT), ("python", PYTHON_SDK), ("js", JS_SDK)];

/// The SHA-256 of every embedded file, as hex.
pub(super) fn digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut hasher = Sha256::new();
        for (tree, files) in TREES {
            for (path, bytes) in files {
                hasher.update(tree.as_bytes());
                hasher.update(path.as_bytes());
                hasher.update([0]);
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
        }
        super::hex(&hasher.finalize())
    })
}

/// The embedded files, written out under `cache_dir`.
pub(super) struct SdkFiles {
    root: PathBuf,
}

impl SdkFiles {
    /// Writes the embedded files to `<cache_dir>/sdk/<digest>` unless they
    /// are there already (written to a scratch folder, then renamed into
    /// place, so a reader never sees half of them).
    pub(super) fn materialize(cache_dir: &Path) -> Result<Self> {
        let root = cache_dir.join("sdk").join(&digest()[..16]);
        if root.is_dir() {
            return Ok(Self { root });
        }
        let io = |what: &str, path: &Path| {
            let text = format!("{what} {}", path.display());
            move |err| WorkflowError::io(text, err)
        };
        let scratch = root.with_extension(format!("tmp{}", std::process::id()));
        for (tree, files) in TREES {
            for (relative, bytes) in files {
                let path = scratch.join(tree).join(relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
                }
                std::fs::write(&path, bytes).map_err(io("cannot write", &path))?;
            }
        }
        match std::fs::rename(&scratch, &root) {
            Ok(()) => Ok(Self { root }),
            // Another process put them there first.
            Err(_) if root.is_dir() => {
                let _ = std::fs::remove_dir_all(&scratch);
                Ok(Self { root })
            }
            Err(err) => Err(io("cannot move into place", &root)(err)),
        }
    }

    /// The folder holding `workflow.wit`.
    pub(super) fn wit(&self) -> PathBuf {
        self.root.join("wit")
    }

    /// The folder holding the Python package `wflow`.
    pub(super) fn python(&self) -> PathBuf {
        self.root.join("python")
    }

    /// The JavaScript SDK's folder (its runtime files and `build.mjs`).
    pub(super) fn js(&self) -> PathBuf {
        self.root.join("js")
    }
}
