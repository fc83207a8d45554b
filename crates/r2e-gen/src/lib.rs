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
//!    a funnel of how many commits each rule removed; the `r2e-gym` preset
//!    (the default) reads the change as R2E-Gym's miner sees it ([`gym`]).
//! 3. [`env`]: a pinned environment per commit from the repository's
//!    metadata, installed with uv `--exclude-newer` at the commit's date, with
//!    a search over Pythons and build-tool pins; commits with the same
//!    dependency set share one image.
//! 4. [`validate`]: run each candidate's tests in Docker on the old and the new
//!    code; keep commits with a fail-to-pass test and nothing broken, drop flaky
//!    tests, save a task image per kept commit, and write r2e tasks.
//! 5. [`testgen`]: for bug fixes without usable tests, a model writes a test
//!    module against the change; it is validated like mined tests, and an
//!    unusable module is sent back with the reason, up to a number of attempts.
//! 6. [`issue`]: back-translation, an LLM writes the issue text of each task
//!    from its fix, failing tests and their failure output.
//!
//! [`images`] names the images these stages save (environment layers,
//! workspaces, task images) and lists them for `r2e gen images`.

pub mod classify;
pub mod env;
pub mod error;
pub mod filter;
pub mod gym;
pub mod images;
pub mod issue;
pub mod jsonl;
pub mod mine;
pub mod model;
pub mod python;
pub mod testgen;
mod text;
pub mod udiff;
pub mod validate;

pub use error::{Error, Result};
pub use filter::{FilterConfig, Funnel};
pub use mine::{MineEvent, MineOptions, MineSummary};
pub use model::{
    Entity, EntityKind, FileChange, FileKind, FileStatus, MinedCommit, PyChanges, SkipReason,
};
