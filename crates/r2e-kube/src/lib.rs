//! r2e-kube: the Kubernetes sandbox provider. One pod per sandbox, made from
//! the task image; the shim is the container's entrypoint, put into an
//! `emptyDir` at `/.r2e` by an init container from the shim image (or
//! uploaded through an exec stream where there is no such image); the host
//! talks to the shim over the API server's exec WebSocket, so the pod needs
//! no port, no port-forward and no network.
//!
//! Why a hand-written client and not kube-rs: r2e uses seven endpoints (pods
//! create/get/list/watch/delete, pods/exec, selfsubjectaccessreviews) with JSON
//! bodies it reads a few fields of. kube-rs brings k8s-openapi (hundreds of
//! generated types, the slowest crate to compile in most trees that use it),
//! tower, hyper-util's client stack and its own TLS setup; here the workspace
//! already compiles reqwest (native-tls) for the LLM clients, so the only new
//! crate is tokio-tungstenite for the exec stream. [`client`] holds
//! credentials (kubeconfig tokens, client certificates, exec plugins,
//! in-cluster service accounts), retries and the channel protocol.
//!
//! The namespace of the pods is kubectl's: the provider config's
//! `namespace`, else the kubeconfig context's (or, in a cluster, the service
//! account's), else `default` ([`KubeProvider::namespace_source`] says which).
//! [`KubeProvider::open`] is the one way the CLI and the Python package go
//! from an optional config file to a connected provider.
//!
//! Robustness: every pod carries labels naming its owner process, run and
//! environment ([`pod`]), has `activeDeadlineSeconds` so it dies on its own
//! when r2e is gone, and is found again by [`KubeProvider::gc`], which
//! deletes with bounded concurrency and reports each failed delete. Creates are
//! retried on 409/429/5xx; a start watches its pod until Running, with a
//! timeout (polling where the Role has no `watch`); a pull error,
//! an unschedulable pod or an eviction is an infrastructure error naming the
//! image, node and reason at once, never a hang and never a reward of 0.

pub mod client;
pub mod config;
pub mod doctor;
pub mod pod;
pub mod shim_image;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{Api, ApiError, Credentials, NamespaceSource};
pub use config::{ConfigError, KubeConfig, ShimDelivery};

use async_trait::async_trait;
use pod::{CONTAINER, Owner, Phase};
use r2e_sandbox::conn::ShimConn;
use r2e_sandbox::session::{Diagnose, ShimSession, handshake};
use r2e_sandbox::shim::{SHIM_BINARY, SHIM_PATH_IN_SANDBOX};
use r2e_sandbox::{ExecOptions, Provider, Result, Sandbox, SandboxError, SandboxSpec};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The provider's name in messages and on the command line.
pub const PROVIDER: &str = "kubernetes";

/// An infrastructure error of this provider.
/// The error of a start whose pod was deleted under it.
fn deleted_while_starting(name: &str) -> SandboxError {
    infra(format!(
        "pod {name} was deleted while it started (by gc, a user or a controller)"
    ))
}

/// How a watch of a starting pod ended.
enum Watched {
    /// The pod runs.
    Settled,
    /// The watch ended first: read the pod and watch again.
    Again,
    /// The account may not watch pods.
    Refused,
}

pub(crate) fn infra(message: impl Into<String>) -> SandboxError {
    SandboxError::Provider {
        provider: PROVIDER,
        message: message.into(),
    }
}

fn api_err(e: ApiError) -> SandboxError {
    infra(e.message)
}

/// Most pod deletes [`KubeProvider::gc`] has in flight at once.
const GC_CONCURRENCY: usize = 16;

/// A provider that cannot be opened from its config file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The config file is unreadable or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No credentials, or they cannot be used.
    #[error("connecting to the Kubernetes API server: {0}")]
    Connect(#[source] SandboxError),
}

/// Starts sandboxes as pods.
#[derive(Clone)]
pub struct KubeProvider {
    api: Arc<Api>,
    config: Arc<KubeConfig>,
    namespace: String,
    namespace_source: NamespaceSource,
    owner: Owner,
    next_env: Arc<AtomicU64>,
    live: Arc<Mutex<HashSet<String>>>,
    /// Whether starts watch their pod (false once a watch was refused).
    watch_pods: Arc<AtomicBool>,
}

