//! One row → one task: field mapping per source, conventions, and error messages.

use crate::common::fixture_rows;
use r2e_core::image::ImageTemplate;
use r2e_core::row::{ConvertOptions, task_from_value};
use r2e_core::{Grading, SourceFormat, Task, TestFile};
use serde_json::{Value, json};

fn convert(row: &Value) -> Task {
    task_from_value(row, &ConvertOptions::default()).unwrap()
}

fn convert_err(row: &Value) -> String {
    task_from_value(row, &ConvertOptions::default())
        .unwrap_err()
        .to_string()
}

fn with_template(template: &str) -> ConvertOptions {
    ConvertOptions {
        image_template: Some(template.parse().unwrap()),
    }
}

fn extra_keys(task: &Task) -> Vec<&str> {
    task.extra.keys().map(String::as_str).collect()
}

const AIOHTTP_GOLD: &str = r#"diff --git a/CHANGES/4155.bugfix b/CHANGES/4155.bugfix
new file mode 100644
index 0000000000..a3e5b1f7c2
--- /dev/null
+++ b/CHANGES/4155.bugfix
@@ -0,0 +1 @@
+Fix ``web.Response`` dropping the ``charset`` of an explicit ``content_type``.
diff --git a/aiohttp/web_response.py b/aiohttp/web_response.py
index 5b2b5b4b1e..c8d7f1e2a0 100644
--- a/aiohttp/web_response.py
+++ b/aiohttp/web_response.py
@@ -612,7 +612,9 @@ class Response(StreamResponse):
             if content_type is not None and ";" in content_type:
                 raise ValueError("charset must not be in content_type "
                                  "argument")
-            self.content_type = content_type or "text/plain"
+            if content_type is None:
+                content_type = "text/plain"
+            self.content_type = content_type
             self.charset = charset or "utf-8"
 
         else:
"#;

#[test]
fn r2e_gym_row_maps_every_field() {
    let row = &fixture_rows("r2e-gym-lite.jsonl")[0];
    let task = convert(row);
    let commit = "f0d74880deec8fcd982bce639c93c5e130d41198";
    assert_eq!(task.task_id, format!("aiohttp@{commit}"));
    assert_eq!(task.source, SourceFormat::R2eGym);
    assert_eq!(task.repo, "aiohttp");
    assert_eq!(task.base_commit, "3e3f2a1e0c9d8b7a6f5e4d3c2b1a09f8e7d6c5b4");
    assert_eq!(task.image, format!("namanjain12/aiohttp_final:{commit}"));
    // What R2E-Gym shows the agent: the text between the [ISSUE] markers.
    assert!(
        task.problem_statement
            .starts_with("\nTitle: `web.Response(text=...")
    );
    assert!(task.problem_statement.ends_with("content type.\n"));
    assert!(!task.problem_statement.contains("[ISSUE]"));
    // Non-test, non-binary diffs only, rebuilt byte for byte.
    assert_eq!(task.gold_patch, AIOHTTP_GOLD);
    assert_eq!(task.test_patch, "");
    assert_eq!(task.test_files.len(), 1);
    assert_eq!(task.test_files[0].path, "r2e_tests/test_1.py");
    assert!(
        task.test_files[0]
            .content
            .contains("def test_content_type_with_charset()")
    );
    assert_eq!(
        task.expected_statuses
            .get("test_1.py::test_charset_without_content_type"),
        Some(&"PASSED".to_owned())
    );
    assert_eq!(task.expected_statuses.len(), 2);
    assert!(task.fail_to_pass.is_empty() && task.pass_to_pass.is_empty());
    // Partly represented fields stay, consumed ones do not.
    assert_eq!(
        extra_keys(&task),
        [
            "commit_hash",
            "execution_result_content",
            "modified_entity_summaries",
            "modified_files",
            "num_non_test_files",
            "num_non_test_func_methods",
            "num_non_test_lines",
            "parsed_commit_content",
            "problem_statement",
            "prompt",
            "relevant_files",
        ]
    );
    assert_eq!(task.extra["problem_statement"], row["problem_statement"]);
    assert_eq!(
        task.extra["parsed_commit_content"],
        row["parsed_commit_content"]
    );
}

#[test]
fn r2e_gym_row_without_issue_markers_keeps_the_statement() {
    let row = &fixture_rows("r2e-gym-lite.jsonl")[1];
    let task = convert(row);
    assert_eq!(
        task.problem_statement,
        row["problem_statement"].as_str().unwrap()
    );
    assert!(!task.extra.contains_key("problem_statement"));
    assert_eq!(
        task.test_files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["r2e_tests/test_1.py", "r2e_tests/test_2.py"]
    );
    assert!(
        task.gold_patch
            .starts_with("diff --git a/src/PIL/GifImagePlugin.py")
    );
}

