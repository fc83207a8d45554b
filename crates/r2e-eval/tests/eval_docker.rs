//! The harness end to end in Docker: a small real task (a git repository with
//! a bug, the fixing patch, a test patch) built into an image by the test,
//! evaluated with the gold patch, an empty patch, a wrong fix and a patch that
//! does not apply; then resumed.

use bollard::query_parameters::CommitContainerOptionsBuilder;
use r2e_core::{SourceFormat, Task};
use r2e_eval::{EvalOptions, Prediction, Verdict, evaluate_all};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use std::collections::HashMap;
use std::path::Path;

const CALC: &str = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n";

const GOLD: &str = "diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,5 +1,5 @@
 def add(a, b):
-    return a - b
+    return a + b
 
 
 def sub(a, b):
";

const WRONG: &str = "diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,5 +1,5 @@
 def add(a, b):
-    return a - b
+    return a * b
 
 
 def sub(a, b):
";

const NOT_APPLYING: &str = "diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -10,3 +10,3 @@
 def mul(a, b):
-    return a / b
+    return a * b
";

const TEST_PATCH: &str = "diff --git a/tests/test_calc.py b/tests/test_calc.py
new file mode 100644
--- /dev/null
+++ b/tests/test_calc.py
@@ -0,0 +1,10 @@
+import unittest
+from calc import add, sub
+
+
+class CalcTest(unittest.TestCase):
+    def test_add(self):
+        self.assertEqual(add(2, 3), 5)
+
+    def test_sub(self):
+        self.assertEqual(sub(5, 3), 2)
";

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

/// Builds the task image: /testbed holds the buggy repository at one commit.
async fn build_task_image(p: &DockerProvider) -> (String, String) {
    let sb = p.start_docker(&SandboxSpec::new(image())).await.expect("base image starts");
    sb.write_file("/testbed/calc.py", CALC.as_bytes(), None).await.unwrap();
    sb.write_file("/testbed/tests/__init__.py", b"", None).await.unwrap();
    let out = sb
        .exec(
            "cd /testbed && git init -q && git add -A && \
             git -c user.email=t@r2e -c user.name=r2e commit -qm 'calc with a bug' && git rev-parse HEAD",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr_text());
    let commit = out.stdout_text().trim().to_string();
    let tag = format!("r2e-test/calc:{}", &commit[..12]);
    let opts = CommitContainerOptionsBuilder::default()
        .container(sb.id())
        .repo("r2e-test/calc")
        .tag(&commit[..12])
        .build();
    p.client()
        .commit_container(opts, bollard::models::ContainerConfig::default())
        .await
        .unwrap();
    sb.close().await.unwrap();
    (tag, commit)
}

fn task(id: &str, image: &str, commit: &str) -> Task {
    let mut extra = serde_json::Map::new();
    extra.insert("test_cmd".into(), "python3 -m unittest -v tests.test_calc".into());
    extra.insert("log_parser".into(), "django".into());
    Task {
        task_id: id.into(),
        source: SourceFormat::SweBench,
        repo: "r2e-test/calc".into(),
        base_commit: commit.into(),
        image: image.into(),
        problem_statement: "add() subtracts".into(),
        hints_text: None,
        gold_patch: GOLD.into(),
        test_patch: TEST_PATCH.into(),
        test_files: Vec::new(),
        fail_to_pass: vec!["test_add (tests.test_calc.CalcTest.test_add)".into()],
        pass_to_pass: vec!["test_sub (tests.test_calc.CalcTest.test_sub)".into()],
        expected_statuses: Default::default(),
        version: None,
        environment_setup_commit: None,
        created_at: None,
        extra,
    }
}

fn pred(id: &str, patch: Option<&str>) -> Prediction {
    Prediction {
        instance_id: id.into(),
        model_name_or_path: "org/model".into(),
        model_patch: patch.map(str::to_string),
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn gold_empty_wrong_and_unappliable_patches_then_resume() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let (img, commit) = build_task_image(&p).await;
    let tasks: Vec<Task> = ["calc-gold", "calc-empty", "calc-wrong", "calc-bad", "calc-none"]
        .iter()
        .map(|id| task(id, &img, &commit))
        .collect();
    let preds = vec![
        pred("calc-gold", Some(GOLD)),
        pred("calc-empty", Some("")),
        pred("calc-wrong", Some(WRONG)),
        pred("calc-bad", Some(NOT_APPLYING)),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = EvalOptions::new("t1");
    opts.log_root = tmp.path().join("logs");
    opts.report_dir = tmp.path().to_path_buf();
    opts.workers = 2;
    let reports = evaluate_all(&p, &tasks, &preds, &opts, &|_| {}).await.unwrap();
    assert_eq!(reports.len(), 1);
    let (path, report) = &reports[0];
    assert_eq!(path, &tmp.path().join("org__model.t1.json"));
    assert_eq!(report.resolved_ids, vec!["calc-gold"]);
    assert_eq!(report.unresolved_ids, vec!["calc-wrong"]);
    assert_eq!(report.empty_patch_ids, vec!["calc-empty"]);
    assert_eq!(report.error_ids, vec!["calc-bad"]);
    assert_eq!(report.incomplete_ids, vec!["calc-none"]);
    assert_eq!((report.total_instances, report.submitted_instances, report.completed_instances), (5, 4, 2));
    let on_disk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(on_disk["schema_version"], 2);

    let gold_dir = opts.instance_dir(&preds[0]);
    let gold_report: serde_json::Value = serde_json::from_str(&read(&gold_dir, "report.json")).unwrap();
    let entry = &gold_report["calc-gold"];
    assert_eq!(entry["resolved"], true);
    assert_eq!(entry["patch_successfully_applied"], true);
    assert_eq!(
        entry["tests_status"]["FAIL_TO_PASS"]["success"],
        serde_json::json!(["test_add (tests.test_calc.CalcTest.test_add)"])
    );
    assert_eq!(read(&gold_dir, "patch.diff"), GOLD);
    assert!(read(&gold_dir, "test_output.txt").contains(">>>>> Start Test Output"));
    assert!(read(&gold_dir, "run_instance.log").contains("Applied Patch (git apply --verbose)"));

    let wrong: serde_json::Value =
        serde_json::from_str(&read(&opts.instance_dir(&preds[2]), "report.json")).unwrap();
    assert_eq!(
        wrong["calc-wrong"]["tests_status"]["FAIL_TO_PASS"]["failure"],
        serde_json::json!(["test_add (tests.test_calc.CalcTest.test_add)"])
    );
    let bad_dir = opts.instance_dir(&preds[3]);
    assert!(!bad_dir.join("report.json").exists());
    assert!(read(&bad_dir, "run_instance.log").contains(">>>>> Patch Apply Failed"));

    // A re-run takes graded instances from their reports and retries the rest.
    std::fs::remove_file(opts.instance_dir(&preds[2]).join("report.json")).unwrap();
    let outcomes = std::sync::Mutex::new(HashMap::new());
    evaluate_all(&p, &tasks, &preds, &opts, &|o| {
        outcomes.lock().unwrap().insert(o.instance_id.clone(), (o.resumed, o.verdict.clone()));
    })
    .await
    .unwrap();
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes["calc-gold"], (true, Verdict::Resolved));
    assert_eq!(outcomes["calc-wrong"], (false, Verdict::Unresolved));
    assert!(matches!(outcomes["calc-bad"], (false, Verdict::Error(_))));
}
