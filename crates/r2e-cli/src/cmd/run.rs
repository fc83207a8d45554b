//! `r2e run`: K rollouts of an agent on every task of a dataset, N at a
//! time, one trajectory per line written as each finishes; rerunning the
//! same command resumes where it stopped.

use super::dataset::{ReadArgs, load};
use super::llm::LlmArgs;
use super::{block_on, until_interrupted};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_agent::runner::{self, Envs, Policy, RunOptions, RunSummary};
use r2e_agent::{ActionFormat, AgentConfig, EditAgent, Limits, Sampling};
use r2e_core::RewardStatus;
use r2e_core::{Task, Trajectory, TrajectoryWriter};
use r2e_env::{EnvOptions, RewardIn};
use r2e_server::client::Remote;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Which agent plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentKind {
    /// The LLM agent (needs --model).
    Edit,
    /// Applies each task's gold patch through the tools (checks environments; no model).
    Oracle,
    /// Replays the actions of the trajectories in --replay (no model).
    Replay,
}

/// Arguments of `r2e run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Dataset of tasks (JSONL, JSON or Parquet; a directory of shards).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Trajectory file (JSONL); episodes already in it are skipped.
    #[arg(long)]
    pub out: PathBuf,
    /// Which agent plays.
    #[arg(long, value_enum, default_value = "edit")]
    pub agent: AgentKind,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Rollouts per task.
    #[arg(long, default_value_t = 1, value_parser = super::positive::<u32>)]
    pub k: u32,
    /// Episodes at once.
    #[arg(long, default_value_t = 1, value_parser = super::positive::<usize>)]
    pub workers: usize,
    /// Started sandboxes kept ready per image, so that a reset takes
    /// milliseconds (0: start each on demand).
    #[arg(long, default_value_t = 0)]
    pub pool: usize,
    /// An R2E-Gym agent-config YAML (system/instance prompts), to run with
    /// exactly the prompts a published model was trained with.
    #[arg(long)]
    pub agent_config: Option<PathBuf>,
    /// How the model calls tools: native (function calling) or xml
    /// (<function=…> text). Default: what --agent-config implies, else native.
    #[arg(long)]
    pub action_format: Option<ActionFormat>,
    /// Steps the reminder counts down; then the model is told to submit.
    #[arg(long, default_value_t = 40)]
    pub max_steps: u32,
    /// Hard step limit (default: --max-steps + 10).
    #[arg(long)]
    pub max_steps_absolute: Option<u32>,
    /// End an episode when one call's prompt + completion reaches this many tokens.
    #[arg(long, default_value_t = 65_536)]
    pub max_context_tokens: u64,
    /// End an episode when its tokens, summed over calls, reach this.
    #[arg(long)]
    pub max_total_tokens: Option<u64>,
    /// End an episode after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub max_time: u64,
    /// End an episode when its cost reaches this many USD.
    #[arg(long)]
    pub max_cost: Option<f64>,
    /// Condense old observations when the prompt is estimated above this many
    /// tokens (0: never).
    #[arg(long, default_value_t = 28_000)]
    pub condense_tokens: u64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Maximum tokens per model reply.
    #[arg(long)]
    pub max_reply_tokens: Option<u32>,
    /// Run the episodes on an `r2e serve` instance (http://HOST:PORT)
    /// instead of local sandboxes: no local engine is needed.
    #[arg(long)]
    pub server: Option<String>,
    /// The server's bearer token.
    #[arg(long, env = "R2E_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Trajectories whose actions --agent replay runs again.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Run only these tasks (space- or comma-separated ids).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub instance_ids: Vec<String>,
    /// Run only the first N tasks.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seconds one tool call may run.
    #[arg(long, default_value_t = 90, value_parser = super::positive::<u64>)]
    pub tool_timeout: u64,
    /// Seconds the hidden tests may run.
    #[arg(long, default_value_t = 1800, value_parser = super::positive::<u64>)]
    pub test_timeout: u64,
    /// Also rerun episodes that ended in an infrastructure error (missing
    /// image, dead sandbox, engine or model failure).
    #[arg(long)]
    pub retry_errors: bool,
    /// Where the reward's hidden tests run: `fresh` (a new sandbox from the
    /// task image with only the agent's patch, test files and test hooks left
    /// out: nothing else the agent did can fake it) or `same` (the agent's own
    /// sandbox, R2E-Gym's behaviour, exact parity but gameable).
    #[arg(long, default_value = "fresh", value_parser = parse_reward_in)]
    pub reward_in: RewardIn,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Limits of the sandboxes (network off unless a task has "network": true).
    #[command(flatten)]
    pub sandbox: super::limits::SandboxArgs,
    #[command(flatten)]
    pub sandbox_provider: super::provider::SandboxProviderArgs,
}

