//! `--provider kubernetes` on the command line, against the scripted API
//! server of `r2e_kube::testing` (reached through a kubeconfig written
//! here): `r2e doctor`, `r2e sandbox gc`, and `r2e dataset check` whose
//! sandboxes are pods (an unschedulable image is an infra error, never a
//! verdict about the task); `r2e gen validate` whose test runs are pods of
//! the Docker-backed scripted cluster while its images are made locally.

#[path = "../../r2e-gen/tests/common/mod.rs"]
mod common;

use r2e_kube::testing::FakeCluster;
use serde_json::json;
use std::path::Path;
use std::process::Output;

/// Writes a kubeconfig for the fake cluster and a provider config using it.
fn configs(cluster: &FakeCluster, dir: &Path) -> std::path::PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: me\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: me}}\n",
            cluster.url
        ),
    )
    .unwrap();
    let config = dir.join("k8s.toml");
    std::fs::write(
        &config,
        format!(
            "namespace = \"r2e-cli\"\nkubeconfig = \"{}\"\nshim_image = \"registry.test/r2e-shim:1\"\nstart_timeout_secs = 60\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    config
}

async fn r2e(args: Vec<String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_r2e"))
        .args(args)
        .env_remove("R2E_PROVIDER")
        .output()
        .await
        .unwrap()
}

fn args(list: &[&str], config: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.extend([
        "--provider".into(),
        "kubernetes".into(),
        "--provider-config".into(),
        config.display().to_string(),
    ]);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reports_rbac_and_a_timed_pod_round_trip() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let out = r2e(args(&["doctor"], &config)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok    credentials",
        "ok    namespace: r2e-cli (from the provider config)",
        "ok    RBAC: create pods/exec: allowed",
        "ok    pod start (create → Running → shim hello)",
        "ok    requests through the shim (5 × stat /): median",
        "ok    pod delete",
        "all checks passed",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    cluster.deny("delete pods");
    let out = r2e(args(&["doctor"], &config)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  RBAC: delete pods: not allowed in namespace r2e-cli"),
        "{text}"
    );
    assert!(cluster.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_gc_deletes_orphaned_pods() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    cluster.insert_pod(
        "done",
        json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": "h", "dev.r2e.owner-pid": "1"}),
        "Failed",
    );
    cluster.insert_pod("other", json!({"dev.r2e.sandbox": "1", "dev.r2e.owner-host": "elsewhere", "dev.r2e.owner-pid": "1"}), "Running");
    let out = r2e(args(&["sandbox", "gc"], &config)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("deleted pod done") && text.contains("1 pod(s) deleted in namespace r2e-cli"),
        "{text}"
    );
    assert!(text.contains("1 made from other hosts"), "{text}");
    assert_eq!(cluster.pods(), vec!["other".to_string()]);
    let out = r2e(args(&["sandbox", "gc", "--all"], &config)).await;
    assert!(out.status.success());
    assert!(cluster.pods().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dataset_check_runs_its_sandboxes_as_pods() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let task = json!({
        "task_id": "big-task", "source": "swe_bench", "repo": "o/r", "base_commit": "abc",
        "image": "unschedulable/big:1", "problem_statement": "p",
        "fail_to_pass": ["t::a"], "pass_to_pass": [],
    });
    let dataset = dir.path().join("tasks.jsonl");
    std::fs::write(&dataset, format!("{task}\n")).unwrap();
    let report = dir.path().join("check.jsonl");
    let mut a = vec!["dataset".to_string(), "check".into(), "--dataset".into()];
    a.extend([
        dataset.display().to_string(),
        "--out".into(),
        report.display().to_string(),
    ]);
    a.extend(args(&[], &config));
    let out = r2e(a).await;
    assert!(report.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let row: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&report)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        row["verdict"],
        "infra_error",
        "{row}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = row.to_string();
    assert!(
        text.contains("Insufficient memory") && text.contains("unschedulable/big:1"),
        "{text}"
    );
    assert!(
        cluster
            .log()
            .iter()
            .any(|l| l == "POST /api/v1/namespaces/r2e-cli/pods"),
        "{:?}",
        cluster.log()
    );
    assert!(cluster.pods().is_empty(), "failed pods are deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_and_verify_exec_take_sandbox_provider() {
    let cluster = FakeCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let task = json!({
        "task_id": "big-task", "source": "swe_bench", "repo": "o/r", "base_commit": "abc",
        "image": "unschedulable/big:1", "problem_statement": "p",
        "fail_to_pass": ["t::a"], "pass_to_pass": [],
    });
    let dataset = dir.path().join("tasks.jsonl");
    std::fs::write(&dataset, format!("{task}\n")).unwrap();
    let traj = dir.path().join("traj.jsonl");
    let out = r2e(vec![
        "run".into(),
        "--agent".into(),
        "oracle".into(),
        "--dataset".into(),
        dataset.display().to_string(),
        "--out".into(),
        traj.display().to_string(),
        "--sandbox-provider".into(),
        "kubernetes".into(),
        "--provider-config".into(),
        config.display().to_string(),
    ])
    .await;
    let text = std::fs::read_to_string(&traj).unwrap_or_default();
    assert!(
        text.contains("\"infra_error\"") && text.contains("Insufficient memory"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        cluster
            .log()
            .iter()
            .any(|l| l == "POST /api/v1/namespaces/r2e-cli/pods")
    );
    // `--provider` of `r2e run` stays the model's wire protocol.
    let out = r2e(vec!["run".into(), "--provider".into(), "kubernetes".into()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("openai"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = r2e(vec!["verify".into(), "exec".into(), "--help".into()]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("--sandbox-provider"));
}

#[tokio::test(flavor = "multi_thread")]
async fn gen_validate_runs_the_tests_in_pods_and_saves_task_images_locally() {
    let h = common::history();
    let image = common::pytest_image();
    let cluster = FakeCluster::start_docker_backed().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let out_dir = dir.path().join("out");
    let validate = |extra: &[&str]| {
        let mut a: Vec<String> = ["gen", "validate", "--repo"]
            .into_iter()
            .map(String::from)
            .collect();
        a.push(h.repo.path().display().to_string());
        a.extend(["--candidates".into(), commits.display().to_string()]);
        a.extend(["--out".into(), out_dir.display().to_string()]);
        a.extend(["--image".into(), image.clone()]);
        a.extend(["--name".into(), "calc-cli-kube".into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let config_arg = config.display().to_string();
    let out = r2e(validate(&[
        "--provider",
        "kubernetes",
        "--provider-config",
        &config_arg,
    ]))
    .await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("funnel: 9 candidates → 3 validated"),
        "{text}"
    );
    let creates = cluster
        .log()
        .iter()
        .filter(|l| *l == "POST /api/v1/namespaces/r2e-cli/pods")
        .count();
    assert!(creates >= 3, "{:?}", cluster.log());
    assert!(cluster.pods().is_empty());
    assert_eq!(cluster.containers(), Vec::<String>::new());
    // The tasks' images were saved by the local engine.
    let tasks = std::fs::read_to_string(out_dir.join("tasks.jsonl")).unwrap();
    let tasks: Vec<serde_json::Value> = tasks
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tasks.len(), 3);
    for t in &tasks {
        let image = t["image"].as_str().unwrap();
        assert!(image.starts_with("r2e-gen/calc-cli-kube:"), "{image}");
        let inspect = std::process::Command::new("docker")
            .args(["image", "inspect", image])
            .output()
            .unwrap();
        assert!(inspect.status.success(), "{image} is not in the engine");
    }

    // The Docker provider takes no provider config; stages with a model
    // name the sandbox provider --sandbox-provider.
    let out = r2e(validate(&["--provider-config", "k8s.toml"])).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--provider-config is for --provider kubernetes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stage in ["tests", "run"] {
        let out = r2e(vec!["gen".into(), stage.into(), "--help".into()]).await;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--sandbox-provider"),
            "gen {stage}"
        );
    }
    for stage in ["validate", "tests", "run"] {
        let out = r2e(vec!["gen".into(), stage.into(), "--help".into()]).await;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--push-prefix <REGISTRY[/PATH]>"),
            "gen {stage}"
        );
    }
}

/// `r2e gen run --sandbox-provider kubernetes` with a model: validation,
/// the generated test's validation and the last check all run in pods; the
/// dataset is the one a Docker run gives.
#[tokio::test(flavor = "multi_thread")]
async fn gen_run_sends_every_test_run_to_the_cluster() {
    let h = common::history();
    let image = common::pytest_image();
    let cluster = FakeCluster::start_docker_backed().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let list = dir.path().join("repos.txt");
    std::fs::write(&list, format!("{}\n", h.repo.path().display())).unwrap();
    let server = r2e_llm::testing::ScriptedServer::start().await.unwrap();
    server.set_responder(|req| {
        let system = req.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let reply = if system.starts_with("You write regression tests") {
            "```python\nfrom pkg.calc import Stats\n\n\ndef test_mean_of_empty_stats():\n    \
             assert Stats([]).mean() == 0.0\n```"
        } else {
            "Stats and div misbehave on edge cases\n\nEmpty input and zero divisors."
        };
        r2e_llm::testing::Turn::text(reply).into()
    });
    let out_dir = dir.path().join("out");
    let mut a: Vec<String> = vec!["gen".into(), "run".into(), "--repos".into()];
    a.push(list.display().to_string());
    a.extend(["--out".into(), out_dir.display().to_string()]);
    a.extend(["--image".into(), image, "--preset".into(), "r2e".into()]);
    a.extend(["--model".into(), "scripted".into(), "--base-url".into()]);
    a.push(server.openai_base_url());
    a.extend([
        "--sandbox-provider".into(),
        "kubernetes".into(),
        "--provider-config".into(),
        config.display().to_string(),
    ]);
    let out = r2e(a).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let tasks = r2e_core::dataset::load(&out_dir.join("tasks.jsonl"), &Default::default())
        .unwrap()
        .tasks;
    // The fix, the feature, the merge bringing the feature in, the generated one.
    assert_eq!(tasks.len(), 4, "{text}");
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t.extra.get("tests_generated") == Some(&json!(true)))
            .count(),
        1,
        "{text}"
    );
    let checks = std::fs::read_to_string(out_dir.join("check.jsonl")).unwrap();
    assert_eq!(checks.lines().count(), 4, "{text}");
    assert!(
        checks.lines().all(|l| l.contains("\"verdict\":\"ok\"")),
        "{checks}"
    );
    // Pods for the candidates of both stages and for the check's runs.
    let creates = cluster
        .log()
        .iter()
        .filter(|l| *l == "POST /api/v1/namespaces/r2e-cli/pods")
        .count();
    assert!(creates >= 4 + 4, "{creates} pods");
    assert!(cluster.pods().is_empty());
    assert_eq!(cluster.containers(), Vec::<String>::new());
}

/// Ctrl-C during `r2e gen validate --provider kubernetes` deletes the pod
/// of the candidate under test and exits 130; nothing of the run is left.
#[tokio::test(flavor = "multi_thread")]
async fn gen_validate_interrupted_leaves_no_pod() {
    let mut repo = common::Repo::new();
    repo.write("pkg/__init__.py", "");
    repo.write("pkg/m.py", "def f():\n    return 1\n");
    repo.write(
        "tests/test_m.py",
        "from pkg.m import f\n\n\ndef test_f():\n    assert f() == 1\n",
    );
    repo.commit("Initial commit");
    repo.write("pkg/m.py", "def f():\n    return 2\n");
    // A test run that lasts until Ctrl-C.
    repo.write(
        "tests/test_m.py",
        "import time\nfrom pkg.m import f\n\n\ndef test_f():\n    time.sleep(600)\n    \
         assert f() == 2\n",
    );
    repo.commit("f returns 2");
    let image = common::pytest_image();
    let cluster = FakeCluster::start_docker_backed().await;
    let dir = tempfile::tempdir().unwrap();
    let config = configs(&cluster, dir.path());
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&repo.path(), &commits);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_r2e"))
        .args([
            "gen",
            "validate",
            "--workers",
            "1",
            "--image",
            &image,
            "--repo",
        ])
        .arg(repo.path())
        .arg("--candidates")
        .arg(&commits)
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--name", "slow-kube", "--provider", "kubernetes"])
        .arg("--provider-config")
        .arg(&config)
        .env_remove("R2E_PROVIDER")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let t = std::time::Instant::now();
    while cluster.containers().is_empty() {
        assert!(t.elapsed().as_secs() < 300, "no pod started");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let o = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // Deleted before r2e exits; the fake kubelet may still be removing the
    // container.
    assert!(cluster.pods().is_empty());
    let t = std::time::Instant::now();
    while !cluster.containers().is_empty() {
        assert!(t.elapsed().as_secs() < 30, "{:?}", cluster.containers());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