impl KubeProvider {
    /// Reads the provider config file (every key at its default without
    /// one) and connects with the credentials it names.
    pub fn open(config_file: Option<&Path>) -> std::result::Result<Self, OpenError> {
        let config = KubeConfig::load_or_default(config_file)?;
        Self::connect(config).map_err(OpenError::Connect)
    }

    /// Connects with the credentials `config` names: `in_cluster`, else its
    /// `kubeconfig`, else `$KUBECONFIG` or `~/.kube/config`, else the pod's
    /// service account when r2e runs in a cluster.
    pub fn connect(config: KubeConfig) -> Result<Self> {
        let creds = if config.in_cluster {
            Credentials::in_cluster()
        } else {
            match config
                .kubeconfig
                .clone()
                .or_else(Credentials::default_kubeconfig)
            {
                Some(path) => Credentials::from_kubeconfig(&path, config.context.as_deref()),
                None => Credentials::in_cluster().map_err(|e| ApiError {
                    message: format!(
                        "no kubeconfig ($KUBECONFIG, ~/.kube/config or `kubeconfig` in the provider config) \
                         and {}",
                        e.message
                    ),
                    ..e
                }),
            }
        }
        .map_err(api_err)?;
        Ok(Self::with_api(Api::new(creds).map_err(api_err)?, config))
    }

