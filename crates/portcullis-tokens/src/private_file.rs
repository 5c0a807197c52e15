//! Files only their owner may read (signing keys, password hashes), written whole: to a
//! temporary file beside the target, owner-only from the start, synced, then renamed over it —
//! so a reader never sees half a file and nobody else ever sees any of it.

use super::error::FileError;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `bytes` to `path` (creating its directory) atomically with mode 0600.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(FileError::at(dir))?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(FileError::at(&temporary))?;
    out.write_all(bytes)
        .and_then(|_| out.sync_all())
        .map_err(FileError::at(&temporary))?;
    std::fs::rename(&temporary, path).map_err(FileError::at(path))
}
