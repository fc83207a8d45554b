//! `r2e eval` as a user runs it: the demo dataset, gold predictions, a run
//! killed halfway and resumed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

fn reports(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path().join("report.json");
        if p.exists() {
            found.push(p);
        }
    }
    found
}

#[test]
fn a_killed_evaluation_resumes_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = tmp.path().join("demo.jsonl");
    let made = r2e()
        .args(["dataset", "demo", "--base-image", &image(), "--out"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let eval = |extra: &[&str]| {
        let mut c = r2e();
        c.current_dir(tmp.path())
            .args([
                "eval",
                "--dataset",
                "demo.jsonl",
                "--predictions",
                "gold",
                "--run-id",
                "resume",
                "--workers",
                "1",
            ])
            .args(extra);
        c
    };
    let instances = tmp.path().join("logs/run_evaluation/resume/gold");
    let mut child = eval(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while reports(&instances).is_empty() {
        assert!(Instant::now() < deadline, "no instance finished in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = reports(&instances);
    assert!(
        done_before.len() < 3,
        "the run finished before it could be killed"
    );
    let stamps: Vec<_> = done_before
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();

    let out = eval(&[]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reports(&instances).len(), 3);
    for (p, t) in done_before.iter().zip(stamps) {
        assert_eq!(
            std::fs::metadata(p).unwrap().modified().unwrap(),
            t,
            "{} was evaluated again",
            p.display()
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("gold.resume.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["resolved_instances"], 3, "{summary}");
    assert!(stdout.contains("resolved"), "{stdout}");
}

#[test]
fn predictions_for_unknown_instances_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("ds.jsonl"),
        r#"{"task_id": "o__r-1", "source": "swe_bench", "repo": "o/r", "base_commit": "abc", "image": "i", "problem_statement": "p"}"#,
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("preds.jsonl"),
        r#"{"instance_id": "nope__nope-1", "model_name_or_path": "m", "model_patch": "x"}"#,
    )
    .unwrap();
    let out = r2e()
        .current_dir(tmp.path())
        .args([
            "eval",
            "--dataset",
            "ds.jsonl",
            "--predictions",
            "preds.jsonl",
            "--run-id",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope__nope-1") && err.contains("not in the dataset"),
        "{err}"
    );
}
