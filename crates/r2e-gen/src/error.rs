//! The error type of r2e-gen.

use std::path::PathBuf;

/// Everything that can go wrong in the SWE-Gen stages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path exists but holds no git repository.
    #[error(
        "{path} is not a git repository ({message}); pass the top directory of a clone \
         (the one holding .git) or a bare repository, or a URL to clone"
    )]
    NotARepository {
        /// The path given.
        path: PathBuf,
        /// What gix said.
        message: String,
    },
    /// The path does not exist.
    #[error("{0} does not exist; pass a local clone or a URL (https://, file://, ssh://)")]
    NoSuchPath(PathBuf),
    /// A git operation failed.
    #[error("git: {context}: {message}")]
    Git {
        /// What r2e was doing.
        context: String,
        /// What gix said.
        message: String,
    },
    /// Cloning a URL failed.
    #[error("cloning {url} into {dest} failed: {message}")]
    Clone {
        /// The URL.
        url: String,
        /// The cache directory it was cloned into.
        dest: PathBuf,
        /// What gix said.
        message: String,
    },
    /// A URL was given but this build cannot clone.
    #[error(
        "{0} is a URL, but this build of r2e-gen has no clone support (feature `clone`); clone it with git and pass the path"
    )]
    CloneUnsupported(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a JSONL file could not be parsed.
    #[error("{path}:{line}: not a valid row: {message}")]
    BadRow {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What serde said.
        message: String,
    },
    /// A configuration file (filter rules, environment overrides) could not be read.
    #[error("config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A sandbox operation failed (Docker unreachable, image missing, container died).
    #[error(transparent)]
    Sandbox(#[from] r2e_sandbox::SandboxError),
    /// A step run inside a sandbox failed.
    #[error("sandbox step `{step}` failed (exit {code}): {stderr}")]
    Step {
        /// The command.
        step: String,
        /// Its exit code.
        code: i32,
        /// The end of its stderr.
        stderr: String,
    },
    /// Reading or writing a JSONL or dataset file of r2e-core failed.
    #[error(transparent)]
    Jsonl(#[from] r2e_core::jsonl::JsonlError),
    /// Writing a dataset failed.
    #[error(transparent)]
    Dataset(#[from] r2e_core::dataset::DatasetError),
    /// The model client failed.
    #[error(transparent)]
    Llm(#[from] r2e_llm::LlmError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn git(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Git {
            context: context.into(),
            message: e.to_string(),
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
