//! Row converters: one dataset row (a JSON object) → one [`Task`].
//!
//! Three row shapes are recognised, per row, by their fields:
//!
//! | shape | recognised by | task id |
//! |---|---|---|
//! | r2e's own [`Task`] (what `r2e dataset convert` and `r2e gen` write; `source` is `r2e_gym`, `swe_bench` or `swe_gen`) | `task_id` and `source` | `task_id` |
//! | R2E-Gym | `repo_name` and `commit_hash` | `repo_name@commit_hash` |
//! | SWE-bench, SWE-Gym, SWE-smith | `instance_id` | `instance_id` |
//!
//! Fields a task represents in full are consumed; every other field (including
//! fields that are only partly represented, such as R2E-Gym's
//! `parsed_commit_content`) is kept verbatim in [`Task::extra`], so nothing is
//! lost. Values that Hugging Face stores as JSON-encoded strings (SWE-bench's
//! `FAIL_TO_PASS`, R2E-Gym's `expected_output_json`, …) are accepted both encoded
//! and as plain JSON.

mod fields;
mod native;
mod r2egym;
mod swebench;

use crate::image::ImageTemplate;
use crate::task::Task;
use serde_json::{Map, Value};

pub(crate) use fields::describe;

/// How rows become tasks.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Replaces every task's image by this template (see [`crate::image`]).
    pub image_template: Option<ImageTemplate>,
}

/// Why a row could not be turned into a task. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The row is not valid JSON (JSON Lines input).
    #[error("not valid JSON ({0})")]
    Syntax(String),
    /// The row is valid JSON but not an object.
    #[error("expected a JSON object, got {0}")]
    NotAnObject(String),
    /// The fields match none of the known row shapes.
    #[error(
        "unknown row format: expected the fields of an R2E-Gym row (repo_name, commit_hash), \
         a SWE-bench row (instance_id) or an r2e task (task_id, source); found {0}"
    )]
    UnknownFormat(String),
    /// A required field is absent or null.
    #[error("field \"{field}\": missing{note}")]
    Missing {
        /// The field.
        field: &'static str,
        /// Extra advice, empty or starting with a separator.
        note: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field \"{field}\": expected {expected}, got {got}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
        /// A short rendering of what it holds.
        got: String,
    },
    /// A JSON-encoded string field does not decode.
    #[error("field \"{field}\": JSON-encoded {noun} is not valid JSON ({message})")]
    BadJson {
        /// The field.
        field: &'static str,
        /// What the encoded value should be ("list", "object").
        noun: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// A field has the right type but unusable content.
    #[error("field \"{field}\": {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Converts one row of any supported shape into a [`Task`].
///
/// This is the entry point for a single `ROW.json`; dataset readers use the same
/// conversion for every row.
pub fn task_from_value(value: &Value, opts: &ConvertOptions) -> Result<Task, RowError> {
    match value {
        Value::Object(map) => task_from_map(map.clone(), opts),
        other => Err(RowError::NotAnObject(describe(other))),
    }
}

/// Converts an owned row (avoids copying large rows while reading datasets).
pub(crate) fn task_from_map(
    map: Map<String, Value>,
    opts: &ConvertOptions,
) -> Result<Task, RowError> {
    let has = |name: &str| map.get(name).is_some_and(|v| !v.is_null());
    if has("task_id") && has("source") {
        native::convert(fields::Fields::new(map), opts)
    } else if has("repo_name") && has("commit_hash") {
        r2egym::convert(fields::Fields::new(map), opts)
    } else if has("instance_id") {
        swebench::convert(fields::Fields::new(map), opts)
    } else {
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let shown = keys.iter().take(8).copied().collect::<Vec<_>>().join(", ");
        let more = keys.len().saturating_sub(8);
        Err(RowError::UnknownFormat(match (keys.is_empty(), more) {
            (true, _) => "no fields".to_owned(),
            (false, 0) => shown,
            (false, n) => format!("{shown} and {n} more"),
        }))
    }
}

/// Reads the field that names a row's image: consumed when it becomes the task's
/// image, left in `extra` when a template is going to replace it.
fn source_image_field(
    fields: &mut fields::Fields,
    name: &'static str,
    opts: &ConvertOptions,
) -> Result<Option<String>, RowError> {
    if opts.image_template.is_some() {
        Ok(fields.peek_str(name)?.map(str::to_owned))
    } else {
        fields.take_str(name)
    }
}

/// Applies the image template, if any, to a converted task.
///
/// `source_image` is the image the row itself names (or the convention's), or the
/// error to report when the row names none and no template supplies one.
fn finish_image(
    mut task: Task,
    source_image: Result<String, RowError>,
    opts: &ConvertOptions,
) -> Result<Task, RowError> {
    task.image = match &opts.image_template {
        Some(template) if template.uses_source_image() => template.render(&task, &source_image?),
        Some(template) => template.render(&task, ""),
        None => source_image?,
    };
    Ok(task)
}
