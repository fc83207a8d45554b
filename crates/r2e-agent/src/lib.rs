//! r2e-agent: agents that act in a [`RepoEnv`].
//!
//! - [`oracle`]: applies the task's gold patch through the tools and submits;
//!   it checks an environment end to end (image, tools, patch, reward)
//!   without any model.

pub mod oracle;

pub use r2e_env::RepoEnv;
