//! `r2e verify report`: every metric for a trajectory file and its scores.
//!
//! The trajectories give the candidates (a task's rollouts) and their
//! rewards; the scores files give the verifiers' scores ([`crate::score`]).
//! The report has, for k = 1 … K (K: the most rollouts any task has):
//!
//! * pass@k — the oracle: some candidate of k is correct;
//! * best@k of each selection method that the scores allow
//!   ([`Method::Random`] always, [`Method::ExecFree`] with judge scores,
//!   [`Method::ExecBased`] with regression or generated-test scores,
//!   [`Method::Hybrid`] with both), with bootstrap intervals over tasks;
//! * the distinguishability of each verifier, over the candidates it scored.
//!
//! Every value is a mean over tasks, with every task weighted equally; a
//! task with fewer than k rollouts counts with all of them.

use crate::VerifyError;
use crate::metrics::{self, Bootstrap, Distinguishability, Interval, Key, key};
use crate::plot::{self, Chart, Series};
use crate::score::Score;
use crate::select::{Candidate, HybridConfig, Method};
use r2e_core::Trajectory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A task's candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCandidates {
    /// The task.
    pub task_id: String,
    /// Its candidates, by rollout.
    pub candidates: Vec<Candidate>,
}

/// Joins trajectories with their scores, task by task (in task id order).
/// Returns the tasks and notes about what did not match (duplicate
/// rollouts: the last one counts; scores of rollouts with no trajectory:
/// ignored) and what was left out: a rollout that ended in an
/// infrastructure error has no verdict, so it is not a candidate (a task
/// left with none drops out), and the note counts them.
pub fn collect(
    trajectories: &[Trajectory],
    scores: &BTreeMap<(String, u32), Score>,
) -> (Vec<TaskCandidates>, Vec<String>) {
    let mut notes = Vec::new();
    let mut by_task: BTreeMap<&str, BTreeMap<u32, Candidate>> = BTreeMap::new();
    let mut duplicates = 0;
    let mut infra = 0;
    let latest: BTreeMap<(&str, u32), &Trajectory> = trajectories
        .iter()
        .map(|t| ((t.task_id.as_str(), t.rollout), t))
        .collect();
    for t in trajectories {
        if !t.graded() {
            // Counted once per (task, rollout), as it finally stands.
            if std::ptr::eq(latest[&(t.task_id.as_str(), t.rollout)], t) {
                infra += 1;
            }
            continue;
        }
        let score = scores.get(&(t.task_id.clone(), t.rollout));
        let candidate = Candidate {
            rollout: t.rollout,
            reward: t.reward,
            exec_free: score.and_then(|s| s.exec_free),
            regression: score.and_then(|s| s.regression_pass_rate),
            generated: score.and_then(|s| s.generated_tests_passed),
        };
        if by_task
            .entry(&t.task_id)
            .or_default()
            .insert(t.rollout, candidate)
            .is_some()
        {
            duplicates += 1;
        }
    }
    if duplicates > 0 {
        notes.push(format!(
            "{duplicates} trajectories repeat a (task_id, rollout) pair; the last of each counts"
        ));
    }
    if infra > 0 {
        notes.push(format!(
            "{infra} rollouts ended in an infrastructure error (no verdict) and are left out of every metric; rerun them with `r2e run … --retry-errors`"
        ));
    }
    let orphans = scores
        .keys()
        .filter(|(task, rollout)| {
            by_task
                .get(task.as_str())
                .is_none_or(|c| !c.contains_key(rollout))
        })
        .count();
    if orphans > 0 {
        notes.push(format!(
            "{orphans} score rows have no trajectory (wrong --trajectories?); they are ignored"
        ));
    }
    let tasks = by_task
        .into_iter()
        .map(|(task_id, c)| TaskCandidates {
            task_id: task_id.to_owned(),
            candidates: c.into_values().collect(),
        })
        .collect();
    (tasks, notes)
}

