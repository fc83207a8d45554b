//! r2e-eval: the evaluation harness.
//!
//! - [`spec`]: how each repository's tests are run — SWE-bench's per-repo and
//!   per-version specs, test directives, and the `eval.sh` script.
//! - [`predictions`]: SWE-bench's predictions format (and the gold patches).
//! - [`run`]: per instance, start the task's sandbox, apply the patch
//!   (`git apply`, then `--reject`, then `patch --fuzz=5`), run the eval
//!   script, grade the log, write `patch.diff`, `eval.sh`, `test_output.txt`,
//!   `report.json` and `run_instance.log`; resumable.
//! - [`report`]: the run report with SWE-bench's keys.
//! - [`demo`]: a small real task set built into an image, for trying r2e
//!   (and testing it) without any registry.

pub mod demo;
pub mod predictions;
pub mod report;
pub mod run;
pub mod spec;

pub use predictions::Prediction;
pub use report::RunReport;
pub use run::{
    EvalError, EvalOptions, InstanceOutcome, TestRun, Verdict, evaluate_all, evaluate_one,
    run_hidden_tests, test_script,
};