#[test]
fn r2e_gym_row_accepts_decoded_json_and_missing_commit_details() {
    let mut row = fixture_rows("r2e-gym-lite.jsonl").swap_remove(1);
    let expected: Value =
        serde_json::from_str(row["expected_output_json"].as_str().unwrap()).unwrap();
    row["expected_output_json"] = expected;
    let decoded_task = convert(&row);
    assert_eq!(decoded_task.expected_statuses.len(), 2);

    let object = row.as_object_mut().unwrap();
    object.remove("parsed_commit_content");
    object.remove("execution_result_content");
    let task = convert(&row);
    assert_eq!(
        task.base_commit,
        "2d9617bd0cb1f0ba61771258410ab8fae8e7e24d~1"
    );
    assert_eq!(task.gold_patch, "");
    assert!(task.test_files.is_empty());
}

#[test]
fn swe_bench_row_decodes_json_encoded_lists() {
    let row = &fixture_rows("swe-bench-verified.jsonl")[0];
    let task = convert(row);
    assert_eq!(task.task_id, "astropy__astropy-12907");
    assert_eq!(task.source, SourceFormat::SweBench);
    assert_eq!(task.repo, "astropy/astropy");
    assert_eq!(task.base_commit, "d16bfe05a744909de4b27f5875fe0d4ed41ce607");
    assert_eq!(
        task.image,
        "swebench/sweb.eval.x86_64.astropy_1776_astropy-12907:latest"
    );
    assert_eq!(task.gold_patch, row["patch"].as_str().unwrap());
    assert_eq!(task.test_patch, row["test_patch"].as_str().unwrap());
    assert_eq!(
        task.fail_to_pass,
        [
            "astropy/modeling/tests/test_separable.py::test_separable[compound_model6-result6]",
            "astropy/modeling/tests/test_separable.py::test_separable[compound_model9-result9]",
        ]
    );
    assert_eq!(task.pass_to_pass.len(), 3);
    assert_eq!(task.hints_text.as_deref(), Some(""));
    assert_eq!(task.version.as_deref(), Some("4.3"));
    assert_eq!(task.created_at.as_deref(), Some("2022-03-03T15:14:54Z"));
    assert_eq!(
        task.environment_setup_commit.as_deref(),
        Some("298ccb478e6bf092953bca67a3d29dc6c35f6752")
    );
    assert_eq!(extra_keys(&task), ["difficulty"]);
    assert!(task.test_files.is_empty() && task.expected_statuses.is_empty());
}

#[test]
fn swe_gym_row_takes_plain_lists_and_lowercases_the_image() {
    let task = convert(&fixture_rows("swe-gym.jsonl")[0]);
    assert_eq!(task.task_id, "Project-MONAI__MONAI-4775");
    assert_eq!(
        task.image,
        "swebench/sweb.eval.x86_64.project-monai_1776_monai-4775:latest"
    );
    assert_eq!(
        task.fail_to_pass,
        ["tests/test_utils_pytorch_numpy_unification.py::TestPytorchNumpyUnification::test_dim"]
    );
    assert!(task.extra.is_empty());
}

