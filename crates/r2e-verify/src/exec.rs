//! The execution-based verifier: a testing agent (the edit agent's loop and
//! tools with its own prompt, [`r2e_agent::AgentConfig::testing`]) writes
//! reproduction tests for the issue in a sandbox at the base commit; every
//! candidate patch then runs against every generated test file and against
//! the repository's existing tests (regression), each candidate in its own
//! sandbox, in parallel.
//!
//! Scores per candidate: how many generated tests pass, and which fraction of
//! the existing tests that pass at the base commit still pass with the patch.

use futures_util::StreamExt;
use r2e_agent::EditAgent;
use r2e_core::{Task, Trajectory};
use r2e_env::{EnvError, EnvOptions, RepoEnv};
use r2e_grade::{Parser, Rules, TestStatus};
use r2e_sandbox::{ExecOptions, Provider, WarmPool, shell_quote};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Where generated tests are written, relative to the repository (one file
/// per testing-agent rollout: `test_r2e_issue_<n>.py`).
pub const TEST_FILE_STEM: &str = "test_r2e_issue";
/// Where a candidate patch is written inside the sandbox.
const PATCH_PATH: &str = "/tmp/r2e-candidate.patch";

/// The test file one testing-agent rollout wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedTest {
    /// The task.
    pub task_id: String,
    /// The testing agent's rollout.
    pub rollout: u32,
    /// Path relative to the repository.
    pub path: String,
    /// The file's content.
    pub content: String,
}

/// The file name of testing rollout `rollout`.
pub fn test_file(rollout: u32) -> String {
    format!("{TEST_FILE_STEM}_{rollout}.py")
}

/// Runs the testing agent (built with the testing config, its test file set
/// to [`test_file`]`(rollout)` and reward off) on a fresh environment at the
/// base commit and returns the test file it wrote (None when it wrote none)
/// and its trajectory.
pub async fn write_tests(
    env: &RepoEnv,
    agent: &EditAgent,
    rollout: u32,
) -> (Option<GeneratedTest>, Trajectory) {
    let traj = agent.run(env, rollout).await;
    let path = test_file(rollout);
    let full = format!("{}/{path}", env.workdir());
    let content = env
        .sandbox()
        .read_file(&full)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .filter(|c| !c.trim().is_empty());
    let test = content.map(|content| GeneratedTest {
        task_id: env.task().task_id.clone(),
        rollout,
        path,
        content,
    });
    (test, traj)
}

/// Scores of one candidate patch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateRun {
    /// Generated tests that pass with the patch.
    pub generated_passed: u32,
    /// Generated tests run.
    pub generated_total: u32,
    /// Fraction of the regression tests (passing at the base commit) that
    /// still pass; None when the task has none.
    pub regression_pass_rate: Option<f64>,
    /// What went wrong (the patch does not apply, a sandbox failed).
    pub error: Option<String>,
}

/// The existing tests of a task that pass at the base commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Regression {
    /// The command that runs them (in the repository).
    pub command: String,
    /// The names of the tests that passed at the base commit.
    pub passing: HashSet<String>,
}

/// Row field naming the regression command explicitly.
pub const REGRESSION_CMD: &str = "regression_cmd";

/// The command that runs the task's existing tests around the issue: the
/// row's `regression_cmd` when it has one, else the SWE-bench spec's test
/// command on the test files of the test patch that already exist at the
/// base commit (their old versions). None otherwise (R2E-Gym rows keep their
/// tests hidden).
pub fn regression_command(task: &Task) -> Option<String> {
    if let Some(cmd) = task.extra.get(REGRESSION_CMD).and_then(|v| v.as_str()) {
        return Some(cmd.to_string());
    }
    let spec = r2e_eval::spec::lookup(&task.repo, task.version.as_deref()?)?;
    let directives = r2e_eval::spec::test_directives(task);
    if directives.is_empty() {
        return None;
    }
    Some(format!("{} {}", spec.test_cmd, directives.join(" ")))
}

/// Runs the regression command at the base commit and keeps what passes.
pub async fn regression_baseline(
    env: &RepoEnv,
    timeout: Duration,
) -> Result<Option<Regression>, EnvError> {
    let Some(command) = regression_command(env.task()) else {
        return Ok(None);
    };
    let passing = run_tests(env, &command, timeout)
        .await?
        .into_iter()
        .filter(|(_, pass)| *pass)
        .map(|(name, _)| name)
        .collect();
    Ok(Some(Regression { command, passing }))
}

