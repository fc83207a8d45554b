//! Errors of the grading library.

use thiserror::Error;

/// Why a task could not be graded.
#[derive(Debug, Error)]
pub enum GradeError {
    /// A parser name that r2e does not implement.
    #[error(
        "unknown log parser `{0}` (known: pytest, pytest_options, pytest_v2, matplotlib, seaborn, \
         sympy, django, r2e_gym, and SWE-bench's parse_log_<repo> names for Python repos)"
    )]
    UnknownParser(String),
    /// No parser is known for the task's repository.
    #[error("no log parser is known for repository `{repo}`; choose one with --parser")]
    NoParserForRepo {
        /// The task's repository.
        repo: String,
    },
    /// A rules generation name that is neither `v4` nor `v5`.
    #[error("unknown grading rules `{0}` (expected v4 or v5)")]
    UnknownRules(String),
    /// An `eval_type` that is neither `pass_and_fail` nor `fail_only`.
    #[error("unknown eval_type `{0}` (expected pass_and_fail or fail_only)")]
    UnknownEvalType(String),
    /// An R2E-Gym task without `expected_output_json`.
    #[error("task `{0}` has no expected test statuses (expected_output_json) to compare with")]
    NoExpectedOutput(String),
}
