//! File operations of the shim: read, write, list, stat.

use r2e_shim::{DirEntry, FileKind, FileStat, ShimError, ShimErrorKind};
use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Reads a whole regular file, refusing directories and files over `max_bytes`.
pub fn read_file(path: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, ShimError> {
    let meta = fs::metadata(path).map_err(|e| ShimError::io(path, &e))?;
    if meta.is_dir() {
        return Err(ShimError {
            kind: ShimErrorKind::InvalidRequest,
            message: format!("{path}: is a directory"),
        });
    }
    if let Some(max) = max_bytes
        && meta.len() > max
    {
        return Err(ShimError {
            kind: ShimErrorKind::TooLarge,
            message: format!("{path}: {} bytes, more than the limit of {max}", meta.len()),
        });
    }
    fs::read(path).map_err(|e| ShimError::io(path, &e))
}

/// Writes `data` to `path`, replacing its contents.
pub fn write_file(
    path: &str,
    data: &[u8],
    mode: Option<u32>,
    create_dirs: bool,
) -> Result<(), ShimError> {
    if create_dirs && let Some(parent) = Path::new(path).parent() {
        fs::create_dir_all(parent).map_err(|e| ShimError::io(&parent.to_string_lossy(), &e))?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true)
        .create(true)
        .truncate(true)
        .mode(mode.unwrap_or(0o644));
    let mut file = opts.open(path).map_err(|e| ShimError::io(path, &e))?;
    std::io::Write::write_all(&mut file, data).map_err(|e| ShimError::io(path, &e))?;
    if let Some(mode) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| ShimError::io(path, &e))?;
    }
    Ok(())
}

/// Lists a directory, sorted by name.
pub fn list(path: &str) -> Result<Vec<DirEntry>, ShimError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| ShimError::io(path, &e))? {
        let entry = entry.map_err(|e| ShimError::io(path, &e))?;
        let meta = entry.metadata().map_err(|e| ShimError::io(path, &e))?;
        entries.push(DirEntry {
            name: entry.file_name().to_string_lossy().into_owned(),
            stat: describe(&meta),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Describes a path without following a final symlink.
pub fn stat(path: &str) -> Result<FileStat, ShimError> {
    let meta = fs::symlink_metadata(path).map_err(|e| ShimError::io(path, &e))?;
    Ok(describe(&meta))
}

fn describe(meta: &fs::Metadata) -> FileStat {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    };
    FileStat {
        kind,
        size: meta.len(),
        mode: meta.mode(),
        mtime: meta.mtime(),
    }
}
