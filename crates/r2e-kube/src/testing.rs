//! A scripted Kubernetes API server on 127.0.0.1 for tests (feature `testing`):
//! real HTTP/1.1 (one request per connection), the real exec WebSocket with
//! the `v5.channel.k8s.io` / `v4.channel.k8s.io` subprotocols, and a fake
//! kubelet that is real where it matters: the shim's init container runs the
//! real static shim's `--install` into a per-pod directory that stands for
//! the pod's `/.r2e`, and an exec into a running pod runs the command as a
//! local process (paths under `/.r2e` mapped to that directory) with its
//! stdio bridged over the channel protocol. Pod phases follow the image
//! name: `pull-fail/…` never pulls, `unschedulable/…` never schedules,
//! `slow/…` stays Pending; anything else runs after two status reads.
//!
//! [`FakeCluster::start_docker_backed`] swaps the kubelet for one that runs
//! pods on the local Docker engine (the `docker` CLI): a pod is a container
//! from the pod's image, started once the image is found locally (else, or
//! when [`FakeCluster::refuse_pulls`] says so, the pod reports
//! `ErrImagePull`, as a cluster that cannot pull it would), with
//! the pod's labels, working directory, environment and no network when the
//! pod is labelled so; the init container's shim install goes to a host
//! directory mounted at `/.r2e`, the main container runs the manifest's
//! command, and an exec runs inside the container (`docker exec -i`).
//! Deleting or evicting the pod removes its container, and so does dropping
//! the cluster (every container it made carries [`CLUSTER_LABEL`]).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

/// How a scripted create answers.
#[derive(Debug, Clone, Copy)]
pub enum CreateOutcome {
    /// Refuse with this status, storing nothing.
    Refuse(u16),
    /// Store the pod, then answer with this status (a lost response).
    StoreThenFail(u16),
    /// Store the pod, then answer 201 after this many milliseconds (a slow
    /// API server: the pod exists before its creator knows it).
    StoreThenWait(u64),
}

/// Label on every container a Docker-backed cluster made; its value names
/// the cluster.
pub const CLUSTER_LABEL: &str = "dev.r2e.fake-cluster";

/// Who runs the pods.
#[derive(Clone)]
enum Kubelet {
    /// Execs are local processes.
    Local,
    /// Pods are containers of the local Docker engine whose names start
    /// with this prefix (also the [`CLUSTER_LABEL`] value).
    Docker(String),
}

impl Kubelet {
    /// The container of pod `name`, when pods are containers.
    fn container(&self, name: &str) -> Option<String> {
        match self {
            Kubelet::Local => None,
            Kubelet::Docker(prefix) => Some(container_name(prefix, name)),
        }
    }
}

/// The container of pod `name` of the Docker-backed cluster `prefix`.
fn container_name(prefix: &str, name: &str) -> String {
    format!("{prefix}-{name}")
}

/// One fake pod.
struct Pod {
    manifest: Value,
    /// Distinguishes this pod from a later one of the same name.
    uid: u64,
    reads: u32,
    /// `None`: Pending; `Some(phase)` once decided.
    phase: Option<String>,
    status_extra: Value,
    dir: PathBuf,
    /// Killers of the exec processes running in the pod.
    execs: Vec<tokio::sync::oneshot::Sender<()>>,
    /// Docker-backed: whether the container runs yet.
    started: bool,
    /// Docker-backed: why the image cannot be pulled.
    pull_error: Option<String>,
}

struct State {
    kubelet: Kubelet,
    next_uid: u64,
    pods: BTreeMap<String, Pod>,
    creates: VecDeque<CreateOutcome>,
    /// `METHOD path` of every request, in order.
    log: Vec<String>,
    /// Subprotocol to pick (default: the client's first).
    protocol: Option<String>,
    /// RBAC checks answered "not allowed" (`verb resource[/sub]`).
    denied: Vec<String>,
    /// WebSocket pings received on exec streams.
    pings: usize,
    /// Docker-backed: image name prefixes the nodes cannot pull.
    unpullable: Vec<String>,
    /// The sandbox image of every pod created, in order.
    images: Vec<String>,
}

