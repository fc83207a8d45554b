//! The runner turns an episode that cannot start into an `error` trajectory
//! that says why, and the rest of the run goes on.

use r2e_agent::runner::{self, Policy, RunOptions};
use r2e_core::{ExitReason, TrajectoryWriter};
use r2e_env::EnvOptions;
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_is_an_error_trajectory_and_the_run_goes_on() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let docker = DockerProvider::connect().await.expect("a Docker daemon");
    let mut tasks = r2e_eval::demo::build(&docker, &image).await.unwrap();
    tasks.truncate(2);
    tasks[0].image = "r2e-test/no-such-image:never".into();
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = TrajectoryWriter::open(&dir.path().join("t.jsonl")).unwrap();
    let opts = RunOptions {
        k: 1,
        workers: 2,
        retry_errors: false,
    };
    let provider: Arc<dyn Provider> = Arc::new(docker);
    let jobs = runner::pending(&tasks, 1, &Default::default());
    let summary = runner::run(
        runner::Envs::local(provider, 0, EnvOptions::default()),
        jobs,
        Policy::Oracle,
        opts,
        writer,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.episodes, 2);
    assert_eq!(summary.resolved, 1);
    let trajs = r2e_core::trajectory::read_file(&dir.path().join("t.jsonl")).unwrap();
    let failed = trajs
        .iter()
        .find(|t| t.task_id == tasks[0].task_id)
        .unwrap();
    assert_eq!(failed.exit_reason, ExitReason::Error);
    let error = failed.error.as_deref().unwrap();
    assert!(error.contains("no-such-image"), "{error}");
    // A rerun with --retry-errors would run it again; without, it counts as done.
    assert!(!runner::finished(&trajs, true).contains(&(tasks[0].task_id.clone(), 0)));
    assert!(runner::finished(&trajs, false).contains(&(tasks[0].task_id.clone(), 0)));
    // The solved episode keeps the hidden tests' report; the failed one has none.
    assert_eq!(failed.reward_report, None);
    let solved = trajs
        .iter()
        .find(|t| t.task_id == tasks[1].task_id)
        .unwrap();
    let report = solved.reward_report.as_ref().expect("the reward's report");
    let f2p = &report[&tasks[1].task_id]["tests_status"]["FAIL_TO_PASS"];
    assert_eq!(
        f2p["success"],
        serde_json::json!(tasks[1].fail_to_pass),
        "{report}"
    );
    assert_eq!(f2p["failure"], serde_json::json!([]), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_killed_mid_episode_is_an_infra_error_never_a_zero() {
    use r2e_core::{Action, RewardStatus, Step, Trajectory, Usage};
    use std::collections::HashMap;
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let docker = DockerProvider::connect().await.expect("a Docker daemon");
    let mut tasks = r2e_eval::demo::build(&docker, &image).await.unwrap();
    tasks.truncate(1);
    let step = |tool: &str, args: serde_json::Value| Step {
        thought: String::new(),
        action: Action {
            tool: tool.into(),
            args: args.as_object().cloned().unwrap(),
        },
        observation: String::new(),
        llm_secs: 0.0,
        env_secs: 0.0,
        usage: Usage::default(),
    };
    // The command kills the shim serving the sandbox, as an engine failure
    // or an out-of-memory kill would.
    let recorded = Trajectory {
        task_id: tasks[0].task_id.clone(),
        model: "m".into(),
        agent: "a".into(),
        rollout: 0,
        action_format: String::new(),
        steps: vec![
            step(
                "execute_bash",
                serde_json::json!({"cmd": "kill -9 $PPID; sleep 5"}),
            ),
            step("finish", serde_json::json!({})),
        ],
        patch: String::new(),
        reward: None,
        reward_status: None,
        reward_report: None,
        exit_reason: ExitReason::Submitted,
        error: None,
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at: 0.0,
        duration_secs: 0.0,
        messages: Vec::new(),
        tools: Vec::new(),
    };
    let replay = HashMap::from([((tasks[0].task_id.clone(), 0), recorded)]);
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = TrajectoryWriter::open(&dir.path().join("t.jsonl")).unwrap();
    let opts = RunOptions {
        k: 1,
        workers: 1,
        retry_errors: false,
    };
    let provider: Arc<dyn Provider> = Arc::new(docker);
    let jobs = runner::pending(&tasks, 1, &Default::default());
    let policy = Policy::Replay(Arc::new(replay));
    let summary = runner::run(
        runner::Envs::local(provider, 0, EnvOptions::default()),
        jobs,
        policy,
        opts,
        writer,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.count(RewardStatus::InfraError), 1);
    assert_eq!(summary.graded(), 0);
    assert_eq!(summary.resolved_rate(), None);
    let trajs = r2e_core::trajectory::read_file(&dir.path().join("t.jsonl")).unwrap();
    assert_eq!(trajs[0].reward, None);
    assert_eq!(trajs[0].reward_status, Some(RewardStatus::InfraError));
    let error = trajs[0].error.as_deref().unwrap();
    assert!(error.contains("died"), "{error}");
    assert!(runner::finished(&trajs, true).is_empty());
}
