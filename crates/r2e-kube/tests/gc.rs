//! `gc` of many pods: the deletes run concurrently (a fleet leaves hundreds),
//! each failed delete is reported by name, and the counts stay right.
//!
//! The provider reaches the scripted API server through a small HTTP relay
//! written here, which sees every request: it counts the deletes in flight
//! at once (holding the first one until a second arrives, for at most a few
//! seconds, so that the overlap is certain when there is concurrency and
//! costs little when there is none) and refuses the delete of one pod with
//! 403, as an API server whose RBAC forbids it would.

use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The pod whose delete the relay refuses.
const PROTECTED: &str = "leftover-protected";

#[derive(Default)]
struct Relay {
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Whether the first delete was held already (only it is).
    held: AtomicBool,
    /// Signalled when two deletes are in flight at once.
    overlap_seen: tokio::sync::Notify,
}

/// Reads one request head (the provider's deletes and lists have no body).
async fn read_head(sock: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    head
}

async fn relay(mut client: TcpStream, upstream: String, r: Arc<Relay>) {
    let head = read_head(&mut client).await;
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let is_delete = line.starts_with("DELETE ");
    if is_delete {
        let now = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        r.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if now >= 2 {
            r.overlap_seen.notify_one();
        } else if !r.held.swap(true, Ordering::SeqCst) {
            let _ = tokio::time::timeout(Duration::from_secs(3), r.overlap_seen.notified()).await;
        }
    }
    if is_delete && line.contains(&format!("/pods/{PROTECTED}")) {
        let body = json!({"kind": "Status", "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": format!("pods \"{PROTECTED}\" is forbidden: User \"ci\" cannot delete resource \"pods\"")})
        .to_string();
        let answer = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes()).await;
    } else {
        let mut server = TcpStream::connect(&upstream).await.unwrap();
        server.write_all(&head).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
    let _ = client.shutdown().await;
    if is_delete {
        r.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn start_relay(upstream_url: &str) -> (String, Arc<Relay>) {
    let upstream = upstream_url.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let r = Arc::new(Relay::default());
    let state = r.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(relay(sock, upstream.clone(), state.clone()));
        }
    });
    (url, r)
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_deletes_many_pods_concurrently_and_reports_each_failure() {
    let cluster = FakeCluster::start().await;
    let (url, relay) = start_relay(&cluster.url).await;
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
