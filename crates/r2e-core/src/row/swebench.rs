//! SWE-bench rows, and the rows of datasets that copy its shape (SWE-Gym,
//! SWE-smith, nebius/SWE-rebench, …).
//!
//! | row field | task field |
//! |---|---|
//! | `instance_id` | `task_id` |
//! | `repo`, `base_commit`, `problem_statement`, `hints_text`, `test_patch`, `version`, `environment_setup_commit`, `created_at` | the same-named fields |
//! | `patch` | `gold_patch` |
//! | `FAIL_TO_PASS`, `PASS_TO_PASS` (lists, or JSON-encoded lists as on Hugging Face) | `fail_to_pass`, `pass_to_pass` |
//! | `image_name`, else `docker_image`, else the SWE-bench convention | `image` |
//!
//! SWE-smith rows (an `image_name` or `repo` mentioning `swesmith`) differ in two
//! ways: `patch` is the diff that *introduces* the bug, so `gold_patch` is its
//! reverse and `patch` itself stays in `extra`; and when `base_commit` is absent the
//! task starts from the branch SWE-smith names after the instance id.

use super::fields::Fields;
use super::{ConvertOptions, RowError, finish_image, source_image_field};
use crate::diff;
use crate::image::swebench_image;
use crate::task::{SourceFormat, Task};

fn is_swesmith(repo: &str, image: Option<&str>) -> bool {
    repo.starts_with("swesmith/") || image.is_some_and(|name| name.contains("swesmith"))
}

pub(super) fn convert(mut fields: Fields, opts: &ConvertOptions) -> Result<Task, RowError> {
    let task_id = fields.require_str("instance_id")?;
    let repo = fields.require_str("repo")?;
    let problem_statement = fields.require_str("problem_statement")?;

    let named_image = match source_image_field(&mut fields, "image_name", opts)? {
        Some(image) => Some(image),
        None => source_image_field(&mut fields, "docker_image", opts)?,
    };
    let swesmith = is_swesmith(&repo, named_image.as_deref());

    let base_commit = match fields.take_str("base_commit")? {
        Some(commit) => commit,
        None if swesmith => task_id.clone(),
        None => {
            return Err(RowError::Missing {
                field: "base_commit",
                note: "",
            });
        }
    };
    let gold_patch = if swesmith {
        fields.peek_str("patch")?.map(diff::reverse)
    } else {
        fields.take_str("patch")?
    }
    .unwrap_or_default();

    let source_image = named_image.unwrap_or_else(|| swebench_image(&task_id));
    let task = Task {
        source: SourceFormat::SweBench,
        repo,
        base_commit,
        image: String::new(),
        problem_statement,
        hints_text: fields.take_str("hints_text")?,
        gold_patch,
        test_patch: fields.take_str("test_patch")?.unwrap_or_default(),
        test_files: Vec::new(),
        fail_to_pass: fields.take_list("FAIL_TO_PASS")?,
        pass_to_pass: fields.take_list("PASS_TO_PASS")?,
        expected_statuses: Default::default(),
        version: fields.take_text("version")?,
        environment_setup_commit: fields.take_str("environment_setup_commit")?,
        created_at: fields.take_text("created_at")?,
        extra: fields.into_extra(),
        task_id,
    };
    finish_image(task, Ok(source_image), opts)
}
