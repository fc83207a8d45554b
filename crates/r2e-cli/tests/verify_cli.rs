//! `r2e verify report`, `r2e verify judge` and `r2e export verifier` on small
//! synthetic files (no Docker, no LLM).

use std::path::Path;
use std::process::Command;

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

fn trajectory(task_id: &str, rollout: u32, reward: f64) -> serde_json::Value {
    serde_json::json!({
        "task_id": task_id, "model": "m", "agent": "edit", "rollout": rollout,
        "steps": [], "patch": format!("+fix {rollout}\n"), "reward": reward,
        "exit_reason": "submitted", "started_at": 0.0, "duration_secs": 1.0,
    })
}

fn write_lines(path: &Path, rows: &[serde_json::Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).expect("write");
}

fn fixture(dir: &Path) {
    let rewards = [1.0, 0.0, 1.0, 0.0];
    let free = [0.9, 0.8, 0.3, 0.2];
    let trajs: Vec<_> = (0..4)
        .map(|i| trajectory("a", i, rewards[i as usize]))
        .collect();
    write_lines(&dir.join("t.jsonl"), &trajs);
    let scores: Vec<_> = (0..4)
        .map(|i| serde_json::json!({"task_id": "a", "rollout": i, "exec_free": free[i]}))
        .collect();
    write_lines(&dir.join("scores.jsonl"), &scores);
    let task = serde_json::json!({
        "instance_id": "a", "repo": "o/r", "base_commit": "abc", "version": "1.0",
        "problem_statement": "The parser crashes on empty input.",
        "patch": "", "test_patch": "", "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]",
    });
    write_lines(&dir.join("tasks.jsonl"), &[task]);
}

#[test]
fn verify_report_prints_best_at_k_and_writes_the_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let out = r2e()
        .args(["verify", "report", "--trajectories"])
        .arg(dir.path().join("t.jsonl"))
        .arg("--scores")
        .arg(dir.path().join("scores.jsonl"))
        .arg("--out-dir")
        .arg(dir.path().join("report"))
        .args(["--resamples", "50"])
        .output()
        .expect("r2e runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Hand-computed exec-free best@2 = 2/3, pass@2 = 5/6.
    assert!(
        stdout.contains("best@k exec-free") && stdout.contains("66.7"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pass@k (oracle)") && stdout.contains("83.3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("exec-free") && stdout.contains("100.0%"),
        "{stdout}"
    );
    for name in ["report.json", "best_at_k.svg", "best_at_k.png"] {
        assert!(dir.path().join("report").join(name).is_file(), "{name}");
    }
    let png = std::fs::read(dir.path().join("report/best_at_k.png")).expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn export_verifier_writes_labelled_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    let data = dir.path().join("data.jsonl");
    let out = r2e()
        .args(["export", "verifier", "--trajectories"])
        .arg(dir.path().join("t.jsonl"))
        .arg("--dataset")
        .arg(dir.path().join("tasks.jsonl"))
        .arg("--out")
        .arg(&data)
        .output()
        .expect("r2e runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 examples (2 YES, 2 NO)"), "{stdout}");
    let text = std::fs::read_to_string(&data).expect("data");
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains("The parser crashes on empty input."));
}

#[test]
fn verify_judge_without_a_server_says_what_to_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixture(dir.path());
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = r2e()
        .args(["verify", "judge", "--trajectories"])
        .arg(dir.path().join("t.jsonl"))
        .arg("--dataset")
        .arg(dir.path().join("tasks.jsonl"))
        .args(["--model", "judge", "--max-attempts", "1", "--base-url"])
        .arg(format!("http://127.0.0.1:{port}/v1"))
        .arg("--out")
        .arg(dir.path().join("judged.jsonl"))
        .env("OPENAI_API_KEY", "none")
        .output()
        .expect("r2e runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("re-running resumes"), "{stderr}");
    assert!(stderr.contains("is the server running"), "{stderr}");
}
