//! r2e's own task rows: a serialised [`Task`], as `r2e dataset convert` writes it.
//!
//! Structured fields (`test_files`, `fail_to_pass`, `pass_to_pass`,
//! `expected_statuses`, `extra`) may be JSON-encoded strings, which is how the
//! Parquet writer stores them. Unknown fields are merged into `extra`.

use super::fields::{Fields, OBJECT, STATUS_MAP, Shape};
use super::{ConvertOptions, RowError, finish_image};
use crate::task::{SourceFormat, Task, TestFile};
use serde_json::{Map, Value};

const TEST_FILES: Shape = Shape {
    noun: "list",
    expected: "a list of {path, content} objects, or its JSON encoding",
    array: true,
};

pub(super) fn convert(mut fields: Fields, opts: &ConvertOptions) -> Result<Task, RowError> {
    let task_id = fields.require_str("task_id")?;
    let source_key = fields.require_str("source")?;
    let source = SourceFormat::from_key(&source_key).ok_or_else(|| RowError::Invalid {
        field: "source",
        message: format!(
            "expected one of {}, got {source_key:?}",
            SourceFormat::ALL
                .map(|f| format!("{:?}", f.key()))
                .join(", ")
        ),
    })?;
    let source_image = fields.take_str("image")?.ok_or(RowError::Missing {
        field: "image",
        note: "",
    });
    let test_files: Vec<TestFile> = fields
        .take_json("test_files", TEST_FILES)?
        .unwrap_or_default();
    let mut extra: Map<String, Value> = fields.take_json("extra", OBJECT)?.unwrap_or_default();

    let task = Task {
        task_id,
        source,
        repo: fields.require_str("repo")?,
        base_commit: fields.require_str("base_commit")?,
        image: String::new(),
        problem_statement: fields.require_str("problem_statement")?,
        hints_text: fields.take_str("hints_text")?,
        gold_patch: fields.take_str("gold_patch")?.unwrap_or_default(),
        test_patch: fields.take_str("test_patch")?.unwrap_or_default(),
        test_files,
        fail_to_pass: fields.take_list("fail_to_pass")?,
        pass_to_pass: fields.take_list("pass_to_pass")?,
        expected_statuses: fields
            .take_json("expected_statuses", STATUS_MAP)?
            .unwrap_or_default(),
        version: fields.take_text("version")?,
        environment_setup_commit: fields.take_str("environment_setup_commit")?,
        created_at: fields.take_text("created_at")?,
        extra: {
            for (key, value) in fields.into_extra() {
                extra.entry(key).or_insert(value);
            }
            extra
        },
    };
    finish_image(task, source_image, opts)
}
