//! The harness end to end in Docker on the demo tasks (a real git repository
//! with bugs, fixing patches and test patches, built into an image by the
//! test): the gold patch, an empty patch, a wrong fix and a patch that does
//! not apply; then a resumed run.

use r2e_eval::{EvalOptions, Prediction, Verdict, demo, evaluate_all, predictions};
use r2e_sandbox::docker::DockerProvider;
use std::collections::HashMap;
use std::path::Path;

const NOT_APPLYING: &str = "diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -40,3 +40,3 @@
 def pow(a, b):
-    return a / b
+    return a ** b
";

fn image() -> String {
    std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into())
}

fn pred(id: &str, patch: Option<&str>) -> Prediction {
    Prediction {
        instance_id: id.into(),
        model_name_or_path: "org/model".into(),
        model_patch: patch.map(str::to_string),
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn json(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&read(dir, name)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn gold_patches_resolve_every_demo_task() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let tasks = demo::build(&p, &image()).await.unwrap();
    assert_eq!(tasks.len(), 3);
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = EvalOptions::new("gold");
    opts.log_root = tmp.path().join("logs");
    opts.report_dir = tmp.path().to_path_buf();
    opts.workers = 3;
    let reports = evaluate_all(&p, &tasks, &predictions::gold(&tasks), &opts, &|_| {})
        .await
        .unwrap();
    let (_, report) = &reports[0];
    assert_eq!(report.resolved_instances, 3, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_wrong_and_unappliable_patches_then_resume() {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let mut tasks = demo::build(&p, &image()).await.unwrap();
    let add = tasks
        .iter()
        .find(|t| t.task_id.ends_with("-add"))
        .unwrap()
        .clone();
    let wrong_fix = add
        .gold_patch
        .replace("+    return a + b", "+    return a * b");
    assert_ne!(wrong_fix, add.gold_patch);
    let ids = [
        "calc-gold",
        "calc-empty",
        "calc-wrong",
        "calc-bad",
        "calc-none",
    ];
    tasks = ids
        .iter()
        .map(|id| {
            let mut t = add.clone();
            t.task_id = id.to_string();
            t
        })
        .collect();
    let preds = vec![
        pred("calc-gold", Some(&add.gold_patch)),
        pred("calc-empty", Some("")),
        pred("calc-wrong", Some(&wrong_fix)),
        pred("calc-bad", Some(NOT_APPLYING)),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = EvalOptions::new("t1");
    opts.log_root = tmp.path().join("logs");
    opts.report_dir = tmp.path().to_path_buf();
    opts.workers = 2;
    let reports = evaluate_all(&p, &tasks, &preds, &opts, &|_| {})
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    let (path, report) = &reports[0];
    assert_eq!(path, &tmp.path().join("org__model.t1.json"));
    assert_eq!(report.resolved_ids, vec!["calc-gold"]);
    assert_eq!(report.unresolved_ids, vec!["calc-wrong"]);
    assert_eq!(report.empty_patch_ids, vec!["calc-empty"]);
    assert_eq!(report.error_ids, vec!["calc-bad"]);
    assert_eq!(report.incomplete_ids, vec!["calc-none"]);
    assert_eq!(
        (
            report.total_instances,
            report.submitted_instances,
            report.completed_instances
        ),
        (5, 4, 2)
    );
    assert_eq!(json(tmp.path(), "org__model.t1.json")["schema_version"], 2);

    let gold_dir = opts.instance_dir(&preds[0]);
    let entry = &json(&gold_dir, "report.json")["calc-gold"];
    assert_eq!(entry["resolved"], true);
    assert_eq!(entry["patch_successfully_applied"], true);
    assert_eq!(
        entry["tests_status"]["FAIL_TO_PASS"]["success"],
        serde_json::json!(add.fail_to_pass)
    );
    assert_eq!(
        entry["tests_status"]["PASS_TO_PASS"]["success"],
        serde_json::json!(add.pass_to_pass)
    );
    assert_eq!(read(&gold_dir, "patch.diff"), add.gold_patch);
    assert!(read(&gold_dir, "test_output.txt").contains(">>>>> Start Test Output"));
    assert!(read(&gold_dir, "eval.sh").contains("python3 -m unittest -v tests.test_add"));
    assert!(read(&gold_dir, "run_instance.log").contains("Applied Patch (git apply --verbose)"));

    let wrong = &json(&opts.instance_dir(&preds[2]), "report.json")["calc-wrong"];
    assert_eq!(wrong["resolved"], false);
    assert_eq!(
        wrong["tests_status"]["FAIL_TO_PASS"]["failure"],
        serde_json::json!(add.fail_to_pass)
    );
    let bad_dir = opts.instance_dir(&preds[3]);
    assert!(!bad_dir.join("report.json").exists());
    assert!(read(&bad_dir, "run_instance.log").contains(">>>>> Patch Apply Failed"));

    // A re-run takes graded instances from their reports and retries the rest.
    std::fs::remove_file(opts.instance_dir(&preds[2]).join("report.json")).unwrap();
    let outcomes = std::sync::Mutex::new(HashMap::new());
    evaluate_all(&p, &tasks, &preds, &opts, &|o| {
        outcomes
            .lock()
            .unwrap()
            .insert(o.instance_id.clone(), (o.resumed, o.verdict.clone()));
    })
    .await
    .unwrap();
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes["calc-gold"], (true, Verdict::Resolved));
    assert_eq!(outcomes["calc-wrong"], (false, Verdict::Unresolved));
    assert_eq!(outcomes["calc-empty"], (false, Verdict::EmptyPatch));
    assert!(matches!(outcomes["calc-bad"], (false, Verdict::Error(_))));
}
