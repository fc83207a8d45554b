//! RepoEnv on the demo tasks in Docker: fixing the bug through the tools earns
//! reward 1 and a patch like the gold one; leaving it earns 0; a fork starts
//! where its parent stands, on Docker and on (scripted) Kubernetes.

use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use serde_json::json;
use std::sync::Arc;

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fix_through_the_tools_earns_the_reward() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let task = mul_task(&p).await;

    let env = RepoEnv::reset(Arc::new(p.clone()), task.clone(), EnvOptions::default())
        .await
        .unwrap();
    let view = env
        .step(
            "file_editor",
            &args(json!({"command": "view", "path": "/testbed/calc.py"})),
        )
        .await
        .unwrap();
    assert!(view.text.contains("return a + b"), "{}", view.text);
    let hidden = env
        .step("execute_bash", &args(json!({"cmd": "ls tests"})))
        .await
        .unwrap();
    assert!(
        !hidden.text.contains("test_mul.py"),
        "hidden tests are out of reach: {}",
        hidden.text
    );
    let edit = env
        .step(
            "file_editor",
            &args(json!({"command": "str_replace", "path": "/testbed/calc.py",
                          "old_str": "def mul(a, b):\n    return a + b", "new_str": "def mul(a, b):\n    return a * b"})),
        )
        .await
        .unwrap();
    assert_eq!(edit.error_code, "0", "{}", edit.text);
    let patch = env.patch().await.unwrap();
    assert_eq!(
        patch, task.gold_patch,
        "the agent's patch is the gold one here"
    );
    let reward = env.reward().await.unwrap();
    assert_eq!(reward.value, 1.0, "{}\n{}", reward.report, reward.log);
    env.close().await.unwrap();

    let untouched = RepoEnv::reset(Arc::new(p.clone()), task, EnvOptions::default())
        .await
        .unwrap();
    assert_eq!(untouched.patch().await.unwrap(), "");
    let reward = untouched.reward().await.unwrap();
    assert_eq!(reward.value, 0.0);
    assert!(
        reward.report.contains("\"resolved\": false"),
        "{}",
        reward.report
    );
    untouched.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_pool_makes_reset_cheap_and_refills() {
    use r2e_sandbox::{Provider, WarmPool};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let tasks = r2e_eval::demo::build(&p, &image()).await.unwrap();
    let task = tasks
        .iter()
        .find(|t| t.task_id.ends_with("-add"))
        .unwrap()
        .clone();
    let provider: Arc<dyn Provider> = Arc::new(p.clone());
    let pool = WarmPool::new(provider, 2);
    let spec = RepoEnv::sandbox_spec(&task, &EnvOptions::default());
    pool.fill(&spec).await.unwrap();
    assert_eq!(pool.ready(&spec), 2);
    let t = Instant::now();
    let env = RepoEnv::reset_from_pool(&pool, task.clone(), EnvOptions::default())
        .await
        .unwrap();
    let took = t.elapsed();
    let cold = Instant::now();
    RepoEnv::reset(Arc::new(p.clone()), task.clone(), EnvOptions::default())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    assert!(
        took < cold.elapsed(),
        "a pooled reset ({took:?}) is faster than a cold one"
    );
    env.step("file_editor", &args(json!({"command": "str_replace", "path": "/testbed/calc.py",
        "old_str": "def add(a, b):\n    return a - b", "new_str": "def add(a, b):\n    return a + b"})))
        .await
        .unwrap();
    assert_eq!(env.reward().await.unwrap().value, 1.0);
    env.close().await.unwrap();
    // The pool starts a replacement in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.ready(&spec) < 2 {
        assert!(Instant::now() < deadline, "the pool did not refill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.drain().await;
    assert_eq!(pool.ready(&spec), 0);
}

/// The demo task whose `mul` adds.
async fn mul_task(p: &DockerProvider) -> r2e_core::Task {
    let tasks = r2e_eval::demo::build(p, &image()).await.unwrap();
    tasks
        .iter()
        .find(|t| t.task_id.ends_with("-mul"))
        .unwrap()
        .clone()
}

/// A fork of an environment on `provider` starts in its parent's state
/// (binary files included), then each goes its own way and earns its own
/// reward.
async fn a_fork_diverges(provider: Arc<dyn Provider>, task: r2e_core::Task) {
    let env = RepoEnv::reset(provider, task, EnvOptions::default())
        .await
        .unwrap();
    let bash = |cmd: &str| args(json!({ "cmd": cmd }));
    env.step(
        "execute_bash",
        &bash("printf 'x\\0y' > blob.bin && echo note > notes.txt"),
    )
    .await
    .unwrap();
    let child = env.fork().await.unwrap();
    assert_ne!(child.sandbox().id(), env.sandbox().id());
    assert_eq!(child.patch().await.unwrap(), env.patch().await.unwrap());
    let blob = child
        .sandbox()
        .read_file("/testbed/blob.bin")
        .await
        .unwrap();
    assert_eq!(blob, b"x\0y", "binary files are carried over");
    env.step(
        "execute_bash",
        &bash("sed -i 's/return a + b$/return a * b/' calc.py"),
    )
    .await
    .unwrap();
    child
        .step(
            "execute_bash",
            &bash("sed -i 's/return a + b$/return a - b/' calc.py"),
        )
        .await
        .unwrap();
    assert!(env.patch().await.unwrap().contains("+    return a * b"));
    assert!(child.patch().await.unwrap().contains("+    return a - b"));
    assert_eq!(env.reward().await.unwrap().value, 1.0);
    assert_eq!(child.reward().await.unwrap().value, 0.0);
    env.close().await.unwrap();
    child.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_starts_in_its_parents_state_and_then_diverges() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let task = mul_task(&p).await;
    a_fork_diverges(Arc::new(p), task).await;
}

/// The same on Kubernetes (the scripted cluster whose pods are containers of
/// the local engine): the fork's pod gets the parent's state, and both
/// rewards run in pods of their own.
#[tokio::test(flavor = "multi_thread")]
async fn a_fork_diverges_on_kubernetes_too() {
    use r2e_kube::testing::FakeCluster;
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let task = mul_task(&p).await;
    let cluster = FakeCluster::start_docker_backed().await;
    let kube = r2e_kube::KubeProvider::with_api(
        r2e_kube::Api::new(r2e_kube::Credentials::insecure_http(&cluster.url)).unwrap(),
        r2e_kube::KubeConfig {
            namespace: Some("r2e-env".into()),
            shim_image: "registry.test/r2e-shim:1".into(),
            start_timeout_secs: 120,
            ..r2e_kube::KubeConfig::default()
        },
    );
    a_fork_diverges(Arc::new(kube), task).await;
    // Closing deletes a pod in the background: wait for the last ones.
    let t = std::time::Instant::now();
    while !cluster.pods().is_empty() {
        assert!(
            t.elapsed().as_secs() < 30,
            "pods left: {:?}",
            cluster.pods()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let names: Vec<String> = cluster
        .log()
        .into_iter()
        .filter(|l| l.starts_with("POST"))
        .collect();
    // Parent, its fork, and a fresh pod for each reward.
    assert_eq!(names.len(), 4, "{:?}", cluster.log());
}
