//! Selection methods: which of a task's candidate patches to submit.
//!
//! | method | rule |
//! |---|---|
//! | [`Method::Random`] | any candidate, uniformly (the baseline without a verifier) |
//! | [`Method::ExecFree`] | the highest execution-free score (judge P(YES)) |
//! | [`Method::ExecBased`] | the highest regression pass rate, then the most generated tests passed |
//! | [`Method::Hybrid`] | R2E-Gym's rule, below |
//!
//! **Hybrid** (as in R2E-Gym's `get_hybrid_aggregation`): of the k
//! candidates, keep the top n by execution-free score, n =
//! `max(min_keep, ⌊k · keep_fraction⌋)` (default `max(3, ⌊k/2⌋)`), breaking
//! ties in the score by regression pass rate, then generated-test pass count;
//! among those kept pick the highest regression pass rate, then the most
//! generated tests passed, then the highest execution-free score.
//!
//! **Ties.** Candidates equal on every criterion a method looks at cannot be
//! told apart: best@k averages over them (the expected reward of a uniformly
//! random pick among them, as R2E-Gym's evaluation does), and candidates tied
//! on all three criteria at the hybrid's cut are kept in uniformly random
//! order. [`choose`], which must return one candidate, returns them all in
//! [`Choice::tied`] and picks the lowest rollout index as
//! [`Choice::chosen`]; at the hybrid's cut it keeps the lower rollout
//! indices first.
//!
//! **Missing scores** rank below every present score (a candidate the judge
//! could not score is never preferred to one it scored).

use crate::metrics::{self, FilterItem, Key, key};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One candidate patch of a task, with its verifier scores.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Candidate {
    /// Which rollout it is.
    pub rollout: u32,
    /// Its reward from the hidden tests (None: not run, counted as 0).
    pub reward: Option<f64>,
    /// Execution-free score, P(YES).
    pub exec_free: Option<f64>,
    /// Regression pass rate.
    pub regression: Option<f64>,
    /// Generated tests passed.
    pub generated: Option<u32>,
}

impl Candidate {
    /// The reward as a number (missing: 0).
    pub fn reward_value(&self) -> f64 {
        self.reward.unwrap_or(0.0)
    }

    /// Whether the candidate resolves the task (reward 1).
    pub fn resolved(&self) -> bool {
        self.reward.is_some_and(|r| r >= 1.0 - 1e-9)
    }

    fn scores(&self) -> (f64, f64, f64) {
        let or_worst = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
        (
            or_worst(self.exec_free),
            or_worst(self.regression),
            or_worst(self.generated.map(f64::from)),
        )
    }
}

/// A selection method (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A uniformly random candidate.
    Random,
    /// The highest execution-free score.
    ExecFree,
    /// Regression pass rate, then generated tests.
    ExecBased,
    /// R2E-Gym's hybrid rule.
    Hybrid,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 4] = [
        Method::Random,
        Method::ExecFree,
        Method::ExecBased,
        Method::Hybrid,
    ];

    /// The name used in tables, plots and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::Random => "random",
            Method::ExecFree => "exec-free",
            Method::ExecBased => "exec-based",
            Method::Hybrid => "hybrid",
        }
    }

    /// The key this method ranks candidates by in its final pick.
    pub fn rank_key(self, c: &Candidate) -> Key {
        let (free, regression, generated) = c.scores();
        match self {
            Method::Random => key(0.0, 0.0, 0.0),
            Method::ExecFree => key(free, 0.0, 0.0),
            Method::ExecBased => key(regression, generated, 0.0),
            Method::Hybrid => key(regression, generated, free),
        }
    }

    /// The hybrid's cut key: execution-free score, then regression, then
    /// generated tests.
    fn filter_key(c: &Candidate) -> Key {
        let (free, regression, generated) = c.scores();
        key(free, regression, generated)
    }

    /// The expected reward of this method's pick from a uniformly random
    /// size-k subset of `candidates` (see [`crate::metrics`]); k is clamped
    /// to 1..=len.
    pub fn best_at_k(self, candidates: &[Candidate], k: usize, hybrid: &HybridConfig) -> f64 {
        match self {
            Method::Hybrid => {
                let items: Vec<FilterItem> = candidates
                    .iter()
                    .map(|c| FilterItem {
                        filter: Self::filter_key(c),
                        rank: self.rank_key(c),
                        reward: c.reward_value(),
                    })
                    .collect();
                let k = k.clamp(1, candidates.len().max(1));
                metrics::expected_filtered_max(&items, k, hybrid.keep(k))
            }
            _ => {
                let items: Vec<(Key, f64)> = candidates
                    .iter()
                    .map(|c| (self.rank_key(c), c.reward_value()))
                    .collect();
                metrics::expected_max(&items, k)
            }
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The hybrid's cut: keep `max(min_keep, ⌊k · keep_fraction⌋)` candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridConfig {
    /// The fewest candidates kept (R2E-Gym: 3).
    pub min_keep: usize,
    /// The fraction of the k candidates kept (R2E-Gym: 0.5).
    pub keep_fraction: f64,
}

impl Default for HybridConfig {
    fn default() -> Self {
        Self {
            min_keep: 3,
            keep_fraction: 0.5,
        }
    }
}

impl HybridConfig {
    /// How many of k candidates survive the cut (at least 1, at most k).
    pub fn keep(&self, k: usize) -> usize {
        let fraction = (k as f64 * self.keep_fraction).floor() as usize;
        self.min_keep.max(fraction).clamp(1, k.max(1))
    }
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The rollout to submit (the lowest of `tied`).
    pub chosen: u32,
    /// Every rollout the method ranks equal to `chosen`, ascending.
    pub tied: Vec<u32>,
}

/// Applies `method` to all of a task's candidates (None when there are none).
pub fn choose(method: Method, candidates: &[Candidate], hybrid: &HybridConfig) -> Option<Choice> {
    let mut pool: Vec<&Candidate> = candidates.iter().collect();
    pool.sort_by_key(|c| c.rollout);
    if method == Method::Hybrid {
        let keep = hybrid.keep(pool.len());
        // Stable sort: candidates tied on the cut key keep rollout order.
        pool.sort_by(|a, b| metrics::cmp_key(&Method::filter_key(b), &Method::filter_key(a)));
        pool.truncate(keep);
    }
    let best = pool
        .iter()
        .map(|c| method.rank_key(c))
        .max_by(metrics::cmp_key)?;
    let mut tied: Vec<u32> = pool
        .iter()
        .filter(|c| metrics::cmp_key(&method.rank_key(c), &best).is_eq())
        .map(|c| c.rollout)
        .collect();
    tied.sort_unstable();
    Some(Choice {
        chosen: tied[0],
        tied,
    })
}
