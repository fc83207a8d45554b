//! Stage 4 with the test runs on Kubernetes: the test history validated once
//! on the Docker engine alone and once with its test runs in pods of the
//! Docker-backed scripted cluster (`r2e_kube::testing`, pods are real
//! containers from the workspace image). Both give the same rows; the task
//! images of the second run were made on the local engine, hold the
//! repository at the base commit and run the task's tests; no pod and no
//! container is left. With `push_prefix`, the workspace image is pushed by
//! the real engine to a scripted registry and the pods start from the
//! pushed name.

mod common;

use common::{History, history, pytest_image};
use r2e_gen::validate::{
    Engines, Outcome, ValidateOptions, ValidateSummary, ValidatedCommit, validate_jsonl,
};
use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// What every test here starts from: the test history mined, the local
/// engine, and a Docker-backed cluster whose nodes refuse to pull images
/// named `refused*` (a kind cluster not given them).
struct Setup {
    h: History,
    tmp: tempfile::TempDir,
    commits: std::path::PathBuf,
    docker: r2e_sandbox::docker::DockerProvider,
    cluster: FakeCluster,
    kube: KubeProvider,
}

impl Setup {
    async fn new(refused: Option<&str>) -> Setup {
        let h = history();
        let tmp = tempfile::tempdir().expect("tempdir");
        let commits = tmp.path().join("commits.jsonl");
        common::mine_all(&h.repo.path(), &commits);
        let docker = r2e_sandbox::docker::DockerProvider::connect()
            .await
            .expect("docker");
        let cluster = FakeCluster::start_docker_backed().await;
        if let Some(prefix) = refused {
            cluster.refuse_pulls(prefix);
        }
        let kube = KubeProvider::with_api(
            Api::new(Credentials::insecure_http(&cluster.url)).expect("api"),
            KubeConfig {
                namespace: Some("r2e-gen".into()),
                start_timeout_secs: 120,
                ..KubeConfig::default()
            },
        );
        Setup {
            h,
            tmp,
            commits,
            docker,
            cluster,
            kube,
        }
    }

    /// Validates the history into `out` with its test runs in pods.
    async fn validate_on_kube(
        &self,
        out: &std::path::Path,
        opts: &ValidateOptions,
    ) -> ValidateSummary {
        validate_jsonl(
            Engines {
                docker: &self.docker,
                tests: Some(&self.kube),
            },
            &self.h.repo.path(),
            &self.commits,
            out,
            opts,
            &mut |_| {},
        )
        .await
        .expect("validate on Kubernetes")
    }
}

/// The rows of `validated.jsonl` in `dir`, by commit.
fn rows(dir: &std::path::Path) -> BTreeMap<String, ValidatedCommit> {
    r2e_core::jsonl::read::<ValidatedCommit>(&dir.join("validated.jsonl"))
        .expect("rows")
        .into_iter()
        .map(|r| (r.hash.clone(), r))
        .collect()
}