    /// Uses an existing API client. The namespace is the config's, else the
    /// one the credentials suggest, else `default`.
    pub fn with_api(mut api: Api, config: KubeConfig) -> Self {
        let (namespace, namespace_source) = match (&config.namespace, api.default_namespace()) {
            (Some(ns), _) => (ns.clone(), NamespaceSource::ProviderConfig),
            (None, Some((ns, source))) => (ns.clone(), source.clone()),
            (None, None) => ("default".to_string(), NamespaceSource::Default),
        };
        api.set_keepalive(Duration::from_secs(config.keepalive_secs));
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let host = pod::label_value(&host);
        let owner = Owner {
            owner: pod::label_value(&format!("{host}-{}", std::process::id())),
            host,
            run: format!("{:08x}", fastrand::u32(..)),
        };
        KubeProvider {
            namespace,
            namespace_source,
            api: Arc::new(api),
            config: Arc::new(config),
            owner,
            next_env: Arc::new(AtomicU64::new(0)),
            watch_pods: Arc::new(AtomicBool::new(true)),
            live: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The API client.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The configuration in use.
    pub fn config(&self) -> &KubeConfig {
        &self.config
    }

    /// The namespace pods go to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Where [`KubeProvider::namespace`] was decided.
    pub fn namespace_source(&self) -> &NamespaceSource {
        &self.namespace_source
    }

    /// This provider's run id (the `dev.r2e.run-id` label of its pods).
    pub fn run_id(&self) -> &str {
        &self.owner.run
    }

    fn pods_path(&self) -> String {
        format!("/api/v1/namespaces/{}/pods", self.namespace)
    }

    /// Starts a sandbox and returns the concrete type.
    pub async fn start_kube(&self, spec: &SandboxSpec) -> Result<KubeSandbox> {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(self.config.start_timeout_secs);
        let name = self.create(spec).await?;
        if !self.live.lock().expect("live lock").contains(&name) {
            // `close_all` ran while the create was in flight (Ctrl-C): the
            // pod it could not see yet is deleted here.
            delete_pod_logged(&self.api, &self.namespace, &name).await;
            return Err(infra(format!(
                "pod {name} was created after its sandboxes were closed; deleted it"
            )));
        }
        let booted = async {
            self.wait_running(&name, t0, timeout).await?;
            if self.config.shim_delivery == ShimDelivery::Upload {
                self.upload_shim(&name).await?;
            }
            let left = timeout
                .saturating_sub(t0.elapsed())
                .max(Duration::from_secs(5));
            self.connect_shim(&name, left).await
        }
        .await;
        match booted {
            Ok(session) => {
                tracing::debug!(pod = %name, "sandbox ready in {:?}", t0.elapsed());
                Ok(KubeSandbox {
                    name,
                    image: spec.image.clone(),
                    namespace: self.namespace.clone(),
                    api: self.api.clone(),
                    session,
                    live: self.live.clone(),
                })
            }
            Err(e) => {
                delete_pod_logged(&self.api, &self.namespace, &name).await;
                self.live.lock().expect("live lock").remove(&name);
                Err(e)
            }
        }
    }

    /// Creates the pod; 429/5xx are retried by the client, 409 here: a pod of
    /// that name made by an earlier attempt of this very call is adopted,
    /// anyone else's makes r2e pick another name.
    async fn create(&self, spec: &SandboxSpec) -> Result<String> {
        let env_id = self.next_env.fetch_add(1, Ordering::Relaxed);
        let mut name = format!("r2e-{}-{env_id}", self.owner.run);
        // The name is live before the create is sent, so that `close_all`
        // also deletes a pod whose create is still in flight.
        let live = |name: &str, on: bool| {
            let mut set = self.live.lock().expect("live lock");
            if on {
                set.insert(name.to_string());
            } else {
                set.remove(name);
            }
        };
        for _ in 0..5 {
            live(&name, true);
            let manifest = pod::manifest(&name, spec, &self.config, &self.owner, env_id);
            match self
                .api
                .call(Method::POST, &self.pods_path(), Some(&manifest))
                .await
            {
                Ok(_) => return Ok(name),
                Err(e) if e.status == Some(409) => {
                    let existing = self
                        .api
                        .call(Method::GET, &format!("{}/{name}", self.pods_path()), None)
                        .await
                        .unwrap_or(Value::Null);
                    let labels = &existing["metadata"]["labels"];
                    if labels[pod::RUN_LABEL] == self.owner.run.as_str()
                        && labels[pod::ENV_LABEL] == env_id.to_string().as_str()
                    {
                        return Ok(name);
                    }
                    tracing::debug!("pod {name} exists ({}); another name", e.message);
                    live(&name, false);
                    name = format!("r2e-{}-{env_id}-{:04x}", self.owner.run, fastrand::u16(..));
                }
                Err(e) => {
                    live(&name, false);
                    return Err(infra(format!(
                        "creating a pod for image {} in namespace {}: {}",
                        spec.image, self.namespace, e.message
                    )));
                }
            }
        }
        live(&name, false);
        Err(infra(format!(
            "creating a pod for image {}: the API server answered 409 Conflict five times",
            spec.image
        )))
    }

    /// Waits until the pod's container runs: one read, then a watch of that
    /// pod from the read's resourceVersion, whose events say when it runs
    /// (read again and watch anew when a watch ends or expires). Fails at once
    /// on a pull error, an unschedulable pod, a pod that ended or one deleted
    /// under it, and after `timeout` from `t0`. Where watching pods is not
    /// allowed (403) the provider polls instead (100 ms doubling to 1 s).
    async fn wait_running(&self, name: &str, t0: Instant, timeout: Duration) -> Result<()> {
        let path = format!("{}/{name}", self.pods_path());
        let mut interval = Duration::from_millis(100);
        loop {
            let pod = match self.api.call(Method::GET, &path, None).await {
                Ok(pod) => pod,
                Err(e) if e.status == Some(404) => return Err(deleted_while_starting(name)),
                Err(e) => return Err(api_err(e)),
            };
            match pod::phase(&pod) {
                Phase::Running => return Ok(()),
                Phase::Failed(why) => return Err(infra(why)),
                Phase::Waiting(why) if t0.elapsed() >= timeout => {
                    return Err(infra(format!(
                        "pod {name} (image {}) did not start within {} s: {why}\n  \
                         hint: raise start_timeout_secs for large images, or pre-pull them (docs/scaling.md)",
                        pod["spec"]["containers"][0]["image"]
                            .as_str()
                            .unwrap_or("?"),
                        timeout.as_secs()
                    )));
                }
                Phase::Waiting(_) => {}
            }
            let left = timeout.saturating_sub(t0.elapsed());
            if self.watch_pods.load(Ordering::Relaxed) {
                let version = pod["metadata"]["resourceVersion"].as_str();
                match self.watch_until_settled(name, version, left).await? {
                    Watched::Settled => return Ok(()),
                    Watched::Again => continue,
                    Watched::Refused => {}
                }
            }
            tokio::time::sleep(interval.min(left)).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }

    /// Watches pod `name` for at most `left`: settled when it runs, an error
    /// when it never will, `Again` when the watch ended first (the caller
    /// reads the pod again), `Refused` when the account may not watch pods
    /// or the server does not serve watches (the provider polls from then on).
    async fn watch_until_settled(
        &self,
        name: &str,
        version: Option<&str>,
        left: Duration,
    ) -> Result<Watched> {
        // The server ends the watch a little after `left` at the latest; the
        // client's own limit is a bit longer, so the server's end comes first.
        let secs = left.as_secs().clamp(1, 300);
        let path = format!(
            "{}?watch=1&fieldSelector=metadata.name%3D{name}&timeoutSeconds={secs}&allowWatchBookmarks=true{}",
            self.pods_path(),
            version
                .map(|v| format!("&resourceVersion={v}"))
                .unwrap_or_default()
        );
        let limit = Duration::from_secs(secs + 5);
        let mut watch = match self.api.watch(&path, limit).await {
            Ok(w) => w,
            // Forbidden (the Role has no `watch`), or another refusal that retrying
            // would not change (a server or proxy that does not serve watches):
            // poll. A 401 (an expired token) is not one: the next read renews it.
            Err(e)
                if e.status
                    .is_some_and(|s| (400..500).contains(&s) && ![401, 410, 429].contains(&s)) =>
            {
                tracing::warn!(
                    "cannot watch pods in namespace {}; polling pod status instead \
                     (grant `watch` on pods to save the API server the reads): {}",
                    self.namespace,
                    e.message
                );
                self.watch_pods.store(false, Ordering::Relaxed);
                return Ok(Watched::Refused);
            }
            Err(e) => {
                tracing::debug!(pod = %name, "watch failed, reading again: {}", e.message);
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Ok(Watched::Again);
            }
        };
        loop {
            let event = match watch.next().await {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(Watched::Again),
                Err(e) => {
                    tracing::debug!(pod = %name, "watch ended: {}", e.message);
                    return Ok(Watched::Again);
                }
            };
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => match pod::phase(&event.object) {
                    Phase::Running => return Ok(Watched::Settled),
                    Phase::Failed(why) => return Err(infra(why)),
                    Phase::Waiting(_) => {}
                },
                "DELETED" => return Err(deleted_while_starting(name)),
                // 410 Gone (the resourceVersion expired) and the like: read anew.
                "ERROR" => return Ok(Watched::Again),
                "BOOKMARK" => {}
                // Not an event: a server that does not watch (it answered
                // with the list itself).
                _ => {
                    tracing::warn!(
                        "the API server answered a watch of pods without events; polling pod status instead"
                    );
                    self.watch_pods.store(false, Ordering::Relaxed);
                    return Ok(Watched::Refused);
                }
            }
        }
    }

    /// Uploads the embedded shim into the pod's `/.r2e` through one exec
    /// (`head -c N`, so no end-of-input signal is needed on v4 streams).
    async fn upload_shim(&self, name: &str) -> Result<()> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let script = format!(
            "head -c {n} > {p}.part && chmod 755 {p}.part && mv {p}.part {p}",
            n = SHIM_BINARY.len(),
            p = SHIM_PATH_IN_SANDBOX
        );
        let mut stream = self
            .api
            .exec(
                &self.namespace,
                name,
                CONTAINER,
                &["/bin/sh", "-c", &script],
            )
            .await
            .map_err(api_err)?;
        let write = async {
            stream.input.write_all(SHIM_BINARY).await?;
            stream.input.flush().await
        };
        let mut errors = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = stream.output.next().await {
                if let r2e_sandbox::conn::LogOutput::StdErr { message } = chunk {
                    errors.extend_from_slice(&message);
                }
            }
        };
        let (written, ()) = tokio::join!(write, read);
        let errors = String::from_utf8_lossy(&errors).trim().to_string();
        if written.is_err() || !errors.is_empty() {
            return Err(infra(format!(
                "uploading the shim into pod {name} failed: {}\n  hint: the upload needs /bin/sh and head \
                 in the image; use shim_delivery = \"image\" with a shim image otherwise",
                if errors.is_empty() {
                    "the stream closed".to_string()
                } else {
                    errors
                }
            )));
        }
        Ok(())
    }

