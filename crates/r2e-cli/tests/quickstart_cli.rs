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

/// With --model and --base-url the same command runs the LLM edit agent (here
/// against a scripted OpenAI-compatible server) instead of the oracle.
#[tokio::test(flavor = "multi_thread")]
async fn quickstart_with_a_model_runs_the_edit_agent() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let tmp = tempfile::tempdir().unwrap();
    let server = r2e_llm::testing::ScriptedServer::start().await.unwrap();
    server.set_responder(r2e_agent::testing::demo_solver(
        r2e_agent::ActionFormat::Native,
    ));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_r2e"))
        .current_dir(tmp.path())
        .args([
            "quickstart",
            "--base-image",
            &image,
            "--out",
            "qs",
            "--model",
            "scripted",
        ])
        .args(["--base-url", &server.openai_base_url()])
        .env("R2E_API_KEY", "k")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("running the scripted agent"), "{stdout}");
    assert!(stdout.contains("3/3 resolved"), "{stdout}");
    let trajs = r2e_core::trajectory::read_file(&tmp.path().join("qs/trajectories.jsonl")).unwrap();
    assert!(
        trajs
            .iter()
            .all(|t| t.model == "scripted" && t.steps.len() == 4)
    );
    assert_eq!(server.request_count(), 12);
}
