//! Plain data types of the sandbox API.

use crate::Limits;
use std::borrow::Cow;
use std::time::Duration;

/// How to start a sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxSpec {
    /// Image reference.
    pub image: String,
    /// Default working directory of commands (the image's own when `None`).
    pub workdir: Option<String>,
    /// Environment variables set in the sandbox.
    pub env: Vec<(String, String)>,
    /// Extra labels on the container.
    pub labels: Vec<(String, String)>,
    /// Memory, CPU and process limits ([`Limits::default`] unless changed).
    pub limits: Limits,
    /// Give the sandbox network access (off: no network at all).
    pub network: bool,
    /// Host directories shared read-write into the sandbox (host path, path
    /// inside), for caches that outlive it (created when missing). Only where
    /// the daemon sees this host's files ([`crate::docker::DockerProvider::shares_host_paths`]);
    /// a remote daemon starts the sandbox without them. Saving a sandbox as an
    /// image leaves them out.
    pub caches: Vec<(std::path::PathBuf, String)>,
}

impl SandboxSpec {
    /// A spec for `image` with defaults: image workdir, network on, the
    /// default [`Limits`] (4 GiB, 1024 processes, CPU weight 512).
    pub fn new(image: impl Into<String>) -> Self {
        SandboxSpec {
            image: image.into(),
            workdir: None,
            env: Vec::new(),
            labels: Vec::new(),
            limits: Limits::default(),
            network: true,
            caches: Vec::new(),
        }
    }
}

/// Per-command options.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// Kill the command's whole process group after this long.
    pub timeout: Option<Duration>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Capture at most this many bytes per stream (first and last halves kept).
    pub max_output: u64,
    /// Run through a login shell (`bash -lc`), which sources /etc/profile.
    pub login: bool,
    /// Bytes fed to the command's stdin.
    pub stdin: Vec<u8>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            timeout: None,
            cwd: None,
            env: Vec::new(),
            max_output: r2e_shim::DEFAULT_MAX_OUTPUT,
            login: false,
            stdin: Vec::new(),
        }
    }
}

impl ExecOptions {
    /// Options with a timeout.
    pub fn timeout(secs: f64) -> Self {
        ExecOptions {
            timeout: Some(Duration::from_secs_f64(secs)),
            ..Default::default()
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecOutput {
    /// Exit status; 128 + signal when killed by a signal.
    pub exit_code: i32,
    /// Captured stdout bytes, exactly as produced (up to the cap).
    pub stdout: Vec<u8>,
    /// Captured stderr bytes.
    pub stderr: Vec<u8>,
    /// Wall time of the command inside the sandbox.
    pub duration: Duration,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// Output beyond the cap was dropped (a marker line stands in its place).
    pub truncated: bool,
    /// The out-of-memory killer killed a process of the sandbox while the
    /// command ran (usually the command itself: exit code 137).
    pub oom_killed: bool,
}

impl ExecOutput {
    /// Stdout as text; invalid UTF-8 sequences become U+FFFD.
    pub fn stdout_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Stderr as text; invalid UTF-8 sequences become U+FFFD.
    pub fn stderr_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }

    /// Whether both streams are valid UTF-8 (so the text forms are exact).
    pub fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.stdout).is_ok() && std::str::from_utf8(&self.stderr).is_ok()
    }

    /// Exit code 0 and no timeout.
    pub fn success(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }

    /// Why the command was killed when a bare exit code would hide it:
    /// `killed: out of memory (limit 4 GiB)` (or `(no memory limit)`) after an
    /// out-of-memory kill, given the sandbox's `limits`; `None` otherwise.
    pub fn kill_note(&self, limits: &Limits) -> Option<String> {
        self.oom_killed
            .then(|| format!("killed: out of memory ({})", limits.memory_text()))
    }
}
