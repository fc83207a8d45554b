//! The oracle resolves every task of the demo dataset through the tools.

use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::docker::DockerProvider;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn the_oracle_resolves_every_demo_task() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let tasks = r2e_eval::demo::build(&p, &image).await.unwrap();
    for task in tasks {
        let env = RepoEnv::reset(Arc::new(p.clone()), task.clone(), EnvOptions::default())
            .await
            .unwrap();
        let traj = r2e_agent::scripted::oracle(&env).await;
        env.close().await.unwrap();
        assert_eq!(traj.reward, Some(1.0), "{}: {:?}", task.task_id, traj.error);
        assert_eq!(traj.exit_reason, r2e_core::ExitReason::Submitted);
        assert_eq!(traj.patch, task.gold_patch);
        assert_eq!(traj.steps.len(), 3);
        assert!(
            traj.steps[1].observation.contains("Applied patch"),
            "{}",
            traj.steps[1].observation
        );
        let line = serde_json::to_string(&traj).unwrap();
        let back: r2e_core::Trajectory = serde_json::from_str(&line).unwrap();
        assert_eq!(back, traj);
    }
}
