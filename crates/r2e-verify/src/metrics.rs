//! Selection metrics: pass@k, best@k, bootstrap intervals, distinguishability.
//!
//! **pass@k** ([`pass_at_k`]) is the unbiased estimator of the chance that
//! at least one of k rollouts drawn without replacement from the n made is
//! correct, `1 − C(n−c, k) / C(n, k)` with c correct, computed as the
//! product `Π_{i=n−c+1}^{n} (1 − k/i)` (no large binomials, no cancellation).
//!
//! **best@k** is the expected reward of the candidate a selection method
//! picks from a uniformly random size-k subset of a task's K rollouts, ties
//! averaged (the expected reward of a uniformly random pick among the
//! candidates the method cannot tell apart). It is computed *exactly*, not
//! by sampling subsets:
//!
//! * [`expected_max`] — the method picks the highest key (execution-free:
//!   P(YES); execution-based: regression rate then generated tests). With the
//!   candidates grouped by equal key and sorted, group g (size m, with B
//!   candidates strictly above it) holds the subset's maximum exactly when
//!   the subset avoids those B and meets g: probability
//!   `[C(K−B, k) − C(K−B−m, k)] / C(K, k)`; the pick's expected reward is
//!   then the group's mean reward (every member is equally likely).
//! * [`expected_filtered_max`] — R2E-Gym's hybrid: keep the `keep` best of
//!   the subset by one key, then pick the highest by another. A dynamic
//!   programme over the key groups in filter order counts, for each group,
//!   the subsets in which it survives the cut and beats every survivor
//!   (sequential hypergeometric probabilities from a log-factorial table:
//!   no overflow for any K).
//!
//! When k exceeds a task's K the task's whole set is used (k = K), as
//! R2E-Gym's evaluation does.
//!
//! **Bootstrap** ([`bootstrap`]): per-task values are resampled over tasks
//! with replacement (seeded), the statistic is the mean, and the interval is
//! the percentile interval of the resampled means.
//!
//! **Distinguishability** ([`distinguishability`]): over tasks that have both
//! a correct and an incorrect candidate, how often the best correct
//! candidate's key is strictly above the best incorrect one's (the verifier
//! can separate them), equal (a tie) or below.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A candidate's sort key: compared lexicographically, larger is better.
/// Methods with fewer than three criteria leave the rest 0; a missing score
/// is `f64::NEG_INFINITY` (below every present score).
pub type Key = [f64; 3];

/// Compares keys lexicographically with [`f64::total_cmp`] (−0.0 and 0.0 are
/// equal; see [`key`]).
pub fn cmp_key(a: &Key, b: &Key) -> Ordering {
    a[0].total_cmp(&b[0])
        .then(a[1].total_cmp(&b[1]))
        .then(a[2].total_cmp(&b[2]))
}

/// A key from up to three criteria, normalised so that −0.0 equals 0.0.
pub fn key(a: f64, b: f64, c: f64) -> Key {
    [a + 0.0, b + 0.0, c + 0.0]
}

/// The unbiased pass@k of a task with `n` rollouts of which `c` are correct
/// (k is clamped to 1..=n; 0 when n is 0).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let c = c.min(n);
    let k = k.clamp(1, n);
    if n - c < k {
        return 1.0;
    }
    let mut none_correct = 1.0;
    for i in (n - c + 1)..=n {
        none_correct *= 1.0 - k as f64 / i as f64;
    }
    1.0 - none_correct
}

/// `C(a, k) / C(total, k)`, as a product of ratios.
fn binom_ratio(a: usize, total: usize, k: usize) -> f64 {
    if a < k {
        return 0.0;
    }
    (0..k).fold(1.0, |p, i| p * (a - i) as f64 / (total - i) as f64)
}

/// Groups of candidates with equal keys: `(key, size, mean reward)`, best
/// key first.
fn groups(items: &[(Key, f64)]) -> Vec<(Key, usize, f64)> {
    let mut sorted: Vec<&(Key, f64)> = items.iter().collect();
    sorted.sort_by(|a, b| cmp_key(&b.0, &a.0));
    let mut out: Vec<(Key, usize, f64)> = Vec::new();
    for (key, reward) in sorted {
        match out.last_mut() {
            Some((k, m, sum)) if cmp_key(k, key) == Ordering::Equal => {
                *m += 1;
                *sum += reward;
            }
            _ => out.push((*key, 1, *reward)),
        }
    }
    for (_, m, sum) in &mut out {
        *sum /= *m as f64;
    }
    out
}

