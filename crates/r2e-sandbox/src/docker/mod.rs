//! The Docker provider: sandboxes are containers whose main process is the
//! shim, driven over one attach connection through the Engine API (bollard).
//!
//! Containers are created with `AutoRemove` and `StdinOnce`: when the attach
//! connection closes for any reason (close, drop, panic, Ctrl-C, even SIGKILL
//! of r2e) the shim reads end of input and exits, and the engine removes the
//! container. `close()` removes it at once; `gc` sweeps what a crashed daemon
//! or host left behind.

mod engine;

pub(crate) use engine::classify as engine_classify;
pub use engine::{EngineInfo, connect, endpoint};

use crate::conn::ShimConn;
use crate::session::{Diagnose, ShimSession, handshake};
use crate::shim::{SHIM_PATH_IN_SANDBOX, shim_on_host, shim_tar};
use crate::{
    ExecOutput, Limits, OWNER_PID_LABEL, Provider, Result, SANDBOX_LABEL, Sandbox, SandboxError,
    SandboxSpec,
};
use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, UploadToContainerOptionsBuilder,
};
use r2e_shim::SOCKET_ENV;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a new sandbox's shim may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(60);

/// How the shim binary gets into a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShimDelivery {
    /// Bind-mount the host's copy read-only (the daemon must see the host's files).
    Bind,
    /// Upload it into the container before start (remote daemons).
    Upload,
}

/// How requests reach the shim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A Unix socket in a bind-mounted host directory (local daemons only):
    /// no engine relay on the request path.
    Socket,
    /// The container's attached stdin/stdout, relayed by the engine (works everywhere).
    Attach,
}

/// Where the shim's socket directory is mounted inside the sandbox.
const RUN_DIR_IN_SANDBOX: &str = "/.r2e/run";

/// Starts sandboxes as Docker containers.
#[derive(Clone)]
pub struct DockerProvider {
    docker: Docker,
    delivery: ShimDelivery,
    transport: Transport,
    live: Arc<Mutex<HashSet<String>>>,
}

impl DockerProvider {
    /// Connects to the daemon (`DOCKER_HOST` or the local socket) and negotiates
    /// the API version. The shim is bind-mounted for local daemons and uploaded
    /// for remote ones; `R2E_SHIM_DELIVERY=upload|bind` overrides. With a local
    /// daemon requests go over a Unix socket in a bind-mounted directory, which
    /// skips the engine's stdio relay; `R2E_SHIM_TRANSPORT=attach` keeps them on
    /// the attach stream.
    pub async fn connect() -> Result<Self> {
        let docker = connect().await?;
        let remote = endpoint().starts_with("tcp://") || endpoint().starts_with("ssh://");
        let delivery = match std::env::var("R2E_SHIM_DELIVERY").as_deref() {
            Ok("upload") => ShimDelivery::Upload,
            Ok("bind") => ShimDelivery::Bind,
            _ if remote => ShimDelivery::Upload,
            _ => ShimDelivery::Bind,
        };
        let transport = match std::env::var("R2E_SHIM_TRANSPORT").as_deref() {
            Ok("attach") => Transport::Attach,
            _ if delivery == ShimDelivery::Upload => Transport::Attach,
            _ => Transport::Socket,
        };
        Ok(Self::with_client(docker, delivery, transport))
    }

