//! `r2e bench env`: the gym's own costs, each against its baseline measured in
//! the same run on the same image — per-step overhead of a tool call (vs.
//! R2E-Gym's path: a fresh docker exec plus a Python start per call), reset
//! from the warm pool (vs. a cold reset), and whole episodes per minute with
//! a scripted model over real HTTP (N workers vs. one).

use super::bench::{Samples, ms, time, verdict};
use super::{DEFAULT_IMAGE, block_on, until_interrupted};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use r2e_agent::runner::{self, Policy, RunOptions};
use r2e_agent::{ActionFormat, AgentConfig, EditAgent};
use r2e_core::{Task, TrajectoryWriter};
use r2e_env::{EnvOptions, RepoEnv, RewardIn, Sandboxes};
use r2e_llm::testing::ScriptedServer;
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{Provider, Sandbox, SandboxSpec, WarmPool};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `r2e bench env`.
#[derive(Debug, Args)]
pub struct BenchEnvArgs {
    /// Base image the demo tasks are built from.
    #[arg(long, default_value = DEFAULT_IMAGE)]
    base_image: String,
    /// Tool calls through RepoEnv::step per kind.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Baseline calls (docker exec + Python start; each costs ~100 ms).
    #[arg(long, default_value_t = 30)]
    baseline_steps: usize,
    /// Resets to time, cold and from the pool.
    #[arg(long, default_value_t = 10)]
    resets: usize,
    /// Workers for the episodes-per-minute run (compared with 1 worker).
    #[arg(long, default_value_t = 4, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Rewards measured each way (agent's sandbox, fresh cold, fresh pooled).
    #[arg(long, default_value_t = 10)]
    rewards: usize,
    /// Rollouts per demo task in the episodes-per-minute runs.
    #[arg(long, default_value_t = 4, value_parser = super::positive::<u32>)]
    k: u32,
}

/// Runs the benchmark.
pub fn run(a: BenchEnvArgs) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let provider = DockerProvider::connect().await?;
        until_interrupted(&provider, bench(&provider, a)).await
    })?
}

async fn bench(provider: &DockerProvider, a: BenchEnvArgs) -> anyhow::Result<ExitCode> {
    println!("r2e bench env — demo tasks built from {}", a.base_image);
    let tasks = r2e_eval::demo::build(provider, &a.base_image).await?;
    let task = tasks[0].clone();
    let opts = EnvOptions::default();

    // Per-step overhead: tool calls through RepoEnv vs. docker exec + Python.
    let env = RepoEnv::reset(Arc::new(provider.clone()), task.clone(), opts.clone()).await?;
    let view = args(json!({"command": "view", "path": "/testbed/calc.py", "view_range": [1, 20]}));
    let bash = args(json!({"cmd": "true"}));
    let mut steps = [Vec::new(), Vec::new()];
    for _ in 0..a.steps {
        for ((tool, call), out) in [("file_editor", &view), ("execute_bash", &bash)]
            .into_iter()
            .zip(steps.iter_mut())
        {
            out.push(
                time(async { env.step(tool, call).await.map(drop).map_err(Into::into) }).await?,
            );
        }
    }
    env.close().await?;
    let [view_steps, bash_steps] = steps.map(Samples);
    let sb = provider
        .start_docker(&RepoEnv::sandbox_spec(&task, &opts))
        .await?;
    let python = [
        "python3",
        "-c",
        "import argparse, os, sys, json, re, subprocess",
    ];
    let mut baseline = Vec::new();
    for _ in 0..a.baseline_steps {
        baseline.push(
            time(async { sb.engine_exec(&python).await.map(drop).map_err(Into::into) }).await?,
        );
    }
    sb.close().await?;
    let baseline = Samples(baseline);

    // Reset: cold vs. from a warm pool.
    let shared: Arc<dyn Provider> = Arc::new(provider.clone());
    let pool = WarmPool::new(shared.clone(), 1);
    let spec: SandboxSpec = RepoEnv::sandbox_spec(&task, &opts);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..a.resets {
        let t = Instant::now();
        let env = RepoEnv::reset(Arc::new(provider.clone()), task.clone(), opts.clone()).await?;
        cold.push(t.elapsed());
        env.close().await?;
        pool.fill(&spec).await?;
        let t = Instant::now();
        let env = RepoEnv::reset_from_pool(&pool, task.clone(), opts.clone()).await?;
        warm.push(t.elapsed());
        env.close().await?;
    }
    pool.fill(&spec).await?;
    pool.drain().await;
    let (cold, warm) = (Samples(cold), Samples(warm));

    // Reward of a fixed task: in the agent's sandbox (R2E-Gym's way, the
    // baseline) vs. a fresh sandbox with only the patch, cold and pooled.
    let [same, fresh_cold, fresh_pooled] =
        reward_times(provider, &shared, &task, a.rewards).await?;

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["measure", "n", "median", "p95"]);
    for (label, s) in [
        (
            "step: file_editor view, 20 lines (RepoEnv::step)",
            &view_steps,
        ),
        ("step: execute_bash `true` (RepoEnv::step)", &bash_steps),
        ("R2E-Gym path: docker exec + Python start", &baseline),
        ("reset, cold", &cold),
        ("reset from the warm pool", &warm),
        ("reward in the agent's sandbox (--reward-in same)", &same),
        ("reward in a fresh sandbox, cold start", &fresh_cold),
        (
            "reward in a fresh sandbox from the warm pool",
            &fresh_pooled,
        ),
    ] {
        t.add_row(vec![
            label.to_string(),
            s.0.len().to_string(),
            ms(s.median()),
            ms(s.p95()),
        ]);
    }
    println!("{t}");
    let step = view_steps.median().max(bash_steps.median());
    println!(
        "per-step overhead: {} median (target ≤ 5 ms: {}); {:.0}x less than R2E-Gym's {} per call",
        ms(step),
        verdict(step <= Duration::from_millis(5)),
        baseline.median().as_secs_f64() / step.as_secs_f64(),
        ms(baseline.median())
    );
    println!(
        "reset: {} from the warm pool vs {} cold ({:.0}x)",
        ms(warm.median()),
        ms(cold.median()),
        cold.median().as_secs_f64() / warm.median().as_secs_f64()
    );
    println!(
        "reward: {} in a fresh sandbox from the warm pool, {} cold, vs {} in the agent's own ({:.2}x / {:.2}x the baseline)",
        ms(fresh_pooled.median()),
        ms(fresh_cold.median()),
        ms(same.median()),
        fresh_pooled.median().as_secs_f64() / same.median().as_secs_f64(),
        fresh_cold.median().as_secs_f64() / same.median().as_secs_f64(),
    );

    // Whole episodes with a scripted model over real HTTP.
    let server = ScriptedServer::start().await?;
    server.set_responder(r2e_agent::testing::demo_solver(ActionFormat::Native));
    let client: Arc<dyn r2e_llm::Client> = Arc::new(server.openai_client()?);
    let agent = Arc::new(EditAgent::new(
        client,
        "scripted",
        AgentConfig::edit(ActionFormat::Native),
    ));
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "workers",
        "episodes",
        "resolved",
        "wall",
        "episodes/min",
    ]);
    let mut rates = Vec::new();
    for workers in [1, a.workers.max(1)] {
        let (n, resolved, secs) = episodes(shared.clone(), &tasks, &agent, workers, a.k).await?;
        let rate = n as f64 * 60.0 / secs;
        rates.push(rate);
        t.add_row(vec![
            workers.to_string(),
            n.to_string(),
            resolved.to_string(),
            format!("{secs:.1} s"),
            format!("{rate:.1}"),
        ]);
    }
    println!("{t}");
    println!(
        "episodes/min with {} workers: {:.1} ({:.1}x one worker); each episode = 4 tool calls + hidden tests",
        a.workers,
        rates[1],
        rates[1] / rates[0]
    );
    Ok(ExitCode::SUCCESS)
}

