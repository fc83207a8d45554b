//! Base images without a registry: `debootstrap` a minimal Debian with Python,
//! venv, pip, git and CA certificates, copy in the host's CA bundle and pip
//! configuration (so pip and uv work behind a TLS-intercepting proxy), install
//! uv, and import the directory into the engine as an image.

use crate::SandboxError;
use crate::docker::engine_classify;
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Debian packages every base image gets.
pub const BASE_PACKAGES: &[&str] = &[
    "python3",
    "python3-venv",
    "python3-pip",
    "git",
    "ca-certificates",
    "patch",
];

/// The host files copied into the image so TLS and pip work as on the host.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const HOST_PIP_CONF: &str = "/etc/pip.conf";

/// What to build.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// Debian suite: bullseye (Python 3.9), bookworm (3.11), trixie (3.13).
    pub suite: String,
    /// Image reference to create, `name[:tag]`.
    pub tag: String,
    /// Rebuild even when the tag exists.
    pub force: bool,
    /// Debian mirror.
    pub mirror: String,
    /// Extra Debian packages.
    pub extra_packages: Vec<String>,
    /// Install uv with pip.
    pub install_uv: bool,
    /// Where debootstrap keeps downloaded packages between builds.
    pub cache_dir: PathBuf,
}

impl BootstrapOptions {
    /// Defaults for `suite` and `tag`.
    pub fn new(suite: impl Into<String>, tag: impl Into<String>) -> Self {
        BootstrapOptions {
            suite: suite.into(),
            tag: tag.into(),
            force: false,
            mirror: "http://deb.debian.org/debian".into(),
            extra_packages: Vec::new(),
            install_uv: true,
            cache_dir: crate::shim::cache_dir().join("debootstrap"),
        }
    }
}

/// What `bootstrap` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The tag already existed and was kept.
    Reused {
        /// Image id.
        id: String,
    },
    /// A new image was built and imported.
    Built {
        /// Image id.
        id: String,
        /// Size in bytes as the engine reports it.
        size: i64,
    },
}

/// Failures of image building.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A host tool is missing.
    #[error("{tool} is not installed on this host\n  hint: {hint}")]
    MissingTool {
        /// The tool.
        tool: &'static str,
        /// How to get it.
        hint: &'static str,
    },
    /// Building needs root (debootstrap and chroot do).
    #[error(
        "building a base image needs root (debootstrap and chroot); run r2e as root or with sudo"
    )]
    NotRoot,
    /// A step failed.
    #[error("{step} failed (exit {code}); last lines of {log}:\n{tail}")]
    Step {
        /// Which step.
        step: String,
        /// Its exit code.
        code: i32,
        /// Full log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
    /// An engine call failed.
    #[error(transparent)]
    Engine(#[from] SandboxError),
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// The image id of `reference`, or `None` when the engine has no such image.
pub async fn image_id(docker: &Docker, reference: &str) -> Result<Option<String>, SandboxError> {
    match docker.inspect_image(reference).await {
        Ok(img) => Ok(Some(img.id.unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(engine_classify(e, "inspecting an image", None)),
    }
}

/// Builds (or reuses) a Python base image; `progress` receives one line per step.
pub async fn bootstrap(
    docker: &Docker,
    opts: &BootstrapOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bootstrapped, ImageError> {
    if !opts.force
        && let Some(id) = image_id(docker, &opts.tag).await?
    {
        return Ok(Bootstrapped::Reused { id });
    }
    if which("debootstrap").is_none() {
        return Err(ImageError::MissingTool {
            tool: "debootstrap",
            hint: "apt-get install -y debootstrap",
        });
    }
    if !is_root() {
        return Err(ImageError::NotRoot);
    }
    let work = crate::shim::cache_dir().join("images");
    std::fs::create_dir_all(&work).map_err(io_err(format!("creating {}", work.display())))?;
    let rootfs = work.join(format!("{}-rootfs-{}", opts.suite, std::process::id()));
    let log = work.join(format!("{}-{}.log", opts.suite, std::process::id()));
    let result = build(docker, opts, &rootfs, &log, progress).await;
    if rootfs.exists() {
        let _ = std::fs::remove_dir_all(&rootfs);
    }
    if result.is_ok() {
        let _ = std::fs::remove_file(&log);
    }
    result
}

async fn build(
    docker: &Docker,
    opts: &BootstrapOptions,
    rootfs: &Path,
    log: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Bootstrapped, ImageError> {
    let cache = opts.cache_dir.join(&opts.suite);
    std::fs::create_dir_all(&cache).map_err(io_err(format!("creating {}", cache.display())))?;
    let packages: Vec<&str> = BASE_PACKAGES
        .iter()
        .copied()
        .chain(opts.extra_packages.iter().map(String::as_str))
        .collect();
    progress(&format!(
        "debootstrap {} ({})",
        opts.suite,
        packages.join(", ")
    ));
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", packages.join(",")))
        .arg(format!("--cache-dir={}", cache.display()))
        .arg(&opts.suite)
        .arg(rootfs)
        .arg(&opts.mirror);
    run_logged(cmd, "debootstrap", log).await?;

    progress("copying the host's CA bundle and pip configuration");
    copy_host_config(rootfs)?;

    let python_env = ["ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"];
    if opts.install_uv {
        progress("installing uv with pip");
        let mut cmd = Command::new("chroot");
        cmd.arg(rootfs)
            .args(["/usr/bin/python3", "-m", "pip", "install", "--no-cache-dir"])
            // An environment variable, not the flag: bullseye's pip 20.3 has
            // no --root-user-action and would refuse to run.
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        if has_externally_managed(rootfs) {
            cmd.arg("--break-system-packages");
        }
        cmd.arg("uv");
        run_logged(cmd, "pip install uv", log).await?;
    }
    for dir in ["var/lib/apt/lists", "var/cache/apt/archives"] {
        clear_dir(&rootfs.join(dir));
    }

    progress(&format!("importing into the engine as {}", opts.tag));
    let (repo, tag) = split_reference(&opts.tag);
    let mut changes: Vec<String> = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ENV LANG=C.UTF-8".into(),
        r#"CMD ["/bin/bash"]"#.into(),
    ];
    changes.extend(python_env.iter().map(|s| s.to_string()));
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(rootfs)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err("starting tar"))?;
    let stdout = tar.stdout.take().expect("stdout is piped");
    let body = futures_util::stream::unfold(stdout, |mut out| async move {
        let mut buf = vec![0u8; 1 << 20];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), out))
            }
            Err(e) => Some((Err(e), out)),
        }
    });
    let mut stream = docker.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| engine_classify(e, "importing the root filesystem", None))?;
    }
    let status = tar.wait().await.map_err(io_err("waiting for tar"))?;
    if !status.success() {
        return Err(ImageError::Step {
            step: "tar of the root filesystem".into(),
            code: status.code().unwrap_or(-1),
            log: "(tar's stderr)".into(),
            tail: String::new(),
        });
    }
    let img = docker
        .inspect_image(&opts.tag)
        .await
        .map_err(|e| engine_classify(e, "inspecting the new image", None))?;
    Ok(Bootstrapped::Built {
        id: img.id.unwrap_or_default(),
        size: img.size.unwrap_or(0),
    })
}