    /// Uses an existing client. The socket transport needs a local daemon and
    /// falls back to attach when the shim is uploaded.
    pub fn with_client(docker: Docker, delivery: ShimDelivery, transport: Transport) -> Self {
        let transport = if delivery == ShimDelivery::Upload {
            Transport::Attach
        } else {
            transport
        };
        DockerProvider {
            docker,
            delivery,
            transport,
            live: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The Engine API client.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Starts a sandbox and returns the concrete Docker type (for callers that
    /// need the container id or the Engine API baseline).
    ///
    /// The start runs to its end on its own task: a caller that gives up
    /// while the engine is creating the container (a client gone, a timeout)
    /// would otherwise leave it in "Created" for good. A sandbox nobody takes
    /// any more is dropped, which removes it.
    pub async fn start_docker(&self, spec: &SandboxSpec) -> Result<DockerSandbox> {
        let (me, spec) = (self.clone(), spec.clone());
        tokio::spawn(async move { me.start_here(&spec).await })
            .await
            .map_err(|e| SandboxError::Io {
                context: "starting a sandbox".into(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    /// [`Self::start_docker`] on the caller's task.
    async fn start_here(&self, spec: &SandboxSpec) -> Result<DockerSandbox> {
        let docker = &self.docker;
        let mut labels: HashMap<String, String> = spec.labels.iter().cloned().collect();
        labels.insert(SANDBOX_LABEL.into(), "1".into());
        labels.insert(OWNER_PID_LABEL.into(), std::process::id().to_string());
        let mut binds = Vec::new();
        if self.delivery == ShimDelivery::Bind {
            binds.push(format!(
                "{}:{SHIM_PATH_IN_SANDBOX}:ro",
                shim_on_host()?.display()
            ));
        }
        if self.shares_host_paths() {
            for (host, inside) in &spec.caches {
                std::fs::create_dir_all(host).map_err(|e| SandboxError::Io {
                    context: format!("creating the cache directory {}", host.display()),
                    source: e,
                })?;
                binds.push(format!("{}:{inside}", host.display()));
            }
        }
        let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let run_dir = if self.transport == Transport::Socket {
            let dir = new_run_dir()?;
            binds.push(format!("{}:{RUN_DIR_IN_SANDBOX}", dir.display()));
            env.push(format!("{SOCKET_ENV}={RUN_DIR_IN_SANDBOX}/shim.sock"));
            Some(dir)
        } else {
            // Images saved from socket sandboxes (task images, SWE-Gen's)
            // carry the socket path in their environment; empty means stdio.
            env.push(format!("{SOCKET_ENV}="));
            None
        };
        let host_config = HostConfig {
            binds: Some(binds),
            auto_remove: Some(true),
            network_mode: (!spec.network).then(|| "none".to_string()),
            ..limits_config(&spec.limits)
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec![SHIM_PATH_IN_SANDBOX.to_string()]),
            cmd: Some(Vec::new()),
            env: Some(env),
            working_dir: spec.workdir.clone(),
            labels: Some(labels),
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            host_config: Some(host_config),
            ..Default::default()
        };
        let t0 = std::time::Instant::now();
        let created = match docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                remove_run_dir(run_dir.as_deref());
                return Err(engine::classify(
                    e,
                    "creating a container",
                    Some(&spec.image),
                ));
            }
        };
        let id = created.id;
        tracing::debug!(container = %id, "created in {:?}", t0.elapsed());
        record_container(run_dir.as_deref(), &id);
        self.live.lock().expect("live set lock").insert(id.clone());
        // A caller that gives up now (a client gone, a timeout) drops this
        // future between create and start: the engine would keep the
        // container in "Created" for good. The guard removes it then.
        let guard = UnstartedGuard {
            docker: Some(docker.clone()),
            id: id.clone(),
        };
        let booted = self.boot(&id, spec, run_dir.as_deref()).await;
        guard.disarm();
        match booted {
            Ok(conn) => Ok(DockerSandbox {
                session: ShimSession::new(conn, id.chars().take(12).collect()),
                id,
                image: spec.image.clone(),
                docker: docker.clone(),
                live: self.live.clone(),
                run_dir,
                limits: spec.limits,
            }),
            Err(e) => {
                remove(docker, &id).await;
                remove_run_dir(run_dir.as_deref());
                self.live.lock().expect("live set lock").remove(&id);
                Err(e)
            }
        }
    }

    async fn boot(
        &self,
        id: &str,
        spec: &SandboxSpec,
        run_dir: Option<&std::path::Path>,
    ) -> Result<ShimConn> {
        let docker = &self.docker;
        let short: String = id.chars().take(12).collect();
        if self.delivery == ShimDelivery::Upload {
            let opts = UploadToContainerOptionsBuilder::default().path("/").build();
            docker
                .upload_to_container(id, Some(opts), bollard::body_full(shim_tar().into()))
                .await
                .map_err(|e| engine::classify(e, "uploading the shim", None))?;
        }
        let attach = docker
            .attach_container(
                id,
                Some(
                    AttachContainerOptionsBuilder::default()
                        .stdin(true)
                        .stdout(true)
                        .stderr(true)
                        .stream(true)
                        .build(),
                ),
            )
            .await
            .map_err(|e| engine::classify(e, "attaching to the container", None))?;
        let conn = ShimConn::new(short.clone(), attach.output, attach.input);
        let t0 = std::time::Instant::now();
        docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| engine::classify(e, "starting the container", Some(&spec.image)))?;
        tracing::debug!(container = %short, "started in {:?}", t0.elapsed());
        let socket = run_dir.map(|dir| dir.join("shim.sock"));
        handshake(
            &conn,
            &short,
            HELLO_TIMEOUT,
            socket.as_deref(),
            "the image may lack a usable /.r2e mount point, or is not for this CPU",
        )
        .await?;
        tracing::debug!(container = %short, "shim ready {:?} after start", t0.elapsed());
        Ok(conn)
    }

    /// Whether sandboxes can see this host's directories (a local daemon, the
    /// shim bind-mounted): where [`SandboxSpec::caches`] apply.
    pub fn shares_host_paths(&self) -> bool {
        self.delivery == ShimDelivery::Bind
    }

    /// Whether the engine has image `image`.
    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(source) => Err(SandboxError::Docker {
                context: format!("inspecting image {image}"),
                source,
            }),
        }
    }

    /// Saves a sandbox's filesystem as image `image` (`repo:tag`) with
    /// `labels`, the way task images are made from a prepared sandbox. The
    /// image runs a shell by default (`docker run -it IMAGE` works).
    /// `env` (`KEY=value`) is set in the image's configuration, on top of the
    /// sandbox's own environment (e.g. a `PATH` with a virtualenv first).
    pub async fn commit(
        &self,
        sandbox: &dyn Sandbox,
        image: &str,
        labels: std::collections::HashMap<String, String>,
        env: &[String],
    ) -> Result<()> {
        let (repo, tag) = crate::image::split_reference(image);
        let opts = bollard::query_parameters::CommitContainerOptionsBuilder::default()
            .container(sandbox.id())
            .repo(repo)
            .tag(tag)
            .build();
        // The sandbox's entrypoint is the shim, bind-mounted: in the image
        // it would be an empty placeholder. The image gets a plain shell
        // instead, so that `docker run -it IMAGE` works.
        // The sandbox's own labels would make every container of the image
        // (a user's `docker run`) look like an r2e sandbox to `gc`.
        let mut labels = labels;
        for own in [SANDBOX_LABEL, OWNER_PID_LABEL] {
            labels.entry(own.to_string()).or_default();
        }
        let config = bollard::models::ContainerConfig {
            labels: Some(labels),
            env: (!env.is_empty()).then(|| env.to_vec()),
            entrypoint: Some(Vec::new()),
            cmd: Some(vec!["/bin/sh".to_string()]),
            open_stdin: Some(false),
            stdin_once: Some(false),
            attach_stdin: Some(false),
            ..Default::default()
        };
        self.docker
            .commit_container(opts, config)
            .await
            .map_err(|source| SandboxError::Docker {
                context: format!("saving sandbox {} as image {image}", sandbox.id()),
                source,
            })?;
        Ok(())
    }

    /// The containers carrying `label` (`KEY=VALUE` or `KEY`): running ones,
    /// or with `all` stopped and created ones too.
    pub async fn containers_labelled(
        &self,
        label: &str,
        all: bool,
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(all)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| engine::classify(e, "listing containers", None))
    }