/// Expected reward of picking the highest key of a uniformly random size-k
/// subset of `items` (`(key, reward)` pairs), ties averaged; k is clamped to
/// 1..=len (0 for no items).
pub fn expected_max(items: &[(Key, f64)], k: usize) -> f64 {
    let total = items.len();
    if total == 0 {
        return 0.0;
    }
    let k = k.clamp(1, total);
    let mut above = 0;
    let mut value = 0.0;
    for (_, m, mean) in groups(items) {
        let p = binom_ratio(total - above, total, k) - binom_ratio(total - above - m, total, k);
        value += p * mean;
        above += m;
    }
    value
}

/// One candidate of [`expected_filtered_max`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterItem {
    /// The key of the first cut (keep the best `keep`).
    pub filter: Key,
    /// The key that picks among the kept ones.
    pub rank: Key,
    /// The candidate's reward.
    pub reward: f64,
}

/// `ln n!` for n = 0..=max.
fn ln_factorials(max: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(max + 1);
    let mut acc = 0.0;
    out.push(0.0);
    for i in 1..=max {
        acc += (i as f64).ln();
        out.push(acc);
    }
    out
}

/// Expected reward of R2E-Gym's two-stage pick on a uniformly random size-k
/// subset: keep the subset's `keep` candidates with the highest `filter`
/// keys (those tied at the cut are kept in uniformly random order), then pick
/// the highest `rank` key among them, ties averaged.
///
/// Candidates with equal `rank` keys must have equal `filter` keys (true when
/// one key is a reordering of the other's criteria, as in the hybrid rule);
/// otherwise the groups are formed by `(rank, filter)` and equal-rank groups
/// with different filters are each counted as a separate tie, which only
/// approximates a uniform pick among them.
pub fn expected_filtered_max(items: &[FilterItem], k: usize, keep: usize) -> f64 {
    let total = items.len();
    if total == 0 {
        return 0.0;
    }
    let k = k.clamp(1, total);
    let keep = keep.clamp(1, k);
    // Groups of equal (filter, rank) keys, in filter order, best first.
    let mut sorted: Vec<&FilterItem> = items.iter().collect();
    sorted.sort_by(|a, b| cmp_key(&b.filter, &a.filter).then(cmp_key(&b.rank, &a.rank)));
    let mut atoms: Vec<(Key, Key, usize, f64)> = Vec::new();
    for item in sorted {
        match atoms.last_mut() {
            Some((f, r, m, sum))
                if cmp_key(f, &item.filter).is_eq() && cmp_key(r, &item.rank).is_eq() =>
            {
                *m += 1;
                *sum += item.reward;
            }
            _ => atoms.push((item.filter, item.rank, 1, item.reward)),
        }
    }
    let ln_fact = ln_factorials(total);
    let ln_choose = |n: usize, r: usize| ln_fact[n] - ln_fact[r] - ln_fact[n - r];
    // suffix[i]: candidates in atoms i.. .
    let mut suffix = vec![0; atoms.len() + 1];
    for i in (0..atoms.len()).rev() {
        suffix[i] = suffix[i + 1] + atoms[i].2;
    }
    let mut value = 0.0;
    for (a, &(_, rank_a, _, sum_a)) in atoms.iter().enumerate() {
        let mean_a = sum_a / atoms[a].2 as f64;
        if mean_a == 0.0 {
            continue;
        }
        // dp[s]: probability that the first i atoms got s picks and every
        // constraint so far holds.
        let mut dp = vec![0.0; k + 1];
        dp[0] = 1.0;
        for (i, &(_, rank_i, m, _)) in atoms.iter().enumerate() {
            let pool = suffix[i];
            let rest = pool - m;
            let beats_a = cmp_key(&rank_i, &rank_a).is_gt();
            let mut next = vec![0.0; k + 1];
            for (s, &p) in dp.iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                let remaining = k - s;
                for c in 0..=m.min(remaining) {
                    if rest < remaining - c {
                        continue;
                    }
                    let allowed = if i == a {
                        c >= 1 && s < keep
                    } else if beats_a {
                        // A better-ranked atom must not survive the cut:
                        // above a in filter order it survives whenever
                        // picked; below a, only while the cut is not full.
                        c == 0 || (i > a && s >= keep)
                    } else {
                        true
                    };
                    if !allowed {
                        continue;
                    }
                    let step = (ln_choose(m, c) + ln_choose(rest, remaining - c)
                        - ln_choose(pool, remaining))
                    .exp();
                    next[s + c] += p * step;
                }
            }
            dp = next;
        }
        value += mean_a * dp[k];
    }
    value
}

