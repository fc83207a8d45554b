//! The execution-based verifier end to end in Docker: a (scripted) testing
//! agent writes a reproduction test for a demo task through the tools; the
//! correct candidate passes it, a wrong fix and no fix fail it, and a patch
//! that does not apply is reported as such.

use r2e_agent::{ActionFormat, AgentConfig, EditAgent};
use r2e_env::{EnvOptions, RepoEnv};
use r2e_llm::testing::ScriptedServer;
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use r2e_verify::exec::{Candidate, score_task, test_file, write_tests};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn generated_tests_separate_a_correct_patch_from_wrong_ones() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let docker = DockerProvider::connect().await.expect("a Docker daemon");
    let task = r2e_eval::demo::build(&docker, &image)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.task_id.ends_with("calc-add"))
        .unwrap();

    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(r2e_agent::testing::demo_test_writer(ActionFormat::Native));
    let agent = EditAgent::new(
        Arc::new(server.openai_client().unwrap()),
        "scripted",
        AgentConfig::testing(ActionFormat::Native),
    )
    .with_reward(false)
    .with_test_file(test_file(0));
    let env = RepoEnv::reset(
        Arc::new(docker.clone()),
        task.clone(),
        EnvOptions::default(),
    )
    .await
    .unwrap();
    let (test, traj) = write_tests(&env, &agent, 0).await;
    env.close().await.unwrap();
    assert_eq!(traj.reward, None, "the testing agent is not graded");
    let instance = traj.messages[1]["content"].as_str().unwrap();
    assert!(
        instance.contains("/testbed/test_r2e_issue_0.py"),
        "{instance}"
    );
    let test = test.expect("the testing agent wrote its test file");
    assert_eq!(test.path, "test_r2e_issue_0.py");
    assert!(
        test.content.contains("self.assertEqual(add(2, 3), 5)"),
        "{}",
        test.content
    );
    assert!(traj.patch.contains("test_r2e_issue_0.py"), "{}", traj.patch);

    let wrong = task
        .gold_patch
        .replace("+    return a + b", "+    return a * b");
    assert_ne!(wrong, task.gold_patch);
    let candidates = vec![
        Candidate { rollout: 0, patch: task.gold_patch.clone() },
        Candidate { rollout: 1, patch: wrong },
        Candidate { rollout: 2, patch: String::new() },
        Candidate { rollout: 3, patch: "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n".into() },
    ];
    let provider: Arc<dyn Provider> = Arc::new(docker.clone());
    let mut runs = score_task(
        provider,
        None,
        &task,
        candidates,
        &[test],
        2,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    runs.sort_by_key(|(r, _)| *r);
    let summary: Vec<(u32, u32, bool)> = runs
        .iter()
        .map(|(_, r)| (r.generated_passed, r.generated_total, r.error.is_some()))
        .collect();
    assert_eq!(
        summary,
        [(2, 2, false), (1, 2, false), (1, 2, false), (0, 1, true)],
        "{runs:?}"
    );
    assert!(
        runs[3]
            .1
            .error
            .as_deref()
            .unwrap()
            .contains("does not apply")
    );
    assert!(runs.iter().all(|(_, r)| r.regression_pass_rate.is_none()));
}

/// The regression score: the existing tests that pass at the base commit
/// are run with each candidate; breaking one of them lowers the rate.
#[tokio::test(flavor = "multi_thread")]
async fn a_candidate_that_breaks_existing_behaviour_loses_regression_score() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let docker = DockerProvider::connect().await.expect("a Docker daemon");
    let mut task = r2e_eval::demo::build(&docker, &image)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.task_id.ends_with("calc-add"))
        .unwrap();
    // Two existing checks in unittest's verbose format; both pass at the base commit.
    let cmd = r#"python3 -c 'import calc; print("test_sub (reg.T.test_sub) ... " + ("ok" if calc.sub(5, 3) == 2 else "FAIL")); print("test_mul (reg.T.test_mul) ... " + ("ok" if callable(calc.mul) else "FAIL"))'"#;
    task.extra
        .insert(r2e_verify::exec::REGRESSION_CMD.into(), cmd.into());
    let breaks_sub = "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -6,7 +6,7 @@ def add(a, b):\n \n \n def sub(a, b):\n-    return a - b\n+    return b - a\n \n \n def mul(a, b):\n";
    let candidates = vec![
        Candidate {
            rollout: 0,
            patch: task.gold_patch.clone(),
        },
        Candidate {
            rollout: 1,
            patch: breaks_sub.into(),
        },
    ];
    let provider: Arc<dyn Provider> = Arc::new(docker.clone());
    let mut runs = score_task(
        provider,
        None,
        &task,
        candidates,
        &[],
        2,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    runs.sort_by_key(|(r, _)| *r);
    assert_eq!(runs[0].1.error, None, "{runs:?}");
    assert_eq!(runs[1].1.error, None, "{runs:?}");
    assert_eq!(runs[0].1.regression_pass_rate, Some(1.0));
    assert_eq!(runs[1].1.regression_pass_rate, Some(0.5));
    assert_eq!(
        (runs[0].1.generated_passed, runs[0].1.generated_total),
        (0, 0)
    );
}
