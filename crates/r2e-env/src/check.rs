//! Proving a task sound (`r2e dataset check`): its image starts, its gold
//! patch resolves it, no patch does not (every FAIL_TO_PASS test fails
//! without it), its verdicts are the same on every rerun, and its tests
//! finish inside the time limit.
//!
//! Each side (gold, no patch) runs in its own sandbox; the hidden tests run
//! there 1 + `reruns` times, so a test whose status changes between runs is
//! named as flaky. The first finding decides the verdict, in this order:
//! image missing, infra error, timeout, gold fails, solved without a patch,
//! flaky, ok.

use crate::{EnvError, EnvOptions, RepoEnv, RewardIn, Sandboxes};
use r2e_core::{RewardStatus, Task};
use r2e_sandbox::{ExecOptions, SandboxError, shell_quote};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Instant;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sound.
    Ok,
    /// The task's image is not in the engine.
    ImageMissing,
    /// The check could not run (sandbox or engine failure).
    InfraError,
    /// The tests ran past the time limit.
    Timeout,
    /// The gold patch does not resolve the task (or does not apply).
    GoldFails,
    /// The task is resolved, or a FAIL_TO_PASS test passes, with no patch.
    SolvedWithoutPatch,
    /// A test's status changed between reruns.
    Flaky,
}

impl Verdict {
    /// Every verdict, in the order of the summary table.
    pub const ALL: [Verdict; 7] = [
        Verdict::Ok,
        Verdict::GoldFails,
        Verdict::SolvedWithoutPatch,
        Verdict::Flaky,
        Verdict::ImageMissing,
        Verdict::Timeout,
        Verdict::InfraError,
    ];

    /// The name reports use (`gold_fails`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::ImageMissing => "image_missing",
            Verdict::InfraError => "infra_error",
            Verdict::Timeout => "timeout",
            Verdict::GoldFails => "gold_fails",
            Verdict::SolvedWithoutPatch => "solved_without_patch",
            Verdict::Flaky => "flaky",
        }
    }
}

/// One task's check, as `r2e dataset check` writes it (a JSONL row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The task.
    pub task_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found, in words.
    pub detail: String,
    /// Reward status of each gold run.
    pub gold: Vec<RewardStatus>,
    /// Reward status of each run without a patch.
    pub no_patch: Vec<RewardStatus>,
    /// FAIL_TO_PASS tests that passed without the patch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f2p_passing_without_patch: Vec<String>,
    /// Tests whose status changed between reruns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flaky_tests: Vec<String>,
    /// Seconds of the longest test run.
    pub max_test_secs: f64,
    /// Seconds the whole check took.
    pub secs: f64,
}