    /// Removes what crashed or killed runs left behind: containers carrying
    /// [`SANDBOX_LABEL`] whose owning process is gone (or all of them with
    /// `all`), then the host directories of the socket transport whose r2e
    /// process is gone or whose container no longer exists. Only containers
    /// that run the shim count: images saved by older versions carry the
    /// label, and so do the containers a user starts from them.
    pub async fn gc(&self, all: bool) -> Result<GcReport> {
        let listed_at = std::time::SystemTime::now();
        let list = self
            .containers_labelled(&format!("{SANDBOX_LABEL}=1"), true)
            .await?;
        let mut removed = Vec::new();
        let mut kept = HashSet::new();
        for c in list {
            let Some(id) = c.id else { continue };
            if !c
                .command
                .as_deref()
                .is_some_and(|cmd| cmd.starts_with(SHIM_PATH_IN_SANDBOX))
            {
                continue;
            }
            let owner_alive = c
                .labels
                .as_ref()
                .and_then(|l| l.get(OWNER_PID_LABEL))
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != std::process::id()
                        && std::path::Path::new(&format!("/proc/{pid}")).exists()
                });
            if all || !owner_alive {
                remove(&self.docker, &id).await;
                removed.push(id);
            } else {
                kept.insert(id);
            }
        }
        let run_dirs = sweep_run_dirs(&run_root(), listed_at, |id| kept.contains(id));
        Ok(GcReport {
            containers: removed,
            run_dirs,
        })
    }
}

