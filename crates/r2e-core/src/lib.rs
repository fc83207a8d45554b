//! r2e-core: the task model, dataset readers/writers and row converters.
//!
//! * [`task`]: the normalised [`Task`] every other crate consumes;
//! * [`row`]: one R2E-Gym, SWE-bench (SWE-Gym, SWE-smith) or r2e row → [`Task`];
//! * [`dataset`]: JSON Lines, JSON and Parquet files and directories of shards;
//! * [`image`]: image-name conventions and templates;
//! * [`summary`]: counts per repository and source format;
//! * [`trajectory`]: one episode of an agent, as written to trajectory JSONL;
//! * [`jsonl`]: resumable JSON Lines files (torn last lines survive a kill);
//! * [`parsed_commit`], [`diff`]: the patch handling the converters need;
//! * [`reward_guard`]: which parts of an agent's patch may reach the reward.

#![warn(missing_docs)]

pub mod dataset;
pub mod diff;
pub mod image;
pub mod jsonl;
pub mod parsed_commit;
pub mod reward_guard;
pub mod row;
pub mod summary;
pub mod task;
pub mod trajectory;

pub use task::{Grading, SourceFormat, Task, TestFile};
pub use trajectory::{
    Action, ExitReason, RewardStatus, Step, Trajectory, TrajectoryFileError, TrajectoryWriter,
    Usage,
};
