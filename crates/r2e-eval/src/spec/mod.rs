//! How each repository's tests are run: SWE-bench's per-repository and
//! per-version specs, the test directives taken from a test patch, and the
//! `eval.sh` script the harness runs inside the task's container.
//!
//! [`eval_script`] reproduces the SWE-bench harness's script byte for byte.
//! Two generations of that harness exist ([`Generation`]):
//!
//! - **V4** (swebench 3.x and 4.x, which made most public logs): the script is
//!   built from the specs ([`lookup`]) and the test patch, with the heredoc
//!   delimiter `EOF_114329324912`.
//! - **V5** (swebench 5.x): dataset rows carry their own `eval_script`, and the
//!   harness inserts a line that records the test command's exit code. For rows
//!   without one, r2e builds the script as swebench 5.x's generator did (same
//!   layout, delimiter derived from a BLAKE2b hash of the test patch).
//!
//! Rows carrying `eval_script` default to V5, all others to V4. Tasks without a
//! SWE-bench spec (r2e's own, SWE-Gym, custom rows) get a generic script around
//! the row's `test_cmd` field.
//!
//! ```text
//! #!/bin/bash
//! set -uxo pipefail
//! source /opt/miniconda3/bin/activate        ┐ SWE-bench only: conda env,
//! conda activate testbed                     │ spec's eval_commands,
//! cd /testbed                                │ git status/show/diff for the
//! …                                          │ record, spec's install command
//! git checkout BASE TEST_FILES…              ┘
//! git apply -v - <<'EOF_114329324912'         the test patch
//! : '>>>>> Start Test Output'
//! TEST_CMD DIRECTIVES…
//! : '>>>>> End Test Output'
//! git checkout BASE TEST_FILES…
//! ```

mod blake2b;
mod patch;
mod script;
mod table;

pub use patch::test_files;

use r2e_core::{Grading, Task};
use serde_json::Value;

/// One SWE-bench spec: how a repository at one version is installed and tested.
///
/// Field names follow SWE-bench's spec keys. The eval script uses
/// `eval_commands`, `install` and `test_cmd`; the rest describes the
/// environment image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Python version of the conda environment.
    pub python: &'static str,
    /// Conda packages, or `requirements.txt` / `environment.yml` to take the
    /// repository's own file at the environment setup commit.
    pub packages: Option<&'static str>,
    /// Extra packages installed with pip after the environment is created.
    pub pip_packages: &'static [&'static str],
    /// Commands run in the repository before `install` when the image is built.
    pub pre_install: &'static [&'static str],
    /// Installs the repository into the environment (at image build and again
    /// in the eval script).
    pub install: &'static str,
    /// Commands run first in the eval script (locale settings for Django).
    pub eval_commands: &'static [&'static str],
    /// The test command; the test directives are appended to it.
    pub test_cmd: &'static str,
    /// Create the environment with `conda create` + `conda env update` instead
    /// of `conda env create`.
    pub no_use_env: bool,
    /// SWE-bench runs the tests as a non-root user.
    pub execute_test_as_nonroot: bool,
    /// CPU limit of the container in units of 10⁻⁹ CPUs, where SWE-bench sets one.
    pub nano_cpus: Option<u64>,
}

/// The spec of `repo` (`owner/name`) at `version`, if SWE-bench has one.
pub fn lookup(repo: &str, version: &str) -> Option<&'static Spec> {
    specs()
        .find(|&(r, v, _)| r == repo && v == version)
        .map(|(_, _, spec)| spec)
}

/// Every `(repository, version, spec)` the table covers.
pub fn specs() -> impl Iterator<Item = (&'static str, &'static str, &'static Spec)> {
    table::REPOS.iter().flat_map(|&(repo, entries)| {
        entries
            .iter()
            .flat_map(move |(versions, spec)| versions.iter().map(move |&v| (repo, v, spec)))
    })
}

/// The test directives of a task: the test paths its test patch touches (data
/// files left out), appended to the test command. For Django they are dotted
/// module names (`tests/a/b.py` → `a.b`), as `runtests.py` expects.
pub fn test_directives(task: &Task) -> Vec<String> {
    let paths = patch::directive_paths(&task.test_patch).into_iter();
    if task.repo == "django/django" {
        paths.map(patch::django_module).collect()
    } else {
        paths.map(str::to_owned).collect()
    }
}

