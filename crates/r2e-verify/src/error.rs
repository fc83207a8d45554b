//! [`VerifyError`]: what went wrong in a verifier, on which file, task or
//! rollout, and what to do about it.

use std::path::PathBuf;

/// Everything the verifiers can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A trajectory or scores file could not be read or written, or has a bad line.
    #[error(transparent)]
    Jsonl(#[from] r2e_core::jsonl::JsonlError),

    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },

    /// A trajectory's task is not in the dataset, so its issue text is unknown.
    #[error(
        "task {task_id} (rollout {rollout}) is not in the dataset: pass the dataset the \
         trajectories were made from"
    )]
    MissingTask {
        /// The task.
        task_id: String,
        /// The rollout.
        rollout: u32,
    },

    /// A prompt template is malformed.
    #[error("prompt template {name}: {message}")]
    Template {
        /// Which template.
        name: String,
        /// What is wrong with it.
        message: String,
    },

    /// The judge model could not be asked, or its answer could not be read.
    #[error("judging task {task_id} rollout {rollout}: {error}")]
    Judge {
        /// The task.
        task_id: String,
        /// The rollout.
        rollout: u32,
        /// The client's error.
        #[source]
        error: r2e_llm::LlmError,
    },

    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),

    /// The best@k plot could not be rendered as PNG.
    #[error("rendering the best@k PNG: {0}")]
    Plot(String),

    /// There is nothing to work on.
    #[error("{0}")]
    Empty(String),
}

impl VerifyError {
    /// An [`VerifyError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| Self::Io { path, error }
    }
}
