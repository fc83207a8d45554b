//! r2e-sandbox: where commands run.
//!
//! A [`Provider`] starts [`Sandbox`]es from images; a sandbox runs commands and
//! moves files through `r2e-shim`, the static binary embedded in this crate
//! ([`shim`]) and started as each sandbox's main process. The Docker provider
//! ([`docker`]) talks to the Engine API through bollard, negotiating the API
//! version with the daemon. [`image`] builds base images without a registry;
//! [`images`] lists the images r2e made and removes them;
//! [`pool`] keeps started sandboxes warm so that taking one is nearly free;
//! [`limits`] bounds each sandbox's memory, CPU and processes. [`conn`] and
//! [`session`] are the host end of the shim protocol over any stdio stream,
//! shared with other providers (`r2e-kube`).

pub mod conn;
pub mod docker;
pub mod image;
pub mod images;
pub mod limits;
pub mod pool;
pub mod session;
pub mod shim;
mod types;

pub use limits::{LimitError, Limits};
pub use pool::WarmPool;
pub use r2e_shim::{
    DirEntry, FileKind, FileStat, ShimError, ShimErrorKind, ToolReply, ToolRequest,
};
pub use types::{ExecOptions, ExecOutput, SandboxSpec};

use async_trait::async_trait;

/// For [`impl_sandbox_via_session!`], so that its users need not name `async_trait`.
#[doc(hidden)]
pub use async_trait::async_trait as __async_trait;

/// Label put on every container r2e starts; `r2e sandbox gc` finds leftovers by it.
pub const SANDBOX_LABEL: &str = "dev.r2e.sandbox";
/// Label holding the pid of the r2e process that started the sandbox.
pub const OWNER_PID_LABEL: &str = "dev.r2e.owner-pid";

