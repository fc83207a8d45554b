//! Stage 4 with the test runs on Kubernetes: the test history validated once
//! on the Docker engine alone and once with its test runs in pods of the
//! Docker-backed scripted cluster (`r2e_kube::testing`, pods are real
//! containers from the workspace image). Both give the same rows; the task
//! images of the second run were made on the local engine, hold the
//! repository at the base commit and run the task's tests; no pod and no
//! container is left.

mod common;

use common::{history, pytest_image};
use r2e_gen::validate::{Engines, Outcome, ValidateOptions, ValidatedCommit, validate_jsonl};
use r2e_kube::testing::FakeCluster;
use r2e_kube::{Api, Credentials, KubeConfig, KubeProvider};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

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

/// Containers of the Docker engine that this process started as sandboxes.
fn own_sandboxes() -> String {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("label=dev.r2e.owner-pid={}", std::process::id()))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn test_runs_in_pods_give_the_rows_of_docker_runs() {
    let h = history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let commits = tmp.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let docker = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
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
        &docker,
        &h.repo.path(),
        &commits,
        &local_dir.join("validated.jsonl"),
        &opts("calc-on-docker"),
        &mut |_| {},
    )
    .await
    .expect("validate on Docker");

    let cluster = FakeCluster::start_docker_backed().await;
    let kube = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).expect("api"),
        KubeConfig {
            namespace: Some("r2e-gen".into()),
            start_timeout_secs: 120,
            ..KubeConfig::default()
        },
    );
    let kube_dir = tmp.path().join("kube");
    std::fs::create_dir_all(&kube_dir).expect("mkdir");
    let summary = validate_jsonl(
        Engines {
            docker: &docker,
            tests: Some(&kube),
        },
        &h.repo.path(),
        &commits,
        &kube_dir.join("validated.jsonl"),
        &opts("calc-on-kube"),
        &mut |_| {},
    )
    .await
    .expect("validate on Kubernetes");
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
    assert_eq!(own_sandboxes(), "", "local sandboxes left");
}

/// Pods whose workspace image the cluster cannot pull (a kind cluster not
/// given it): each candidate that would run is an error row naming the
/// image, the kubelet's reason and what to do; nothing is rejected for it,
/// no task image is made and no pod is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_image_the_cluster_cannot_pull_gives_error_rows() {
    let h = history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let commits = tmp.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let docker = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let cluster = FakeCluster::start_docker_backed().await;
    cluster.refuse_pulls("r2e-gen/calc-unpulled:");
    let kube = KubeProvider::with_api(
        Api::new(Credentials::insecure_http(&cluster.url)).expect("api"),
        KubeConfig {
            namespace: Some("r2e-gen".into()),
            start_timeout_secs: 120,
            ..KubeConfig::default()
        },
    );
    let summary = validate_jsonl(
        Engines {
            docker: &docker,
            tests: Some(&kube),
        },
        &h.repo.path(),
        &commits,
        &tmp.path().join("validated.jsonl"),
        &ValidateOptions {
            image: pytest_image(),
            repo_name: Some("calc-unpulled".into()),
            ..Default::default()
        },
        &mut |_| {},
    )
    .await
    .expect("validate");
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
