//! The score row: one line of `scores.jsonl` per candidate (a task's
//! rollout), with one optional field group per verifier.
//!
//! ```json
//! {"task_id": "django__django-11099", "rollout": 3,
//!  "exec_free": 0.91, "exec_free_samples": [0.93, 0.89], "judge_model": "r2e-verifier-14b",
//!  "regression_pass_rate": 1.0, "generated_tests_passed": 4, "generated_tests_total": 5}
//! ```
//!
//! The judge ([`crate::judge`]) fills the execution-free fields, the
//! TestingAgent the execution-based ones; each may write its own file or
//! append to a shared one. [`read_all`] merges any number of files: rows are
//! keyed by `(task_id, rollout)` and a later row's present fields replace an
//! earlier row's, so a re-run that scores a candidate again wins, and a row
//! with only an `error` never erases a score.
//!
//! Files are appended one flushed line at a time ([`ScoreWriter`]); a torn
//! last line from a killed run is ignored on reading and cut off on reopening.

use crate::VerifyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The scores of one candidate patch (one rollout of one task).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The task.
    pub task_id: String,
    /// Which rollout of the task (the trajectory's `rollout`).
    pub rollout: u32,
    /// Execution-free: P(YES) from the judge, averaged over its samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_free: Option<f64>,
    /// Execution-free: P(YES) of each judge sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec_free_samples: Vec<f64>,
    /// The judge model that gave `exec_free`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<String>,
    /// Characters of the judge prompt left out to fit its budget (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_cut_chars: Option<usize>,
    /// Execution-based: the fraction of the repository's existing tests
    /// (regression tests) that pass with the patch, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression_pass_rate: Option<f64>,
    /// Execution-based: how many of the TestingAgent's generated tests pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tests_passed: Option<u32>,
    /// Execution-based: how many generated tests were run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tests_total: Option<u32>,
    /// Why a verifier could not score this candidate (the row then carries
    /// no score of that verifier; re-running retries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Score {
    /// An empty row for `(task_id, rollout)`.
    pub fn new(task_id: impl Into<String>, rollout: u32) -> Self {
        Self {
            task_id: task_id.into(),
            rollout,
            ..Self::default()
        }
    }

    /// The row's key.
    pub fn key(&self) -> (String, u32) {
        (self.task_id.clone(), self.rollout)
    }

    /// Takes every field that `later` has (see the module docs). An `error`
    /// is kept only while no score is present.
    pub fn merge(&mut self, later: Score) {
        fn take<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        let had_exec_free = later.exec_free.is_some();
        take(&mut self.exec_free, later.exec_free);
        if had_exec_free {
            self.exec_free_samples = later.exec_free_samples;
            self.judge_model = later.judge_model;
            self.judge_cut_chars = later.judge_cut_chars;
        }
        take(&mut self.regression_pass_rate, later.regression_pass_rate);
        take(
            &mut self.generated_tests_passed,
            later.generated_tests_passed,
        );
        take(&mut self.generated_tests_total, later.generated_tests_total);
        if self.has_any_score() {
            self.error = None;
        } else {
            take(&mut self.error, later.error);
        }
    }

    /// Whether any verifier scored this candidate.
    pub fn has_any_score(&self) -> bool {
        self.exec_free.is_some()
            || self.regression_pass_rate.is_some()
            || self.generated_tests_passed.is_some()
    }
}

/// Reads one scores file. A last line without its newline that does not
/// parse (a killed run) is ignored; any other bad line is an error naming it.
pub fn read_file(path: &Path) -> Result<Vec<Score>, VerifyError> {
    Ok(r2e_core::jsonl::read(path)?)
}

/// Reads and merges scores files in order (see the module docs), keyed by
/// `(task_id, rollout)`.
pub fn read_all(paths: &[PathBuf]) -> Result<BTreeMap<(String, u32), Score>, VerifyError> {
    let mut merged: BTreeMap<(String, u32), Score> = BTreeMap::new();
    for path in paths {
        for row in read_file(path)? {
            match merged.get_mut(&row.key()) {
                Some(existing) => existing.merge(row),
                None => {
                    merged.insert(row.key(), row);
                }
            }
        }
    }
    Ok(merged)
}

/// Appends score rows to a JSONL file, one synced line each, so that a run
/// can stop at any moment and resume (see [`r2e_core::jsonl`]).
pub type ScoreWriter = r2e_core::jsonl::JsonlWriter<Score>;
