//! r2e-verify: pick the best of K patches, and measure how well that works.
//!
//! R2E-Gym's second half (arXiv 2504.07164, §4): with K rollouts of an
//! agent per task, a *verifier* scores each candidate patch and the best
//! scoring one is submitted:
//!
//! * [`judge`] — the **execution-free** verifier: a judge model reads the
//!   issue, the agent's trajectory and its final patch and answers YES or NO;
//!   the score is P(YES) normalised over YES/NO from the answer token's
//!   logprobs ([`r2e_llm::p_yes`]), averaged over samples when asked.
//!   [`judge::judge_all`] runs many at once and appends to a resumable
//!   `scores.jsonl`.
//! * [`exec`] — the **execution-based** verifier: a testing agent (the edit
//!   agent's loop with its own prompt) writes reproduction tests in a sandbox
//!   at the base commit; every candidate runs against them and against the
//!   repository's existing tests, in parallel sandboxes.
//! * [`score`] — the [`Score`] row every verifier fills (execution-free
//!   P(YES), and the execution-based regression pass rate and generated-test
//!   pass count that the TestingAgent produces), its JSONL reader and writer.
//! * [`select`] — the selection methods (random, execution-free,
//!   execution-based and R2E-Gym's **hybrid** rule) and their tie-breaking.
//! * [`metrics`] — pass@k (unbiased estimator), best@k (expected accuracy of
//!   a selection method on random size-k subsets, computed exactly), bootstrap
//!   confidence intervals over tasks, and the distinguishability of a verifier.
//! * [`report`] — all of the above for a trajectory file and its scores, and
//!   [`plot`] — the best@k picture as SVG and PNG.
//! * [`export`] — training examples for the judge (the judge's prompt with a
//!   YES/NO answer from the reward).
//!
//! Errors are [`VerifyError`]s that name the file, task or rollout and say
//! what to do.

#![warn(missing_docs)]

mod error;
pub mod exec;
pub mod export;
pub mod judge;
pub mod metrics;
pub mod plot;
pub mod prompt;
pub mod report;
pub mod score;
pub mod select;

pub use error::VerifyError;
pub use score::Score;

/// The LLM client crate the judge talks through, re-exported so that callers
/// need no second dependency to build a client.
pub use r2e_llm;
