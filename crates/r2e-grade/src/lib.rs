//! r2e-grade: test-log parsers, SWE-bench verdicts and R2E-Gym rewards.
//!
//! Given a task and the output of its hidden tests, this crate reproduces the
//! reference harnesses' verdicts exactly:
//!
//! - [`parse`]: one parser per log format (pytest and its SWE-bench variants,
//!   Django, SymPy, R2E-Gym), producing a [`StatusMap`] of test → status.
//! - [`swebench`]: the log gate (start/end and failure markers),
//!   FAIL_TO_PASS/PASS_TO_PASS success and failure lists, RESOLVED_FULL /
//!   PARTIAL / NO, and `report.json` byte-identical to the harness's.
//! - [`r2egym`]: R2E-Gym's reward, the normalised comparison of parsed
//!   statuses with the row's `expected_output_json`.
//! - [`rules`]: SWE-bench's two rule generations (4.x and 5.x) where they differ.
//! - [`select`] and [`grade`]: which parser and rules a task gets, and one
//!   call that grades a [`r2e_core::Task`]'s log.
//! - [`synth`]: large logs of real shape with known statuses, for benchmarks and tests.
//!
//! ```
//! use r2e_grade::{Parser, Rules, TestStatus};
//! let log = "PASSED tests/test_a.py::test_ok\nFAILED tests/test_a.py::test_bad - assert 0\n";
//! let map = Parser::Pytest.parse(log, Rules::V4);
//! assert_eq!(map.get("tests/test_a.py::test_bad"), Some(&TestStatus::Failed));
//! ```

#![warn(missing_docs)]

pub mod error;
pub mod grade;
pub mod json;
pub mod parse;
pub mod r2egym;
pub mod rules;
pub mod select;
pub mod status;
pub mod swebench;
pub mod synth;
mod text;

pub use error::GradeError;
pub use grade::{GradeOptions, Graded, grade_task};
pub use parse::Parser;
pub use rules::{EvalType, Rules};
pub use status::{StatusMap, TestStatus};
pub use swebench::{Report, Resolution};