fn copy_host_config(rootfs: &Path) -> Result<(), ImageError> {
    let copy = |from: &str, to: &str| -> Result<(), ImageError> {
        let dest = rootfs.join(to);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("creating {}", parent.display())))?;
        }
        // debootstrap may leave a symlink; replace it with the real file.
        let _ = std::fs::remove_file(&dest);
        std::fs::copy(from, &dest).map_err(io_err(format!("copying {from} into the image")))?;
        Ok(())
    };
    if Path::new(HOST_CA_BUNDLE).exists() {
        copy(HOST_CA_BUNDLE, "etc/ssl/certs/ca-certificates.crt")?;
        // Survives an update-ca-certificates run inside the image.
        copy(
            HOST_CA_BUNDLE,
            "usr/local/share/ca-certificates/r2e-host-bundle.crt",
        )?;
    }
    if Path::new(HOST_PIP_CONF).exists() {
        copy(HOST_PIP_CONF, "etc/pip.conf")?;
    }
    copy("/etc/resolv.conf", "etc/resolv.conf")?;
    Ok(())
}

fn has_externally_managed(rootfs: &Path) -> bool {
    std::fs::read_dir(rootfs.join("usr/lib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            e.file_name().to_string_lossy().starts_with("python3")
                && e.path().join("EXTERNALLY-MANAGED").exists()
        })
}

fn clear_dir(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_file() && p.extension().is_some_and(|e| e == "deb")
            || p.is_file() && dir.ends_with("lists")
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn run_logged(mut cmd: Command, step: &str, log: &Path) -> Result<(), ImageError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("opening {}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(io_err("duplicating the log handle"))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .await
        .map_err(io_err(format!("starting {step}")))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    Err(ImageError::Step {
        step: step.to_string(),
        code: status.code().unwrap_or(-1),
        log: log.display().to_string(),
        tail: lines[lines.len().saturating_sub(15)..].join("\n"),
    })
}

/// Splits `name[:tag]` (a registry port is not a tag).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_reference("r2e/base:bookworm"),
            ("r2e/base", "bookworm")
        );
        assert_eq!(
            split_reference("localhost:5000/base"),
            ("localhost:5000/base", "latest")
        );
        assert_eq!(split_reference("base"), ("base", "latest"));
    }
}
