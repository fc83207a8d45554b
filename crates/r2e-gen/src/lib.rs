//! SWE-Gen: executable tasks made procedurally from a repository's commits
//! (R2E-Gym, arXiv 2504.07164, section 2).
//!
//! Stages implemented here:
//!
//! 1. [`mine`]: walk a git history with gix (in process, in parallel, resumable)
//!    and write one [`MinedCommit`] per commit as JSONL: diff statistics, file
//!    kinds, the gold and test patches, and the Python entities added, edited and
//!    deleted ([`python`], tree-sitter-python).
//! 2. [`filter`]: R2E-Gym's commit heuristics as named, configurable rules, with
//!    a funnel of how many commits each rule removed.
//!
//! 4. [`validate`]: run each candidate's tests in Docker on the old and the new
//!    code; keep commits with a fail-to-pass test and nothing broken, drop flaky
//!    tests, save a task image per kept commit, and write r2e tasks.
//! 6. [`issue`]: back-translation, an LLM writes the issue text of each task
//!    from its fix, failing tests and their failure output.
//!
//! Environments (stage 3) and test generation (stage 5) are not implemented yet;
//! validation takes the environment as an image.

pub mod classify;
pub mod error;
pub mod filter;
pub mod issue;
pub mod jsonl;
pub mod mine;
pub mod model;
pub mod python;
pub mod udiff;
pub mod validate;

pub use error::{Error, Result};
pub use filter::{FilterConfig, Funnel};
pub use mine::{MineEvent, MineOptions, MineSummary};
pub use model::{
    Entity, EntityKind, FileChange, FileKind, FileStatus, MinedCommit, PyChanges, SkipReason,
};
