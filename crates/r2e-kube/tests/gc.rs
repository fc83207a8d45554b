//! `gc` of many pods: the deletes run concurrently (a fleet leaves
//! hundreds), each failed delete is reported by name, and the counts stay
//! right. The provider reaches the scripted API server through the relay of
//! `common/relay.rs`, which counts the deletes in flight at once and refuses
//! the delete of one pod with 403, as an API server whose RBAC forbids it
//! would.

#[path = "common/relay.rs"]
mod relay;

use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use relay::start_relay;
use serde_json::json;
use std::sync::atomic::Ordering;

/// The pod whose delete the relay refuses.
const PROTECTED: &str = "leftover-protected";

#[tokio::test(flavor = "multi_thread")]
async fn gc_deletes_many_pods_concurrently_and_reports_each_failure() {
    let cluster = FakeCluster::start().await;
    let protected = format!("DELETE /api/v1/namespaces/r2e-gc/pods/{PROTECTED}?");
    let refuse = move |head: &str| {
        head.starts_with(&protected).then(|| {
            (
                403,
                format!(
                    "pods \"{PROTECTED}\" is forbidden: User \"ci\" cannot delete resource \"pods\""
                ),
            )
        })
    };
    let (url, relay) = start_relay(&cluster.url, Box::new(refuse)).await;
    let p = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&url)).unwrap(),
        KubeConfig {
            namespace: Some("r2e-gc".into()),
            ..KubeConfig::default()
        },
    );
    let leftover = |i: usize| json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": format!("host-{i}"), "dev.r2e.owner-pid": "1"});
    for i in 0..40 {
        cluster.insert_pod(&format!("leftover-{i:02}"), leftover(i), "Succeeded");
    }
    cluster.insert_pod(PROTECTED, leftover(99), "Failed");
    cluster.insert_pod(
        "live-elsewhere",
        json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": "other", "dev.r2e.owner-pid": "1"}),
        "Running",
    );
    cluster.insert_pod("not-r2e", json!({"app": "web"}), "Succeeded");

    let report = p.gc(false).await.unwrap();

    let mut removed = report.removed.clone();
    removed.sort();
    let expected: Vec<String> = (0..40).map(|i| format!("leftover-{i:02}")).collect();
    assert_eq!(removed, expected);
    assert_eq!((report.kept_live, report.kept_other_hosts), (0, 1));
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let (name, why) = &report.failed[0];
    assert_eq!(name, PROTECTED);
    assert!(why.contains("403") && why.contains("forbidden"), "{why}");
    let mut left = cluster.pods();
    left.sort();
    assert_eq!(left, vec![PROTECTED, "live-elsewhere", "not-r2e"]);
    let most = relay.most_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=16).contains(&most),
        "deletes in flight at once: {most} (expected concurrency, bounded by 16)"
    );
}
