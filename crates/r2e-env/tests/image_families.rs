//! RepoEnv prepares each image family the way its agents expect: R2E-Gym
//! images (the repo's .venv at /root/.venv and its executables on PATH, stale
//! bytecode and the shipped hidden tests gone) and SWE-bench images (the
//! `testbed` conda env first on PATH). The images are made in the test with
//! those layouts from the base image.

use r2e_core::{SourceFormat, Task};
use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Provider, SandboxSpec};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

fn base() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

/// An image made from the base image by `script`.
async fn image(p: &DockerProvider, name: &str, script: &str) -> String {
    let sb = p.start(&SandboxSpec::new(base())).await.unwrap();
    let out = sb.exec(script, &ExecOptions::timeout(120.0)).await.unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr_text());
    let tag = format!("r2e-test/{name}:latest");
    p.commit(sb.as_ref(), &tag, HashMap::new(), &[])
        .await
        .unwrap();
    sb.close().await.unwrap();
    tag
}

fn task(image: String, source: SourceFormat) -> Task {
    let mut t: Task = serde_json::from_value(json!({
        "task_id": "fam", "source": "swe_bench", "repo": "r2e-test/fam", "base_commit": "HEAD",
        "image": image, "problem_statement": "x"
    }))
    .unwrap();
    t.source = source;
    t
}

async fn bash(env: &RepoEnv, cmd: &str) -> String {
    let args = json!({"cmd": cmd}).as_object().cloned().unwrap();
    env.step("execute_bash", &args).await.unwrap().text
}

#[tokio::test(flavor = "multi_thread")]
async fn r2e_gym_and_swebench_images_are_prepared_as_their_agents_expect() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let r2e = image(
        &p,
        "r2e-gym-layout",
        "mkdir -p /testbed/pkg/__pycache__ /testbed/r2e_tests /r2e_tests && cd /testbed \
         && python3 -m venv .venv && touch pkg/__init__.py pkg/__pycache__/x.pyc r2e_tests/test_hidden.py run_tests.sh \
         && git init -q && git add -A && git -c user.email=a@b -c user.name=a commit -qm base",
    )
    .await;
    let env = RepoEnv::reset(
        Arc::new(p.clone()),
        task(r2e, SourceFormat::R2eGym),
        EnvOptions::default(),
    )
    .await
    .unwrap();
    let out = bash(
        &env,
        "readlink /root/.venv; command -v python; ls -a; ls pkg; ls / | grep -c r2e_tests",
    )
    .await;
    assert!(
        out.contains("/testbed/.venv\n/root/.venv/bin/python\n"),
        "{out}"
    );
    assert!(
        !out.contains("r2e_tests") && !out.contains("run_tests.sh"),
        "{out}"
    );
    assert!(!out.contains("__pycache__"), "{out}");
    assert!(out.contains("__init__.py"), "{out}");
    assert!(bash(&env, "ls /root/.local/bin").await.contains("python3"));
    // The removal of the shipped hidden tests is not part of the agent's patch.
    let patch = env.patch().await.unwrap();
    assert!(!patch.contains("r2e_tests"), "{patch}");
    env.close().await.unwrap();

    let swe = image(
        &p,
        "swebench-layout",
        "mkdir -p /opt/miniconda3/envs /testbed && python3 -m venv /opt/miniconda3/envs/testbed \
         && cd /testbed && git init -q && touch a.py && git add -A && git -c user.email=a@b -c user.name=a commit -qm base",
    )
    .await;
    let env = RepoEnv::reset(
        Arc::new(p.clone()),
        task(swe, SourceFormat::SweBench),
        EnvOptions::default(),
    )
    .await
    .unwrap();
    let out = bash(
        &env,
        "readlink /root/.venv; command -v python; python -c 'import sys; print(sys.prefix)'",
    )
    .await;
    assert!(
        out.contains("/opt/miniconda3/envs/testbed\n/root/.venv/bin/python\n/root/.venv"),
        "{out}"
    );
    env.close().await.unwrap();
}
