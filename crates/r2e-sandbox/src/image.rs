//! Base images without a registry: `debootstrap` a minimal Debian or Ubuntu
//! with Python, venv, pip, git and CA certificates, copy in the host's CA
//! bundle and pip configuration (so pip and uv work behind a TLS-intercepting
//! proxy), install uv, and import the directory into the engine as an image.
//!
//! Debian suites give Python 3.9 (bullseye), 3.11 (bookworm) and 3.13
//! (trixie); the Ubuntu suites give the older and in-between Pythons that old
//! commits need: 3.8 (focal), 3.10 (jammy), 3.12 (noble) — see [`SUITES`].
//! A Debian host has no Ubuntu archive key, so r2e fetches the
//! `ubuntu-keyring` package from the mirror and checks the key file against
//! a SHA-256 pinned here before debootstrap trusts it.

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

/// A suite `bootstrap` knows: its distribution and the Python it ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The suite's code name (`bookworm`, `focal`).
    pub name: &'static str,
    /// Whether it is an Ubuntu release (else Debian).
    pub ubuntu: bool,
    /// The `python3` it ships.
    pub python: &'static str,
}

/// The suites `r2e image bootstrap` is known to build, oldest Python first.
pub const SUITES: &[Suite] = &[
    Suite {
        name: "bionic",
        ubuntu: true,
        python: "3.6",
    },
    Suite {
        name: "focal",
        ubuntu: true,
        python: "3.8",
    },
    Suite {
        name: "bullseye",
        ubuntu: false,
        python: "3.9",
    },
    Suite {
        name: "jammy",
        ubuntu: true,
        python: "3.10",
    },
    Suite {
        name: "bookworm",
        ubuntu: false,
        python: "3.11",
    },
    Suite {
        name: "noble",
        ubuntu: true,
        python: "3.12",
    },
    Suite {
        name: "trixie",
        ubuntu: false,
        python: "3.13",
    },
];

/// The suite called `name`, if known.
pub fn suite(name: &str) -> Option<Suite> {
    SUITES.iter().copied().find(|s| s.name == name)
}

/// Where the Ubuntu archive key comes from when the host has none: the
/// `ubuntu-keyring` package of focal, whose key file (the 2012 and 2018
/// archive signing keys, 790B C727 … C0B2 1F32 and F6EC B376 … 991B C93C)
/// must hash to [`UBUNTU_KEYRING_SHA256`].
const UBUNTU_KEYRING_DEB: &str = "pool/main/u/ubuntu-keyring/ubuntu-keyring_2020.02.11.2_all.deb";
const UBUNTU_KEYRING_FILE: &str = "usr/share/keyrings/ubuntu-archive-keyring.gpg";
const UBUNTU_KEYRING_SHA256: &str =
    "1a4dd63e5c76728960a2edddae22e2e0fc53df8e8b87806deb971030ac704eb0";
const UBUNTU_MIRROR: &str = "http://archive.ubuntu.com/ubuntu";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// The host files copied into the image so TLS and pip work as on the host.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const HOST_PIP_CONF: &str = "/etc/pip.conf";