/// Checks one task: `reruns` extra runs of each side.
pub async fn check(sandboxes: &Sandboxes, task: &Task, opts: &EnvOptions, reruns: u32) -> Check {
    let started = Instant::now();
    let mut c = Check {
        task_id: task.task_id.clone(),
        verdict: Verdict::Ok,
        detail: String::new(),
        gold: Vec::new(),
        no_patch: Vec::new(),
        f2p_passing_without_patch: Vec::new(),
        flaky_tests: Vec::new(),
        max_test_secs: 0.0,
        secs: 0.0,
    };
    let opts = EnvOptions {
        reward_in: RewardIn::Same,
        ..opts.clone()
    };
    let result = async {
        let gold = side(sandboxes, task, &opts, Some(&task.gold_patch), reruns).await?;
        let bare = side(sandboxes, task, &opts, None, reruns).await?;
        Ok::<_, EnvError>((gold, bare))
    }
    .await;
    c.secs = started.elapsed().as_secs_f64();
    let (gold, bare) = match result {
        Ok(v) => v,
        Err(EnvError::Sandbox(SandboxError::ImageNotFound { image })) => {
            c.verdict = Verdict::ImageMissing;
            c.detail = format!("image {image} is not in the engine (pull or build it)");
            return c;
        }
        Err(EnvError::PatchApply { stderr, .. }) => {
            c.verdict = Verdict::GoldFails;
            c.detail = format!("the gold patch does not apply: {stderr}");
            return c;
        }
        Err(e) => {
            c.verdict = Verdict::InfraError;
            c.detail = e.to_string();
            return c;
        }
    };
    c.gold = gold.iter().map(|r| r.status).collect();
    c.no_patch = bare.iter().map(|r| r.status).collect();
    c.max_test_secs = gold.iter().chain(&bare).map(|r| r.secs).fold(0.0, f64::max);
    c.f2p_passing_without_patch = bare
        .iter()
        .flat_map(|r| passing(&r.report, &task.task_id, "FAIL_TO_PASS"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    c.flaky_tests = unstable(&gold, &task.task_id)
        .union(&unstable(&bare, &task.task_id))
        .cloned()
        .collect();
    let all = |runs: &[Run], s: RewardStatus| runs.iter().all(|r| r.status == s);
    let any = |runs: &[Run], s: RewardStatus| runs.iter().any(|r| r.status == s);
    (c.verdict, c.detail) =
        if any(&gold, RewardStatus::Timeout) || any(&bare, RewardStatus::Timeout) {
            (
                Verdict::Timeout,
                format!("the tests ran past {} s", opts.test_timeout.as_secs()),
            )
        } else if !any(&gold, RewardStatus::Resolved) {
            (
                Verdict::GoldFails,
                "the gold patch does not resolve the task".into(),
            )
        } else if any(&bare, RewardStatus::Resolved) {
            (Verdict::SolvedWithoutPatch, "resolved with no patch".into())
        } else if !c.f2p_passing_without_patch.is_empty() {
            (
                Verdict::SolvedWithoutPatch,
                format!(
                    "{} FAIL_TO_PASS test(s) pass with no patch",
                    c.f2p_passing_without_patch.len()
                ),
            )
        } else if !all(&gold, RewardStatus::Resolved) || !c.flaky_tests.is_empty() {
            (
                Verdict::Flaky,
                format!(
                    "statuses change between runs: {}",
                    if c.flaky_tests.is_empty() {
                        "the gold verdict".to_string()
                    } else {
                        c.flaky_tests.join(", ")
                    }
                ),
            )
        } else {
            (Verdict::Ok, String::new())
        };
    c
}

/// One run of the hidden tests.
struct Run {
    status: RewardStatus,
    report: Value,
    secs: f64,
}

/// Starts a sandbox, applies `patch` (if any), runs the tests 1 + `reruns`
/// times.
async fn side(
    sandboxes: &Sandboxes,
    task: &Task,
    opts: &EnvOptions,
    patch: Option<&str>,
    reruns: u32,
) -> Result<Vec<Run>, EnvError> {
    let env = RepoEnv::reset_with(sandboxes.clone(), task.clone(), opts.clone()).await?;
    let result = async {
        if let Some(patch) = patch {
            let cmd = format!(
                "cd {} && git apply --whitespace=nowarn -",
                shell_quote(env.workdir())
            );
            let exec = ExecOptions {
                stdin: patch.as_bytes().to_vec(),
                ..ExecOptions::timeout(300.0)
            };
            let out = env.sandbox().exec(&cmd, &exec).await?;
            if !out.success() {
                return Err(EnvError::PatchApply {
                    task: task.task_id.clone(),
                    stderr: out.stderr_text().trim().to_string(),
                });
            }
        }
        let mut runs = Vec::new();
        for _ in 0..=reruns {
            let t = Instant::now();
            let r = env.reward().await?;
            runs.push(Run {
                status: r.status,
                report: serde_json::from_str(&r.report).unwrap_or(Value::Null),
                secs: t.elapsed().as_secs_f64(),
            });
            if r.status == RewardStatus::Timeout {
                break;
            }
        }
        Ok(runs)
    }
    .await;
    let _ = env.close().await;
    result
}

/// Tests of `category` (FAIL_TO_PASS, PASS_TO_PASS) that passed in a
/// SWE-bench report.
fn passing(report: &Value, task_id: &str, category: &str) -> Vec<String> {
    report[task_id]["tests_status"][category]["success"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Tests that passed in some runs and not in others.
fn unstable(runs: &[Run], task_id: &str) -> BTreeSet<String> {
    let sets: Vec<BTreeSet<String>> = runs
        .iter()
        .map(|r| {
            ["FAIL_TO_PASS", "PASS_TO_PASS"]
                .iter()
                .flat_map(|c| passing(&r.report, task_id, c))
                .collect()
        })
        .collect();
    let (Some(first), rest) = (sets.first(), sets.get(1..).unwrap_or_default()) else {
        return BTreeSet::new();
    };
    rest.iter()
        .flat_map(|s| s.symmetric_difference(first).cloned().collect::<Vec<_>>())
        .collect()
}
