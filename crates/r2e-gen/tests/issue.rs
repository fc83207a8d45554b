//! Stage 6 against the scripted model server: what the prompt holds, replies
//! that name a test or copy the fix are sent back once and then recorded as
//! failures, and a rerun resumes.

use r2e_core::{SourceFormat, Task};
use r2e_gen::issue::{IssueOptions, check_reply, errors_path, issue_jsonl};
use r2e_llm::testing::{ScriptedServer, Turn};

const GOLD: &str = "diff --git a/pkg/calc.py b/pkg/calc.py
--- a/pkg/calc.py
+++ b/pkg/calc.py
@@ -6,4 +6,6 @@ def add(a, b):
 
 def div(a, b):
+    if b == 0:
+        raise ValueError(\"division by zero\")
     return a / b
";

const TESTS: &str = "diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -1,3 +1,4 @@
+import pytest
 from pkg.calc import add, div, Stats
 
 
@@ -7,3 +8,8 @@ def test_add():
 
 def test_div():
     assert div(6, 3) == 2
+
+
+def test_div_by_zero():
+    with pytest.raises(ValueError):
+        div(1, 0)
";

fn task(id: &str) -> Task {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "old_log".into(),
        "E       ZeroDivisionError: division by zero\nFAILED tests/test_calc.py::test_div_by_zero"
            .into(),
    );
    extra.insert("log_parser".into(), "pytest".into());
    Task {
        task_id: id.into(),
        source: SourceFormat::SweBench,
        repo: "calc".into(),
        base_commit: "abc".into(),
        image: "r2e-gen/calc:abc".into(),
        problem_statement: String::new(),
        hints_text: None,
        gold_patch: GOLD.into(),
        test_patch: TESTS.into(),
        test_files: Vec::new(),
        fail_to_pass: vec!["tests/test_calc.py::test_div_by_zero".into()],
        pass_to_pass: vec!["tests/test_calc.py::test_add".into()],
        expected_statuses: Default::default(),
        version: None,
        environment_setup_commit: None,
        created_at: None,
        extra,
    }
}

const GOOD: &str = "div(1, 0) raises ZeroDivisionError\n\nCalling `div(1, 0)` raises a bare \
                    ZeroDivisionError. I expected a ValueError with a clear message, like the \
                    other input checks of the package.";

#[test]
fn replies_are_checked() {
    let t = task("calc__1");
    assert!(check_reply(&t, GOOD).is_ok());
    assert!(
        check_reply(&t, "see test_div_by_zero")
            .unwrap_err()
            .contains("test_div_by_zero")
    );
    assert!(check_reply(&t, "fails in test_calc.py").is_err());
    assert!(
        check_reply(&t, "add `raise ValueError(\"division by zero\")`")
            .unwrap_err()
            .contains("copies a line")
    );
    assert!(check_reply(&t, "  ").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_issues_retries_once_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tasks = dir.path().join("tasks.jsonl");
    r2e_core::dataset::write(&tasks, &[task("calc__1"), task("calc__2")]).expect("write");
    let server = ScriptedServer::start().await.expect("server");
    // calc__1: names the test, then a good text.
    server.push(Turn::text("The test test_div_by_zero fails."));
    server.push(Turn::text(GOOD));
    // calc__2: pastes the fix, then names the test file.
    server.push(Turn::text(
        "Fix: raise ValueError(\"division by zero\") in div.",
    ));
    server.push(Turn::text("tests/test_calc.py fails"));
    let client = server.openai_client().expect("client");
    let out = dir.path().join("with_issues.jsonl");
    let opts = IssueOptions {
        model: "scripted".into(),
        workers: 1,
        ..Default::default()
    };
    let summary = issue_jsonl(&client, &tasks, &out, &opts, &mut |_| {})
        .await
        .expect("issue");
    assert_eq!((summary.written, summary.failed), (1, 1));

    let written = r2e_core::dataset::load(&out, &Default::default())
        .expect("load")
        .tasks;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].task_id, "calc__1");
    assert_eq!(written[0].problem_statement, GOOD);
    assert_eq!(written[0].fail_to_pass, task("calc__1").fail_to_pass);
    let errors = std::fs::read_to_string(errors_path(&out)).expect("errors");
    assert!(
        errors.contains("calc__2") && errors.contains("rejected twice"),
        "{errors}"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let first: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("json");
    let prompt = first["messages"][1]["content"]
        .as_str()
        .expect("user prompt");
    assert!(
        prompt.contains("raise ValueError(\"division by zero\")"),
        "{prompt}"
    );
    assert!(
        prompt.contains("def test_div_by_zero():\n    with pytest.raises(ValueError):"),
        "{prompt}"
    );
    assert!(!prompt.contains("def test_div():"), "{prompt}");
    assert!(
        prompt.contains("ZeroDivisionError: division by zero"),
        "{prompt}"
    );
    assert_eq!(first["model"], "scripted");
    let second: serde_json::Value = serde_json::from_slice(&requests[1].body).expect("json");
    let retry = second["messages"][3]["content"].as_str().expect("retry");
    assert!(
        retry.contains("it names the test `test_div_by_zero`"),
        "{retry}"
    );

    // A rerun sends nothing.
    let again = issue_jsonl(&client, &tasks, &out, &opts, &mut |_| {})
        .await
        .expect("again");
    assert_eq!((again.already_done, again.written, again.failed), (2, 1, 1));
    assert_eq!(server.requests().len(), 4);
}