/// A mean with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The mean over tasks.
    pub mean: f64,
    /// The interval's lower end.
    pub lo: f64,
    /// The interval's upper end.
    pub hi: f64,
}

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// How many resamples of the tasks (0: no interval; lo = hi = mean).
    pub resamples: usize,
    /// The interval's coverage, e.g. 0.95.
    pub confidence: f64,
    /// The random seed (the same seed gives the same intervals).
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// Means over tasks of every column of `per_task` (rows: tasks, all of the
/// same length), each with a bootstrap percentile interval. The same task
/// resamples serve every column, so intervals of different columns are
/// comparable.
pub fn bootstrap(per_task: &[Vec<f64>], settings: &Bootstrap) -> Vec<Interval> {
    let Some(width) = per_task.first().map(Vec::len) else {
        return Vec::new();
    };
    let n = per_task.len();
    let mean_of = |rows: &mut dyn Iterator<Item = usize>| {
        let mut sums = vec![0.0; width];
        for r in rows {
            for (s, v) in sums.iter_mut().zip(&per_task[r]) {
                *s += v;
            }
        }
        sums.iter().map(|s| s / n as f64).collect::<Vec<f64>>()
    };
    let means = mean_of(&mut (0..n));
    if settings.resamples == 0 {
        return means
            .iter()
            .map(|&m| Interval {
                mean: m,
                lo: m,
                hi: m,
            })
            .collect();
    }
    let mut rng = fastrand::Rng::with_seed(settings.seed);
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(settings.resamples); width];
    for _ in 0..settings.resamples {
        let resampled = mean_of(&mut (0..n).map(|_| rng.usize(0..n)));
        for (column, v) in samples.iter_mut().zip(resampled) {
            column.push(v);
        }
    }
    let alpha = (1.0 - settings.confidence.clamp(0.0, 1.0)) / 2.0;
    means
        .iter()
        .zip(samples.iter_mut())
        .map(|(&mean, column)| {
            column.sort_by(f64::total_cmp);
            Interval {
                mean,
                lo: quantile(column, alpha),
                hi: quantile(column, 1.0 - alpha),
            }
        })
        .collect()
}

/// The q-quantile of sorted values, interpolating linearly between ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    sorted[lo] * (1.0 - frac) + sorted[hi] * frac
}

/// How well a verifier separates correct from incorrect candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Distinguishability {
    /// Tasks with at least one correct and one incorrect candidate.
    pub tasks: usize,
    /// Of those, the best correct candidate scored strictly higher.
    pub separated: usize,
    /// Of those, the best correct and best incorrect scored the same.
    pub tied: usize,
}

impl Distinguishability {
    /// `separated / tasks` (0 with no such task).
    pub fn separated_rate(&self) -> f64 {
        ratio(self.separated, self.tasks)
    }

    /// `tied / tasks` (0 with no such task).
    pub fn tie_rate(&self) -> f64 {
        ratio(self.tied, self.tasks)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Distinguishability over tasks; each task is its candidates as
/// `(key, correct)` pairs.
pub fn distinguishability<'a>(
    tasks: impl IntoIterator<Item = &'a [(Key, bool)]>,
) -> Distinguishability {
    let mut out = Distinguishability::default();
    for candidates in tasks {
        let best = |want: bool| {
            candidates
                .iter()
                .filter(|(_, correct)| *correct == want)
                .map(|(key, _)| *key)
                .max_by(cmp_key)
        };
        let (Some(correct), Some(incorrect)) = (best(true), best(false)) else {
            continue;
        };
        out.tasks += 1;
        match cmp_key(&correct, &incorrect) {
            Ordering::Greater => out.separated += 1,
            Ordering::Equal => out.tied += 1,
            Ordering::Less => {}
        }
    }
    out
}