/// Everything that can go wrong starting or using a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The container engine is not reachable.
    #[error(
        "cannot reach the Docker daemon ({endpoint}): {source}\n  \
         hint: start it (`sudo systemctl start docker`, or `dockerd &` as root) or point DOCKER_HOST at a running one"
    )]
    DaemonUnreachable {
        /// Where we tried to connect.
        endpoint: String,
        /// The underlying failure.
        #[source]
        source: bollard::errors::Error,
    },
    /// The image does not exist in the engine.
    #[error(
        "image {image} is not present in the Docker engine\n  \
         hint: pull it (`docker pull {image}`), or build a base image without a registry with \
         `r2e image bootstrap --suite bookworm --tag {image}`"
    )]
    ImageNotFound {
        /// The image reference.
        image: String,
    },
    /// An Engine API call failed.
    #[error("docker: {context}: {source}")]
    Docker {
        /// What r2e was doing.
        context: String,
        /// The underlying failure.
        #[source]
        source: bollard::errors::Error,
    },
    /// The sandbox's container went away (killed, out of memory, removed) mid-request.
    #[error("sandbox {id} died while {doing}: {detail}")]
    Died {
        /// Short container id.
        id: String,
        /// The request in flight.
        doing: String,
        /// What the engine reports about the container.
        detail: String,
    },
    /// The shim did not answer in time.
    #[error("sandbox {id}: the shim did not answer within {secs} s while {doing}")]
    Unresponsive {
        /// Short container id.
        id: String,
        /// The request in flight.
        doing: String,
        /// How long we waited.
        secs: u64,
    },
    /// The shim inside speaks another protocol version.
    #[error("sandbox {id}: shim protocol {got}, this r2e speaks {expected}")]
    Protocol {
        /// Short container id.
        id: String,
        /// The shim's version.
        got: u32,
        /// Ours.
        expected: u32,
    },
    /// The shim sent something that is not a valid frame.
    #[error("sandbox {id}: malformed message from the shim: {detail}")]
    Malformed {
        /// Short container id.
        id: String,
        /// What was wrong.
        detail: String,
    },
    /// The shim ran the request and reports a failure (missing file, bad cwd, …).
    #[error("{0}")]
    Shim(#[from] ShimError),
    /// Another provider's infrastructure failure (Kubernetes: the API server
    /// refused, an image could not be pulled, a pod could not be scheduled or
    /// was evicted); the message names what failed and what to do.
    #[error("{provider}: {message}")]
    Provider {
        /// The provider's name (`kubernetes`).
        provider: &'static str,
        /// What failed, with the image, node and reason where known.
        message: String,
    },
    /// The sandbox was already closed.
    #[error("sandbox {0} is closed")]
    Closed(String),
    /// A local I/O failure (shim cache, tar building).
    #[error("{context}: {source}")]
    Io {
        /// What r2e was doing.
        context: String,
        /// The underlying failure.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;

/// A running, isolated environment: a container with the shim as its main process.
///
/// Requests are served one at a time; concurrent callers queue. `close()`
/// removes the container; dropping an unclosed sandbox closes its connection,
/// which makes the shim exit and the engine remove the container.
#[async_trait]
pub trait Sandbox: Send + Sync {
    /// Engine id of the sandbox (a container id for Docker).
    fn id(&self) -> &str;

    /// Image the sandbox was started from.
    fn image(&self) -> &str;

    /// Runs `cmd` through `bash -c` (or `sh -c` where there is no bash).
    async fn exec(&self, cmd: &str, opts: &ExecOptions) -> Result<ExecOutput>;

    /// Runs a program directly, without a shell (works in images with no shell).
    async fn exec_argv(&self, argv: &[String], opts: &ExecOptions) -> Result<ExecOutput>;

    /// Reads a whole file.
    async fn read_file(&self, path: &str) -> Result<Vec<u8>>;

    /// Writes a file (parents created), replacing its contents.
    async fn write_file(&self, path: &str, data: &[u8], mode: Option<u32>) -> Result<()>;

    /// Lists a directory, sorted by name.
    async fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>>;

    /// Describes a path; `None` when it does not exist.
    async fn stat(&self, path: &str) -> Result<Option<FileStat>>;

    /// Calls one agent tool inside the sandbox (served natively by the shim,
    /// with R2E-Gym's observation text).
    async fn call_tool(&self, req: ToolRequest) -> Result<ToolReply>;

    /// Unpacks a tar archive into directory `dest` of the sandbox.
    async fn copy_in(&self, tar: Vec<u8>, dest: &str) -> Result<()>;

    /// The working-tree diff of the git repository at `repo` against `base_commit`,
    /// new files included (`git add -A && git diff --cached BASE`).
    async fn diff(&self, repo: &str, base_commit: &str) -> Result<String> {
        let cmd = format!(
            "cd {repo} && git add -A >/dev/null && git -c core.quotepath=false diff --cached --binary {base_commit}",
            repo = shell_quote(repo),
            base_commit = shell_quote(base_commit)
        );
        let out = self.exec(&cmd, &ExecOptions::default()).await?;
        if out.exit_code != 0 {
            return Err(SandboxError::Shim(ShimError {
                kind: ShimErrorKind::Io,
                message: format!("git diff in {repo} failed: {}", out.stderr_text().trim()),
            }));
        }
        Ok(out.stdout_text().into_owned())
    }

    /// Checks that the sandbox still answers, within [`PING_TIMEOUT`]: a
    /// cheap request (`stat /`) that fails when the container died while idle.
    async fn ping(&self) -> Result<()> {
        match tokio::time::timeout(PING_TIMEOUT, self.stat("/")).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(SandboxError::Unresponsive {
                id: self.id().chars().take(12).collect(),
                doing: "answering a ping".into(),
                secs: PING_TIMEOUT.as_secs(),
            }),
        }
    }

    /// Stops and removes the sandbox. Idempotent.
    async fn close(&self) -> Result<()>;
}

/// How long [`Sandbox::ping`] waits for an answer.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Starts sandboxes.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Short name of the provider (`docker`).
    fn name(&self) -> &'static str;

    /// Starts a sandbox and waits until its shim answers.
    async fn start(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>>;

    /// Removes every sandbox this provider started that is still running
    /// (used on Ctrl-C). Returns how many were removed.
    async fn close_all(&self) -> usize;
}

/// Quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}