/// `n` rewards of `task` after its fix: in the agent's sandbox, in a fresh
/// one started cold, and in a fresh one from a warm pool (its refill
/// finishes between samples, as it would between episodes).
async fn reward_times(
    provider: &DockerProvider,
    shared: &Arc<dyn Provider>,
    task: &Task,
    n: usize,
) -> anyhow::Result<[Samples; 3]> {
    let (fixed, fix) = r2e_eval::demo::fix_for(&task.problem_statement)
        .ok_or_else(|| anyhow::anyhow!("{} is not a demo task", task.task_id))?;
    let edit = args(json!({"command": "str_replace", "path": "/testbed/calc.py",
        "old_str": fixed, "new_str": fix}));
    let pool = WarmPool::new(shared.clone(), 1);
    let mut out: [Vec<Duration>; 3] = Default::default();
    for (i, reward_in) in [RewardIn::Same, RewardIn::Fresh, RewardIn::Fresh]
        .into_iter()
        .enumerate()
    {
        let opts = EnvOptions {
            reward_in,
            ..EnvOptions::default()
        };
        let pooled = i == 2;
        let sandboxes = if pooled {
            Sandboxes::Pool(pool.clone())
        } else {
            Sandboxes::Provider(Arc::new(provider.clone()))
        };
        for _ in 0..n {
            let env = RepoEnv::reset_with(sandboxes.clone(), task.clone(), opts.clone()).await?;
            env.step("file_editor", &edit).await?;
            if pooled {
                pool.fill(&RepoEnv::reward_spec(task, &opts)).await?;
            }
            let reward = env.reward().await?;
            anyhow::ensure!(
                reward.value == 1.0,
                "the fixed demo task was not resolved: {}",
                reward.log
            );
            out[i].push(reward.duration);
            env.close().await?;
        }
    }
    pool.drain().await;
    Ok(out.map(Samples))
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Runs `k` rollouts of every task with `workers` at once (warm pool on);
/// returns episodes, resolved and seconds.
async fn episodes(
    provider: Arc<dyn Provider>,
    tasks: &[Task],
    agent: &Arc<EditAgent>,
    workers: usize,
    k: u32,
) -> anyhow::Result<(usize, usize, f64)> {
    let dir = tempfile::tempdir()?;
    let (writer, _) = TrajectoryWriter::open(&dir.path().join("t.jsonl"))?;
    let jobs = runner::pending(tasks, k, &Default::default());
    let opts = RunOptions {
        k,
        workers,
        pool: workers,
        env: EnvOptions::default(),
        retry_errors: false,
    };
    let s = runner::run(
        provider,
        jobs,
        Policy::Edit(agent.clone()),
        opts,
        writer,
        &|_| {},
    )
    .await?;
    Ok((s.episodes, s.resolved, s.secs))
}