/// The fake cluster; dropped, it stops serving (pods' processes are killed).
pub struct FakeCluster {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    root: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.server.abort();
        let kubelet = self.state.lock().map(|st| st.kubelet.clone());
        if let Ok(Kubelet::Docker(prefix)) = kubelet
            && let Ok(names) = list_containers(&prefix)
            && !names.is_empty()
        {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f"])
                .args(&names)
                .output();
        }
    }
}

/// Names of the containers labelled as made by cluster `prefix`.
fn list_containers(prefix: &str) -> Result<Vec<String>, String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "--format", "{{.Names}}", "--filter"])
        .arg(format!("label={CLUSTER_LABEL}={prefix}"))
        .output()
        .map_err(|e| format!("docker ps: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect())
}

impl FakeCluster {
    /// Starts serving on a free port; execs run as local processes.
    pub async fn start() -> Self {
        Self::serve_with(Kubelet::Local).await
    }

    /// Starts serving on a free port; pods are containers of the local
    /// Docker engine (see the module docs).
    pub async fn start_docker_backed() -> Self {
        Self::serve_with(Kubelet::Docker(format!(
            "r2e-fake-{}-{:06x}",
            std::process::id(),
            fastrand::u32(..1 << 24)
        )))
        .await
    }

    /// The containers of this cluster's pods that exist in the Docker
    /// engine (none for a cluster that is not Docker-backed).
    pub fn containers(&self) -> Vec<String> {
        let kubelet = self.state.lock().unwrap().kubelet.clone();
        match kubelet {
            Kubelet::Local => Vec::new(),
            Kubelet::Docker(prefix) => list_containers(&prefix).expect("docker ps"),
        }
    }

    async fn serve_with(kubelet: Kubelet) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            kubelet,
            next_uid: 0,
            pods: BTreeMap::new(),
            creates: VecDeque::new(),
            log: Vec::new(),
            protocol: None,
            denied: Vec::new(),
            pings: 0,
            unpullable: Vec::new(),
            images: Vec::new(),
        }));
        let root = tempfile::tempdir().unwrap();
        let (st, dir) = (state.clone(), root.path().to_path_buf());
        let server = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (st, dir) = (st.clone(), dir.clone());
                tokio::spawn(async move { serve(sock, st, dir).await });
            }
        });
        FakeCluster {
            url,
            state,
            root,
            server,
        }
    }

    /// Answers the next creates as scripted.
    pub fn script_creates(&self, outcomes: &[CreateOutcome]) {
        self.state.lock().unwrap().creates.extend(outcomes);
    }

    /// Negotiates this exec subprotocol.
    pub fn use_protocol(&self, p: &str) {
        self.state.lock().unwrap().protocol = Some(p.into());
    }

    /// Docker-backed: images whose name starts with `prefix` cannot be
    /// pulled by the nodes, though the engine has them (a kind cluster that
    /// was not given them with `kind load docker-image`).
    pub fn refuse_pulls(&self, prefix: &str) {
        self.state.lock().unwrap().unpullable.push(prefix.into());
    }

    /// RBAC: `verb resource[/sub]` is not allowed.
    pub fn deny(&self, what: &str) {
        self.state.lock().unwrap().denied.push(what.into());
    }

    /// The sandbox image of every pod created so far, in order.
    pub fn images(&self) -> Vec<String> {
        self.state.lock().unwrap().images.clone()
    }

    /// The request log.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many pings the exec streams received.
    pub fn pings(&self) -> usize {
        self.state.lock().unwrap().pings
    }

    /// Names of the pods that exist.
    pub fn pods(&self) -> Vec<String> {
        self.state.lock().unwrap().pods.keys().cloned().collect()
    }

    /// A pod's manifest as created.
    pub fn manifest(&self, name: &str) -> Value {
        self.state.lock().unwrap().pods[name].manifest.clone()
    }

    /// Adds a pod as another r2e process would have made it.
    pub fn insert_pod(&self, name: &str, labels: Value, phase: &str) {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"image": "x"}]}});
        self.state.lock().unwrap().pods.insert(
            name.into(),
            Pod {
                manifest,
                uid: u64::MAX,
                reads: 10,
                phase: Some(phase.into()),
                status_extra: json!({}),
                dir,
                execs: Vec::new(),
                started: true,
                pull_error: None,
            },
        );
    }

    /// The node evicts the pod: its processes are killed, its exec streams
    /// cut, its phase Failed with reason Evicted.
    pub fn evict(&self, name: &str) {
        let mut st = self.state.lock().unwrap();
        let pod = st.pods.get_mut(name).expect("pod exists");
        pod.phase = Some("Failed".into());
        pod.status_extra = json!({"reason": "Evicted", "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi."});
        for kill in pod.execs.drain(..) {
            let _ = kill.send(());
        }
        if let Some(container) = st.kubelet.container(name) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &container])
                .output();
        }
    }
}

