//! Reading the files a user names (components, manifests, checkpoints)
//! with a size cap, and only when they are regular files: a symlink to
//! `/dev/zero` would be read until memory runs out, and a FIFO would block
//! the read for good.

use std::io::Read;
use std::path::Path;

use bytesize::ByteSize;

use crate::error::{Result, WorkflowError};

/// The largest component file read (a Python component is ~40 MB).
pub const MAX_COMPONENT_BYTES: u64 = 512 * 1024 * 1024;
/// The largest manifest file read.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// The largest checkpoint file read.
pub const MAX_CHECKPOINT_BYTES: u64 = 1024 * 1024 * 1024;

/// Reads the regular file at `path` (symlinks followed), refusing other
/// kinds of file and files over `max` bytes; `what` names it in errors.
pub fn read_regular_file(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let cannot = |err| WorkflowError::io(format!("cannot read {what} {}", path.display()), err);
    // Looked at before opening: opening a FIFO blocks until a writer comes.
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(WorkflowError::Load(format!(
            "{what} {} is not a regular file",
            path.display()
        )));
    }
    let too_large = |size: u64| {
        WorkflowError::Load(format!(
            "{what} {} is larger than {} ({} or more)",
            path.display(),
            ByteSize::b(max),
            ByteSize::b(size)
        ))
    };
    if metadata.len() > max {
        return Err(too_large(metadata.len()));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // The file may grow after it was looked at: read one byte past the cap
    // at most.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Like [`read_regular_file`], as UTF-8 text.
pub fn read_regular_text(path: &Path, what: &str, max: u64) -> Result<String> {
    let bytes = read_regular_file(path, what, max)?;
    String::from_utf8(bytes)
        .map_err(|_| WorkflowError::Load(format!("{what} {} is not UTF-8 text", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_without_reading() {
        let err = read_regular_file(Path::new("/dev/zero"), "the component", 1 << 20).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_regular_file(&fifo, "the component", 1 << 20).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        let link = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read_regular_file(&link, "the component", 1 << 20).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
    }

    #[test]
    fn files_over_the_cap_are_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, vec![b'#'; 2048]).unwrap();
        let err = read_regular_file(&path, "the manifest", 1024).unwrap_err();
        assert!(err.to_string().contains("is larger than 1.0 KiB"), "{err}");
        assert_eq!(
            read_regular_file(&path, "the manifest", 4096)
                .unwrap()
                .len(),
            2048
        );
    }
}
