//! The run report SWE-bench writes after an evaluation (`<model>.<run_id>.json`),
//! with the same keys, order and id lists.

use crate::predictions::Prediction;
use crate::run::{InstanceOutcome, Verdict};
use r2e_core::Task;
use serde::Serialize;
use std::collections::BTreeSet;

/// Counts and id lists of one model's evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Instances in the dataset.
    pub total_instances: usize,
    /// Instances with a prediction.
    pub submitted_instances: usize,
    /// Instances graded (resolved or not).
    pub completed_instances: usize,
    /// Instances resolved.
    pub resolved_instances: usize,
    /// Instances graded and not resolved.
    pub unresolved_instances: usize,
    /// Predictions without a patch.
    pub empty_patch_instances: usize,
    /// Instances that could not be graded.
    pub error_instances: usize,
    /// Graded ids.
    pub completed_ids: Vec<String>,
    /// Dataset ids without a prediction.
    pub incomplete_ids: Vec<String>,
    /// Ids with an empty patch.
    pub empty_patch_ids: Vec<String>,
    /// Ids with a prediction.
    pub submitted_ids: Vec<String>,
    /// Resolved ids.
    pub resolved_ids: Vec<String>,
    /// Unresolved ids.
    pub unresolved_ids: Vec<String>,
    /// Ids that errored.
    pub error_ids: Vec<String>,
    /// SWE-bench's report schema version.
    pub schema_version: u32,
}

impl RunReport {
    /// Builds the report of one model from its outcomes.
    pub fn build(tasks: &[Task], outcomes: &[(&Prediction, &InstanceOutcome)]) -> Self {
        let mut sets: [BTreeSet<String>; 5] = Default::default();
        let [submitted, resolved, unresolved, empty, error] = &mut sets;
        for (pred, o) in outcomes {
            let id = pred.instance_id.clone();
            submitted.insert(id.clone());
            match &o.verdict {
                Verdict::Resolved => resolved.insert(id),
                Verdict::Unresolved => unresolved.insert(id),
                Verdict::EmptyPatch => empty.insert(id),
                Verdict::Error(_) | Verdict::Timeout(_) => error.insert(id),
            };
        }
        let completed: BTreeSet<String> = resolved.union(unresolved).cloned().collect();
        let incomplete: Vec<String> = tasks
            .iter()
            .map(|t| t.task_id.clone())
            .filter(|id| !submitted.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        RunReport {
            total_instances: tasks.len(),
            submitted_instances: submitted.len(),
            completed_instances: completed.len(),
            resolved_instances: resolved.len(),
            unresolved_instances: unresolved.len(),
            empty_patch_instances: empty.len(),
            error_instances: error.len(),
            completed_ids: list(&completed),
            incomplete_ids: incomplete,
            empty_patch_ids: list(empty),
            submitted_ids: list(submitted),
            resolved_ids: list(resolved),
            unresolved_ids: list(unresolved),
            error_ids: list(error),
            schema_version: 2,
        }
    }
}
