//! Engine API plumbing: connecting with version negotiation, error
//! classification, daemon facts for `doctor`, and the plain `docker exec`
//! path that serves as the benchmark baseline.

use crate::{ExecOutput, Result, SandboxError};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use std::time::{Duration, Instant};

/// Timeout for one Engine API request (image imports can be large).
const API_TIMEOUT: Duration = Duration::from_secs(1800);

/// The daemon address r2e uses: `DOCKER_HOST`, or the default local socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// Connects to the daemon and negotiates the API version with it (never
/// assuming the newest: Debian's engine 20.10 speaks API 1.41).
pub async fn connect() -> Result<Docker> {
    let unreachable = |source| SandboxError::DaemonUnreachable {
        endpoint: endpoint(),
        source,
    };
    let docker = Docker::connect_with_defaults().map_err(unreachable)?;
    let docker = docker
        .with_timeout(API_TIMEOUT)
        .negotiate_version()
        .await
        .map_err(unreachable)?;
    Ok(docker)
}

/// Maps an Engine API error to a [`SandboxError`] a user can act on.
pub(crate) fn classify(
    e: bollard::errors::Error,
    context: &str,
    image: Option<&str>,
) -> SandboxError {
    use bollard::errors::Error as E;
    match (&e, image) {
        (
            E::DockerResponseServerError {
                status_code: 404,
                message,
            },
            Some(image),
        ) if message.contains("image") || message.contains(image) => SandboxError::ImageNotFound {
            image: image.to_string(),
        },
        (E::HyperLegacyError { .. } | E::IOError { .. } | E::RequestTimeoutError, _) => {
            SandboxError::DaemonUnreachable {
                endpoint: endpoint(),
                source: e,
            }
        }
        _ => SandboxError::Docker {
            context: context.to_string(),
            source: e,
        },
    }
}

/// Facts about the daemon, for `r2e doctor`.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// Engine version (e.g. 20.10.24).
    pub version: String,
    /// Negotiated API version.
    pub api_version: String,
    /// Storage driver (overlay2 expected).
    pub storage_driver: String,
    /// Docker root directory on the daemon's host.
    pub root_dir: String,
    /// Number of containers (all states).
    pub containers: i64,
    /// Number of images.
    pub images: i64,
}

impl EngineInfo {
    /// Reads version and info from the daemon.
    pub async fn read(docker: &Docker) -> Result<Self> {
        let v = docker
            .version()
            .await
            .map_err(|e| classify(e, "reading the engine version", None))?;
        let i = docker
            .info()
            .await
            .map_err(|e| classify(e, "reading engine info", None))?;
        Ok(EngineInfo {
            version: v.version.unwrap_or_default(),
            api_version: docker.client_version().to_string(),
            storage_driver: i.driver.unwrap_or_default(),
            root_dir: i.docker_root_dir.unwrap_or_default(),
            containers: i.containers.unwrap_or(0),
            images: i.images.unwrap_or(0),
        })
    }
}

/// One fresh `docker exec` through the Engine API: create, start attached,
/// collect, inspect for the exit code.
pub(crate) async fn exec(docker: &Docker, container: &str, argv: &[&str]) -> Result<ExecOutput> {
    let started = Instant::now();
    let classify_exec = |e| classify(e, "docker exec", None);
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(argv.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(classify_exec)?;
    let mut out = ExecOutput::default();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(classify_exec)?
    {
        while let Some(item) = output.next().await {
            match item.map_err(classify_exec)? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    out.stdout.extend_from_slice(&message)
                }
                LogOutput::StdErr { message } => out.stderr.extend_from_slice(&message),
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(classify_exec)?;
    out.exit_code = inspect.exit_code.unwrap_or(-1) as i32;
    out.duration = started.elapsed();
    Ok(out)
}
