//! The scripted Kubernetes API server (`r2e_kube::testing::FakeCluster`) as
//! a process, for tests in other languages (the Python package's): it
//! writes a kubeconfig for itself, prints one JSON line
//! `{"url": ..., "kubeconfig": ...}` on stdout, and serves until killed or
//! until its stdin closes (so it ends with the test that started it).
//!
//! `cargo run -p r2e-kube --example fake_cluster [--docker] [NAMESPACE]`:
//! `--docker` runs the pods as containers of the local Docker engine (their
//! commands in their images) instead of local processes; NAMESPACE is the
//! kubeconfig context's (default `r2e-fake`).

use r2e_kube::testing::FakeCluster;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let docker = args.iter().any(|a| a == "--docker");
    let namespace = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "r2e-fake".into());
    let cluster = if docker {
        FakeCluster::start_docker_backed().await
    } else {
        FakeCluster::start().await
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: fake\n  user: {{}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: fake, namespace: {namespace}}}\n",
            cluster.url
        ),
    )
    .expect("writing the kubeconfig");
    println!(
        "{}",
        serde_json::json!({"url": cluster.url, "kubeconfig": kubeconfig})
    );
    // Serves until stdin reaches its end (the parent closed it or died) or
    // the process is killed; then the temporary directory goes.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}
