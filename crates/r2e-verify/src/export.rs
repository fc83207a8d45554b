//! Training data for the judge: each trajectory becomes one chat example,
//! the judge's own prompt ([`crate::prompt::build`], so training and
//! inference see the same text) followed by the answer `YES` when the
//! trajectory's reward is 1 and `NO` otherwise. Trajectories without a
//! reward (hidden tests not run) or whose reward status is an
//! infrastructure error are skipped: they carry no label.
//!
//! Formats ([`ExportFormat`]):
//!
//! * `openai` — `{"messages": [{"role": "system", …}, {"role": "user", …},
//!   {"role": "assistant", "content": "YES"}]}`, OpenAI's fine-tuning format,
//!   also what R2E-Gym's verifier data and LLaMA-Factory's `sharegpt` loader
//!   with role/content tags read;
//! * `sharegpt` — `{"system": …, "conversations": [{"from": "human", …},
//!   {"from": "gpt", "value": "YES"}]}`, LLaMA-Factory's ShareGPT layout.

use crate::VerifyError;
use crate::prompt::{self, PromptConfig};
use r2e_core::Trajectory;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The layout of an exported example: the same two formats as the SFT
/// export of agent trajectories.
pub use r2e_agent::sft::SftFormat as ExportFormat;

/// One example for `trajectory`, or None when it has no reward.
pub fn example(
    config: &PromptConfig,
    issue: &str,
    trajectory: &Trajectory,
    yes: &str,
    no: &str,
    format: ExportFormat,
) -> Option<Value> {
    if !trajectory.graded() {
        return None;
    }
    let reward = trajectory.reward?;
    let answer = if reward >= 1.0 - 1e-9 { yes } else { no };
    let prompt = prompt::build(config, issue, trajectory);
    Some(match format {
        ExportFormat::OpenAi => json!({"messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
            {"role": "assistant", "content": answer},
        ]}),
        ExportFormat::ShareGpt => json!({"system": prompt.system, "conversations": [
            {"from": "human", "value": prompt.user},
            {"from": "gpt", "value": answer},
        ]}),
    })
}

/// What [`write_examples`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Examples labelled YES.
    pub yes: usize,
    /// Examples labelled NO.
    pub no: usize,
    /// Trajectories skipped for want of a reward.
    pub unrewarded: usize,
}

/// Writes one example per rewarded trajectory to `out` (JSONL, replacing
/// the file). Every trajectory's task must be in `issues`.
pub fn write_examples(
    trajectories: &[Trajectory],
    issues: &HashMap<String, String>,
    config: &PromptConfig,
    format: ExportFormat,
    out: &Path,
) -> Result<ExportSummary, VerifyError> {
    let mut summary = ExportSummary::default();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(VerifyError::io(dir))?;
    }
    let file = std::fs::File::create(out).map_err(VerifyError::io(out))?;
    let mut file = std::io::BufWriter::new(file);
    for t in trajectories {
        let Some(issue) = issues.get(&t.task_id) else {
            return Err(VerifyError::MissingTask {
                task_id: t.task_id.clone(),
                rollout: t.rollout,
            });
        };
        let Some(value) = example(config, issue, t, "YES", "NO", format) else {
            summary.unrewarded += 1;
            continue;
        };
        if t.reward.is_some_and(|r| r >= 1.0 - 1e-9) {
            summary.yes += 1;
        } else {
            summary.no += 1;
        }
        serde_json::to_writer(&mut file, &value).map_err(|e| VerifyError::io(out)(e.into()))?;
        file.write_all(b"\n").map_err(VerifyError::io(out))?;
    }
    file.flush().map_err(VerifyError::io(out))?;
    Ok(summary)
}
