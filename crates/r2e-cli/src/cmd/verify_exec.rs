//! `r2e verify exec`: the execution-based verifier. A testing agent writes
//! reproduction tests per task (kept in a tests file, resumable); every
//! candidate patch of the trajectories then runs against them and against the
//! repository's existing tests, in parallel sandboxes; scores go to a
//! resumable scores file that `r2e verify report` reads.

use super::dataset::{ReadArgs, load};
use super::llm::LlmArgs;
use super::{block_on, until_interrupted};
use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use r2e_agent::{ActionFormat, AgentConfig, EditAgent, Limits};
use r2e_core::{Task, Trajectory};
use r2e_env::{EnvOptions, RepoEnv};
use r2e_sandbox::{Provider, WarmPool};
use r2e_verify::exec::{Candidate, GeneratedTest, score_task_with, write_tests};
use r2e_verify::score::{Score, ScoreWriter};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `r2e verify exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Trajectories (JSONL) whose patches are the candidates.
    #[arg(long)]
    trajectories: PathBuf,
    /// The dataset the trajectories were made from.
    #[arg(long)]
    dataset: PathBuf,
    /// Scores file (JSONL) to append to; candidates already scored are skipped.
    #[arg(long)]
    out: PathBuf,
    /// Generated tests (JSONL), reused when present (default: <out>.tests.jsonl).
    #[arg(long)]
    tests: Option<PathBuf>,
    /// The model of the testing agent.
    #[command(flatten)]
    llm: LlmArgs,
    /// Testing-agent rollouts (test files) per task.
    #[arg(long, default_value_t = 2, value_parser = super::positive::<u32>)]
    tests_per_task: u32,
    /// Sandboxes at once.
    #[arg(long, default_value_t = 4, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Started sandboxes kept ready per image.
    #[arg(long, default_value_t = 0)]
    pool: usize,
    /// Steps of each testing-agent episode.
    #[arg(long, default_value_t = 30)]
    max_steps: u32,
    /// How the testing agent calls tools.
    #[arg(long, default_value = "native")]
    action_format: ActionFormat,
    /// Seconds each test run may take.
    #[arg(long, default_value_t = 300, value_parser = super::positive::<u64>)]
    test_timeout: u64,
    #[command(flatten)]
    read: ReadArgs,
    /// Limits of the sandboxes (network off unless a task has "network": true).
    #[command(flatten)]
    sandbox: super::limits::SandboxArgs,
    #[command(flatten)]
    sandbox_provider: super::provider::SandboxProviderArgs,
}

/// Runs `r2e verify exec`.
pub fn run(a: ExecArgs) -> anyhow::Result<ExitCode> {
    let tasks: HashMap<String, Task> = load(&a.dataset, &a.read)?
        .into_iter()
        .map(|t| (t.task_id.clone(), t))
        .collect();
    let mut by_task: BTreeMap<String, BTreeMap<u32, Trajectory>> = BTreeMap::new();
    for t in r2e_core::trajectory::read_file(&a.trajectories)? {
        if !tasks.contains_key(&t.task_id) {
            anyhow::bail!(
                "{} has a trajectory of {}, which is not in {}",
                a.trajectories.display(),
                t.task_id,
                a.dataset.display()
            );
        }
        by_task
            .entry(t.task_id.clone())
            .or_default()
            .insert(t.rollout, t);
    }
    block_on(async move {
        let provider = a.sandbox_provider.choice().connect().await?;
        until_interrupted(
            provider.as_ref(),
            verify(provider.clone(), tasks, by_task, a),
        )
        .await
    })?
}

async fn verify(
    provider: Arc<dyn Provider>,
    tasks: HashMap<String, Task>,
    by_task: BTreeMap<String, BTreeMap<u32, Trajectory>>,
    a: ExecArgs,
) -> anyhow::Result<ExitCode> {
    let sandbox = a.sandbox.resolve()?;
    let env_options = EnvOptions {
        limits: sandbox.limits,
        network: sandbox.network,
        ..EnvOptions::default()
    };
    let tests_path = a
        .tests
        .clone()
        .unwrap_or_else(|| a.out.with_extension("tests.jsonl"));
    let mut tests = read_tests(&tests_path)?;
    let (model, client) = a
        .llm
        .client()?
        .context("the testing agent needs --model (and --base-url for a local server)")?;
    let agent = EditAgent::new(client, model, AgentConfig::testing(a.action_format))
        .with_reward(false)
        .with_limits(Limits {
            max_steps: a.max_steps,
            max_steps_absolute: a.max_steps + 5,
            ..Limits::default()
        });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&tests_path)
        .with_context(|| format!("opening {}", tests_path.display()))?;
    let jobs: Vec<(String, u32)> = by_task
        .keys()
        .flat_map(|id| {
            let have: HashSet<u32> = tests
                .get(id)
                .map(|v| v.iter().map(|t| t.rollout).collect())
                .unwrap_or_default();
            (0..a.tests_per_task)
                .filter(move |r| !have.contains(r))
                .map(move |r| (id.clone(), r))
        })
        .collect();
    let bar = progress(jobs.len() as u64, "test files written");
    let mut written = futures_util::stream::iter(jobs)
        .map(|(task_id, rollout)| {
            let agent = agent
                .clone()
                .with_test_file(r2e_verify::exec::test_file(rollout));
            let (provider, task) = (provider.clone(), tasks[&task_id].clone());
            let env_options = env_options.clone();
            async move {
                let outcome = match RepoEnv::reset(provider.clone(), task, env_options).await {
                    Ok(env) => {
                        let (test, traj) = write_tests(&env, &agent, rollout).await;
                        if let Err(e) = env.close().await {
                            tracing::warn!("closing a testing sandbox: {e}");
                        }
                        test.ok_or_else(|| traj.error.clone().unwrap_or_else(|| runner_exit(&traj)))
                    }
                    Err(e) => Err(format!("starting the environment: {e}")),
                };
                (task_id, rollout, outcome)
            }
        })
        .buffer_unordered(a.workers.max(1));
    while let Some((task_id, rollout, outcome)) = written.next().await {
        match outcome {
            Ok(test) => {
                writeln!(file, "{}", serde_json::to_string(&test)?)?;
                tests.entry(task_id).or_default().push(test);
            }
            Err(e) => bar.println(format!(
                "{task_id}: testing rollout {rollout} wrote no test file ({e})"
            )),
        }
        super::advance(&bar, 1);
    }
    drop(written);
    bar.finish_and_clear();

    let pool = (a.pool > 0).then(|| WarmPool::new(provider.clone(), a.pool));
    let (mut writer, earlier) = ScoreWriter::open(&a.out)?;
    let scored: HashSet<(String, u32)> = earlier
        .iter()
        .filter(|s| s.generated_tests_total.is_some() && s.error.is_none())
        .map(Score::key)
        .collect();
    let bar = progress(
        by_task.values().map(|m| m.len() as u64).sum(),
        "candidates scored",
    );
    let (mut n, mut errors) = (0usize, 0usize);
    for (task_id, trajs) in &by_task {
        let candidates: Vec<Candidate> = trajs
            .values()
            .filter(|t| !scored.contains(&(task_id.clone(), t.rollout)))
            .map(|t| Candidate {
                rollout: t.rollout,
                patch: t.patch.clone(),
            })
            .collect();
        bar.inc((trajs.len() - candidates.len()) as u64);
        if candidates.is_empty() {
            continue;
        }
        let generated = tests.get(task_id).cloned().unwrap_or_default();
        let runs = score_task_with(
            provider.clone(),
            pool.as_ref(),
            &tasks[task_id],
            candidates,
            &generated,
            a.workers,
            EnvOptions {
                test_timeout: Duration::from_secs(a.test_timeout),
                ..env_options.clone()
            },
        )
        .await?;
        for (rollout, run) in runs {
            let mut score = Score::new(task_id.clone(), rollout);
            score.generated_tests_passed = Some(run.generated_passed);
            score.generated_tests_total = Some(run.generated_total);
            score.regression_pass_rate = run.regression_pass_rate;
            if let Some(e) = run.error {
                bar.println(format!("{task_id} #{rollout}: {e}"));
                errors += 1;
                score.error = Some(e);
            }
            writer.append(&score)?;
            n += 1;
            super::advance(&bar, 1);
        }
    }
    bar.finish_and_clear();
    if let Some(pool) = pool {
        pool.drain().await;
    }
    println!(
        "scored {n} candidates ({errors} with errors) against {} generated test files; scores: {}; tests: {}",
        tests.values().map(Vec::len).sum::<usize>(),
        a.out.display(),
        tests_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn runner_exit(t: &Trajectory) -> String {
    format!("exit: {}", r2e_agent::runner::exit_name(t.exit_reason))
}

fn read_tests(path: &std::path::Path) -> anyhow::Result<HashMap<String, Vec<GeneratedTest>>> {
    let mut out: HashMap<String, Vec<GeneratedTest>> = HashMap::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let t: GeneratedTest = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}: not a generated test", path.display(), i + 1))?;
        out.entry(t.task_id.clone()).or_default().push(t);
    }
    Ok(out)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {what} · ETA {{eta}}"
        ))
        .expect("progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
