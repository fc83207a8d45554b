//! The sandbox of a task's environment: its limits, and network off unless
//! the task asks for it or the options decide (no Docker needed).

use r2e_core::Task;
use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::Limits;
use serde_json::json;

/// A task whose `extra` (the dataset's columns r2e has no field for) is `extra`.
fn task(extra: serde_json::Value) -> Task {
    let mut t: Task = serde_json::from_value(json!({
        "task_id": "net", "source": "swe_bench", "repo": "r2e-test/net", "base_commit": "HEAD",
        "image": "r2e-test/net:latest", "problem_statement": "x"
    }))
    .unwrap();
    t.extra = extra.as_object().cloned().unwrap_or_default();
    t
}

#[test]
fn episodes_run_offline_unless_the_task_needs_the_network() {
    let opts = EnvOptions::default();
    let offline = task(json!({}));
    assert!(!RepoEnv::sandbox_spec(&offline, &opts).network);
    let online = task(json!({"network": true}));
    assert!(RepoEnv::sandbox_spec(&online, &opts).network);
    let not_really = task(json!({"network": "yes"}));
    assert!(!RepoEnv::sandbox_spec(&not_really, &opts).network);
    // The options override the task either way.
    let forced_on = EnvOptions {
        network: Some(true),
        ..EnvOptions::default()
    };
    assert!(RepoEnv::sandbox_spec(&offline, &forced_on).network);
    let forced_off = EnvOptions {
        network: Some(false),
        ..EnvOptions::default()
    };
    assert!(!RepoEnv::sandbox_spec(&online, &forced_off).network);
}

#[test]
fn the_limits_reach_the_sandbox() {
    let spec = RepoEnv::sandbox_spec(&task(json!({})), &EnvOptions::default());
    assert_eq!(spec.limits, Limits::default());
    let small = Limits {
        memory_bytes: Some(512 << 20),
        pids: Some(64),
        ..Limits::none()
    };
    let opts = EnvOptions {
        limits: small,
        ..EnvOptions::default()
    };
    assert_eq!(RepoEnv::sandbox_spec(&task(json!({})), &opts).limits, small);
}
