//! The verifier pipeline as a user runs it, in Docker with a scripted model:
//! `r2e run` makes candidates, `r2e verify exec` has a testing agent write
//! tests and scores every candidate (a rerun resumes), `r2e verify report`
//! shows best@k of the execution-based verifier.

use r2e_agent::ActionFormat;
use r2e_llm::testing::ScriptedServer;
use tokio::process::Command;

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

async fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn run_then_verify_exec_then_report() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(r2e()
        .args(["dataset", "demo", "--base-image", &image, "--out"])
        .arg(dir.join("demo.jsonl")))
    .await;
    ok(r2e()
        .args([
            "run",
            "--agent",
            "oracle",
            "--k",
            "2",
            "--workers",
            "2",
            "--dataset",
        ])
        .arg(dir.join("demo.jsonl"))
        .arg("--out")
        .arg(dir.join("t.jsonl")))
    .await;

    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(r2e_agent::testing::demo_test_writer(ActionFormat::Native));
    let verify = || {
        let mut c = r2e();
        c.args([
            "verify",
            "exec",
            "--model",
            "scripted",
            "--base-url",
            &server.openai_base_url(),
        ])
        .args(["--tests-per-task", "1", "--workers", "3", "--dataset"])
        .arg(dir.join("demo.jsonl"))
        .arg("--trajectories")
        .arg(dir.join("t.jsonl"))
        .arg("--out")
        .arg(dir.join("exec.jsonl"))
        .env("R2E_API_KEY", "k");
        c
    };
    let text = ok(&mut verify()).await;
    assert!(
        text.contains("scored 6 candidates (0 with errors) against 3 generated test files"),
        "{text}"
    );
    let tests = std::fs::read_to_string(dir.join("exec.tests.jsonl")).unwrap();
    assert_eq!(tests.lines().count(), 3);
    let scores: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("exec.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(scores.len(), 6);
    assert!(
        scores
            .iter()
            .all(|s| s["generated_tests_passed"] == 2 && s["generated_tests_total"] == 2),
        "{scores:?}"
    );

    // Resumed: nothing to write or score, and the model is not asked again.
    let asked = server.request_count();
    let text = ok(&mut verify()).await;
    assert!(text.contains("scored 0 candidates"), "{text}");
    assert_eq!(server.request_count(), asked);

    let text = ok(r2e()
        .args(["verify", "report", "--resamples", "50", "--trajectories"])
        .arg(dir.join("t.jsonl"))
        .arg("--scores")
        .arg(dir.join("exec.jsonl"))
        .arg("--out-dir")
        .arg(dir.join("report")))
    .await;
    assert!(text.to_lowercase().contains("exec"), "{text}");
    assert!(dir.join("report/best_at_k.svg").exists());
}
