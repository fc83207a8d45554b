//! `r2e dataset check` on a dataset built here from the demo tasks: one
//! sound task, one solved without a patch, one whose gold patch fails, one
//! with a flaky test, one whose image is missing; each gets its verdict,
//! `--write-clean` keeps the sound one, and a rerun resumes.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

/// A test patch adding tests/test_mul.py whose `test_sub` passes and fails
/// on alternate runs in the same sandbox.
fn flaky_test_patch() -> String {
    let body = "import os\nimport unittest\nfrom calc import mul\n\n\nclass MulTest(unittest.TestCase):\n    def test_mul(self):\n        self.assertEqual(mul(3, 4), 12)\n\n    def test_sub(self):\n        flip = \"/tmp/r2e-flip\"\n        state = os.path.exists(flip)\n        if state:\n            os.remove(flip)\n        else:\n            open(flip, \"w\").close()\n        self.assertFalse(state)\n";
    let lines: Vec<&str> = body.lines().collect();
    let mut patch = format!(
        "diff --git a/tests/test_mul.py b/tests/test_mul.py\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/tests/test_mul.py\n@@ -0,0 +1,{} @@\n",
        lines.len()
    );
    for l in lines {
        patch.push('+');
        patch.push_str(l);
        patch.push('\n');
    }
    patch
}

#[test]
fn each_broken_task_gets_its_verdict_and_the_clean_dataset_keeps_the_sound_one() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo.jsonl");
    let made = r2e()
        .args(["dataset", "demo", "--base-image", &image, "--out"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(made.status.success());
    let rows: Vec<Value> = std::fs::read_to_string(&demo)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_name = |n: &str| {
        rows.iter()
            .find(|r| r["task_id"].as_str().unwrap().ends_with(n))
            .unwrap()
            .clone()
    };
    let (mul, add) = (by_name("-mul"), by_name("-add"));
    let variant = |id: &str, edit: &dyn Fn(&mut Value)| {
        let mut t = mul.clone();
        t["task_id"] = json!(id);
        edit(&mut t);
        t
    };
    let tasks = [
        variant("sound", &|_| {}),
        variant("solved-without-patch", &|t| {
            t["fail_to_pass"] = t["pass_to_pass"].clone();
            t["pass_to_pass"] = json!([]);
        }),
        variant("gold-fails", &|t| {
            t["gold_patch"] = add["gold_patch"].clone()
        }),
        variant("flaky", &|t| t["test_patch"] = json!(flaky_test_patch())),
        variant("image-missing", &|t| {
            t["image"] = json!("r2e-test/no-such-image:never")
        }),
    ];
    let dataset = dir.path().join("tasks.jsonl");
    let text: String = tasks.iter().map(|t| t.to_string() + "\n").collect();
    std::fs::write(&dataset, text).unwrap();
    let (out, clean) = (
        dir.path().join("check.jsonl"),
        dir.path().join("clean.jsonl"),
    );
    let run = || {
        r2e()
            .args([
                "dataset",
                "check",
                "--reruns",
                "1",
                "--workers",
                "2",
                "--timeout",
                "120",
            ])
            .arg("--dataset")
            .arg(&dataset)
            .arg("--out")
            .arg(&out)
            .arg("--write-clean")
            .arg(&clean)
            .output()
            .unwrap()
    };
    let o = run();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "not every task is sound: {stdout}"
    );
    assert!(stdout.contains("solved_without_patch"), "{stdout}");
    let verdicts: BTreeMap<String, Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["task_id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let verdict = |id: &str| verdicts[id]["verdict"].as_str().unwrap().to_string();
    assert_eq!(verdict("sound"), "ok");
    assert_eq!(verdict("solved-without-patch"), "solved_without_patch");
    assert_eq!(verdict("gold-fails"), "gold_fails");
    assert_eq!(verdict("flaky"), "flaky", "{}", verdicts["flaky"]);
    assert!(
        verdicts["flaky"]["flaky_tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("test_sub")),
        "the flaky test is named: {}",
        verdicts["flaky"]
    );
    assert_eq!(verdict("image-missing"), "image_missing");
    assert_eq!(verdicts["sound"]["gold"], json!(["resolved", "resolved"]));
    let kept: Vec<String> = std::fs::read_to_string(&clean)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["task_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kept, ["sound"]);

    let again = run();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("resuming: 5 of 5 tasks"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 5);
}
