//! R2E-Gym rows (`R2E-Gym/R2E-Gym-Lite`, `-Subset`, `-Full`, `-V1`).
//!
//! | row field | task field |
//! |---|---|
//! | `repo_name`, `commit_hash` | `task_id` = `repo_name@commit_hash`, `repo` = `repo_name` |
//! | `docker_image` (else R2E-Gym's `namanjain12/<repo>_final:<commit>`) | `image` |
//! | `problem_statement` | `problem_statement`: the text between `[ISSUE]` and `[/ISSUE]` when both are present (what R2E-Gym shows the agent), else the whole field |
//! | `expected_output_json` | `expected_statuses` |
//! | `parsed_commit_content` | `gold_patch` (the non-test, non-binary file diffs) and `base_commit` (`old_commit_hash`, else `commit_hash~1`) |
//! | `execution_result_content` | `test_files`: `test_file_names` / `test_file_codes`, placed under `r2e_tests/` as R2E-Gym's images do |
//!
//! `commit_hash`, `parsed_commit_content` and `execution_result_content` hold more
//! than the task keeps (the fixed commit, whole-file contents, build and test logs),
//! so they stay in `extra` too, as does `problem_statement` when the issue text was
//! cut out of it.

use super::fields::{Fields, STATUS_MAP, Shape};
use super::{ConvertOptions, RowError, finish_image, source_image_field};
use crate::image::r2e_gym_image;
use crate::parsed_commit::ParsedCommit;
use crate::task::{SourceFormat, Task, TestFile};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where R2E-Gym images keep the hidden tests, relative to the repository root
/// (the image has them at `/r2e_tests`, linked into the repository for a test run).
const HIDDEN_TESTS_DIR: &str = "r2e_tests";

const PARSED_COMMIT: Shape = Shape {
    noun: "object",
    expected: "an R2E-Gym ParsedCommit object, or its JSON encoding",
    array: false,
};

const EXECUTION_RESULT: Shape = Shape {
    noun: "object",
    expected: "an R2E-Gym ExecutionResult object, or its JSON encoding",
    array: false,
};

/// The part of R2E-Gym's `ExecutionResult` a task needs.
#[derive(Debug, Deserialize)]
struct ExecutionResult {
    #[serde(default)]
    test_file_names: Vec<String>,
    #[serde(default)]
    test_file_codes: Vec<String>,
}

/// The text between the first `[ISSUE]` and the last `[/ISSUE]`, if both are there.
fn issue_text(statement: &str) -> Option<&str> {
    const OPEN: &str = "[ISSUE]";
    let start = statement.find(OPEN)? + OPEN.len();
    let end = statement.rfind("[/ISSUE]")?;
    statement.get(start..end)
}

fn hidden_test_path(name: &str) -> String {
    let prefix = format!("{HIDDEN_TESTS_DIR}/");
    if name.starts_with(&prefix) {
        name.to_owned()
    } else {
        format!("{prefix}{}", name.trim_start_matches('/'))
    }
}

pub(super) fn convert(mut fields: Fields, opts: &ConvertOptions) -> Result<Task, RowError> {
    let repo = fields.require_str("repo_name")?;
    let commit = fields
        .peek_str("commit_hash")?
        .ok_or(RowError::Missing {
            field: "commit_hash",
            note: "",
        })?
        .to_owned();

    let statement = fields.require_str("problem_statement")?;
    let problem_statement = match issue_text(&statement) {
        Some(issue) => {
            let issue = issue.to_owned();
            fields.keep("problem_statement", Value::String(statement));
            issue
        }
        None => statement,
    };

    let source_image = source_image_field(&mut fields, "docker_image", opts)?
        .unwrap_or_else(|| r2e_gym_image(&repo, &commit));

    let expected_statuses: BTreeMap<String, String> = fields
        .take_json("expected_output_json", STATUS_MAP)?
        .unwrap_or_default();

    let parsed: Option<ParsedCommit> = fields.peek_json("parsed_commit_content", PARSED_COMMIT)?;
    let gold_patch = parsed
        .as_ref()
        .map(ParsedCommit::gold_patch)
        .unwrap_or_default();
    let base_commit = parsed
        .and_then(|p| p.old_commit_hash)
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| format!("{commit}~1"));

    let test_files =
        match fields.peek_json::<ExecutionResult>("execution_result_content", EXECUTION_RESULT)? {
            None => Vec::new(),
            Some(result) => {
                if result.test_file_names.len() != result.test_file_codes.len() {
                    return Err(RowError::Invalid {
                        field: "execution_result_content",
                        message: format!(
                            "test_file_names has {} entries but test_file_codes has {}",
                            result.test_file_names.len(),
                            result.test_file_codes.len()
                        ),
                    });
                }
                result
                    .test_file_names
                    .iter()
                    .zip(result.test_file_codes)
                    .map(|(name, content)| TestFile {
                        path: hidden_test_path(name),
                        content,
                    })
                    .collect()
            }
        };

    let task = Task {
        task_id: format!("{repo}@{commit}"),
        source: SourceFormat::R2eGym,
        repo,
        base_commit,
        image: String::new(),
        problem_statement,
        hints_text: None,
        gold_patch,
        test_patch: String::new(),
        test_files,
        fail_to_pass: Vec::new(),
        pass_to_pass: Vec::new(),
        expected_statuses,
        version: None,
        environment_setup_commit: None,
        created_at: None,
        extra: fields.into_extra(),
    };
    finish_image(task, Ok(source_image), opts)
}

#[cfg(test)]
mod tests {
    use super::{hidden_test_path, issue_text};

    #[test]
    fn issue_markers_are_cut_like_r2e_gym() {
        assert_eq!(issue_text("x [ISSUE]\nBug\n[/ISSUE] y"), Some("\nBug\n"));
        assert_eq!(issue_text("no markers"), None);
        assert_eq!(issue_text("[/ISSUE] before [ISSUE]"), None);
    }

    #[test]
    fn hidden_tests_live_under_r2e_tests() {
        assert_eq!(hidden_test_path("test_1.py"), "r2e_tests/test_1.py");
        assert_eq!(
            hidden_test_path("r2e_tests/test_2.py"),
            "r2e_tests/test_2.py"
        );
    }
}