/// Runs `command` in the repository and returns each test's outcome.
async fn run_tests(
    env: &RepoEnv,
    command: &str,
    timeout: Duration,
) -> Result<Vec<(String, bool)>, EnvError> {
    let cmd = format!("cd {} && {command} 2>&1", shell_quote(env.workdir()));
    let out = env
        .sandbox()
        .exec(&cmd, &ExecOptions::timeout(timeout.as_secs_f64()))
        .await?;
    Ok(outcomes(&out.stdout_text()))
}

/// Each test of a log and whether it passed (skipped tests left out):
/// pytest's `-rA` summary when present, else unittest's verbose
/// `name ... status` lines (each test once).
fn outcomes(log: &str) -> Vec<(String, bool)> {
    if log.contains("short test summary info") || log.contains("test session starts") {
        return Parser::Pytest
            .parse(log, Rules::V4)
            .iter()
            .filter(|(_, s)| !matches!(s, TestStatus::Skipped))
            .map(|(n, s)| (n.to_string(), s.is_pass()))
            .collect();
    }
    let mut seen = HashSet::new();
    log.lines()
        .filter_map(|line| {
            let (name, status) = line.split_once(" ... ")?;
            let pass = match status.trim() {
                "ok" | "expected failure" => true,
                "FAIL" | "ERROR" | "unexpected success" => false,
                s if s.starts_with("skipped") => return None,
                _ => return None,
            };
            seen.insert(name.to_string())
                .then(|| (name.to_string(), pass))
        })
        .collect()
}

/// The command that runs one generated test file: pytest when the
/// environment has it, else unittest.
fn generated_command(path: &str) -> String {
    let module = path.trim_end_matches(".py").replace('/', ".");
    format!(
        "py=$(command -v python || command -v python3); if \"$py\" -c 'import pytest' 2>/dev/null; then \"$py\" -m pytest -rA -p no:cacheprovider {p}; else \"$py\" -m unittest -v {m}; fi",
        p = shell_quote(path),
        m = shell_quote(&module)
    )
}

/// Applies `patch` in a fresh environment at the base commit and runs the
/// generated tests and the regression tests against it.
pub async fn run_candidate(
    env: &RepoEnv,
    patch: &str,
    tests: &[GeneratedTest],
    regression: Option<&Regression>,
    timeout: Duration,
) -> CandidateRun {
    let mut run = CandidateRun::default();
    if let Err(e) = apply(env, patch).await {
        run.error = Some(e);
        run.generated_total = tests.len() as u32;
        return run;
    }
    for test in tests {
        let path = format!("{}/{}", env.workdir(), test.path);
        if let Err(e) = env
            .sandbox()
            .write_file(&path, test.content.as_bytes(), None)
            .await
        {
            run.error = Some(format!("writing {}: {e}", test.path));
            return run;
        }
        match run_tests(env, &generated_command(&test.path), timeout).await {
            Ok(results) => {
                // A file that does not even load counts as one failing test.
                let total = results.len().max(1) as u32;
                let passed = results.iter().filter(|(_, pass)| *pass).count() as u32;
                run.generated_total += total;
                run.generated_passed += passed;
            }
            Err(e) => {
                run.error = Some(format!("running {}: {e}", test.path));
                return run;
            }
        }
    }
    if let Some(reg) = regression {
        match run_tests(env, &reg.command, timeout).await {
            Ok(results) => {
                if !reg.passing.is_empty() {
                    let kept = results
                        .iter()
                        .filter(|(name, pass)| *pass && reg.passing.contains(name))
                        .count();
                    run.regression_pass_rate = Some(kept as f64 / reg.passing.len() as f64);
                }
            }
            Err(e) => run.error = Some(format!("running the regression tests: {e}")),
        }
    }
    run
}

async fn apply(env: &RepoEnv, patch: &str) -> Result<(), String> {
    if patch.trim().is_empty() {
        return Ok(());
    }
    let sb = env.sandbox();
    sb.write_file(PATCH_PATH, patch.as_bytes(), None)
        .await
        .map_err(|e| e.to_string())?;
    let cmd = format!(
        "cd {} && (git apply --whitespace=nowarn {PATCH_PATH} || patch --batch --fuzz=5 -p1 -i {PATCH_PATH}) 2>&1",
        shell_quote(env.workdir())
    );
    let out = sb
        .exec(&cmd, &ExecOptions::timeout(120.0))
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code != 0 {
        return Err(format!(
            "the candidate patch does not apply: {}",
            out.stdout_text().trim()
        ));
    }
    Ok(())
}