/// What [`DockerProvider::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Ids of the containers removed.
    pub containers: Vec<String>,
    /// Host socket directories removed (see [`run_root`]).
    pub run_dirs: Vec<std::path::PathBuf>,
}

#[async_trait]
impl Provider for DockerProvider {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>> {
        Ok(Box::new(self.start_docker(spec).await?))
    }

    async fn close_all(&self) -> usize {
        let ids: Vec<String> = self.live.lock().expect("live set lock").drain().collect();
        let n = ids.len();
        futures_util::future::join_all(ids.iter().map(|id| remove(&self.docker, id))).await;
        n
    }
}

/// Removes a created container if the start is abandoned half-way.
struct UnstartedGuard {
    docker: Option<Docker>,
    id: String,
}

impl UnstartedGuard {
    fn disarm(mut self) {
        self.docker = None;
    }
}

impl Drop for UnstartedGuard {
    fn drop(&mut self) {
        if let Some(docker) = self.docker.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let id = std::mem::take(&mut self.id);
            rt.spawn(async move { remove(&docker, &id).await });
        }
    }
}

/// Force-removes a container, ignoring "already gone", and returns once it
/// is gone. When the engine is already removing it (AutoRemove after the
/// shim exited: 409), waits for that removal to finish (up to 10 s) so that
/// callers never see it linger.
async fn remove(docker: &Docker, id: &str) {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => {
            for _ in 0..100 {
                let gone = matches!(
                    docker
                        .inspect_container(
                            id,
                            None::<bollard::query_parameters::InspectContainerOptions>
                        )
                        .await,
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    })
                );
                if gone {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            tracing::warn!("container {id} is still being removed after 10 s");
        }
        Err(e) => tracing::warn!("removing container {id}: {e}"),
    }
}

/// The resource part of a container's host configuration. Swap is limited to
/// the memory limit (no swap on top), so that a sandbox over its limit is
/// killed by the OOM killer, which the shim reports, instead of swapping.
fn limits_config(limits: &Limits) -> HostConfig {
    let memory = limits
        .memory_bytes
        .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    HostConfig {
        memory,
        memory_swap: memory,
        nano_cpus: limits.cpus.map(|c| (c * 1e9).round() as i64),
        cpu_shares: limits.cpu_shares.map(i64::from),
        pids_limit: limits.pids.map(i64::from),
        ..Default::default()
    }
}

/// A running Docker sandbox.
pub struct DockerSandbox {
    id: String,
    image: String,
    docker: Docker,
    session: ShimSession,
    live: Arc<Mutex<HashSet<String>>>,
    run_dir: Option<std::path::PathBuf>,
    limits: Limits,
}

