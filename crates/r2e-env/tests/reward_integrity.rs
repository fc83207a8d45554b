//! The reward cannot be faked: on a demo task, every trick an agent can play
//! on its sandbox instead of fixing the code earns reward 1 when the hidden
//! tests run in the agent's own sandbox (`RewardIn::Same`, R2E-Gym's way),
//! and 0 when they run in a fresh sandbox with only the guarded patch (the
//! default). The real fix still earns 1, also next to a trick; a test run
//! past its limit is a timeout, not a plain 0.

use r2e_core::RewardStatus;
use r2e_core::reward_guard::Exclusion;
use r2e_env::{EnvOptions, RepoEnv, Reward, RewardIn};
use r2e_sandbox::docker::DockerProvider;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

/// A `python3` that runs nothing and prints what unittest prints for a pass.
const FAKE_PYTHON: &str = "#!/bin/sh\nfor t in test_mul test_sub; do echo \"$t (tests.test_mul.MulTest.$t) ... ok\"; done\necho; echo 'Ran 2 tests in 0.001s'; echo; echo OK\n";

/// A package `__init__` that makes every unittest test pass without running it.
const FORCE_PASS: &str = "import unittest\n\ndef _run(self, result=None):\n    result.startTest(self)\n    result.addSuccess(self)\n    result.stopTest(self)\n\nunittest.TestCase.run = _run\n";

/// The fix of the `mul` bug.
const FIX: &str = "sed -i 's/return a + b$/return a * b/' calc.py";

/// Plays `cmds` through `execute_bash` on a fresh environment of the demo
/// task `mul` and returns the reward where `reward_in` says.
async fn play(p: &DockerProvider, cmds: &[String], reward_in: RewardIn) -> Reward {
    let tasks = r2e_eval::demo::build(p, &image()).await.unwrap();
    let task = tasks
        .into_iter()
        .find(|t| t.task_id.ends_with("-mul"))
        .unwrap();
    let opts = EnvOptions {
        reward_in,
        test_timeout: Duration::from_secs(20),
        ..EnvOptions::default()
    };
    let env = RepoEnv::reset(Arc::new(p.clone()), task, opts)
        .await
        .unwrap();
    for cmd in cmds {
        let args = json!({ "cmd": cmd }).as_object().cloned().unwrap();
        let reply = env.step("execute_bash", &args).await.unwrap();
        assert_eq!(reply.error_code, "0", "{cmd}: {}", reply.text);
    }
    let reward = env.reward().await.unwrap();
    env.close().await.unwrap();
    reward
}

/// A shell command writing `text` to `path` (parents created).
fn write(path: &str, text: &str) -> String {
    format!(
        "mkdir -p \"$(dirname {path})\" && printf '%s' '{}' > {path} && chmod +x {path}",
        text.replace('\'', r"'\''")
    )
}

