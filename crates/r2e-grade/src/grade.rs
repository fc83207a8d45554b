//! Grading one task's test log: picks the parser and rules for the task and
//! produces a SWE-bench report or an R2E-Gym reward.

use crate::{
    error::GradeError,
    parse::Parser,
    r2egym::{self, R2eGymGrade},
    rules::Rules,
    select,
    status::StatusMap,
    swebench::{self, GradeSettings, Instance, SweBenchGrade},
};
use r2e_core::{Grading, Task};

/// Choices a caller can override; the defaults follow the task.
#[derive(Debug, Clone, Copy, Default)]
pub struct GradeOptions {
    /// Parser to use instead of the task's.
    pub parser: Option<Parser>,
    /// Rule generation instead of the one matching the row's shape.
    pub rules: Option<Rules>,
    /// Reparse the whole log when nothing is found between the markers
    /// (swebench 4.0.5–4.1.0; always on under 5.x rules).
    pub whole_log_fallback: bool,
    /// The prediction's `model_patch` was `None` (SWE-bench: nothing is graded).
    pub patch_is_none: bool,
}

/// The verdict for one task.
#[derive(Debug, Clone, PartialEq)]
pub enum Graded {
    /// A SWE-bench-style row: `report.json`.
    SweBench(SweBenchGrade),
    /// An R2E-Gym row: `expected_output_json` comparison.
    R2eGym(R2eGymGrade),
}

impl Graded {
    /// The report JSON (`report.json` for SWE-bench rows), as Python's
    /// `json.dumps(…, indent=4)` writes it.
    pub fn to_json(&self) -> String {
        match self {
            Self::SweBench(g) => g.report.to_json(),
            Self::R2eGym(g) => g.to_json(),
        }
    }

    /// Whether the task counts as solved (SWE-bench `resolved`, R2E-Gym reward 1).
    pub fn resolved(&self) -> bool {
        match self {
            Self::SweBench(g) => g.report.entry.resolved,
            Self::R2eGym(g) => g.reward() == 1.0,
        }
    }

    /// What the parser recorded, in log order.
    pub fn statuses(&self) -> &StatusMap {
        match self {
            Self::SweBench(g) => &g.statuses,
            Self::R2eGym(g) => &g.statuses,
        }
    }
}

/// The parser and rules [`grade_task`] uses for `task` under `opts`.
pub fn plan(task: &Task, opts: &GradeOptions) -> Result<(Parser, Rules), GradeError> {
    let parser = match opts.parser {
        Some(p) => p,
        None => select::parser_for(task)?,
    };
    Ok((
        parser,
        opts.rules.unwrap_or_else(|| select::rules_for(task)),
    ))
}

/// Grades `log` (the test run's output) for `task`.
pub fn grade_task(task: &Task, log: &str, opts: &GradeOptions) -> Result<Graded, GradeError> {
    let (parser, rules) = plan(task, opts)?;
    match task.source.grading() {
        Grading::R2eGym => {
            if task.expected_statuses.is_empty() {
                return Err(GradeError::NoExpectedOutput(task.task_id.clone()));
            }
            Ok(Graded::R2eGym(r2egym::grade(
                &task.task_id,
                log,
                &task.expected_statuses,
                parser,
                rules,
            )))
        }
        Grading::SweBench => {
            let instance = Instance {
                instance_id: &task.task_id,
                fail_to_pass: &task.fail_to_pass,
                pass_to_pass: &task.pass_to_pass,
                parser,
                eval_type: select::eval_type_for(task)?,
            };
            let settings = GradeSettings {
                rules,
                whole_log_fallback: opts.whole_log_fallback,
                patch_is_none: opts.patch_is_none,
            };
            Ok(Graded::SweBench(swebench::grade(&instance, log, settings)))
        }
    }
}