    /// Starts the serving shim through exec and waits for its hello.
    async fn connect_shim(&self, name: &str, wait: Duration) -> Result<ShimSession> {
        let stream = self
            .api
            .exec(&self.namespace, name, CONTAINER, &[SHIM_PATH_IN_SANDBOX])
            .await
            .map_err(api_err)?;
        tracing::debug!(pod = %name, protocol = %stream.protocol, "exec stream open");
        let conn = ShimConn::new(name.to_string(), stream.output, stream.input);
        handshake(
            &conn,
            name,
            wait,
            None,
            "the image may not be for the nodes' CPU, or /.r2e is not the shim's volume",
        )
        .await?;
        Ok(ShimSession::new(conn, name.to_string()))
    }

    /// Deletes what crashed or killed runs left behind: pods labelled by r2e
    /// that finished, or whose owner process on this host is gone; with
    /// `all`, every r2e pod in the namespace.
    pub async fn gc(&self, all: bool) -> Result<GcReport> {
        use futures_util::StreamExt;
        let path = format!(
            "{}?labelSelector={}%3D1",
            self.pods_path(),
            r2e_sandbox::SANDBOX_LABEL
        );
        let list = self
            .api
            .call(Method::GET, &path, None)
            .await
            .map_err(api_err)?;
        let mut report = GcReport::default();
        let mut doomed = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let Some(name) = item["metadata"]["name"].as_str() else {
                continue;
            };
            let labels = &item["metadata"]["labels"];
            let finished = matches!(
                item["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
            let here = labels[pod::OWNER_HOST_LABEL] == self.owner.host.as_str();
            let owner_alive = labels[r2e_sandbox::OWNER_PID_LABEL]
                .as_str()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid == std::process::id()
                        || std::path::Path::new(&format!("/proc/{pid}")).exists()
                });
            if all || finished || (here && !owner_alive) {
                doomed.push(name.to_string());
            } else if here {
                report.kept_live += 1;
            } else {
                report.kept_other_hosts += 1;
            }
        }
        // A fleet's leftovers are hundreds of pods: one at a time, each a
        // round trip to the API server, would take minutes.
        let mut deletes = futures_util::stream::iter(doomed)
            .map(|name| async move {
                let done = delete_pod(&self.api, &self.namespace, &name).await;
                (name, done)
            })
            .buffer_unordered(GC_CONCURRENCY);
        while let Some((name, done)) = deletes.next().await {
            match done {
                Ok(_) => report.removed.push(name),
                Err(e) => report.failed.push((name, e.message)),
            }
        }
        Ok(report)
    }
}

