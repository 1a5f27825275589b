//! The compiled-component cache: compiling a component is the slow part of
//! loading it (seconds for an interpreter-sized one), so the native code
//! wasmtime produces is kept on disk.
//!
//! Loading precompiled code is `unsafe` in wasmtime: a forged file is
//! arbitrary native code in the host. So only the host writes the cache, in
//! a directory only its user can enter (0700, files 0600), and every entry
//! carries an HMAC-SHA256 of its bytes under a secret key kept in that
//! directory. An entry whose MAC does not verify — truncated, corrupted,
//! forged without the key, or stale — is deleted and rebuilt, never loaded.
//! Entries are keyed by the SHA-256 of the component and by wasmtime's
//! compatibility hash of the engine (its version and every setting that
//! affects code), so another wasmtime or other settings never share one.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

const KEY_FILE: &str = "cache.key";
const KEY_BYTES: usize = 32;

/// A compiled-component cache directory.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
}

/// Why the cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The system's random source failed.
    #[error("cannot draw a cache key: {0}")]
    Random(String),
    /// The key file is not a key.
    #[error("the cache key {} is damaged; run `wflow cache clear`", .0.display())]
    BadKey(PathBuf),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into
/// place), readable and writable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    file.write_all(bytes).map_err(io("cannot write", &tmp))?;
    file.sync_all().map_err(io("cannot write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("cannot move into place", path))
}

impl CompiledCache {
    /// Opens (creating) the cache in `dir`: the directory is made
    /// owner-only and the key is created on first use.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io("cannot restrict", dir))?;
        let key_path = dir.join(KEY_FILE);
        let key = match fs::read(&key_path) {
            Ok(bytes) => <[u8; KEY_BYTES]>::try_from(bytes.as_slice())
                .map_err(|_| CacheError::BadKey(key_path.clone()))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_BYTES];
                getrandom::fill(&mut key).map_err(|err| CacheError::Random(err.to_string()))?;
                write_private(&key_path, &key)?;
                key
            }
            Err(err) => return Err(io("cannot read", &key_path)(err)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, engine: &Engine, component: &[u8]) -> PathBuf {
        let mut settings = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut settings);
        let digest = Sha256::digest(component);
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir
            .join(format!("{name}-{:016x}.cwasm", settings.finish()))
    }

    fn mac(&self, bytes: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(bytes);
        mac
    }

    /// The cached compilation of `component`, if there is a valid one. A
    /// damaged entry is removed.
    pub fn load(&self, engine: &Engine, component: &[u8]) -> Option<Component> {
        let path = self.entry(engine, component);
        let tag_path = path.with_extension("mac");
        let (Ok(bytes), Ok(tag)) = (fs::read(&path), fs::read(&tag_path)) else {
            return None;
        };
        if self.mac(&bytes).verify_slice(&tag).is_err() {
            tracing::warn!(entry = %path.display(), "discarding a cache entry whose MAC does not verify");
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(&tag_path);
            return None;
        }
        // SAFETY: the bytes are exactly what this host serialized with an
        // engine of the same compatibility hash: the MAC under the host's
        // private key proves it, and the directory is owner-only.
        match unsafe { Component::deserialize(engine, &bytes) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(entry = %path.display(), "discarding a cache entry wasmtime refuses: {err:#}");
                let _ = fs::remove_file(&path);
                let _ = fs::remove_file(&tag_path);
                None
            }
        }
    }

    /// Stores the compilation of `component`.
    pub fn store(
        &self,
        engine: &Engine,
        component: &[u8],
        compiled: &Component,
    ) -> Result<(), CacheError> {
        let path = self.entry(engine, component);
        let bytes = compiled.serialize().map_err(|err| CacheError::Io {
            what: "cannot serialize",
            path: path.clone(),
            source: std::io::Error::other(err.to_string()),
        })?;
        let tag = self.mac(&bytes).finalize().into_bytes();
        // The code first, then its MAC: a reader never sees a MAC without
        // the code it covers.
        write_private(&path, &bytes)?;
        write_private(&path.with_extension("mac"), &tag)
    }

    /// Removes the compilation of `component`, if cached; whether it was.
    pub fn remove(&self, engine: &Engine, component: &[u8]) -> bool {
        let path = self.entry(engine, component);
        let removed = fs::remove_file(&path).is_ok();
        let _ = fs::remove_file(path.with_extension("mac"));
        removed
    }

    /// Removes every entry (and the key); returns how many entries there
    /// were.
    pub fn clear(&self) -> Result<usize, CacheError> {
        clear_dir(&self.dir)
    }
}

/// Removes the cache entries and key in `dir`, and the guest builds and SDK
/// files beside them; returns how many compiled components were removed.
pub fn clear_dir(dir: &Path) -> Result<usize, CacheError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(io("cannot list", dir)(err)),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry.map_err(io("cannot list", dir))?.path();
        if path.is_dir()
            && path
                .file_name()
                .is_some_and(|n| n == "builds" || n == "sdk")
        {
            fs::remove_dir_all(&path).map_err(io("cannot remove", &path))?;
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str());
        let ours =
            matches!(ext, Some("cwasm" | "mac")) || path.file_name().is_some_and(|n| n == KEY_FILE);
        if ours {
            fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            removed += usize::from(ext == Some("cwasm"));
        }
    }
    Ok(removed)
}