/// Settings of a report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReportConfig {
    /// The bootstrap intervals.
    pub bootstrap: Bootstrap,
    /// The hybrid's cut.
    pub hybrid: HybridConfig,
}

/// One curve over k = 1 … K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// `pass@k` or a method's name.
    pub name: String,
    /// The value at k = i + 1, with its interval.
    pub points: Vec<Interval>,
}

/// The distinguishability of one verifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifierStats {
    /// The verifier's name.
    pub verifier: String,
    /// Candidates with this verifier's score (the others are left out of
    /// its distinguishability).
    pub scored: usize,
    /// The counts.
    #[serde(flatten)]
    pub distinguishability: Distinguishability,
}

/// Everything `r2e verify report` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Tasks.
    pub tasks: usize,
    /// Candidates (rollouts) over all tasks.
    pub candidates: usize,
    /// Candidates with reward 1.
    pub resolved: usize,
    /// The most rollouts of any task (the curves' last k).
    pub max_k: usize,
    /// The fewest rollouts of any task.
    pub min_k: usize,
    /// Bootstrap resamples behind the intervals.
    pub resamples: usize,
    /// The intervals' coverage.
    pub confidence: f64,
    /// pass@k, then best@k of each available method.
    pub curves: Vec<Curve>,
    /// Distinguishability of each available verifier.
    pub verifiers: Vec<VerifierStats>,
    /// Things the reader should know (duplicates, unscored candidates, …).
    pub notes: Vec<String>,
}

/// Computes the report (see the module docs).
pub fn build(tasks: &[TaskCandidates], config: &ReportConfig) -> Result<Report, VerifyError> {
    let tasks: Vec<&TaskCandidates> = tasks.iter().filter(|t| !t.candidates.is_empty()).collect();
    if tasks.is_empty() {
        return Err(VerifyError::Empty(
            "no trajectories to report on: pass a non-empty --trajectories file".into(),
        ));
    }
    let all = || tasks.iter().flat_map(|t| t.candidates.iter());
    let candidates = all().count();
    let max_k = tasks.iter().map(|t| t.candidates.len()).max().unwrap_or(1);
    let min_k = tasks.iter().map(|t| t.candidates.len()).min().unwrap_or(1);
    let free = all().filter(|c| c.exec_free.is_some()).count();
    let regression = all().filter(|c| c.regression.is_some()).count();
    let generated = all().filter(|c| c.generated.is_some()).count();
    let unrewarded = all().filter(|c| c.reward.is_none()).count();
    let mut notes = Vec::new();
    if unrewarded > 0 {
        notes.push(format!(
            "{unrewarded} of {candidates} candidates have no reward (hidden tests not run); they count as unresolved"
        ));
    }
    for (n, what) in [
        (free, "execution-free score"),
        (regression, "regression pass rate"),
        (generated, "generated-test count"),
    ] {
        if n > 0 && n < candidates {
            notes.push(format!(
                "{} of {candidates} candidates have no {what}; they rank below every scored one",
                candidates - n
            ));
        }
    }
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| match m {
            Method::Random => true,
            Method::ExecFree => free > 0,
            Method::ExecBased => regression + generated > 0,
            Method::Hybrid => free > 0 && regression + generated > 0,
        })
        .collect();
    // Per-task values: pass@k, then each method's best@k, for k = 1..=max_k.
    let per_task: Vec<Vec<f64>> = tasks
        .iter()
        .map(|t| {
            let n = t.candidates.len();
            let c = t.candidates.iter().filter(|c| c.resolved()).count();
            let mut row = Vec::with_capacity(max_k * (methods.len() + 1));
            row.extend((1..=max_k).map(|k| metrics::pass_at_k(n, c, k)));
            for m in &methods {
                row.extend((1..=max_k).map(|k| m.best_at_k(&t.candidates, k, &config.hybrid)));
            }
            row
        })
        .collect();
    let intervals = metrics::bootstrap(&per_task, &config.bootstrap);
    let names =
        std::iter::once("pass@k".to_owned()).chain(methods.iter().map(|m| m.name().to_owned()));
    let curves = names
        .zip(intervals.chunks(max_k))
        .map(|(name, points)| Curve {
            name,
            points: points.to_vec(),
        })
        .collect();
    // Distinguishability over the candidates each verifier scored.
    let verifier = |name: &str, f: &dyn Fn(&Candidate) -> Option<Key>| {
        let keyed: Vec<Vec<(Key, bool)>> = tasks
            .iter()
            .map(|t| {
                t.candidates
                    .iter()
                    .filter_map(|c| f(c).map(|k| (k, c.resolved())))
                    .collect()
            })
            .collect();
        VerifierStats {
            verifier: name.to_owned(),
            scored: keyed.iter().map(Vec::len).sum(),
            distinguishability: metrics::distinguishability(keyed.iter().map(Vec::as_slice)),
        }
    };
    let mut verifiers = Vec::new();
    if free > 0 {
        verifiers.push(verifier("exec-free", &|c| {
            c.exec_free.map(|v| key(v, 0.0, 0.0))
        }));
    }
    if regression + generated > 0 {
        verifiers.push(verifier("exec-based", &|c| {
            (c.regression.is_some() || c.generated.is_some()).then(|| Method::ExecBased.rank_key(c))
        }));
    }
    if regression > 0 {
        verifiers.push(verifier("regression", &|c| {
            c.regression.map(|v| key(v, 0.0, 0.0))
        }));
    }
    if generated > 0 {
        verifiers.push(verifier("generated-tests", &|c| {
            c.generated.map(|v| key(f64::from(v), 0.0, 0.0))
        }));
    }
    Ok(Report {
        tasks: tasks.len(),
        candidates,
        resolved: all().filter(|c| c.resolved()).count(),
        max_k,
        min_k,
        resamples: config.bootstrap.resamples,
        confidence: config.bootstrap.confidence,
        curves,
        verifiers,
        notes,
    })
}