/// Runs `script` in a container of `image` with `stdin`; returns its output.
fn run_in(image: &str, script: &str, stdin: &str) -> (bool, String) {
    let mut child = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "sh",
        ])
        .args([image, "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("docker run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Containers of the Docker engine started from `image` or an image made
/// from it (the task images' local sandboxes).
fn containers_of(image: &str) -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("ancestor={image}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn test_runs_in_pods_give_the_rows_of_docker_runs() {
    let setup = Setup::new(None).await;
    let Setup {
        h,
        tmp,
        commits,
        docker,
        cluster,
        ..
    } = &setup;
    // Distinct names, so that the two runs' task images do not overwrite
    // each other.
    let opts = |name: &str| ValidateOptions {
        image: pytest_image(),
        repo_name: Some(name.into()),
        workers: 2,
        ..Default::default()
    };

    let local_dir = tmp.path().join("docker");
    std::fs::create_dir_all(&local_dir).expect("mkdir");
    validate_jsonl(
        docker,
        &h.repo.path(),
        commits,
        &local_dir.join("validated.jsonl"),
        &opts("calc-on-docker"),
        &mut |_| {},
    )
    .await
    .expect("validate on Docker");

    let kube_dir = tmp.path().join("kube");
    std::fs::create_dir_all(&kube_dir).expect("mkdir");
    let summary = setup
        .validate_on_kube(&kube_dir.join("validated.jsonl"), &opts("calc-on-kube"))
        .await;
    let (on_docker, on_kube) = (rows(&local_dir), rows(&kube_dir));
    let errors: Vec<&Option<String>> = on_kube
        .values()
        .filter(|r| r.outcome == Outcome::Error)
        .map(|r| &r.reason)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The fix, the feature and the merge that brings the feature in.
    assert_eq!((summary.input, summary.valid), (9, 3), "{summary:?}");
    assert_eq!(
        on_docker.keys().collect::<Vec<_>>(),
        on_kube.keys().collect::<Vec<_>>()
    );
    let mut ran = 0;
    for (hash, d) in &on_docker {
        let k = &on_kube[hash];
        assert_eq!(
            (
                k.outcome,
                k.reason_label(),
                &k.fail_to_pass,
                &k.pass_to_pass,
                &k.flaky
            ),
            (
                d.outcome,
                d.reason_label(),
                &d.fail_to_pass,
                &d.pass_to_pass,
                &d.flaky
            ),
            "{hash}"
        );
        assert_eq!(
            (
                &k.expected_statuses,
                &k.old_statuses,
                &k.test_cmd,
                &k.log_parser
            ),
            (
                &d.expected_statuses,
                &d.old_statuses,
                &d.test_cmd,
                &d.log_parser
            ),
            "{hash}"
        );
        assert_eq!(
            k.image,
            d.image.replace("calc-on-docker", "calc-on-kube"),
            "{hash}"
        );
        if !k.test_cmd.is_empty() {
            ran += 1;
        }
    }
    // One pod per candidate that ran tests (the rest are rejected without
    // running anything); the task images were made locally, not in pods.
    let creates = cluster
        .log()
        .iter()
        .filter(|l| l.starts_with("POST") && l.ends_with("/pods"))
        .count();
    assert_eq!(creates, ran, "{:?}", cluster.log());
    assert!(ran >= 3, "{ran}");

    // The task image of the fix: the repository at its parent without the
    // fix in any ref, where the test patch fails and the fix makes it pass.
    let fix = &on_kube[&h.fix_with_test];
    assert_eq!(
        fix.image,
        format!("r2e-gen/calc-on-kube:{}", &h.fix_with_test[..12])
    );
    let (ok, text) = run_in(
        &fix.image,
        "cd /testbed && git rev-parse HEAD && git log --all --format=%H",
        "",
    );
    assert!(ok, "{text}");
    assert_eq!(text.lines().next(), Some(h.root.as_str()), "{text}");
    assert!(!text.contains(&h.fix_with_test), "{text}");
    let script = format!(
        "cat > /tmp/p && cd /testbed && git apply /tmp/p && {}",
        fix.test_cmd
    );
    let (ok, text) = run_in(
        &fix.image,
        &script,
        &format!("{}{}", fix.test_patch, fix.gold_patch),
    );
    assert!(ok, "{text}");
    for t in fix.fail_to_pass.iter().chain(&fix.pass_to_pass) {
        assert!(text.contains(&format!("PASSED {t}")), "{t}: {text}");
    }

    assert_eq!(cluster.pods(), Vec::<String>::new());
    assert_eq!(cluster.containers(), Vec::<String>::new());
    // Other tests of this binary run beside this one: only the sandboxes
    // from this run's workspace image are looked at.
    let workspace = format!("r2e-gen/calc-on-kube:repo-{}", &h.repo.head()[..12]);
    assert_eq!(containers_of(&workspace), "", "local sandboxes left");
}

/// Pods whose workspace image the cluster cannot pull (a kind cluster not
/// given it): each candidate that would run is an error row naming the
/// image, the kubelet's reason and what to do; nothing is rejected for it,
/// no task image is made and no pod is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_image_the_cluster_cannot_pull_gives_error_rows() {
    let setup = Setup::new(Some("r2e-gen/calc-unpulled:")).await;
    let Setup { tmp, cluster, .. } = &setup;
    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc-unpulled".into()),
        ..Default::default()
    };
    let summary = setup
        .validate_on_kube(&tmp.path().join("validated.jsonl"), &opts)
        .await;
    let rows = rows(tmp.path());
    let errors: Vec<&ValidatedCommit> = rows
        .values()
        .filter(|r| r.outcome == Outcome::Error)
        .collect();
    // The fix, the feature and the merge would have run.
    assert_eq!(errors.len(), 3, "{summary:?}");
    assert_eq!(summary.valid, 0);
    for r in errors {
        let reason = r.reason.as_deref().unwrap_or_default();
        for part in [
            "ErrImagePull",
            "r2e-gen/calc-unpulled:repo-",
            "kind load docker-image",
        ] {
            assert!(reason.contains(part), "{part:?} missing from {reason}");
        }
        assert!(r.image.is_empty());
    }
    assert_eq!(cluster.pods(), Vec::<String>::new());
    assert_eq!(cluster.containers(), Vec::<String>::new());
}