fn status_json(pod: &Pod) -> Value {
    let name = pod.manifest["metadata"]["name"].clone();
    let image = pod.manifest["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let shim_image = pod.manifest["spec"]["initContainers"][0]["image"]
        .as_str()
        .map(String::from);
    let mut v = pod.manifest.clone();
    v["spec"]["nodeName"] = json!("fake-node-1");
    let mut status = match pod.phase.as_deref() {
        None if pod.pull_error.is_some() => {
            json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "image": image,
             "state": {"waiting": {"reason": "ErrImagePull", "message": pod.pull_error}}}]})
        }
        None if image.starts_with("unschedulable/") => json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient memory."}]}),
        None if image.starts_with("pull-fail/") => {
            json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "image": image,
             "state": {"waiting": {"reason": "ErrImagePull", "message": format!("rpc error: pull access denied for {image}")}}}]})
        }
        None if shim_image
            .as_deref()
            .is_some_and(|s| s.starts_with("missing/")) =>
        {
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "r2e-shim", "image": shim_image,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]})
        }
        None => {
            json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "image": image,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]})
        }
        Some("Running") => {
            json!({"phase": "Running", "containerStatuses": [{"name": "sandbox", "image": image,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]})
        }
        Some(other) => {
            json!({"phase": other, "containerStatuses": [{"name": "sandbox", "image": image,
             "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]})
        }
    };
    if let Some(extra) = pod.status_extra.as_object() {
        for (k, x) in extra {
            status[k] = x.clone();
        }
    }
    v["status"] = status;
    v["metadata"]["name"] = name;
    v
}

/// The kubelet's part of a status read: a normal pod runs on its second
/// read, after its init container installed the shim (and, Docker-backed,
/// once its container runs).
fn tick(pod: &mut Pod, kubelet: &Kubelet) {
    pod.reads += 1;
    let image = pod.manifest["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("");
    let shim_image = pod.manifest["spec"]["initContainers"][0]["image"]
        .as_str()
        .unwrap_or("");
    if pod.phase.is_some()
        || pod.reads < 2
        || ["unschedulable/", "pull-fail/", "slow/"]
            .iter()
            .any(|p| image.starts_with(p))
        || shim_image.starts_with("missing/")
    {
        return;
    }
    match kubelet {
        Kubelet::Local => install_shim(&pod.manifest, &pod.dir),
        // The container task installed the shim before starting it.
        Kubelet::Docker(_) if !pod.started => return,
        Kubelet::Docker(_) => {}
    }
    pod.phase = Some("Running".into());
}

/// The init container: the shim image's `/r2e-shim --install
/// /.r2e/r2e-shim`, run for real into `dir` (the pod's `/.r2e`).
fn install_shim(manifest: &Value, dir: &std::path::Path) {
    if let Some(cmd) = manifest["spec"]["initContainers"][0]["command"].as_array() {
        let args: Vec<String> = cmd
            .iter()
            .skip(1)
            .map(|a| map_path(a.as_str().unwrap(), dir))
            .collect();
        let shim = r2e_sandbox::shim::shim_on_host().unwrap();
        let st = std::process::Command::new(shim)
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success(), "the init container's install failed");
    }
}

/// The Docker-backed kubelet of cluster `prefix` starting pod `name`
/// (`uid`): the image must be in the engine, the shim is installed into
/// `dir`, then the container runs the manifest's command. A container that
/// cannot start fails the pod; a pod deleted meanwhile loses its container.
async fn start_container(
    st: Arc<Mutex<State>>,
    name: String,
    uid: u64,
    prefix: String,
    manifest: Value,
    dir: PathBuf,
) {
    let container = container_name(&prefix, &name);
    let c = &manifest["spec"]["containers"][0];
    let image = c["image"].as_str().unwrap_or("").to_string();
    let refused = st
        .lock()
        .unwrap()
        .unpullable
        .iter()
        .any(|p| image.starts_with(p.as_str()));
    let found = !refused
        && tokio::process::Command::new("docker")
            .args(["image", "inspect", &image])
            .output()
            .await
            .is_ok_and(|o| o.status.success());
    let set = |f: &dyn Fn(&mut Pod)| {
        let mut st = st.lock().unwrap();
        match st.pods.get_mut(&name).filter(|p| p.uid == uid) {
            Some(pod) => {
                f(pod);
                true
            }
            None => false,
        }
    };
    if !found {
        set(&|pod| {
            pod.pull_error = Some(format!(
                "rpc error: failed to pull and unpack image \"{image}\": not found"
            ))
        });
        return;
    }
    let (m, d) = (manifest.clone(), dir.clone());
    tokio::task::spawn_blocking(move || install_shim(&m, &d))
        .await
        .unwrap();
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let command = strs(&c["command"]);
    let mut run = tokio::process::Command::new("docker");
    run.args(["run", "-d", "-i", "--name", &container])
        .arg("--label")
        .arg(format!("{CLUSTER_LABEL}={prefix}"))
        .arg("-v")
        .arg(format!("{}:/.r2e", dir.display()));
    let labels = &manifest["metadata"]["labels"];
    for (k, v) in labels.as_object().into_iter().flatten() {
        run.arg("--label")
            .arg(format!("{k}={}", v.as_str().unwrap_or("")));
    }
    if labels[crate::pod::NETWORK_LABEL] == "off" {
        run.args(["--network", "none"]);
    }
    if let Some(wd) = c["workingDir"].as_str() {
        run.args(["-w", wd]);
    }
    for e in c["env"].as_array().into_iter().flatten() {
        run.arg("-e").arg(format!(
            "{}={}",
            e["name"].as_str().unwrap_or(""),
            e["value"].as_str().unwrap_or("")
        ));
    }
    if let Some((entry, rest)) = command.split_first() {
        run.args(["--entrypoint", entry]);
        run.arg(&image).args(rest);
    } else {
        run.arg(&image);
    }
    run.args(strs(&c["args"]));
    let out = run.output().await.unwrap();
    let started = if out.status.success() {
        set(&|pod| pod.started = true)
    } else {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        set(&|pod| {
            pod.phase = Some("Failed".into());
            pod.status_extra = json!({"reason": "StartError", "message": why});
        })
    };
    if !started {
        remove_container(&container).await;
    }
}

/// `docker rm -f`, ignoring a container that does not exist.
async fn remove_container(container: &str) {
    let _ = tokio::process::Command::new("docker")
        .args(["rm", "-f", container])
        .output()
        .await;
}

fn map_path(arg: &str, dir: &std::path::Path) -> String {
    arg.replace("/.r2e", &dir.display().to_string())
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await.ok()?;
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body,
    })
}

async fn respond(sock: &mut BufReader<TcpStream>, status: u16, body: &Value) {
    let text = serde_json::to_vec(body).unwrap();
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let s = sock.get_mut();
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&text).await;
    let _ = s.shutdown().await;
}