/// The generation of the SWE-bench harness whose script to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// swebench 3.x/4.x: script from the specs, fixed heredoc delimiter.
    V4,
    /// swebench 5.x: the row's own `eval_script` (else one built like its
    /// generator's), with the test command's exit code recorded.
    V5,
}

impl Generation {
    /// V5 for rows that carry an `eval_script`, else V4.
    pub fn for_task(task: &Task) -> Self {
        if matches!(task.extra.get(EVAL_SCRIPT), Some(Value::String(_))) {
            Generation::V5
        } else {
            Generation::V4
        }
    }
}

impl std::str::FromStr for Generation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "v4" | "4" => Ok(Generation::V4),
            "v5" | "5" => Ok(Generation::V5),
            _ => Err(format!(
                "unknown SWE-bench harness generation `{s}` (expected v4 or v5)"
            )),
        }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Generation::V4 => "v4",
            Generation::V5 => "v5",
        })
    }
}

/// Why no eval script can be made for a task.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// No SWE-bench spec applies and the row names no test command.
    #[error(
        "task {task_id}: no test command: {reason}; add a `test_cmd` field to the row \
         (a shell command run in /testbed, e.g. \"pytest -rA tests/test_x.py\")"
    )]
    NoTestCommand {
        /// The task.
        task_id: String,
        /// Why no SWE-bench spec applies.
        reason: String,
    },
    /// A row field the script is made from is not a string.
    #[error("task {task_id}: field `{field}` must be a string, not {found}")]
    FieldType {
        /// The task.
        task_id: String,
        /// The field, as the row names it.
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
}

/// Row field of SWE-bench 5.x rows holding the whole script.
const EVAL_SCRIPT: &str = "eval_script";
/// Row field naming the test command of a task without a SWE-bench spec.
const TEST_CMD: &str = "test_cmd";

/// The eval script for `task`, as the SWE-bench harness of the task's default
/// [`Generation`] would run it.
pub fn eval_script(task: &Task) -> Result<String, SpecError> {
    eval_script_with(task, Generation::for_task(task))
}

/// The eval script for `task` as `generation` of the SWE-bench harness would
/// run it. In order: the row's own `eval_script` (V5 only), the SWE-bench spec
/// of the task's repository and version (SWE-bench tasks only), a generic
/// script around the row's `test_cmd`.
pub fn eval_script_with(task: &Task, generation: Generation) -> Result<String, SpecError> {
    if generation == Generation::V5
        && let Some(own) = string_field(task, EVAL_SCRIPT)?
    {
        return Ok(script::finish_v5(own));
    }
    if let Some(spec) = swebench_spec(task) {
        return Ok(script::swebench(task, spec, generation));
    }
    match string_field(task, TEST_CMD)? {
        Some(test_cmd) => Ok(script::generic(task, test_cmd, generation)),
        None => Err(SpecError::NoTestCommand {
            task_id: task.task_id.clone(),
            reason: no_spec_reason(task, generation),
        }),
    }
}

fn swebench_spec(task: &Task) -> Option<&'static Spec> {
    if task.source.grading() != Grading::SweBench {
        return None;
    }
    lookup(&task.repo, task.version.as_deref()?)
}

/// `task.extra[field]` if it is a string; an error if it is something else.
fn string_field<'a>(task: &'a Task, field: &'static str) -> Result<Option<&'a str>, SpecError> {
    match task.extra.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(SpecError::FieldType {
            task_id: task.task_id.clone(),
            field,
            found: json_type(other),
        }),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why [`swebench_spec`] found nothing, for the error message.
fn no_spec_reason(task: &Task, generation: Generation) -> String {
    let mut reason = if task.source.grading() != Grading::SweBench {
        format!("{} tasks have no SWE-bench spec", task.source)
    } else {
        let known: Vec<&str> = specs()
            .filter(|&(repo, _, _)| repo == task.repo)
            .map(|(_, version, _)| version)
            .collect();
        match (&task.version, known.is_empty()) {
            (_, true) => format!("SWE-bench has no spec for repository `{}`", task.repo),
            (None, false) => "the row has no `version` to choose a SWE-bench spec".to_owned(),
            (Some(v), false) => format!(
                "SWE-bench's specs for {} cover versions {}, not `{v}`",
                task.repo,
                known.join(", ")
            ),
        }
    };
    if generation == Generation::V4 && task.extra.contains_key(EVAL_SCRIPT) {
        reason.push_str(" (the row carries an `eval_script`: generation v5 runs it)");
    }
    reason
}
