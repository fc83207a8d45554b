//! The Docker provider's sandbox behaviours on Kubernetes: always against the
//! scripted cluster (whose kubelet runs the real shim), and against a real
//! cluster when `R2E_KUBE_CONFORMANCE=1` and a kubeconfig are present
//! (`R2E_KUBE_CONFIG` names a provider config file, `R2E_KUBE_IMAGE` an
//! image the nodes can pull with bash, git, tar and coreutils; default
//! `r2e/base:bookworm`).

mod common;

use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_suite_passes_on_the_scripted_cluster() {
    let cluster = FakeCluster::start().await;
    let config = KubeConfig {
        namespace: Some("r2e-test".into()),
        shim_image: "r2e/shim:test".into(),
        ..KubeConfig::default()
    };
    let p = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).unwrap(),
        config,
    );
    common::conformance::run_all(&p, "r2e/base:bookworm").await;
    assert!(
        cluster.pods().is_empty(),
        "every pod was deleted: {:?}",
        cluster.pods()
    );
}

/// Says why the real-cluster suite did not run, on stderr itself (the test
/// harness would swallow `println!` of a passing test).
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped the_sandbox_suite_passes_on_a_real_cluster: {why}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_suite_passes_on_a_real_cluster() {
    if std::env::var("R2E_KUBE_CONFORMANCE").as_deref() != Ok("1") {
        skipped(
            "the real-cluster conformance suite runs with R2E_KUBE_CONFORMANCE=1 and a kubeconfig",
        );
        return;
    }
    if Credentials::default_kubeconfig().is_none() && std::env::var_os("R2E_KUBE_CONFIG").is_none()
    {
        skipped(
            "R2E_KUBE_CONFORMANCE=1 but no kubeconfig ($KUBECONFIG, ~/.kube/config or R2E_KUBE_CONFIG)",
        );
        return;
    }
    let config = match std::env::var_os("R2E_KUBE_CONFIG") {
        Some(path) => KubeConfig::load(std::path::Path::new(&path))
            .expect("R2E_KUBE_CONFIG is a valid provider config"),
        None => KubeConfig::default(),
    };
    let image = std::env::var("R2E_KUBE_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let p = KubeProvider::connect(config).expect("credentials load");
    common::conformance::run_all(&p, &image).await;
    // This process owns every pod the suite made: a live one is a leak too.
    let left = p.gc(false).await.unwrap();
    assert!(
        left.removed.is_empty() && left.kept_live == 0,
        "pods left behind: {:?}, {} still owned by this process",
        left.removed,
        left.kept_live
    );
}