/// Runs `r2e run`.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let tasks = select(load(&a.dataset, &a.read)?, &a)?;
    let policy = policy(&a)?;
    let opts = env_options(&a)?;
    if let Some(url) = &a.server {
        // Environments live on the server: no local engine is needed.
        let remote = Remote::new(url, a.token.clone(), remote_options(&opts));
        let envs = Envs::Remote(Arc::new(remote));
        return block_on(async move {
            tokio::select! {
                result = rollouts(envs, tasks, policy, &a) => result,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("\ninterrupted: the server removes the environments once their TTL runs out; rerun to resume");
                    Ok(ExitCode::from(130))
                }
            }
        })?;
    }
    block_on(async move {
        let provider = a.sandbox_provider.choice().connect().await?;
        let envs = Envs::local(provider.clone(), a.pool, opts);
        until_interrupted(provider.as_ref(), rollouts(envs, tasks, policy, &a)).await
    })?
}

/// The environment settings of `a` (timeouts, reward, sandbox limits).
fn env_options(a: &RunArgs) -> anyhow::Result<EnvOptions> {
    let sandbox = a.sandbox.resolve()?;
    Ok(EnvOptions {
        tool_timeout_secs: a.tool_timeout,
        test_timeout: Duration::from_secs(a.test_timeout),
        reward_in: a.reward_in,
        limits: sandbox.limits,
        network: sandbox.network,
        ..EnvOptions::default()
    })
}

/// The same settings as a server's create request carries them.
fn remote_options(o: &EnvOptions) -> serde_json::Value {
    let n = |v: Option<u64>| v.map_or(serde_json::Value::Null, |v| v.to_string().into());
    serde_json::json!({
        "step_timeout": o.tool_timeout_secs,
        "reward_timeout": o.test_timeout.as_secs_f64(),
        "reward_in": match o.reward_in { RewardIn::Fresh => "fresh", RewardIn::Same => "same" },
        "network": o.network,
        "limits": {
            "memory": n(o.limits.memory_bytes),
            "cpus": o.limits.cpus.map_or(serde_json::Value::Null, |c| c.to_string().into()),
            "cpu_shares": n(o.limits.cpu_shares.map(u64::from)),
            "pids": n(o.limits.pids.map(u64::from)),
        },
    })
}

fn parse_reward_in(s: &str) -> Result<RewardIn, String> {
    RewardIn::parse(s).ok_or_else(|| format!("`{s}`: use `fresh` or `same`"))
}

fn select(mut tasks: Vec<Task>, a: &RunArgs) -> anyhow::Result<Vec<Task>> {
    if !a.instance_ids.is_empty() {
        for id in &a.instance_ids {
            if !tasks.iter().any(|t| &t.task_id == id) {
                bail!(
                    "--instance-ids names {id}, which is not in {}",
                    a.dataset.display()
                );
            }
        }
        tasks.retain(|t| a.instance_ids.contains(&t.task_id));
    }
    if let Some(n) = a.limit {
        tasks.truncate(n);
    }
    if tasks.is_empty() {
        bail!("no tasks to run in {}", a.dataset.display());
    }
    Ok(tasks)
}

/// The agent of `a`, with its model client, prompts and limits.
pub fn policy(a: &RunArgs) -> anyhow::Result<Policy> {
    match a.agent {
        AgentKind::Oracle => Ok(Policy::Oracle),
        AgentKind::Replay => {
            let path = a
                .replay
                .as_deref()
                .context("--agent replay needs --replay TRAJECTORIES.jsonl")?;
            let recorded = r2e_core::trajectory::read_file(path)?;
            let map: HashMap<(String, u32), Trajectory> = recorded
                .into_iter()
                .map(|t| ((t.task_id.clone(), t.rollout), t))
                .collect();
            Ok(Policy::Replay(Arc::new(map)))
        }
        AgentKind::Edit => {
            let (mut config, yaml_model) = match &a.agent_config {
                Some(path) => {
                    let (c, m) = AgentConfig::from_r2e_gym_yaml(path)?;
                    (c, m)
                }
                None => (
                    AgentConfig::edit(a.action_format.unwrap_or(ActionFormat::Native)),
                    None,
                ),
            };
            if let Some(format) = a.action_format {
                config.action_format = format;
            }
            let (model, client) = a.llm.client()?.with_context(|| {
                let hint = yaml_model.map(|m| format!(" (the agent config names {m})")).unwrap_or_default();
                format!("--agent edit needs --model{hint}; or use --agent oracle to check the environments without a model")
            })?;
            let limits = Limits {
                max_steps: a.max_steps,
                max_steps_absolute: a.max_steps_absolute.unwrap_or(a.max_steps + 10),
                max_context_tokens: a.max_context_tokens,
                max_total_tokens: a.max_total_tokens,
                max_time: Duration::from_secs(a.max_time),
                max_cost_usd: a.max_cost,
                condense_tokens: (a.condense_tokens > 0).then_some(a.condense_tokens),
            };
            let sampling = Sampling {
                temperature: Some(a.temperature),
                top_p: a.top_p,
                max_tokens: a.max_reply_tokens,
                seed: None,
            };
            Ok(Policy::Edit(Arc::new(
                EditAgent::new(client, model, config)
                    .with_limits(limits)
                    .with_sampling(sampling),
            )))
        }
    }
}

