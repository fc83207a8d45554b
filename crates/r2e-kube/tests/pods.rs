//! The provider against the scripted API server: a pod's life (create,
//! Running, the shim over exec, delete), what it looks like, the failures
//! reported at once (pull errors, unschedulable, eviction mid-exec, a start
//! timeout), create retries, garbage collection by label and the doctor.

use r2e_kube::testing::{CreateOutcome, FakeCluster};
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider, ShimDelivery};
use r2e_sandbox::{ExecOptions, Provider, Sandbox, SandboxError, SandboxSpec};
use serde_json::json;
use std::time::{Duration, Instant};

fn config() -> KubeConfig {
    KubeConfig {
        namespace: Some("r2e-test".into()),
        shim_image: "registry.test/r2e-shim:1".into(),
        start_timeout_secs: 30,
        ..KubeConfig::default()
    }
}

fn provider(cluster: &FakeCluster, config: KubeConfig) -> KubeProvider {
    KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).unwrap(),
        config,
    )
}

fn infra_message(e: SandboxError) -> String {
    match e {
        SandboxError::Provider { provider, message } => {
            assert_eq!(provider, "kubernetes");
            message
        }
        other => panic!("expected an infrastructure error, got {other:?}"),
    }
}

async fn round_trip(sb: &dyn Sandbox) {
    let out = sb
        .exec("echo out; echo err >&2; exit 3", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (
            out.exit_code,
            out.stdout_text().as_ref(),
            out.stderr_text().as_ref()
        ),
        (3, "out\n", "err\n")
    );
    let path = format!("/tmp/r2e-kube-test-{:x}/f", fastrand::u64(..));
    sb.write_file(&path, b"\x00bytes\xff", None).await.unwrap();
    assert_eq!(sb.read_file(&path).await.unwrap(), b"\x00bytes\xff");
    sb.exec(
        &format!("rm -rf $(dirname {path})"),
        &ExecOptions::default(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_is_created_runs_the_shim_over_exec_and_is_deleted() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let mut spec = SandboxSpec::new("r2e/task:abc");
    spec.env = vec![("A".into(), "1".into())];
    spec.labels = vec![
        ("r2e.task".into(), "astropy__astropy-1234".into()),
        ("odd key/with space".into(), "v".into()),
    ];
    spec.network = false;
    let sb = p.start(&spec).await.unwrap();
    let name = sb.id().to_string();
    assert!(name.starts_with(&format!("r2e-{}-", p.run_id())), "{name}");

    let m = cluster.manifest(&name);
    let labels = &m["metadata"]["labels"];
    assert_eq!(labels["dev.r2e.sandbox"], "1");
    assert_eq!(labels["dev.r2e.run-id"], p.run_id());
    assert_eq!(labels["dev.r2e.env-id"], "0");
    assert_eq!(labels["dev.r2e.owner-pid"], std::process::id().to_string());
    assert!(
        labels["dev.r2e.owner"]
            .as_str()
            .unwrap()
            .ends_with(&format!("-{}", std::process::id()))
    );
    assert_eq!(labels["dev.r2e.network"], "off");
    assert_eq!(
        m["metadata"]["annotations"]["r2e.task"],
        "astropy__astropy-1234"
    );
    let spec_json = &m["spec"];
    assert_eq!(spec_json["activeDeadlineSeconds"], 4 * 3600);
    assert_eq!(spec_json["restartPolicy"], "Never");
    assert_eq!(
        spec_json["initContainers"][0]["image"],
        "registry.test/r2e-shim:1"
    );
    assert_eq!(
        spec_json["initContainers"][0]["command"],
        json!(["/r2e-shim", "--install", "/.r2e/r2e-shim"])
    );
    let c = &spec_json["containers"][0];
    assert_eq!(c["image"], "r2e/task:abc");
    assert_eq!(c["command"], json!(["/.r2e/r2e-shim"]));
    assert_eq!(c["stdin"], true);
    // The shim serves on the exec stream even where the image says otherwise.
    assert_eq!(
        c["env"],
        json!([{"name": "R2E_SHIM_SOCKET", "value": ""}, {"name": "A", "value": "1"}])
    );
    assert_eq!(c["resources"]["limits"]["memory"], (4u64 << 30).to_string());
    assert_eq!(
        spec_json["volumes"][0],
        json!({"name": "r2e", "emptyDir": {}})
    );

    round_trip(sb.as_ref()).await;
    let log = cluster.log();
    assert!(
        log.iter()
            .any(|l| l.ends_with(&format!("/pods/{name}/exec"))),
        "{log:?}"
    );
    sb.close().await.unwrap();
    assert!(cluster.pods().is_empty(), "close deletes the pod");
    assert!(matches!(sb.ping().await, Err(SandboxError::Closed(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v4_subprotocol_works_too() {
    let cluster = FakeCluster::start().await;
    cluster.use_protocol("v4.channel.k8s.io");
    let p = provider(&cluster, config());
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    round_trip(sb.as_ref()).await;
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_shim_image_the_shim_is_uploaded_through_exec() {
    let cluster = FakeCluster::start().await;
    let p = provider(
        &cluster,
        KubeConfig {
            shim_delivery: ShimDelivery::Upload,
            ..config()
        },
    );
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let m = cluster.manifest(sb.id());
    assert_eq!(m["spec"]["initContainers"], json!([]));
    assert_eq!(m["spec"]["containers"][0]["command"][0], "/bin/sh");
    round_trip(sb.as_ref()).await;
    let execs = cluster
        .log()
        .iter()
        .filter(|l| l.ends_with("/exec"))
        .count();
    assert_eq!(execs, 2, "one exec uploads, one serves");
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_cannot_be_pulled_fails_at_once_naming_image_node_and_reason() {
    let cluster = FakeCluster::start().await;
    let p = provider(
        &cluster,
        KubeConfig {
            start_timeout_secs: 300,
            ..config()
        },
    );
    let t = Instant::now();
    let err = p
        .start(&SandboxSpec::new("pull-fail/private:1"))
        .await
        .err()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "reported at once, not at the timeout"
    );
    let m = infra_message(err);
    for part in [
        "ErrImagePull",
        "pull-fail/private:1",
        "fake-node-1",
        "pull access denied",
        "image_pull_secrets",
    ] {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
    assert!(cluster.pods().is_empty(), "the failed pod is deleted");

    // The shim image itself missing says how to make one.
    let p = provider(
        &cluster,
        KubeConfig {
            shim_image: "missing/r2e-shim:9".into(),
            ..config()
        },
    );
    let m = infra_message(
        p.start(&SandboxSpec::new("r2e/task:abc"))
            .await
            .err()
            .unwrap(),
    );
    for part in [
        "ImagePullBackOff",
        "missing/r2e-shim:9",
        "r2e image shim",
        "shim_delivery",
    ] {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unschedulable_pod_fails_at_once_with_the_schedulers_words() {
    let cluster = FakeCluster::start().await;
    let p = provider(
        &cluster,
        KubeConfig {
            start_timeout_secs: 300,
            ..config()
        },
    );
    let m = infra_message(
        p.start(&SandboxSpec::new("unschedulable/big:1"))
            .await
            .err()
            .unwrap(),
    );
    for part in [
        "unschedulable",
        "0/3 nodes are available: 3 Insufficient memory",
        "unschedulable/big:1",
        "resources.requests",
    ] {
        assert!(m.contains(part), "{part:?} missing from: {m}");
    }
    assert!(cluster.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_that_never_runs_times_out_with_its_last_state() {
    let cluster = FakeCluster::start().await;
    let p = provider(
        &cluster,
        KubeConfig {
            start_timeout_secs: 1,
            ..config()
        },
    );
    let m = infra_message(
        p.start(&SandboxSpec::new("slow/huge:1"))
            .await
            .err()
            .unwrap(),
    );
    assert!(
        m.contains("did not start within 1 s") && m.contains("ContainerCreating on fake-node-1"),
        "{m}"
    );
    assert!(cluster.pods().is_empty());
}

/// How many times the log shows `GET path`.
fn gets(cluster: &FakeCluster, path: &str) -> usize {
    let line = format!("GET {path}");
    cluster.log().iter().filter(|l| **l == line).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_watches_its_pod_and_polls_where_watching_is_not_allowed() {
    let pods = "/api/v1/namespaces/r2e-test/pods";
    // Watched: one status read, then the watch's events.
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    round_trip(sb.as_ref()).await;
    let name = sb.id().to_string();
    assert_eq!(
        gets(&cluster, &format!("{pods}/{name}")),
        1,
        "{:?}",
        cluster.log()
    );
    assert_eq!(gets(&cluster, pods), 1, "{:?}", cluster.log());
    sb.close().await.unwrap();

    // No `watch` in the account's Role: the start reads the status until
    // the pod runs, and the provider does not try to watch again.
    let cluster = FakeCluster::start().await;
    cluster.deny("watch pods");
    let p = provider(&cluster, config());
    for _ in 0..2 {
        let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
        round_trip(sb.as_ref()).await;
        let reads = gets(&cluster, &format!("{pods}/{}", sb.id()));
        assert!(reads >= 2, "{reads} reads: {:?}", cluster.log());
        sb.close().await.unwrap();
    }
    assert_eq!(gets(&cluster, pods), 1, "{:?}", cluster.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_deleted_while_it_starts_fails_the_start_at_once() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let start = tokio::spawn({
        let p = p.clone();
        async move { p.start(&SandboxSpec::new("slow/huge:1")).await.err() }
    });
    let t = Instant::now();
    while cluster.pods().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no pod created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let name = cluster.pods()[0].clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let api = Api::new(Credentials::insecure_http(&cluster.url)).unwrap();
    api.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/namespaces/r2e-test/pods/{name}"),
        None,
    )
    .await
    .unwrap();
    let m = infra_message(start.await.unwrap().expect("the start fails"));
    assert!(
        m.contains(&format!("pod {name} was deleted while it started")),
        "{m}"
    );
    // The start timeout is 30 s: the watch said so at once.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_are_retried_on_409_429_and_5xx() {
    let cluster = FakeCluster::start().await;
    cluster.script_creates(&[
        CreateOutcome::Refuse(429),
        CreateOutcome::Refuse(503),
        CreateOutcome::Refuse(409),
    ]);
    let p = provider(&cluster, config());
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let posts = cluster
        .log()
        .iter()
        .filter(|l| l.starts_with("POST ") && l.ends_with("/pods"))
        .count();
    assert_eq!(posts, 4, "{:?}", cluster.log());
    assert_eq!(cluster.pods(), vec![sb.id().to_string()]);
    assert_ne!(
        sb.id(),
        format!("r2e-{}-0", p.run_id()),
        "a 409 for a pod not ours takes another name"
    );
    round_trip(sb.as_ref()).await;
    sb.close().await.unwrap();

    // A create whose answer was lost (stored, then 504) is adopted on the 409.
    cluster.script_creates(&[CreateOutcome::StoreThenFail(504)]);
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    assert_eq!(cluster.pods(), vec![sb.id().to_string()], "no second pod");
    assert_eq!(sb.id(), format!("r2e-{}-1", p.run_id()));
    sb.close().await.unwrap();

    // 403 is not retried and says what to grant.
    cluster.script_creates(&[CreateOutcome::Refuse(403)]);
    let before = cluster.log().len();
    let m = infra_message(
        p.start(&SandboxSpec::new("r2e/task:abc"))
            .await
            .err()
            .unwrap(),
    );
    assert!(m.contains("403") && m.contains("pods create"), "{m}");
    assert_eq!(cluster.log().len(), before + 1, "one attempt");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_evicted_mid_exec_is_a_clear_error() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let name = sb.id().to_string();
    let evict = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.evict(&name);
    };
    let t = Instant::now();
    let opts = ExecOptions::default();
    let (result, ()) = tokio::join!(sb.exec("sleep 60", &opts), evict);
    assert!(t.elapsed() < Duration::from_secs(30), "no hang");
    match result {
        Err(SandboxError::Died { detail, .. }) => {
            for part in [
                &name as &str,
                "was evicted",
                "fake-node-1",
                "low on resource: memory",
            ] {
                assert!(detail.contains(part), "{part:?} missing from: {detail}");
            }
        }
        other => panic!("expected Died, got {other:?}"),
    }
    sb.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_deletes_finished_and_orphaned_pods_by_label() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let host = cluster.manifest(sb.id())["metadata"]["labels"]["dev.r2e.owner-host"].clone();
    let dead_pid = (4_194_304 + 7).to_string();
    let ours = |pid: &str| json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": host, "dev.r2e.owner-pid": pid});
    cluster.insert_pod("orphan", ours(&dead_pid), "Running");
    cluster.insert_pod(
        "finished",
        ours(&std::process::id().to_string()),
        "Succeeded",
    );
    cluster.insert_pod(
        "elsewhere",
        json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": "other-host", "dev.r2e.owner-pid": "1"}),
        "Running",
    );
    cluster.insert_pod("not-r2e", json!({"app": "web"}), "Running");

    let report = p.gc(false).await.unwrap();
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(removed, vec!["finished".to_string(), "orphan".to_string()]);
    assert_eq!((report.kept_live, report.kept_other_hosts), (1, 1));
    let mut left = cluster.pods();
    left.sort();
    assert_eq!(
        left,
        vec![
            "elsewhere".to_string(),
            "not-r2e".to_string(),
            sb.id().to_string()
        ]
    );
    assert!(
        cluster
            .log()
            .iter()
            .any(|l| l.starts_with("GET ") && l.ends_with("/namespaces/r2e-test/pods"))
    );

    let report = p.gc(true).await.unwrap();
    assert_eq!(report.removed.len(), 2, "{report:?}");
    assert_eq!(
        cluster.pods(),
        vec!["not-r2e".to_string()],
        "only r2e's pods go"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_sandboxes_and_close_all_delete_their_pods() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    let a = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let _b = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.pods().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the dropped sandbox's pod is deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.close_all().await, 1);
    assert!(cluster.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_rbac_and_makes_one_round_trip() {
    let cluster = FakeCluster::start().await;
    cluster.deny("create pods/exec");
    let p = provider(&cluster, config());
    let checks = r2e_kube::doctor::run(&p, None).await;
    let by_name = |n: &str| {
        checks
            .iter()
            .find(|c| c.name.contains(n))
            .unwrap_or_else(|| panic!("no check {n}: {checks:?}"))
    };
    assert!(by_name("API server").ok && by_name("API server").detail.contains("v1.31.0-fake"));
    assert!(by_name("RBAC: create pods").ok);
    let exec = by_name("RBAC: create pods/exec");
    assert!(
        !exec.ok && exec.detail.contains("not allowed in namespace r2e-test"),
        "{exec:?}"
    );
    assert!(by_name("pod start").ok);
    let reqs = by_name("requests through the shim");
    assert!(reqs.ok && reqs.detail.starts_with("median "), "{reqs:?}");
    assert!(by_name("pod delete").ok);
    assert!(cluster.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_pool_keeps_pods_ready_and_skips_an_evicted_one() {
    let cluster = FakeCluster::start().await;
    let p = std::sync::Arc::new(provider(&cluster, config()));
    let pool = r2e_sandbox::WarmPool::new(p.clone(), 2);
    let spec = SandboxSpec::new("r2e/task:abc");
    pool.fill(&spec).await.unwrap();
    assert_eq!(pool.ready(&spec), 2);
    assert_eq!(cluster.pods().len(), 2);
    // One pod is evicted while it waits in the pool: never handed out.
    let evicted = cluster.pods()[0].clone();
    cluster.evict(&evicted);
    let mut taken = Vec::new();
    for _ in 0..2 {
        let sb = pool.take(&spec).await.unwrap();
        assert_ne!(sb.id(), evicted);
        round_trip(sb.as_ref()).await;
        taken.push(sb);
    }
    for sb in taken {
        sb.close().await.unwrap();
    }
    pool.drain().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.pods().is_empty() {
        assert!(Instant::now() < deadline, "pods left: {:?}", cluster.pods());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_exec_stream_is_kept_alive_with_pings() {
    let cluster = FakeCluster::start().await;
    let p = provider(
        &cluster,
        KubeConfig {
            keepalive_secs: 1,
            ..config()
        },
    );
    let sb = p.start(&SandboxSpec::new("r2e/task:abc")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.pings() < 2 {
        assert!(Instant::now() < deadline, "no keepalive pings");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    round_trip(sb.as_ref()).await;
    sb.close().await.unwrap();
}

/// Ctrl-C while a create is in flight: `close_all` cannot see the pod yet
/// (the API server has stored it but not answered), so the start that made
/// it deletes it when the answer comes, and fails instead of returning a
/// sandbox nobody will close.
#[tokio::test(flavor = "multi_thread")]
async fn close_all_during_a_create_in_flight_leaves_no_pod() {
    let cluster = FakeCluster::start().await;
    let p = provider(&cluster, config());
    cluster.script_creates(&[CreateOutcome::StoreThenWait(1_500)]);
    let starting = tokio::spawn({
        let p = p.clone();
        async move { p.start(&SandboxSpec::new("r2e/task:abc")).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.pods().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the create never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.close_all().await;
    let started = starting.await.unwrap();
    let m = infra_message(started.err().expect("the start fails"));
    assert!(m.contains("closed"), "{m}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cluster.pods().is_empty() {
        assert!(Instant::now() < deadline, "pods left: {:?}", cluster.pods());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