/// A scripted Docker registry (distribution API v2, push side) on
/// 127.0.0.1, which the engine treats as an insecure registry: it accepts
/// blob uploads (monolithic or chunked PATCHes, bodies discarded) and
/// manifests, and records the `name:tag` of every manifest put.
struct Registry {
    addr: String,
    manifests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Registry {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let manifests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let blobs = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let m = manifests.clone();
        let server = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, b) = (m.clone(), blobs.clone());
                tokio::spawn(async move {
                    let _ = registry_request(sock, m, b).await;
                });
            }
        });
        Registry {
            addr,
            manifests,
            server,
        }
    }
}

/// Answers one request (the connection closes after it).
async fn registry_request(
    sock: tokio::net::TcpStream,
    manifests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    blobs: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut r = tokio::io::BufReader::new(sock);
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(()); // not HTTP (the engine tries TLS first)
    };
    let (method, target) = (method.to_string(), target.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await?;
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if h.starts_with("transfer-encoding:") && h.contains("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).await?;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let digest_of = |q: &str| {
        q.split('&')
            .find_map(|p| p.strip_prefix("digest="))
            .map(|d| d.replace("%3A", ":"))
    };
    let fake_digest = format!("sha256:{:064x}", body.len());
    let mut headers = vec!["Docker-Distribution-API-Version: registry/2.0".to_string()];
    let status = match (method.as_str(), path) {
        ("GET", "/v2/" | "/v2") => "200 OK",
        ("HEAD", p) if p.contains("/blobs/") => {
            let digest = p.rsplit('/').next().unwrap_or_default();
            if blobs.lock().unwrap().contains(digest) {
                headers.push(format!("Docker-Content-Digest: {digest}"));
                "200 OK"
            } else {
                "404 Not Found"
            }
        }
        ("POST", p) if p.ends_with("/blobs/uploads/") => {
            static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            headers.push(format!("Location: {p}{n}"));
            headers.push("Range: 0-0".into());
            "202 Accepted"
        }
        ("PATCH", p) if p.contains("/blobs/uploads/") => {
            headers.push(format!("Location: {p}"));
            headers.push(format!("Range: 0-{}", body.len().saturating_sub(1)));
            "202 Accepted"
        }
        ("PUT", p) if p.contains("/blobs/uploads/") => {
            let digest = digest_of(query).unwrap_or_default();
            blobs.lock().unwrap().insert(digest.clone());
            headers.push(format!("Docker-Content-Digest: {digest}"));
            "201 Created"
        }
        ("PUT", p) if p.contains("/manifests/") => {
            let (name, tag) = p
                .trim_start_matches("/v2/")
                .split_once("/manifests/")
                .unwrap_or_default();
            manifests.lock().unwrap().push(format!("{name}:{tag}"));
            headers.push(format!("Docker-Content-Digest: {fake_digest}"));
            "201 Created"
        }
        _ => "404 Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        headers.join("\r\n")
    );
    let sock = r.get_mut();
    sock.write_all(head.as_bytes()).await?;
    sock.shutdown().await
}

/// `push_prefix`: the workspace image goes to the registry (pushed by the
/// engine) before any candidate runs, and the pods start from the pushed
/// name, so nodes that cannot pull the local name still run them.
#[tokio::test(flavor = "multi_thread")]
async fn a_push_prefix_sends_the_workspace_image_to_a_registry_the_pods_pull_from() {
    let registry = Registry::start().await;
    let setup = Setup::new(Some("r2e-gen/calc-pushed:")).await;
    let Setup {
        h, tmp, cluster, ..
    } = &setup;
    let prefix = format!("{}/ci", registry.addr);
    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc-pushed".into()),
        push_prefix: Some(prefix.clone()),
        ..Default::default()
    };
    let summary = setup
        .validate_on_kube(&tmp.path().join("validated.jsonl"), &opts)
        .await;
    let rows = rows(tmp.path());
    assert_eq!(summary.valid, 3, "{rows:#?}");
    let pushed = registry.manifests.lock().unwrap().clone();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert!(
        pushed[0].starts_with("ci/r2e-gen/calc-pushed:repo-"),
        "{pushed:?}"
    );
    let images = cluster.images();
    assert_eq!(images.len(), 3, "{images:?}");
    let pulled = format!("{}/{}", registry.addr, pushed[0]);
    assert!(
        images.iter().all(|i| *i == pulled),
        "{images:?} vs {pulled}"
    );
    // Task images keep their local names.
    let fix = &rows[&h.fix_with_test];
    assert_eq!(
        fix.image,
        format!("r2e-gen/calc-pushed:{}", &h.fix_with_test[..12])
    );
    assert_eq!(cluster.pods(), Vec::<String>::new());
    assert_eq!(cluster.containers(), Vec::<String>::new());
    let _ = Command::new("docker").args(["rmi", &pulled]).output();
}