async fn rollouts(
    envs: Envs,
    tasks: Vec<Task>,
    policy: Policy,
    a: &RunArgs,
) -> anyhow::Result<ExitCode> {
    let (writer, earlier) = TrajectoryWriter::open(&a.out)?;
    let done = runner::finished(&earlier, a.retry_errors);
    let jobs = runner::pending(&tasks, a.k, &done);
    let total = tasks.len() * a.k as usize;
    let skipped = total - jobs.len();
    if skipped > 0 {
        eprintln!(
            "resuming: {skipped} of {total} episodes are already in {}",
            a.out.display()
        );
    }
    let bar = progress(jobs.len() as u64);
    let resolved = AtomicUsize::new(0);
    let tokens = AtomicU64::new(0);
    let cost_micros = AtomicU64::new(0);
    let on_done = |t: &Trajectory| {
        resolved.fetch_add(usize::from(t.reward == Some(1.0)), Ordering::Relaxed);
        tokens.fetch_add(
            t.usage.prompt_tokens + t.usage.completion_tokens,
            Ordering::Relaxed,
        );
        cost_micros.fetch_add((t.cost_usd * 1e6) as u64, Ordering::Relaxed);
        if let Some(e) = &t.error {
            bar.println(format!("{} #{}: {e}", t.task_id, t.rollout));
        }
        bar.set_message(format!(
            "resolved {} · {} tokens · ${:.2}",
            resolved.load(Ordering::Relaxed),
            human(tokens.load(Ordering::Relaxed)),
            cost_micros.load(Ordering::Relaxed) as f64 / 1e6
        ));
        super::advance(&bar, 1);
    };
    let opts = RunOptions {
        k: a.k,
        workers: a.workers,
        retry_errors: a.retry_errors,
    };
    let summary = runner::run(envs, jobs, policy, opts, writer, &on_done).await?;
    bar.finish_and_clear();
    let all = r2e_core::trajectory::read_file(&a.out)?;
    print_summary(&summary, &all, &a.out, a.k);
    Ok(ExitCode::SUCCESS)
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} episodes · {msg} · ETA {eta}",
        )
        .expect("progress template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn human(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// The table at the end: this run's episodes and the whole file's, by
/// reward status, with the resolved rate over graded episodes (infrastructure
/// errors left out) and pass@k.
fn print_summary(s: &RunSummary, all: &[Trajectory], out: &Path, k: u32) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["", "this run", "whole file"]);
    let latest: HashMap<(String, u32), &Trajectory> = all
        .iter()
        .map(|t| ((t.task_id.clone(), t.rollout), t))
        .collect();
    let mut file = RunSummary::default();
    let mut tasks: HashMap<&str, bool> = HashMap::new();
    for t in latest.values() {
        file.add(t);
        *tasks.entry(t.task_id.as_str()).or_default() |= t.reward == Some(1.0);
    }
    let pass_at_k = tasks.values().filter(|r| **r).count();
    let pct = |a: usize, b: usize| match (a * 1000).checked_div(b) {
        None => "—".to_string(),
        Some(_) => format!("{a} ({:.1}%)", 100.0 * a as f64 / b as f64),
    };
    let row = |label: &str, this: String, whole: String| vec![label.to_string(), this, whole];
    table.add_row(row(
        "episodes",
        s.episodes.to_string(),
        file.episodes.to_string(),
    ));
    table.add_row(row(
        "resolved (of graded)",
        pct(s.resolved, s.graded()),
        pct(file.resolved, file.graded()),
    ));
    for (status, label) in [
        (RewardStatus::Unresolved, "unresolved"),
        (RewardStatus::Timeout, "tests timed out"),
        (RewardStatus::InfraError, "infra errors (not graded)"),
    ] {
        table.add_row(row(
            label,
            s.count(status).to_string(),
            file.count(status).to_string(),
        ));
    }
    table.add_row(row(
        &format!("tasks solved in ≤{k} tries"),
        String::new(),
        pct(pass_at_k, tasks.len()),
    ));
    for (exit, n) in &s.exits {
        table.add_row(row(&format!("exit: {exit}"), n.to_string(), String::new()));
    }
    table.add_row(row(
        "tokens (prompt / completion)",
        format!(
            "{} / {}",
            human(s.usage.prompt_tokens),
            human(s.usage.completion_tokens)
        ),
        String::new(),
    ));
    table.add_row(row("cost", format!("${:.4}", s.cost_usd), String::new()));
    table.add_row(row("wall time", format!("{:.1} s", s.secs), String::new()));
    println!("{table}");
    println!(
        "resolved rate = resolved / (episodes − infra errors); a hidden-test timeout counts as not resolved"
    );
    println!("trajectories: {}", out.display());
    let infra = file.count(RewardStatus::InfraError);
    if infra > 0 {
        println!(
            "{infra} episode(s) ended in an infrastructure error, not a verdict; rerun them with:\n  {}",
            super::retry_command(true)
        );
    }
}