const FLASK_FIX: &str = r#"diff --git a/src/flask/helpers.py b/src/flask/helpers.py
index 5a6b7c8..1d2e3f4 100644
--- a/src/flask/helpers.py
+++ b/src/flask/helpers.py
@@ -27,7 +27,7 @@ def get_debug_flag() -> bool:
     :envvar:`FLASK_DEBUG` environment variable. The default is ``False``.
     """
     val = os.environ.get("FLASK_DEBUG")
-    return bool(val and val.lower() in {"0", "false", "no"})
+    return bool(val and val.lower() not in {"0", "false", "no"})
 
 
 def get_load_dotenv(default: bool = True) -> bool:
"#;

#[test]
fn swe_smith_row_reverses_the_bug_patch_and_honours_image_name() {
    let row = &fixture_rows("swe-smith.jsonl")[0];
    let task = convert(row);
    assert_eq!(task.task_id, "pallets__flask.bc098406.func_basic__8n2vyz5o");
    assert_eq!(task.source, SourceFormat::SweBench);
    assert_eq!(task.image, "swesmith.x86_64.pallets__flask.bc098406");
    // No base_commit in the row: SWE-smith's branch, named after the instance.
    assert_eq!(task.base_commit, task.task_id);
    assert_eq!(task.gold_patch, FLASK_FIX);
    assert_eq!(task.extra["patch"], row["patch"]);
    assert_eq!(task.fail_to_pass.len(), 2);
}

#[test]
fn version_may_be_a_number() {
    let mut row = fixture_rows("swe-bench-verified.jsonl").swap_remove(1);
    row["version"] = json!(3.0);
    assert_eq!(convert(&row).version.as_deref(), Some("3.0"));
    row["version"] = json!(5);
    assert_eq!(convert(&row).version.as_deref(), Some("5"));
}

#[test]
fn r2e_tasks_read_back_losslessly() {
    for name in [
        "r2e-gym-lite.jsonl",
        "swe-bench-verified.jsonl",
        "swe-gym.jsonl",
        "swe-smith.jsonl",
    ] {
        for row in fixture_rows(name) {
            let task = convert(&row);
            let again = convert(&serde_json::to_value(&task).unwrap());
            assert_eq!(again, task, "{name}");
        }
    }
}

#[test]
fn r2e_task_rows_accept_json_encoded_structures_and_keep_unknown_fields() {
    let row = json!({
        "task_id": "pillow@2d9617bd",
        "source": "r2e_gym",
        "repo": "pillow",
        "base_commit": "8ab8bb6d",
        "image": "namanjain12/pillow_final:2d9617bd",
        "problem_statement": "GIF frames are not cleared.",
        "test_files": "[{\"path\": \"r2e_tests/test_1.py\", \"content\": \"def test(): pass\\n\"}]",
        "fail_to_pass": "[]",
        "expected_statuses": "{\"test_1.py::test\": \"PASSED\"}",
        "extra": "{\"prompt\": \"...\"}",
        "split": "train",
    });
    let task = convert(&row);
    assert_eq!(
        task.test_files,
        [TestFile {
            path: "r2e_tests/test_1.py".into(),
            content: "def test(): pass\n".into()
        }]
    );
    assert_eq!(task.expected_statuses["test_1.py::test"], "PASSED");
    assert_eq!(extra_keys(&task), ["prompt", "split"]);
}

#[test]
fn serialised_source_names_match_keys() {
    for format in SourceFormat::ALL {
        assert_eq!(serde_json::to_value(format).unwrap(), format.key());
        assert_eq!(SourceFormat::from_key(format.key()), Some(format));
    }
}

#[test]
fn swe_gen_rows_load_and_grade_as_swe_bench_rows() {
    let row = |source: &str| {
        json!({
            "task_id": "cachetools__0d95a5142cce", "source": source, "repo": "tkem/cachetools",
            "base_commit": "abc", "image": "r2e-gen/cachetools:0d95a5142cce",
            "problem_statement": "", "FAIL_TO_PASS": ["tests/test_a.py::test_x"],
            "extra": {"generator": "r2e-gen", "log_parser": "parse_log_pytest"}
        })
    };
    let opts = ConvertOptions::default();
    let task = task_from_value(&row("swe_gen"), &opts).expect("swe_gen row");
    assert_eq!(task.source, SourceFormat::SweGen);
    assert_eq!(task.source.grading(), Grading::SweBench);
    assert_eq!(task.source.to_string(), "SWE-Gen");
    // Written back, it says swe_gen again.
    let back = serde_json::to_value(&task).expect("json");
    assert_eq!(back["source"], "swe_gen");
    assert_eq!(task_from_value(&back, &opts).expect("again"), task);
    // Rows made before the format existed still load, as SWE-bench rows.
    let old = task_from_value(&row("swe_bench"), &opts).expect("old row");
    assert_eq!(old.source, SourceFormat::SweBench);
    assert_eq!(old.extra["generator"], "r2e-gen");
    assert_eq!(SourceFormat::R2eGym.grading(), Grading::R2eGym);
}

#[test]
fn malformed_rows_name_the_field() {
    let swe = || fixture_rows("swe-bench-verified.jsonl").swap_remove(2);
    let r2e = || fixture_rows("r2e-gym-lite.jsonl").swap_remove(1);

    let mut row = swe();
    row["FAIL_TO_PASS"] = json!(42);
    assert_eq!(
        convert_err(&row),
        r#"field "FAIL_TO_PASS": expected a list of strings or a JSON-encoded list, got 42"#
    );

    row["FAIL_TO_PASS"] = json!("[\"test_immutable\", ");
    assert_eq!(
        convert_err(&row),
        r#"field "FAIL_TO_PASS": JSON-encoded list is not valid JSON (EOF while parsing a value at line 1 column 19)"#
    );

    row["FAIL_TO_PASS"] = json!(["test_immutable", 7]);
    assert_eq!(
        convert_err(&row),
        r#"field "FAIL_TO_PASS": expected a list of strings or a JSON-encoded list: invalid type: integer `7`, expected a string"#
    );

    let mut row = swe();
    row.as_object_mut().unwrap().remove("problem_statement");
    assert_eq!(convert_err(&row), r#"field "problem_statement": missing"#);

    let mut row = swe();
    row["base_commit"] = Value::Null;
    assert_eq!(convert_err(&row), r#"field "base_commit": missing"#);

    let mut row = swe();
    row["hints_text"] = json!(["not", "text"]);
    assert_eq!(
        convert_err(&row),
        r#"field "hints_text": expected a string, got ["not","text"]"#
    );

    let mut row = r2e();
    row["expected_output_json"] = json!(7);
    assert_eq!(
        convert_err(&row),
        r#"field "expected_output_json": expected an object mapping test names to statuses, or its JSON encoding, got 7"#
    );

    let mut row = r2e();
    row["parsed_commit_content"] = json!("{\"file_diffs\": [{\"hunks\": []}]}");
    assert_eq!(
        convert_err(&row),
        r#"field "parsed_commit_content": expected an R2E-Gym ParsedCommit object, or its JSON encoding: missing field `header`"#
    );

    let mut row = r2e();
    row["execution_result_content"] =
        json!("{\"test_file_names\": [\"test_1.py\", \"test_2.py\"], \"test_file_codes\": [\"\"]}");
    assert_eq!(
        convert_err(&row),
        r#"field "execution_result_content": test_file_names has 2 entries but test_file_codes has 1"#
    );

    let mut row = json!({"task_id": "a", "source": "swe_bench", "repo": "o/a"});
    assert_eq!(convert_err(&row), r#"field "base_commit": missing"#);
    row["base_commit"] = json!("abc");
    row["problem_statement"] = json!("p");
    assert_eq!(convert_err(&row), r#"field "image": missing"#);

    let native = json!({"task_id": "a", "source": "swe-bench"});
    assert_eq!(
        convert_err(&native),
        r#"field "source": expected one of "r2e_gym", "swe_bench", "swe_gen", got "swe-bench""#
    );

    assert_eq!(
        convert_err(&json!([1, 2])),
        "expected a JSON object, got [1,2]"
    );
    assert_eq!(
        convert_err(&json!({"title": "x", "body": "y"})),
        "unknown row format: expected the fields of an R2E-Gym row (repo_name, commit_hash), \
         a SWE-bench row (instance_id) or an r2e task (task_id, source); found body, title"
    );
}

#[test]
fn image_conventions_and_templates() {
    let swe = &fixture_rows("swe-bench-verified.jsonl")[1];
    let r2e = &fixture_rows("r2e-gym-lite.jsonl")[0];
    let smith = &fixture_rows("swe-smith.jsonl")[0];
    let image = |row: &Value, template: &str| {
        task_from_value(row, &with_template(template))
            .unwrap()
            .image
    };

    assert_eq!(
        convert(swe).image,
        "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    );
    assert_eq!(
        image(swe, "myreg/{instance_id}:latest"),
        "myreg/django__django-11099:latest"
    );
    assert_eq!(
        image(swe, "myreg/sweb.eval.x86_64.{swebench_id}:v2"),
        "myreg/sweb.eval.x86_64.django_1776_django-11099:v2"
    );
    assert_eq!(
        image(swe, "{repo_name}:{commit}|{base_commit}|{repo}|{task_id}"),
        "django:d26b2424437dabeeca94d7900b37d2df4410da0c|d26b2424437dabeeca94d7900b37d2df4410da0c|django/django|django__django-11099"
    );
    assert_eq!(
        image(swe, "mirror.local/{image}"),
        "mirror.local/swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    );

    // R2E-Gym: {commit} is the commit of the task id; {base_commit} its parent.
    assert_eq!(
        image(r2e, "mirror/{repo}_final:{commit}"),
        "mirror/aiohttp_final:f0d74880deec8fcd982bce639c93c5e130d41198"
    );
    assert_eq!(
        image(r2e, "{base_commit}"),
        "3e3f2a1e0c9d8b7a6f5e4d3c2b1a09f8e7d6c5b4"
    );
    // The source's own image is kept in `extra` when a template replaces it.
    let templated = task_from_value(r2e, &with_template("x/{repo}")).unwrap();
    assert_eq!(templated.extra["docker_image"], r2e["docker_image"]);
    assert!(!convert(r2e).extra.contains_key("docker_image"));

    assert_eq!(
        image(smith, "jyangballin/{image}"),
        "jyangballin/swesmith.x86_64.pallets__flask.bc098406"
    );

    // A row without docker_image gets R2E-Gym's naming scheme.
    let mut bare = r2e.clone();
    bare.as_object_mut().unwrap().remove("docker_image");
    assert_eq!(convert(&bare).image, r2e["docker_image"].as_str().unwrap());
    assert_eq!(
        image(&bare, "mirror/{image}"),
        "mirror/namanjain12/aiohttp_final:f0d74880deec8fcd982bce639c93c5e130d41198"
    );

    assert_eq!(
        "x/{commit_hash}"
            .parse::<ImageTemplate>()
            .unwrap_err()
            .to_string(),
        "image template \"x/{commit_hash}\": unknown placeholder {commit_hash} (known: task_id, \
         instance_id, swebench_id, repo, repo_name, commit, base_commit, image)"
    );
}
