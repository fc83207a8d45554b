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
    /// Environments stepped at once for the Python column, each from its own
    /// thread (0 skips the Python column).
    #[arg(long, default_value_t = 64)]
    threads: usize,
    /// Steps per environment in that run.
    #[arg(long, default_value_t = 20)]
    thread_steps: usize,
    /// The Python interpreter with the r2e wheel installed.
    #[arg(long, default_value = "python3")]
    python: String,
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
    let (fork, commit) = fork_times(provider, &shared, &task, a.rewards).await?;

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
        ("fork after an edit (RepoEnv::fork, warm pool)", &fork),
        ("baseline: docker commit + start from the image", &commit),
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
        "fork: {} median (target ≤ 100 ms: {}) vs {} for docker commit + start ({:.1}x)",
        ms(fork.median()),
        verdict(fork.median() <= Duration::from_millis(100)),
        ms(commit.median()),
        commit.median().as_secs_f64() / fork.median().as_secs_f64()
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

    if a.threads > 0 {
        python_column(provider, &tasks, &view_steps, &a).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The Python API against the Rust one on the same task and call: the
/// median added per step, and `--threads` environments stepped from as many
/// threads (Python) vs. as many tokio tasks (Rust).
async fn python_column(
    provider: &DockerProvider,
    tasks: &[Task],
    rust_view: &Samples,
    a: &BenchEnvArgs,
) -> anyhow::Result<()> {
    let probe = tokio::process::Command::new(&a.python)
        .args(["-c", "import r2e"])
        .output()
        .await;
    if !probe.is_ok_and(|o| o.status.success()) {
        println!(
            "python: `{} -c 'import r2e'` failed; install the wheel (pip install ./crates/r2e-py) or pass --python",
            a.python
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let dataset = dir.path().join("demo.jsonl");
    r2e_core::dataset::write(&dataset, tasks)?;
    let rust_rate = rust_threads(provider, &tasks[0], a.threads, a.thread_steps).await?;
    let out = tokio::process::Command::new(&a.python)
        .args(["-c", PY_BENCH])
        .arg(&dataset)
        .arg(a.steps.to_string())
        .arg(a.threads.to_string())
        .arg(a.thread_steps.to_string())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "the Python benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let py_view = Samples(
        v["step_us"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_f64())
                    .map(|us| Duration::from_secs_f64(us / 1e6))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let py_rate = v["steps_per_sec"].as_f64().unwrap_or(0.0);
    let added = py_view.median().as_secs_f64() - rust_view.median().as_secs_f64();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "measure",
        "Rust API",
        "Python API",
        "difference",
    ]);
    t.add_row(vec![
        "step: file_editor view, median".to_string(),
        ms(rust_view.median()),
        ms(py_view.median()),
        format!("{:+.1} µs", added * 1e6),
    ]);
    t.add_row(vec![
        format!("{} envs stepped from {} threads", a.threads, a.threads),
        format!("{rust_rate:.0} steps/s"),
        format!("{py_rate:.0} steps/s"),
        format!("{:.2}x", py_rate / rust_rate),
    ]);
    println!("{t}");
    println!(
        "python: {:+.1} µs per step at the median (target ≤ 50 µs: {}); {} threads at {:.0}% of the Rust runner's steps/s (target ≥ 90%: {})",
        added * 1e6,
        verdict(added <= 50e-6),
        a.threads,
        100.0 * py_rate / rust_rate,
        verdict(py_rate >= 0.9 * rust_rate)
    );
    Ok(())
}

/// `n` environments of `task`, each stepped `steps` times (`execute_bash
/// true`) by its own task, all at once; returns steps per second.
pub(super) async fn rust_threads(
    provider: &DockerProvider,
    task: &Task,
    n: usize,
    steps: usize,
) -> anyhow::Result<f64> {
    let shared: Arc<dyn Provider> = Arc::new(provider.clone());
    let envs = futures_util::future::try_join_all(
        (0..n).map(|_| RepoEnv::reset(shared.clone(), task.clone(), EnvOptions::default())),
    )
    .await?;
    let bash = args(json!({"cmd": "true"}));
    let t = Instant::now();
    futures_util::future::try_join_all(envs.iter().map(|env| async {
        for _ in 0..steps {
            env.step("execute_bash", &bash).await?;
        }
        Ok::<(), r2e_env::EnvError>(())
    }))
    .await?;
    let rate = (n * steps) as f64 / t.elapsed().as_secs_f64();
    futures_util::future::join_all(envs.into_iter().map(|e| e.close())).await;
    Ok(rate)
}

/// The Python side: per-step times of the same view call, then N envs
/// stepped from N threads. Arguments: dataset, steps, threads, steps per thread.
const PY_BENCH: &str = r#"
import json, sys, threading, time, r2e
path, steps, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = r2e.load_dataset(path)
env = r2e.Env(rows[0]); env.reset()
times = []
for _ in range(steps):
    t = time.perf_counter()
    env.step("file_editor", command="view", path="/testbed/calc.py", view_range=[1, 20])
    times.append((time.perf_counter() - t) * 1e6)
env.close()
envs = [r2e.Env(rows[0]) for _ in range(n)]
starters = [threading.Thread(target=e.reset) for e in envs]
[s.start() for s in starters]; [s.join() for s in starters]
def work(e):
    for _ in range(per):
        e.step("execute_bash", cmd="true")
workers = [threading.Thread(target=work, args=(e,)) for e in envs]
t = time.perf_counter()
[w.start() for w in workers]; [w.join() for w in workers]
rate = n * per / (time.perf_counter() - t)
for e in envs:
    e.close()
print(json.dumps({"step_us": times, "steps_per_sec": rate}))
"#;

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

/// `n` forks of an edited environment of `task` (from a warm pool, its
/// refill finished between samples), against the baseline: `docker commit`
/// of the edited sandbox and a start from that image.
async fn fork_times(
    provider: &DockerProvider,
    shared: &Arc<dyn Provider>,
    task: &Task,
    n: usize,
) -> anyhow::Result<(Samples, Samples)> {
    let pool = WarmPool::new(shared.clone(), 1);
    let opts = EnvOptions::default();
    let spec = RepoEnv::sandbox_spec(task, &opts);
    let env = RepoEnv::reset_from_pool(&pool, task.clone(), opts.clone()).await?;
    let edit = args(json!({"cmd": "echo '# edited' >> calc.py && echo new > notes.txt"}));
    env.step("execute_bash", &edit).await?;
    let (mut forks, mut commits) = (Vec::new(), Vec::new());
    for i in 0..n {
        pool.fill(&spec).await?;
        let t = Instant::now();
        let child = env.fork().await?;
        forks.push(t.elapsed());
        anyhow::ensure!(
            child.patch().await? == env.patch().await?,
            "a fork differs from its parent"
        );
        child.close().await?;
        let image = format!("r2e-bench/fork:{i}");
        let t = Instant::now();
        provider
            .commit(env.sandbox(), &image, Default::default(), &[])
            .await?;
        let sb = provider.start(&SandboxSpec::new(&image)).await?;
        commits.push(t.elapsed());
        sb.close().await?;
        let _ = provider
            .client()
            .remove_image(
                &image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
    env.close().await?;
    pool.drain().await;
    Ok((Samples(forks), Samples(commits)))
}

pub(super) fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
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
        retry_errors: false,
    };
    let s = runner::run(
        runner::Envs::local(provider, workers, EnvOptions::default()),
        jobs,
        Policy::Edit(agent.clone()),
        opts,
        writer,
        &|_| {},
    )
    .await?;
    Ok((s.episodes, s.resolved, s.secs))
}