impl DockerSandbox {
    /// The Engine API client this sandbox uses.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The limits the sandbox was started with (for [`ExecOutput::kill_note`]).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs a command the way R2E-Gym does, with a fresh `docker exec` through the
    /// Engine API (create, start attached, inspect): the baseline the shim is
    /// measured against.
    pub async fn engine_exec(&self, argv: &[&str]) -> Result<ExecOutput> {
        engine::exec(&self.docker, &self.id, argv).await
    }
}

#[async_trait]
impl Diagnose for DockerSandbox {
    /// What the engine says about a container that stopped answering.
    async fn death_detail(&self, stderr: &str) -> String {
        // The engine's flag while the container exists, else the shim's word.
        let mut oom = stderr.contains(r2e_shim::SERVER_OOM_NOTE);
        let mut state = match self.docker.inspect_container(&self.id, None).await {
            Ok(info) => {
                let s = info.state.unwrap_or_default();
                oom |= s.oom_killed == Some(true);
                format!(
                    "the container is {} (exit code {}{})",
                    s.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "in an unknown state".into()),
                    s.exit_code.unwrap_or(-1),
                    s.error
                        .filter(|e| !e.is_empty())
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default(),
                )
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => "the container no longer exists (it was killed or removed outside r2e)".into(),
            Err(e) => format!("the engine cannot describe it: {e}"),
        };
        if oom {
            state = format!(
                "killed: out of memory ({}); {state}",
                self.limits.memory_text()
            );
        }
        state
    }
}

crate::impl_sandbox_via_session! { DockerSandbox, session;
    fn id(&self) -> &str {
        &self.id
    }

    fn image(&self) -> &str {
        &self.image
    }

    async fn copy_in(&self, tar: Vec<u8>, dest: &str) -> Result<()> {
        self.session.check_open()?;
        let opts = UploadToContainerOptionsBuilder::default()
            .path(dest)
            .build();
        self.docker
            .upload_to_container(&self.id, Some(opts), bollard::body_full(tar.into()))
            .await
            .map_err(|e| engine::classify(e, &format!("copying files into {dest}"), None))
    }

    async fn close(&self) -> Result<()> {
        if !self.session.close().await {
            return Ok(());
        }
        remove(&self.docker, &self.id).await;
        self.live.lock().expect("live set lock").remove(&self.id);
        remove_run_dir(self.run_dir.as_deref());
        Ok(())
    }
}

impl Drop for DockerSandbox {
    fn drop(&mut self) {
        remove_run_dir(self.run_dir.as_deref());
        if self.session.is_closed() {
            return;
        }
        // The connection closes with `conn`, so the shim exits and AutoRemove
        // removes the container anyway; inside a runtime, also remove it
        // explicitly. Until that finishes it stays in the live set, so that
        // Ctrl-C handling (`close_all`) still covers it.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (docker, id, live) = (self.docker.clone(), self.id.clone(), self.live.clone());
            handle.spawn(async move {
                remove(&docker, &id).await;
                live.lock().expect("live set lock").remove(&id);
            });
        }
    }
}

/// Where the socket transport's per-sandbox directories live on the host:
/// `$TMPDIR/r2e-run-<uid>`, private to this user. Each sandbox gets
/// `<owner pid>-<n>/` (bind-mounted into it) and, beside it,
/// `<owner pid>-<n>.container` naming its container (out of the sandbox's reach).
pub fn run_root() -> std::path::PathBuf {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    std::env::temp_dir().join(format!("r2e-run-{uid}"))
}

/// A fresh host directory for one sandbox's shim socket. The parent is private
/// to this user; the directory itself is open so that any user in the
/// container can create the socket.
fn new_run_dir() -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let io = |context: String| move |source| SandboxError::Io { context, source };
    let parent = run_root();
    std::fs::create_dir_all(&parent).map_err(io(format!("creating {}", parent.display())))?;
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("chmod {}", parent.display())))?;
    let dir = parent.join(format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
        .map_err(io(format!("chmod {}", dir.display())))?;
    Ok(dir)
}