/// One candidate of a task to score.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The candidate's rollout.
    pub rollout: u32,
    /// Its patch.
    pub patch: String,
}

/// Scores every candidate of `task` against `tests` and the regression
/// tests, `workers` sandboxes at a time (taken from `pool` when given).
/// Returns `(rollout, run)` pairs in completion order.
pub async fn score_task(
    provider: Arc<dyn Provider>,
    pool: Option<&Arc<WarmPool>>,
    task: &Task,
    candidates: Vec<Candidate>,
    tests: &[GeneratedTest],
    workers: usize,
    timeout: Duration,
) -> Result<Vec<(u32, CandidateRun)>, EnvError> {
    let opts = EnvOptions {
        test_timeout: timeout,
        ..EnvOptions::default()
    };
    score_task_with(provider, pool, task, candidates, tests, workers, opts).await
}

/// [`score_task`] with the environments' options (sandbox limits, network);
/// each test run may take `opts.test_timeout`.
pub async fn score_task_with(
    provider: Arc<dyn Provider>,
    pool: Option<&Arc<WarmPool>>,
    task: &Task,
    candidates: Vec<Candidate>,
    tests: &[GeneratedTest],
    workers: usize,
    opts: EnvOptions,
) -> Result<Vec<(u32, CandidateRun)>, EnvError> {
    let timeout = opts.test_timeout;
    let env = RepoEnv::reset(provider.clone(), task.clone(), opts.clone()).await?;
    let regression = regression_baseline(&env, timeout).await;
    env.close().await?;
    let regression = regression?;
    let runs = futures_util::stream::iter(candidates)
        .map(|c| {
            let (provider, pool, opts, regression) = (
                provider.clone(),
                pool.cloned(),
                opts.clone(),
                regression.as_ref(),
            );
            async move {
                let env = match &pool {
                    Some(p) => RepoEnv::reset_from_pool(p, task.clone(), opts).await,
                    None => RepoEnv::reset(provider.clone(), task.clone(), opts).await,
                };
                let run = match env {
                    Ok(env) => {
                        let run = run_candidate(&env, &c.patch, tests, regression, timeout).await;
                        if let Err(e) = env.close().await {
                            tracing::warn!("closing a verifier sandbox: {e}");
                        }
                        run
                    }
                    Err(e) => CandidateRun {
                        error: Some(format!("starting the environment: {e}")),
                        ..CandidateRun::default()
                    },
                };
                (c.rollout, run)
            }
        })
        .buffer_unordered(workers.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unittest_verbose_logs_count_each_test_once() {
        let log = "test_callable (t.IssueTest.test_callable) ... ok\ntest_issue (t.IssueTest.test_issue) ... FAIL\ntest_x (t.T.test_x) ... skipped 'no'\ntest_y (t.T.test_y) ... expected failure\n\n======================================================================\nFAIL: test_issue (t.IssueTest.test_issue)\n----------------------------------------------------------------------\nTraceback (most recent call last):\n  File \"/tmp/t.py\", line 8, in test_issue\nAssertionError: 6 != 5\n\n----------------------------------------------------------------------\nRan 4 tests in 0.001s\n\nFAILED (failures=1)\n";
        let got = outcomes(log);
        assert_eq!(
            got,
            [
                (
                    "test_callable (t.IssueTest.test_callable)".to_string(),
                    true
                ),
                ("test_issue (t.IssueTest.test_issue)".to_string(), false),
                ("test_y (t.T.test_y)".to_string(), true),
            ]
        );
    }

    #[test]
    fn pytest_logs_use_the_summary() {
        let log = "============================= test session starts ==============================\ncollected 2 items\n\nt.py .F\n=========================== short test summary info ============================\nPASSED t.py::test_a\nFAILED t.py::test_b - assert 1 == 2\n";
        assert_eq!(
            outcomes(log),
            [
                ("t.py::test_a".to_string(), true),
                ("t.py::test_b".to_string(), false)
            ]
        );
    }
}
