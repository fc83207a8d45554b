//! The embedded static `r2e-shim` binary and its copy on the host.

use crate::{Result, SandboxError};
use std::path::PathBuf;

/// The static shim, built by this crate's build script.
pub static SHIM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/r2e-shim"));

/// Where the shim lives inside every sandbox.
pub const SHIM_PATH_IN_SANDBOX: &str = "/.r2e/r2e-shim";

/// A content hash of the embedded shim (FNV-1a, for cache file names).
pub fn shim_digest() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in SHIM_BINARY {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Writes the embedded shim to the cache directory (once per content) and
/// returns its path, for bind-mounting into sandboxes.
pub fn shim_on_host() -> Result<PathBuf> {
    let dir = cache_dir().join("shim");
    let path = dir.join(format!(
        "r2e-shim-{}-{}",
        env!("CARGO_PKG_VERSION"),
        shim_digest()
    ));
    if path.exists() {
        return Ok(path);
    }
    let io = |context: String| move |source| SandboxError::Io { context, source };
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let tmp = dir.join(format!(".r2e-shim.{}.tmp", std::process::id()));
    std::fs::write(&tmp, SHIM_BINARY).map_err(io(format!("writing {}", tmp.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("chmod {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("renaming to {}", path.display())))?;
    Ok(path)
}

/// r2e's cache directory: `$R2E_CACHE_DIR`, else `$XDG_CACHE_HOME/r2e`, else `~/.cache/r2e`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("R2E_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("r2e");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache").join("r2e"),
        None => std::env::temp_dir().join("r2e-cache"),
    }
}

/// A one-file tar archive holding the shim at [`SHIM_PATH_IN_SANDBOX`]
/// (for daemons that cannot bind-mount a host path).
pub fn shim_tar() -> Vec<u8> {
    shim_tar_at(SHIM_PATH_IN_SANDBOX)
}

/// A one-file tar archive holding the shim, mode 0755, at `path` (a leading
/// `/` is dropped: archive paths are relative to where it is unpacked).
pub fn shim_tar_at(path: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(SHIM_BINARY.len() as u64);
    header.set_mode(0o755);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, path.trim_start_matches('/'), SHIM_BINARY)
        .expect("writing a tar into memory cannot fail");
    builder
        .into_inner()
        .expect("writing a tar into memory cannot fail")
}