fn k8s_status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

fn matches_selector(labels: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|s| {
        let (k, v) = s.split_once('=').unwrap_or((s, ""));
        labels[k].as_str() == Some(v)
    })
}

async fn serve(sock: TcpStream, st: Arc<Mutex<State>>, root: PathBuf) {
    let mut sock = BufReader::new(sock);
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    st.lock()
        .unwrap()
        .log
        .push(format!("{} {}", req.method, req.path));
    let path = req.path.clone();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut delay = None;
    let (status, body) = match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["version"]) => (200, json!({"gitVersion": "v1.31.0-fake"})),
        (
            "POST",
            [
                "apis",
                "authorization.k8s.io",
                "v1",
                "selfsubjectaccessreviews",
            ],
        ) => {
            let v: Value = serde_json::from_slice(&req.body).unwrap();
            let a = &v["spec"]["resourceAttributes"];
            let what = match a["subresource"].as_str() {
                Some(s) if !s.is_empty() => format!(
                    "{} {}/{s}",
                    a["verb"].as_str().unwrap(),
                    a["resource"].as_str().unwrap()
                ),
                _ => format!(
                    "{} {}",
                    a["verb"].as_str().unwrap(),
                    a["resource"].as_str().unwrap()
                ),
            };
            let allowed = !st.lock().unwrap().denied.contains(&what);
            let mut out = v.clone();
            out["status"] = json!({"allowed": allowed});
            (201, out)
        }
        ("POST", ["api", "v1", "namespaces", _, "pods"]) => {
            let manifest: Value = serde_json::from_slice(&req.body).unwrap();
            let name = manifest["metadata"]["name"].as_str().unwrap().to_string();
            let st_handle = &st;
            let mut st = st.lock().unwrap();
            let outcome = st.creates.pop_front();
            match outcome {
                Some(CreateOutcome::Refuse(code)) => (
                    code,
                    k8s_status(code, "Scripted", &format!("scripted refusal {code}")),
                ),
                _ if st.pods.contains_key(&name) => (
                    409,
                    k8s_status(
                        409,
                        "AlreadyExists",
                        &format!("pods \"{name}\" already exists"),
                    ),
                ),
                other => {
                    let dir = root.join(&name);
                    std::fs::create_dir_all(&dir).unwrap();
                    st.next_uid += 1;
                    let uid = st.next_uid;
                    let pod = Pod {
                        manifest: manifest.clone(),
                        uid,
                        reads: 0,
                        phase: None,
                        status_extra: json!({}),
                        dir: dir.clone(),
                        execs: Vec::new(),
                        started: false,
                        pull_error: None,
                    };
                    let body = status_json(&pod);
                    st.pods.insert(name.clone(), pod);
                    let image = manifest["spec"]["containers"][0]["image"].as_str();
                    st.images.push(image.unwrap_or_default().to_string());
                    if let Kubelet::Docker(prefix) = &st.kubelet {
                        tokio::spawn(start_container(
                            st_handle.clone(),
                            name,
                            uid,
                            prefix.clone(),
                            manifest,
                            dir,
                        ));
                    }
                    match other {
                        Some(CreateOutcome::StoreThenFail(code)) => {
                            (code, k8s_status(code, "Timeout", "scripted lost response"))
                        }
                        Some(CreateOutcome::StoreThenWait(ms)) => {
                            delay = Some(std::time::Duration::from_millis(ms));
                            (201, body)
                        }
                        _ => (201, body),
                    }
                }
            }
        }
        ("GET", ["api", "v1", "namespaces", _, "pods"])
            if req
                .query
                .iter()
                .any(|(k, v)| k == "watch" && (v == "1" || v == "true")) =>
        {
            return watch(sock, req, st).await;
        }
        ("GET", ["api", "v1", "namespaces", _, "pods"]) => {
            let sel = req
                .query
                .iter()
                .find(|(k, _)| k == "labelSelector")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let st = st.lock().unwrap();
            let items: Vec<Value> = st
                .pods
                .values()
                .filter(|p| matches_selector(&p.manifest["metadata"]["labels"], &sel))
                .map(status_json)
                .collect();
            (200, json!({"kind": "PodList", "items": items}))
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", name]) => {
            let mut st = st.lock().unwrap();
            let kubelet = st.kubelet.clone();
            match st.pods.get_mut(*name) {
                Some(pod) => {
                    tick(pod, &kubelet);
                    (200, status_json(pod))
                }
                None => (
                    404,
                    k8s_status(404, "NotFound", &format!("pods \"{name}\" not found")),
                ),
            }
        }
        ("DELETE", ["api", "v1", "namespaces", _, "pods", name]) => {
            let (removed, container) = {
                let mut st = st.lock().unwrap();
                (st.pods.remove(*name), st.kubelet.container(name))
            };
            match removed {
                Some(mut pod) => {
                    for kill in pod.execs.drain(..) {
                        let _ = kill.send(());
                    }
                    if let Some(container) = container {
                        remove_container(&container).await;
                    }
                    (200, status_json(&pod))
                }
                None => (
                    404,
                    k8s_status(404, "NotFound", &format!("pods \"{name}\" not found")),
                ),
            }
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", name, "exec"]) => {
            return exec(sock, req, name.to_string(), st).await;
        }
        _ => (404, k8s_status(404, "NotFound", "no such route")),
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    respond(&mut sock, status, &body).await;
}