fn remove_run_dir(dir: Option<&std::path::Path>) {
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_file(container_record(dir));
    }
}

/// The file beside a run directory that names its container.
fn container_record(dir: &std::path::Path) -> std::path::PathBuf {
    dir.with_extension("container")
}

/// Notes which container uses a run directory, for [`sweep_run_dirs`].
fn record_container(dir: Option<&std::path::Path>, id: &str) {
    if let Some(dir) = dir
        && let Err(e) = std::fs::write(container_record(dir), id)
    {
        tracing::debug!("recording the container of {}: {e}", dir.display());
    }
}

/// Removes the run directories under `root` that no live sandbox uses: their
/// owner process (the pid in the name) is gone, or the container recorded
/// beside them (before `listed_at`, when the containers were listed) is not
/// in `container_exists`. Returns the directories removed.
fn sweep_run_dirs(
    root: &std::path::Path,
    listed_at: std::time::SystemTime,
    container_exists: impl Fn(&str) -> bool,
) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // `<pid>-<n>` directories and their `<pid>-<n>.container` records.
        let (stem, is_record) = match name.strip_suffix(".container") {
            Some(stem) => (stem.to_string(), true),
            None => (name.clone(), false),
        };
        let Some(pid) = stem
            .split_once('-')
            .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        let dir = root.join(&stem);
        if is_record {
            // A record whose directory is gone (removed above or by its owner).
            if !dir.exists() {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let owner_alive = pid == me || std::path::Path::new(&format!("/proc/{pid}")).exists();
        // A container recorded after the listing may be starting right now.
        let record = container_record(&dir);
        let recorded_before = std::fs::metadata(&record)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < listed_at);
        let container_gone = recorded_before
            && std::fs::read_to_string(&record).is_ok_and(|id| !container_exists(id.trim()));
        if owner_alive && !container_gone {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                let _ = std::fs::remove_file(container_record(&dir));
                removed.push(dir);
            }
            Err(e) => tracing::warn!("removing {}: {e}", dir.display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::{container_record, sweep_run_dirs};
    use std::time::{Duration, SystemTime};

    /// A pid that is not running (beyond the default pid_max of 4 million).
    const DEAD_PID: u32 = 4_194_304 + 7;

    #[test]
    fn sweep_removes_dirs_of_dead_owners_and_gone_containers() {
        let root = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let mk = |name: &str, container: Option<&str>| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("shim.sock"), b"").unwrap();
            if let Some(id) = container {
                std::fs::write(container_record(&dir), id).unwrap();
            }
            dir
        };
        let dead_owner = mk(&format!("{DEAD_PID}-0"), Some("c-dead-owner"));
        let gone = mk(&format!("{me}-1"), Some("c-gone"));
        let live = mk(&format!("{me}-2"), Some("c-live"));
        let booting = mk(&format!("{me}-3"), None);
        let other = root.path().join("not-ours");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(root.path().join("99-9.container"), "orphan record").unwrap();

        let listed_at = SystemTime::now() + Duration::from_secs(1);
        let mut removed = sweep_run_dirs(root.path(), listed_at, |id| id == "c-live");
        removed.sort();
        let mut expected = vec![dead_owner.clone(), gone.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        for d in [&dead_owner, &gone] {
            assert!(!d.exists() && !container_record(d).exists());
        }
        for d in [&live, &booting, &other] {
            assert!(d.exists());
        }
        assert!(container_record(&live).exists());
        assert!(!root.path().join("99-9.container").exists());

        // A container recorded after the listing may be starting: kept.
        let fresh = mk(&format!("{me}-4"), Some("c-new"));
        let before = SystemTime::now() - Duration::from_secs(60);
        assert!(sweep_run_dirs(root.path(), before, |id| id == "c-live").is_empty());
        assert!(fresh.exists());
        // A missing root is nothing to sweep.
        assert!(sweep_run_dirs(&root.path().join("absent"), listed_at, |_| false).is_empty());
    }
}
