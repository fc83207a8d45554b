//! r2e-agent: agents that act in a [`RepoEnv`].
//!
//! - [`EditAgent`] ([`edit`]): R2E-Gym's LLM loop in both action formats
//!   (native tool calls, `<function=…>` text), with the steps-remaining
//!   reminder, the missing-function-call nudge, condensing and limits; with
//!   [`AgentConfig::testing`] it is the verifier's testing agent.
//! - [`config`]: prompts (r2e's own templates in `prompts/`, or R2E-Gym's
//!   agent-config YAML files) and the action format.
//! - [`action`]: parsing and rendering actions in model replies.
//! - [`scripted`]: agents without a model — `oracle` (the gold patch through
//!   the tools) and `replay` (a recorded trajectory's actions).
//! - [`runner`]: K rollouts of many tasks, N at a time, resumable JSONL.
//! - [`sft`]: trajectories as fine-tuning data (OpenAI messages, ShareGPT).
//! - `testing` (feature `testing`): a scripted model that solves the demo tasks.

pub mod action;
pub mod config;
pub mod edit;
mod ending;
pub mod runner;
pub mod scripted;
pub mod sft;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{ActionFormat, AgentConfig, ConfigError, PromptVars};
pub use edit::{EditAgent, Limits, Sampling};
pub use r2e_env::RepoEnv;
