//! What a step costs through the Kubernetes provider's exec stream against
//! the scripted API server (`r2e_kube::testing`, the real shim behind a real
//! WebSocket on 127.0.0.1), next to the Docker provider's two transports on
//! the local daemon, and how many API calls one sandbox's life takes.
//!
//! `cargo run --release -p r2e-kube --features testing --example step_cost [N]`

use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use r2e_sandbox::docker::{DockerProvider, ShimDelivery, Transport};
use r2e_sandbox::{ExecOptions, Provider, Sandbox, SandboxSpec};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn measure(label: &str, p: &dyn Provider, image: &str, n: usize) {
    let mut starts = Vec::new();
    let mut sb: Option<Box<dyn Sandbox>> = None;
    for _ in 0..5 {
        let t = Instant::now();
        let s = p.start(&SandboxSpec::new(image)).await.expect("start");
        starts.push(t.elapsed());
        if let Some(old) = sb.replace(s) {
            old.close().await.unwrap();
        }
    }
    let sb = sb.unwrap();
    let (mut stats, mut execs) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        sb.stat("/").await.unwrap();
        stats.push(t.elapsed());
        let t = Instant::now();
        sb.exec("true", &ExecOptions::default()).await.unwrap();
        execs.push(t.elapsed());
    }
    let t = Instant::now();
    let big = vec![7u8; 8 << 20];
    sb.write_file("/tmp/r2e-step-cost.bin", &big, None)
        .await
        .unwrap();
    let back = sb.read_file("/tmp/r2e-step-cost.bin").await.unwrap();
    assert_eq!(back.len(), big.len());
    let mb = t.elapsed();
    sb.exec("rm -f /tmp/r2e-step-cost.bin", &ExecOptions::default())
        .await
        .unwrap();
    sb.close().await.unwrap();
    println!(
        "{label:<28} start {:>8.1?}  stat / {:>8.1?}  exec true {:>8.1?}  8 MiB write+read {:>8.1?}",
        median(starts),
        median(stats),
        median(execs),
        mb
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    println!("medians over {n} requests (start: over 5 sandboxes)");
    let cluster = FakeCluster::start().await;
    let config = KubeConfig {
        namespace: Some("bench".into()),
        ..KubeConfig::default()
    };
    let kube = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).unwrap(),
        config,
    );
    measure("kubernetes (scripted, exec)", &kube, "r2e/base:bookworm", n).await;
    let log = cluster.log();
    let per_sandbox =
        |keep: &dyn Fn(&str) -> bool| log.iter().filter(|l| keep(l)).count() as f64 / 5.0;
    // A watch is a GET of the pod list; a status read, a GET of one pod.
    let pods = "GET /api/v1/namespaces/bench/pods";
    println!(
        "API calls per sandbox: {:.1} create, {:.1} status reads, {:.1} watches, {:.1} exec stream, {:.1} delete",
        per_sandbox(&|l| l.starts_with("POST")),
        per_sandbox(&|l| l.starts_with(&format!("{pods}/")) && !l.ends_with("/exec")),
        per_sandbox(&|l| l == pods),
        per_sandbox(&|l| l.ends_with("/exec")),
        per_sandbox(&|l| l.starts_with("DELETE")),
    );
    let docker = r2e_sandbox::docker::connect()
        .await
        .expect("a Docker daemon");
    for (label, transport) in [
        ("docker (attach)", Transport::Attach),
        ("docker (socket)", Transport::Socket),
    ] {
        let p = DockerProvider::with_client(docker.clone(), ShimDelivery::Bind, transport);
        measure(label, &p, "r2e/base:bookworm", n).await;
    }
}
