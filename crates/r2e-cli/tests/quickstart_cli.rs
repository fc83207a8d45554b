//! `r2e quickstart` end to end: demo tasks, the oracle through the tools,
//! rewards, trajectories on disk.

use std::process::Command;

#[test]
fn quickstart_resolves_the_demo_tasks() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_r2e"))
        .current_dir(tmp.path())
        .args(["quickstart", "--base-image", &image, "--out", "qs"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3/3 resolved"), "{stdout}");
    let lines = std::fs::read_to_string(tmp.path().join("qs/trajectories.jsonl")).unwrap();
    let trajs: Vec<r2e_core::Trajectory> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trajs.len(), 3);
    assert!(
        trajs
            .iter()
            .all(|t| t.reward == Some(1.0) && t.model == "oracle")
    );
}