/// What [`KubeProvider::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Names of the pods deleted.
    pub removed: Vec<String>,
    /// Pods of live r2e processes on this host, kept.
    pub kept_live: usize,
    /// Pods made from other hosts, kept (their owners cannot be checked from here; `--all` deletes them).
    pub kept_other_hosts: usize,
    /// Pods that were to go but whose delete failed: (name, why).
    pub failed: Vec<(String, String)>,
}

/// Deletes a pod at once (grace 0): whether this call removed it (false:
/// it was gone already, which is no failure).
async fn delete_pod(api: &Api, namespace: &str, name: &str) -> std::result::Result<bool, ApiError> {
    let path = format!("/api/v1/namespaces/{namespace}/pods/{name}?gracePeriodSeconds=0");
    match api.call(Method::DELETE, &path, None).await {
        Ok(_) => Ok(true),
        Err(e) if e.status == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// [`delete_pod`] where nobody waits for a failure, which is logged (the
/// pod's `activeDeadlineSeconds` and `r2e sandbox gc` remain): whether this
/// call removed the pod.
async fn delete_pod_logged(api: &Api, namespace: &str, name: &str) -> bool {
    delete_pod(api, namespace, name).await.unwrap_or_else(|e| {
        tracing::warn!("deleting pod {name}: {}", e.message);
        false
    })
}

#[async_trait]
impl Provider for KubeProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>> {
        // Runs to its end on its own task, so that a caller giving up
        // mid-start never leaves a pod behind (a finished start nobody takes
        // is dropped, which deletes the pod).
        let (me, spec) = (self.clone(), spec.clone());
        let started = tokio::spawn(async move { me.start_kube(&spec).await })
            .await
            .map_err(|e| infra(format!("starting a sandbox: {e}")))??;
        Ok(Box::new(started))
    }

    /// Counts the pods this call removed: a dropped sandbox's pod that its
    /// background delete removed a moment before is not counted twice.
    async fn close_all(&self) -> usize {
        let names: Vec<String> = self.live.lock().expect("live lock").drain().collect();
        futures_util::future::join_all(
            names
                .iter()
                .map(|n| delete_pod_logged(&self.api, &self.namespace, n)),
        )
        .await
        .into_iter()
        .filter(|removed| *removed)
        .count()
    }
}

/// A running pod sandbox.
pub struct KubeSandbox {
    name: String,
    image: String,
    namespace: String,
    api: Arc<Api>,
    session: ShimSession,
    live: Arc<Mutex<HashSet<String>>>,
}

impl KubeSandbox {
    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

#[async_trait]
impl Diagnose for KubeSandbox {
    async fn death_detail(&self, _stderr: &str) -> String {
        let path = format!("/api/v1/namespaces/{}/pods/{}", self.namespace, self.name);
        match self.api.call_once(Method::GET, &path, None).await {
            Ok((s, _)) if s.as_u16() == 404 => format!(
                "pod {} no longer exists (deleted outside r2e, or evicted and removed)",
                self.name
            ),
            Ok((s, pod)) if s.is_success() => match pod::phase(&pod) {
                Phase::Failed(why) => why,
                Phase::Running => format!(
                    "pod {} still runs on node {}: the exec stream broke (API server or kubelet restart?)",
                    self.name,
                    pod["spec"]["nodeName"].as_str().unwrap_or("?")
                ),
                Phase::Waiting(w) => format!("pod {} is {w}", self.name),
            },
            Ok((s, body)) => format!(
                "the API server cannot describe pod {}: {s} {body}",
                self.name
            ),
            Err(e) => format!(
                "the API server cannot describe pod {}: {}",
                self.name, e.message
            ),
        }
    }
}

r2e_sandbox::impl_sandbox_via_session! { KubeSandbox, session;
    fn id(&self) -> &str {
        &self.name
    }

    fn image(&self) -> &str {
        &self.image
    }

    /// Through the shim: the archive is written to a file in the pod and
    /// unpacked with the image's `tar` (the API server has no copy endpoint).
    async fn copy_in(&self, tar: Vec<u8>, dest: &str) -> Result<()> {
        let tmp = format!("/.r2e/copy-in-{}.tar", fastrand::u64(..));
        self.write_file(&tmp, &tar, None).await?;
        let cmd = format!(
            "mkdir -p {d} && tar -xf {tmp} -C {d}; s=$?; rm -f {tmp}; exit $s",
            d = r2e_sandbox::shell_quote(dest)
        );
        let out = self.exec(&cmd, &ExecOptions::default()).await?;
        if out.exit_code != 0 {
            return Err(SandboxError::Shim(r2e_sandbox::ShimError {
                kind: r2e_sandbox::ShimErrorKind::Io,
                message: format!("unpacking into {dest} failed: {}", out.stderr_text().trim()),
            }));
        }
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        if !self.session.close().await {
            return Ok(());
        }
        delete_pod_logged(&self.api, &self.namespace, &self.name).await;
        self.live.lock().expect("live lock").remove(&self.name);
        Ok(())
    }
}

impl Drop for KubeSandbox {
    fn drop(&mut self) {
        if self.session.is_closed() {
            return;
        }
        // Stays in the live set until deleted, so Ctrl-C (`close_all`) covers it.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (api, ns, name, live) = (
                self.api.clone(),
                self.namespace.clone(),
                self.name.clone(),
                self.live.clone(),
            );
            handle.spawn(async move {
                delete_pod_logged(&api, &ns, &name).await;
                live.lock().expect("live lock").remove(&name);
            });
        }
    }
}