fn color_of(name: &str) -> plot::Rgb {
    match name {
        "pass@k" => [30, 30, 30],
        "random" => [140, 140, 140],
        "exec-free" => [214, 39, 40],
        "exec-based" => [44, 160, 44],
        "hybrid" => [197, 27, 138],
        _ => [31, 119, 180],
    }
}

impl Report {
    /// The best@k chart: every curve in percent, pass@k dashed.
    pub fn chart(&self) -> Chart {
        let series = self
            .curves
            .iter()
            .map(|c| Series {
                name: if c.name == "pass@k" {
                    "pass@k (oracle)".to_owned()
                } else {
                    c.name.clone()
                },
                color: color_of(&c.name),
                dashed: c.name == "pass@k",
                points: c
                    .points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ((i + 1) as f64, p.mean * 100.0, p.lo * 100.0, p.hi * 100.0))
                    .collect(),
            })
            .collect();
        Chart {
            title: format!("Best@k over {} tasks", self.tasks),
            x_label: "k (agent rollouts)".into(),
            y_label: "% resolved".into(),
            series,
        }
    }

    /// Writes `report.json`, `best_at_k.svg` and `best_at_k.png` into `dir`
    /// (creating it) and returns their paths.
    pub fn write_files(&self, dir: &Path) -> Result<Vec<PathBuf>, VerifyError> {
        std::fs::create_dir_all(dir).map_err(VerifyError::io(dir))?;
        let chart = self.chart();
        let json = serde_json::to_vec_pretty(self).map_err(|e| VerifyError::io(dir)(e.into()))?;
        let files = [
            ("report.json", json),
            ("best_at_k.svg", plot::svg(&chart).into_bytes()),
            ("best_at_k.png", plot::png(&chart)?),
        ];
        let mut paths = Vec::new();
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(VerifyError::io(&path))?;
            paths.push(path);
        }
        Ok(paths)
    }
}
