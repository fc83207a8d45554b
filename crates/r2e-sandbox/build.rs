//! Builds `r2e-shim` as a static binary and embeds it in this crate, so that
//! one `r2e` executable carries everything a sandbox needs.
//!
//! The shim is compiled by a nested cargo invocation for the explicit target
//! triple with `+crt-static` (glibc, statically linked: it runs in images that
//! have no libc at all). Set `R2E_SHIM_BINARY` to embed a prebuilt shim instead.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let embedded = out.join("r2e-shim");
    println!("cargo:rerun-if-env-changed=R2E_SHIM_BINARY");
    if let Some(prebuilt) = env::var_os("R2E_SHIM_BINARY") {
        std::fs::copy(&prebuilt, &embedded)
            .unwrap_or_else(|e| panic!("R2E_SHIM_BINARY={prebuilt:?}: cannot copy: {e}"));
        return;
    }
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest.join("../..");
    // The shim and the crates it links (path dependencies).
    for krate in ["r2e-shim", "r2e-tools"] {
        for p in ["src", "Cargo.toml"] {
            println!(
                "cargo:rerun-if-changed={}",
                manifest.join("..").join(krate).join(p).display()
            );
        }
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    // The workspace target dir: OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out
    // (one level deeper with --target); keep the shim's build beside it so it
    // is shared across profiles and survives `touch`es of this crate.
    let target_root = out
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.join("shim-target"));
    let shim_target = target_root.join("r2e-shim");
    let triple = shim_triple();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "r2e-shim",
            "--bin",
            "r2e-shim",
            "--target",
            &triple,
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&shim_target)
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C strip=symbols",
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("cannot run cargo to build r2e-shim");
    assert!(
        status.success(),
        "building the static r2e-shim failed (see the output above)"
    );
    let built = shim_target.join(&triple).join("release").join("r2e-shim");
    std::fs::copy(&built, &embedded)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
}

/// The Linux triple of the shim: containers run Linux on the host's architecture.
fn shim_triple() -> String {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    format!("{arch}-unknown-linux-gnu")
}
