//! Bad input and run setup get one clear line and a non-zero exit before any
//! work starts (no sandbox, no Docker needed): zero counts and timeouts, an
//! empty dataset or predictions file, a repeated task id, a log directory
//! that cannot be written, a missing file (its message printed once).

use std::path::Path;
use std::process::Command;

/// Runs `r2e ARGS` and returns (exit code, stderr).
fn r2e(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_r2e"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// One r2e task row with `id`.
fn row(id: &str) -> String {
    serde_json::json!({
        "task_id": id, "source": "swe_bench", "repo": "o/r", "base_commit": "abc",
        "image": "r2e/none:x", "problem_statement": "p", "gold_patch": "",
        "test_patch": "", "fail_to_pass": [], "pass_to_pass": []
    })
    .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Exactly one line starting with `error:`, holding `needle`.
fn one_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines[0].starts_with("error:") && lines[0].contains(needle),
        "{stderr}"
    );
    let errors = stderr.matches("error:").count();
    assert_eq!(errors, 1, "{stderr}");
}

#[test]
fn zero_counts_and_timeouts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "d.jsonl", &(row("a") + "\n"));
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    for (args, flag) in [
        (vec!["run", "--agent", "oracle", "--k", "0"], "--k"),
        (
            vec!["run", "--agent", "oracle", "--workers", "0"],
            "--workers",
        ),
        (
            vec!["run", "--agent", "oracle", "--test-timeout", "0"],
            "--test-timeout",
        ),
        (
            vec![
                "eval",
                "--predictions",
                "gold",
                "--run-id",
                "x",
                "--timeout",
                "0",
            ],
            "--timeout",
        ),
        (
            vec![
                "eval",
                "--predictions",
                "gold",
                "--run-id",
                "x",
                "--workers",
                "0",
            ],
            "--workers",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--dataset", &data, "--out", out]);
        if args[0] == "eval" {
            all.truncate(all.len() - 2);
        }
        let (code, err) = r2e(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(flag) && err.contains("must be at least 1"),
            "{err}"
        );
    }
}

#[test]
fn empty_and_repeated_inputs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.jsonl", "");
    let twice = write(
        dir.path(),
        "twice.jsonl",
        &format!("{}\n{}\n{}\n", row("a"), row("b"), row("a")),
    );
    let out = dir.path().join("o.jsonl");
    let out = out.to_str().unwrap();
    let (code, err) = r2e(&[
        "run",
        "--agent",
        "oracle",
        "--dataset",
        &empty,
        "--out",
        out,
    ]);
    assert_eq!(code, 2);
    one_error(&err, "holds no tasks");
    let (code, err) = r2e(&[
        "run",
        "--agent",
        "oracle",
        "--dataset",
        &twice,
        "--out",
        out,
    ]);
    assert_eq!(code, 2);
    one_error(&err, "task id a appears more than once (tasks 1 and 3)");
    assert!(!Path::new(out).exists(), "nothing ran");
    let (code, err) = r2e(&[
        "eval",
        "--dataset",
        &twice,
        "--predictions",
        "gold",
        "--run-id",
        "x",
    ]);
    assert_eq!(code, 2);
    one_error(&err, "appears more than once");

    let data = write(dir.path(), "d.jsonl", &(row("a") + "\n"));
    let no_preds = write(dir.path(), "p.jsonl", "");
    let (code, err) = r2e(&[
        "eval",
        "--dataset",
        &data,
        "--predictions",
        &no_preds,
        "--run-id",
        "x",
    ]);
    assert_eq!(code, 2);
    one_error(&err, "no predictions to evaluate");
    let missing = dir.path().join("missing.jsonl");
    let (code, err) = r2e(&[
        "eval",
        "--dataset",
        &data,
        "--predictions",
        missing.to_str().unwrap(),
        "--run-id",
        "x",
    ]);
    assert_eq!(code, 2);
    one_error(&err, "missing.jsonl");
    assert_eq!(
        err.matches("No such file").count(),
        1,
        "printed once: {err}"
    );
}

#[test]
fn a_log_or_report_directory_that_cannot_be_written_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "d.jsonl", &(row("a") + "\n"));
    // A regular file where a directory should go: no one can write under it.
    let file = write(dir.path(), "a-file", "");
    for flag in ["--log-dir", "--report-dir"] {
        let (code, err) = r2e(&[
            "eval",
            "--dataset",
            &data,
            "--predictions",
            "gold",
            "--run-id",
            "x",
            flag,
            &format!("{file}/sub"),
        ]);
        assert_eq!(code, 2, "{err}");
        one_error(&err, &format!("{flag} {file}/sub: cannot write there"));
    }
}
