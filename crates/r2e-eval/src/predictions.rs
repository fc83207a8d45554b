//! Predictions in SWE-bench's format: `instance_id`, `model_name_or_path`,
//! `model_patch` (null for no prediction), as JSON Lines, a JSON list, or a
//! JSON object keyed by instance id.

use r2e_core::Task;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One model's patch for one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The task it answers.
    pub instance_id: String,
    /// Which model (or agent) produced it.
    pub model_name_or_path: String,
    /// The patch; `None` when the model produced none.
    pub model_patch: Option<String>,
}

impl Prediction {
    /// The model name as a directory name (SWE-bench replaces `/` with `__`).
    pub fn model_dir(&self) -> String {
        self.model_name_or_path.replace('/', "__")
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.model_patch
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
    }
}

/// Problems reading predictions.
#[derive(Debug, thiserror::Error)]
pub enum PredictionError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A line or the document is not valid.
    #[error("{path}: {where_}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Line or entry.
        where_: String,
        /// What is wrong.
        message: String,
    },
    /// Two predictions for one instance.
    #[error("{path}: instance {id} has more than one prediction")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The instance.
        id: String,
    },
}

/// Reads a predictions file.
pub fn load(path: &Path) -> Result<Vec<Prediction>, PredictionError> {
    let text = std::fs::read_to_string(path).map_err(|source| PredictionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |where_: String, message: String| PredictionError::Malformed {
        path: path.to_path_buf(),
        where_,
        message,
    };
    let trimmed = text.trim_start();
    let preds: Vec<Prediction> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| malformed("document".into(), e.to_string()))?
    } else if trimmed.starts_with('{')
        && serde_json::from_str::<serde_json::Value>(trimmed).is_ok_and(is_keyed)
    {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| malformed("document".into(), e.to_string()))?;
        let mut out = Vec::new();
        for (id, v) in map {
            let mut p: Prediction = serde_json::from_value(v)
                .map_err(|e| malformed(format!("entry {id}"), e.to_string()))?;
            if p.instance_id.is_empty() {
                p.instance_id = id;
            }
            out.push(p);
        }
        out
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            out.push(
                serde_json::from_str(line)
                    .map_err(|e| malformed(format!("line {}", i + 1), e.to_string()))?,
            );
        }
        out
    };
    let mut seen = std::collections::HashSet::new();
    for p in &preds {
        if !seen.insert(p.instance_id.as_str()) {
            return Err(PredictionError::Duplicate {
                path: path.to_path_buf(),
                id: p.instance_id.clone(),
            });
        }
    }
    Ok(preds)
}

/// A JSON object whose values are prediction objects (keyed by instance id),
/// rather than a single prediction.
fn is_keyed(v: serde_json::Value) -> bool {
    v.as_object()
        .is_some_and(|m| !m.contains_key("instance_id") && m.values().all(|x| x.is_object()))
}

/// The gold patches of `tasks` as predictions (model name `gold`), the usual
/// validation of a dataset.
pub fn gold(tasks: &[Task]) -> Vec<Prediction> {
    tasks
        .iter()
        .map(|t| Prediction {
            instance_id: t.task_id.clone(),
            model_name_or_path: "gold".into(),
            model_patch: Some(t.gold_patch.clone()),
        })
        .collect()
}
