//! The provider against the Docker-backed scripted cluster
//! (`FakeCluster::start_docker_backed`), where a pod is a real container of
//! the local engine: the sandbox behaviours of the conformance suite hold
//! inside the image, the pod's labels, working directory, environment and
//! network setting reach the container, an image the engine lacks is
//! reported as a pull error, and a deleted pod leaves no container.

mod common;

use r2e_kube::testing::{CLUSTER_LABEL, FakeCluster};
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider, ShimDelivery};
use r2e_sandbox::{ExecOptions, Provider, SandboxError, SandboxSpec};
use std::process::Command;

const IMAGE: &str = "r2e/base:bookworm";

fn provider(cluster: &FakeCluster, delivery: ShimDelivery) -> KubeProvider {
    KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).unwrap(),
        KubeConfig {
            namespace: Some("r2e-docker".into()),
            shim_image: "registry.test/r2e-shim:1".into(),
            shim_delivery: delivery,
            start_timeout_secs: 120,
            ..KubeConfig::default()
        },
    )
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_conformance_suite_holds_in_pods_that_are_containers() {
    let cluster = FakeCluster::start_docker_backed().await;
    let p = provider(&cluster, ShimDelivery::Image);
    common::conformance::run_all(&p, IMAGE).await;
    assert!(cluster.pods().is_empty());
    assert_eq!(cluster.containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_runs_in_its_image_with_its_labels_and_leaves_nothing() {
    let cluster = FakeCluster::start_docker_backed().await;
    for delivery in [ShimDelivery::Image, ShimDelivery::Upload] {
        let p = provider(&cluster, delivery);
        let mut spec = SandboxSpec::new(IMAGE);
        spec.workdir = Some("/srv".into());
        spec.env = vec![("R2E_FAKE".into(), "pod env".into())];
        spec.network = false;
        let sb = p.start(&spec).await.unwrap();
        let containers = cluster.containers();
        assert_eq!(containers.len(), 1, "{containers:?}");
        let c = &containers[0];
        assert!(c.ends_with(sb.id()), "{c} is pod {}", sb.id());
        assert_eq!(
            inspect(c, "{{index .Config.Labels \"dev.r2e.sandbox\"}}"),
            "1"
        );
        assert_eq!(
            inspect(c, "{{index .Config.Labels \"dev.r2e.run-id\"}}"),
            p.run_id()
        );
        assert!(
            !inspect(
                c,
                &format!("{{{{index .Config.Labels \"{CLUSTER_LABEL}\"}}}}")
            )
            .is_empty()
        );
        assert_eq!(inspect(c, "{{.HostConfig.NetworkMode}}"), "none");
        // The command runs in the image (Debian's release file, the pod's
        // working directory and environment), not on the test host.
        let out = sb
            .exec(
                "cat /etc/debian_version >/dev/null && pwd && echo \"$R2E_FAKE\" && ls /sys/class/net",
                &ExecOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            (out.exit_code, out.stdout_text().as_ref()),
            (0, "/srv\npod env\nlo\n"),
            "{out:?}"
        );
        sb.close().await.unwrap();
        assert!(cluster.pods().is_empty());
        assert_eq!(cluster.containers(), Vec::<String>::new(), "{delivery:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_the_engine_lacks_is_a_pull_error() {
    let cluster = FakeCluster::start_docker_backed().await;
    let p = provider(&cluster, ShimDelivery::Image);
    let image = format!("r2e-test/never-built-{:x}:1", fastrand::u64(..));
    let err = p.start(&SandboxSpec::new(&image)).await.err().unwrap();
    let SandboxError::Provider { message, .. } = err else {
        panic!("expected an infrastructure error, got {err:?}");
    };
    assert!(
        message.contains("ErrImagePull") && message.contains(&image),
        "{message}"
    );
    assert!(cluster.pods().is_empty());
    assert_eq!(cluster.containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_cluster_removes_its_containers() {
    let cluster = FakeCluster::start_docker_backed().await;
    let p = provider(&cluster, ShimDelivery::Image);
    let sb = p.start(&SandboxSpec::new(IMAGE)).await.unwrap();
    let names = cluster.containers();
    assert_eq!(names.len(), 1);
    // The sandbox is forgotten, not closed: the cluster goes first.
    std::mem::forget(sb);
    drop(cluster);
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("name={}", names[0]))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "{out:?}"
    );
}