/// Each trick earns 1 in the agent's sandbox and 0 in a fresh one, where
/// the parts of the patch that carried it are reported as excluded.
async fn trick(cmds: Vec<String>, excluded: &[(&str, Exclusion)]) {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let same = play(&p, &cmds, RewardIn::Same).await;
    assert_eq!(
        (same.value, same.status),
        (1.0, RewardStatus::Resolved),
        "the trick works where R2E-Gym grades (else this test proves nothing): {}\n{}",
        same.report,
        same.log
    );
    let fresh = play(&p, &cmds, RewardIn::Fresh).await;
    assert_eq!(
        (fresh.value, fresh.status),
        (0.0, RewardStatus::Unresolved),
        "{}\n{}",
        fresh.report,
        fresh.log
    );
    let got: Vec<(&str, Exclusion)> = fresh
        .excluded
        .iter()
        .map(|e| (e.path.as_str(), e.reason))
        .collect();
    assert_eq!(got, excluded);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fake_python_outside_the_repository_earns_nothing() {
    trick(vec![write("/root/.venv/bin/python3", FAKE_PYTHON)], &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fake_python_in_the_repositorys_venv_earns_nothing() {
    // R2E-Gym images keep the task's Python in /testbed/.venv, linked at
    // /root/.venv: the fake lands inside the repository and in the patch.
    trick(
        vec![
            "mkdir -p /testbed/.venv/bin && rm -rf /root/.venv && ln -s /testbed/.venv /root/.venv"
                .into(),
            write("/root/.venv/bin/python3", FAKE_PYTHON),
        ],
        &[(".venv/bin/python3", Exclusion::Environment)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_package_hook_that_forces_passes_earns_nothing() {
    trick(
        vec![
            write("/testbed/tests/__init__.py", FORCE_PASS),
            write("/testbed/conftest.py", FORCE_PASS),
        ],
        &[
            ("conftest.py", Exclusion::TestHook),
            ("tests/__init__.py", Exclusion::TestFile),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sitecustomize_that_forces_passes_earns_nothing() {
    // The hook in the repository, and a .pth in the interpreter's
    // site-packages (outside the repository) that puts it first on the path.
    trick(
        vec![
            write("/testbed/hooks/sitecustomize.py", FORCE_PASS),
            "site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])') && mkdir -p \"$site\" && echo \"import sys; sys.path.insert(0, '/testbed/hooks')\" > \"$site/zz-hooks.pth\""
                .into(),
        ],
        &[("hooks/sitecustomize.py", Exclusion::TestHook)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn edited_or_deleted_hidden_tests_do_not_change_the_verdict() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    // The agent writes its own version of the hidden test file (always
    // passing) and deletes the test package: the reward's sandbox gets the
    // real hidden tests and the package back.
    let cmds = vec![
        write(
            "/testbed/tests/test_mul.py",
            "import unittest\n\nclass MulTest(unittest.TestCase):\n    def test_mul(self):\n        pass\n\n    def test_sub(self):\n        pass\n",
        ),
        "git rm -q tests/__init__.py".into(),
    ];
    let fresh = play(&p, &cmds, RewardIn::Fresh).await;
    assert_eq!(fresh.status, RewardStatus::Unresolved, "{}", fresh.log);
    let mut got: Vec<(String, Exclusion)> = fresh
        .excluded
        .into_iter()
        .map(|e| (e.path, e.reason))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("tests/__init__.py".to_string(), Exclusion::TestFile),
            ("tests/test_mul.py".to_string(), Exclusion::HiddenTest),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_fix_earns_the_reward_also_next_to_a_trick() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let fixed = play(&p, &[FIX.to_string()], RewardIn::Fresh).await;
    assert_eq!(
        (fixed.value, fixed.status),
        (1.0, RewardStatus::Resolved),
        "{}\n{}",
        fixed.report,
        fixed.log
    );
    assert!(fixed.excluded.is_empty());
    let both = play(
        &p,
        &[
            FIX.to_string(),
            write("/testbed/tests/__init__.py", FORCE_PASS),
        ],
        RewardIn::Fresh,
    )
    .await;
    assert_eq!(both.status, RewardStatus::Resolved, "{}", both.log);
    assert_eq!(both.excluded.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_tests_past_their_limit_are_a_timeout() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let cmd = format!("{FIX} && printf 'import time\\ntime.sleep(600)\\n' >> calc.py");
    let tasks = r2e_eval::demo::build(&p, &image()).await.unwrap();
    let task = tasks
        .into_iter()
        .find(|t| t.task_id.ends_with("-mul"))
        .unwrap();
    let opts = EnvOptions {
        test_timeout: Duration::from_secs(3),
        ..EnvOptions::default()
    };
    let env = RepoEnv::reset(Arc::new(p.clone()), task, opts)
        .await
        .unwrap();
    let args = json!({ "cmd": cmd }).as_object().cloned().unwrap();
    env.step("execute_bash", &args).await.unwrap();
    let reward = env.reward().await.unwrap();
    env.close().await.unwrap();
    assert_eq!((reward.value, reward.status), (0.0, RewardStatus::Timeout));
    assert!(reward.report.is_empty());
}
