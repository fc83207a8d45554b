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
        pool: 0,
        env: EnvOptions::default(),
        retry_errors: false,
    };
    let provider: Arc<dyn Provider> = Arc::new(docker);
    let jobs = runner::pending(&tasks, 1, &Default::default());
    let summary = runner::run(provider, jobs, Policy::Oracle, opts, writer, &|_| {})
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
}