/// What to build.
#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    /// Debian or Ubuntu suite (see [`SUITES`]).
    pub suite: String,
    /// Image reference to create, `name[:tag]`.
    pub tag: String,
    /// Rebuild even when the tag exists.
    pub force: bool,
    /// Debian or Ubuntu mirror (default: the suite's distribution's).
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
        let suite = suite.into();
        let ubuntu = self::suite(&suite).is_some_and(|s| s.ubuntu);
        BootstrapOptions {
            mirror: if ubuntu { UBUNTU_MIRROR } else { DEBIAN_MIRROR }.into(),
            suite,
            tag: tag.into(),
            force: false,
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
        .arg(format!("--cache-dir={}", cache.display()));
    if suite(&opts.suite).is_some_and(|s| s.ubuntu) {
        // pip and venv are in universe on Ubuntu.
        progress("checking the Ubuntu archive key");
        let keyring = ubuntu_keyring(opts, log).await?;
        cmd.arg("--components=main,universe")
            .arg(format!("--keyring={}", keyring.display()));
    }
    cmd.arg(&opts.suite).arg(rootfs).arg(&opts.mirror);
    run_logged(cmd, "debootstrap", log).await?;

    progress("copying the host's CA bundle and pip configuration");
    copy_host_config(rootfs)?;

    let python_env = ["ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"];
    if opts.install_uv {
        progress("installing uv with pip");
        let managed = has_externally_managed(rootfs);
        let pip = |args: &[&str]| {
            let mut cmd = Command::new("chroot");
            cmd.arg(rootfs)
                .args(["/usr/bin/python3", "-m", "pip"])
                .args(args)
                // An environment variable, not the flag: bullseye's pip 20.3
                // has no --root-user-action and would refuse to run.
                .env("PIP_ROOT_USER_ACTION", "ignore")
                .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                );
            if !pip_index_configured() {
                // pip before 10 defaults to pypi.python.org, a name that
                // only redirects (and that a registry proxy may not serve).
                cmd.env("PIP_INDEX_URL", "https://pypi.org/simple");
            }
            if managed && args.first() == Some(&"install") {
                cmd.arg("--break-system-packages");
            }
            cmd
        };
        let version = pip(&["--version"])
            .output()
            .await
            .map_err(io_err("starting pip"))?;
        let (pip_version, python) = pip_versions(&String::from_utf8_lossy(&version.stdout));
        if pip_version < (19, 3) {
            // uv's wheels are manylinux2014: older pips (bionic's 9.0) do
            // not see them. 21.3 is the last pip for Python 3.6.
            progress("upgrading the suite's old pip, which cannot see uv's wheels");
            let upgrade = pip(&["install", "--no-cache-dir", "pip>=19.3,<22"]);
            run_logged(upgrade, "pip install pip", log).await?;
        }
        // uv's package asks for Python 3.8, but its binary serves 3.6 and
        // 3.7 too (tier 2 in uv's policy).
        let mut install = vec!["install", "--no-cache-dir"];
        if python < (3, 8) {
            install.push("--ignore-requires-python");
        }
        install.push("uv");
        run_logged(pip(&install), "pip install uv", log).await?;
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

/// The Ubuntu archive keyring: the host's when it has one, else the pinned
/// one fetched from the mirror (cached), refused unless its hash matches.
async fn ubuntu_keyring(opts: &BootstrapOptions, log: &Path) -> Result<PathBuf, ImageError> {
    let host = Path::new("/usr/share/keyrings/ubuntu-archive-keyring.gpg");
    if host.is_file() {
        return Ok(host.to_path_buf());
    }
    let dir = opts.cache_dir.join("ubuntu-keyring");
    let key = dir.join(UBUNTU_KEYRING_FILE);
    if !key.is_file() {
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let deb = dir.join("ubuntu-keyring.deb");
        let url = format!("{}/{UBUNTU_KEYRING_DEB}", opts.mirror.trim_end_matches('/'));
        let mut get = Command::new("wget");
        get.args(["-q", "-O"]).arg(&deb).arg(&url);
        run_logged(get, &format!("downloading {url}"), log).await?;
        let mut unpack = Command::new("dpkg-deb");
        unpack.arg("-x").arg(&deb).arg(&dir);
        run_logged(unpack, "unpacking ubuntu-keyring", log).await?;
    }
    let out = Command::new("sha256sum")
        .arg(&key)
        .output()
        .await
        .map_err(io_err("starting sha256sum"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sum = text.split_whitespace().next().unwrap_or_default();
    if sum != UBUNTU_KEYRING_SHA256 {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(ImageError::Step {
            step: "checking the Ubuntu archive keyring".into(),
            code: 1,
            log: key.display().to_string(),
            tail: format!(
                "its SHA-256 is {sum}, not the pinned {UBUNTU_KEYRING_SHA256}: refusing to \
                 trust it. Install Ubuntu's keyring on the host \
                 (/usr/share/keyrings/ubuntu-archive-keyring.gpg) to use your own."
            ),
        });
    }
    Ok(key)
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

/// Whether the host's environment or pip configuration (copied into the
/// image) names an index, which must not be overridden.
fn pip_index_configured() -> bool {
    std::env::var_os("PIP_INDEX_URL").is_some()
        || std::fs::read_to_string(HOST_PIP_CONF).is_ok_and(|c| c.contains("index-url"))
}

/// The pip and Python versions in `pip --version`'s output
/// (`pip 9.0.1 from /usr/lib/python3/dist-packages (python 3.6)`).
fn pip_versions(line: &str) -> ((u32, u32), (u32, u32)) {
    let pair = |v: &str| {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let pip = pair(line.split_whitespace().nth(1).unwrap_or_default());
    let python = line
        .rsplit_once("(python ")
        .map_or((0, 0), |(_, v)| pair(v.trim_end().trim_end_matches(')')));
    (pip, python)
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
    use super::*;

    #[test]
    fn each_suite_bootstraps_from_its_distributions_mirror() {
        assert_eq!(BootstrapOptions::new("focal", "t").mirror, UBUNTU_MIRROR);
        assert_eq!(BootstrapOptions::new("noble", "t").mirror, UBUNTU_MIRROR);
        assert_eq!(BootstrapOptions::new("bookworm", "t").mirror, DEBIAN_MIRROR);
        // An unknown suite (sid, a derivative's) is Debian's unless --mirror says.
        assert_eq!(BootstrapOptions::new("sid", "t").mirror, DEBIAN_MIRROR);
        let pythons: Vec<&str> = SUITES.iter().map(|s| s.python).collect();
        assert_eq!(
            pythons,
            ["3.6", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
        );
    }

    #[test]
    fn pip_and_python_versions_are_read_from_pip_version() {
        let line = |pip: &str, py: &str| {
            format!("pip {pip} from /usr/lib/python3/dist-packages/pip (python {py})\n")
        };
        assert_eq!(pip_versions(&line("9.0.1", "3.6")), ((9, 0), (3, 6)));
        assert_eq!(pip_versions(&line("20.0.2", "3.8")), ((20, 0), (3, 8)));
        assert_eq!(pip_versions(&line("25.1.1", "3.13")), ((25, 1), (3, 13)));
        assert_eq!(pip_versions(""), ((0, 0), (0, 0)));
    }

    #[tokio::test]
    async fn a_keyring_that_does_not_match_the_pin_is_refused_and_dropped() {
        if Path::new("/usr/share/keyrings/ubuntu-archive-keyring.gpg").is_file() {
            eprintln!("skipped: this host has Ubuntu's keyring, which is used as is");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let mut opts = BootstrapOptions::new("focal", "t");
        opts.cache_dir = tmp.path().to_path_buf();
        let key = tmp.path().join("ubuntu-keyring").join(UBUNTU_KEYRING_FILE);
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        std::fs::write(&key, b"not the archive key").unwrap();
        let err = ubuntu_keyring(&opts, &tmp.path().join("log"))
            .await
            .expect_err("a tampered keyring is refused")
            .to_string();
        assert!(err.contains("refusing to trust it"), "{err}");
        assert!(
            !key.exists(),
            "the bad keyring is removed, so the next run fetches it again"
        );
    }

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