/// A watch of one pod (`fieldSelector=metadata.name=NAME`): the kubelet's
/// clock ticks every 50 ms (a tick is what a status read does), and each
/// change of the pod's status is sent as a `MODIFIED` event, its removal as
/// `DELETED`, until `timeoutSeconds`. Refused with 403 when `watch pods` is
/// denied ([`FakeCluster::deny`]).
async fn watch(mut sock: BufReader<TcpStream>, req: Request, st: Arc<Mutex<State>>) {
    let param = |key: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    if st.lock().unwrap().denied.iter().any(|d| d == "watch pods") {
        let body = k8s_status(
            403,
            "Forbidden",
            "pods is forbidden: cannot watch resource \"pods\"",
        );
        return respond(&mut sock, 403, &body).await;
    }
    let name = param("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name=").map(String::from))
        .unwrap_or_default();
    let secs: u64 = param("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(60);
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    let s = sock.get_mut();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut last: Option<Value> = None;
    while tokio::time::Instant::now() < until {
        let event = {
            let mut st = st.lock().unwrap();
            let kubelet = st.kubelet.clone();
            match st.pods.get_mut(&name) {
                Some(pod) => {
                    tick(pod, &kubelet);
                    let now = status_json(pod);
                    (last.as_ref() != Some(&now)).then(|| {
                        last = Some(now.clone());
                        json!({"type": "MODIFIED", "object": now})
                    })
                }
                None => {
                    Some(json!({"type": "DELETED", "object": last.clone().unwrap_or(Value::Null)}))
                }
            }
        };
        if let Some(event) = event {
            let deleted = event["type"] == "DELETED";
            let mut line = serde_json::to_vec(&event).unwrap();
            line.push(b'\n');
            let chunk = [
                format!("{:x}\r\n", line.len()).into_bytes(),
                line,
                b"\r\n".to_vec(),
            ]
            .concat();
            if s.write_all(&chunk).await.is_err() || deleted {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let _ = s.shutdown().await;
}

/// The exec endpoint: upgrade, then a local process bridged over channels.
async fn exec(mut sock: BufReader<TcpStream>, req: Request, name: String, st: Arc<Mutex<State>>) {
    let ready = {
        let mut st = st.lock().unwrap();
        let chosen = st.protocol.clone();
        match st.pods.get_mut(&name) {
            None => Err((
                404,
                k8s_status(404, "NotFound", &format!("pods \"{name}\" not found")),
            )),
            Some(pod) if pod.phase.as_deref() != Some("Running") => {
                Err((400, k8s_status(400, "BadRequest", "pod is not running")))
            }
            Some(pod) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pod.execs.push(tx);
                let offered = req
                    .headers
                    .get("sec-websocket-protocol")
                    .cloned()
                    .unwrap_or_default();
                let first = offered.split(',').next().unwrap_or("").trim().to_string();
                Ok((
                    pod.dir.clone(),
                    rx,
                    chosen.unwrap_or(first),
                    st.kubelet.container(&name),
                ))
            }
        }
    };
    let (dir, kill_rx, protocol, container) = match ready {
        Ok(r) => r,
        Err((code, body)) => return respond(&mut sock, code, &body).await,
    };
    assert!(
        req.headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket")),
        "exec without a WebSocket upgrade"
    );
    let key = req.headers.get("sec-websocket-key").unwrap();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    );
    sock.get_mut().write_all(head.as_bytes()).await.unwrap();
    let ws =
        tokio_tungstenite::WebSocketStream::from_raw_socket(sock.into_inner(), Role::Server, None)
            .await;
    let (mut sink, mut stream) = ws.split();
    let command = req
        .query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone());
    let argv: Vec<String> = match &container {
        // Inside the pod's container, where /.r2e is the pod's directory.
        Some(c) => ["docker", "exec", "-i", c.as_str()]
            .into_iter()
            .map(String::from)
            .chain(command)
            .collect(),
        None => command.map(|v| map_path(&v, &dir)).collect(),
    };
    let child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let status = json!({"status": "Failure", "message": format!("exec: {e}")}).to_string();
            let mut msg = vec![3u8];
            msg.extend_from_slice(status.as_bytes());
            let _ = sink.send(Message::Binary(msg.into())).await;
            let _ = sink.close().await;
            return;
        }
    };
    let mut stdin = child.stdin.take();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    for (chan, mut pipe) in [
        (
            1u8,
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        ),
        (2u8, Box::new(child.stderr.take().unwrap())),
    ] {
        let tx = out_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match pipe.read(&mut buf[1..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        buf[0] = chan;
                        if tx.send(buf[..n + 1].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(out_tx);
    let v5 = protocol.starts_with("v5.");
    let mut kill_rx = kill_rx;
    loop {
        tokio::select! {
            _ = &mut kill_rx => {
                // Evicted or deleted: the process dies and the stream is cut.
                let _ = child.kill().await;
                return;
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    0 => {
                        if let Some(s) = stdin.as_mut()
                            && s.write_all(&b[1..]).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    255 if v5 && b.get(1) == Some(&0) => stdin = None,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client went away: stdin closes; the process ends on its own.
                    drop(stdin.take());
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await;
                    return;
                }
                Some(Ok(Message::Ping(_))) => st.lock().unwrap().pings += 1,
                Some(Ok(_)) => {}
            },
            chunk = out_rx.recv() => match chunk {
                Some(c) => {
                    if sink.send(Message::Binary(c.into())).await.is_err() {
                        return;
                    }
                }
                None => {
                    let code = child.wait().await.map(|s| s.code().unwrap_or(137)).unwrap_or(1);
                    let status = if code == 0 {
                        json!({"status": "Success"})
                    } else {
                        json!({"status": "Failure", "reason": "NonZeroExitCode",
                               "message": format!("command terminated with non-zero exit code: {code}")})
                    };
                    let mut msg = vec![3u8];
                    msg.extend_from_slice(status.to_string().as_bytes());
                    let _ = sink.send(Message::Binary(msg.into())).await;
                    let _ = sink.close().await;
                    return;
                }
            },
        }
    }
}
