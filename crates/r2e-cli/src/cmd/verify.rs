//! `r2e verify`: score candidate patches with the execution-free judge, and
//! report best@k / pass@k of every selection method with plots.

use super::block_on;
use super::dataset::{ReadArgs, load};
use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_verify::judge::{JudgeConfig, JudgeEvent, judge_all};
use r2e_verify::metrics::Bootstrap;
use r2e_verify::prompt::{Budget, PromptConfig};
use r2e_verify::r2e_llm::{LlmConfig, Provider};
use r2e_verify::report::{self, ReportConfig};
use r2e_verify::select::HybridConfig;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `r2e verify` subcommands.
#[derive(Debug, Subcommand)]
pub enum VerifyCmd {
    /// Execution-free verifier: ask a judge model whether each trajectory's patch
    /// resolves its issue; writes P(YES) per candidate to a resumable scores.jsonl.
    Judge(JudgeArgs),
    /// Execution-based verifier: a testing agent writes reproduction tests per
    /// task; every candidate patch runs against them and the existing tests.
    Exec(super::verify_exec::ExecArgs),
    /// best@k (per selection method, with bootstrap intervals), pass@k and
    /// distinguishability: a table, report.json and best_at_k.svg/.png.
    Report(ReportArgs),
}

/// How the judge's prompt is made (shared with `r2e export verifier`).
#[derive(Debug, Args)]
pub struct PromptArgs {
    /// Prompt budget in tokens (estimated from characters with --chars-per-token);
    /// longer trajectories lose their middle observations first, then middle turns.
    #[arg(long, default_value_t = 28_000)]
    max_prompt_tokens: usize,
    /// Characters per token for that estimate (about 3 for code and logs).
    #[arg(long, default_value_t = 3.0)]
    chars_per_token: f64,
    /// Prompt budget in characters, instead of --max-prompt-tokens (0: no limit).
    #[arg(long)]
    max_prompt_chars: Option<usize>,
    /// Your own system prompt template ({{ issue }}, {{ trajectory }}, {{ patch }}).
    #[arg(long, requires = "user_prompt")]
    system_prompt: Option<PathBuf>,
    /// Your own user message template ({{ issue }}, {{ trajectory }}, {{ patch }}).
    #[arg(long, requires = "system_prompt")]
    user_prompt: Option<PathBuf>,
    /// Put the agent's system messages into the trajectory text too.
    #[arg(long)]
    include_system_messages: bool,
}

impl PromptArgs {
    /// The prompt configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<PromptConfig> {
        let mut config = PromptConfig::default();
        if let (Some(system), Some(user)) = (&self.system_prompt, &self.user_prompt) {
            let read = |p: &Path| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading prompt template {}", p.display()))
            };
            config = config.with_templates(&read(system)?, &read(user)?)?;
        }
        config.budget = match self.max_prompt_chars {
            Some(0) => Budget::Unlimited,
            Some(chars) => Budget::Chars(chars),
            None => Budget::Tokens {
                tokens: self.max_prompt_tokens,
                chars_per_token: self.chars_per_token,
            },
        };
        config.include_system_messages = self.include_system_messages;
        Ok(config)
    }
}

/// Arguments of `r2e verify judge`.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Trajectories (JSONL, one episode a line).
    #[arg(long)]
    trajectories: PathBuf,
    /// The dataset the trajectories were made from (for the issue texts).
    #[arg(long)]
    dataset: PathBuf,
    /// The judge model, as the server names it.
    #[arg(long)]
    model: String,
    /// An OpenAI-compatible server that returns logprobs (vLLM, SGLang, …);
    /// default: $OPENAI_BASE_URL, else OpenAI. The key is $OPENAI_API_KEY.
    #[arg(long)]
    base_url: Option<String>,
    /// Samples per candidate; the score is their mean P(YES).
    #[arg(long, default_value_t = 1)]
    samples: u32,
    /// Candidates judged at once.
    #[arg(long, default_value_t = 8, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Sampling temperature (default: 0 for one sample, 1 for several).
    #[arg(long)]
    temperature: Option<f64>,
    /// The most tokens the judge may generate before its YES/NO.
    #[arg(long, default_value_t = 16)]
    max_tokens: u32,
    /// Top alternatives per token to ask for (1–20).
    #[arg(long, default_value_t = 20)]
    top_logprobs: u8,
    /// HTTP attempts per request (retries with backoff on 429, 5xx and connection errors).
    #[arg(long, default_value_t = 6)]
    max_attempts: u32,
    /// Scores file; appended to, and candidates already scored there are skipped.
    #[arg(long, default_value = "scores.jsonl")]
    out: PathBuf,
    #[command(flatten)]
    prompt: PromptArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// Arguments of `r2e verify report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Trajectories (JSONL; several files are read as one).
    #[arg(long, num_args = 1.., required = true)]
    trajectories: Vec<PathBuf>,
    /// Scores files (judge, testing agent); later files' fields win.
    #[arg(long, num_args = 1..)]
    scores: Vec<PathBuf>,
    /// Where report.json, best_at_k.svg and best_at_k.png go.
    #[arg(long, default_value = "verify-report")]
    out_dir: PathBuf,
    /// The k columns of the table (default: 1, 2, 4, 8, … and K).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    k: Vec<usize>,
    /// Bootstrap resamples over tasks for the intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Coverage of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hybrid: the fewest candidates kept by the execution-free score.
    #[arg(long, default_value_t = 3)]
    hybrid_min_keep: usize,
    /// Hybrid: the fraction of the k candidates kept by the execution-free score.
    #[arg(long, default_value_t = 0.5)]
    hybrid_keep_fraction: f64,
}

/// Runs an `r2e verify` subcommand.
pub fn run(cmd: VerifyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        VerifyCmd::Judge(a) => judge(a),
        VerifyCmd::Exec(a) => super::verify_exec::run(a),
        VerifyCmd::Report(a) => report(a),
    }
}

/// Issue texts by task id.
pub fn issues(dataset: &Path, read: &ReadArgs) -> anyhow::Result<HashMap<String, String>> {
    let tasks = load(dataset, read)?;
    Ok(tasks
        .into_iter()
        .map(|t| (t.task_id, t.problem_statement))
        .collect())
}

fn judge(a: JudgeArgs) -> anyhow::Result<ExitCode> {
    let trajectories = r2e_core::trajectory::read_file(&a.trajectories)?;
    if trajectories.is_empty() {
        anyhow::bail!("{} holds no trajectories", a.trajectories.display());
    }
    let issues = issues(&a.dataset, &a.read)?;
    let mut config = JudgeConfig::new(&a.model);
    config.samples = a.samples;
    config.workers = a.workers;
    config.temperature = a.temperature;
    config.max_tokens = a.max_tokens;
    config.top_logprobs = a.top_logprobs;
    config.prompt = a.prompt.config()?;
    let mut llm = LlmConfig::new(Provider::OpenAi);
    llm.retry.max_attempts = a.max_attempts.max(1);
    if let Some(url) = &a.base_url {
        llm = llm.base_url(url);
    }
    let client = llm.build()?;
    let out = a.out.clone();
    block_on(async move {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg} ETA {eta}",
            )?
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let (mut scored, mut failed, mut sum) = (0usize, 0usize, 0.0f64);
        let mut on_event = |event: JudgeEvent<'_>| match event {
            JudgeEvent::Start { todo, done } => {
                bar.set_length(todo as u64);
                if done > 0 {
                    bar.println(format!(
                        "{done} candidates already scored in {}: skipped",
                        out.display()
                    ));
                }
            }
            JudgeEvent::Scored(s) => {
                scored += 1;
                sum += s.exec_free.unwrap_or(0.0);
                bar.set_message(format!(
                    "mean P(YES) {:.3}, failed {failed}",
                    sum / scored as f64
                ));
                super::advance(&bar, 1);
            }
            JudgeEvent::Failed(s) => {
                failed += 1;
                bar.println(format!(
                    "failed {} rollout {}: {}",
                    s.task_id,
                    s.rollout,
                    s.error.as_deref().unwrap_or("?")
                ));
                super::advance(&bar, 1);
            }
            _ => {}
        };
        let work = judge_all(
            client.as_ref(),
            &trajectories,
            &issues,
            &config,
            &out,
            &mut on_event,
        );
        let result = tokio::select! {
            result = work => result,
            _ = tokio::signal::ctrl_c() => {
                bar.finish_and_clear();
                eprintln!("\ninterrupted: the scores so far are in {}; re-run to resume", out.display());
                return Ok(ExitCode::from(130));
            }
        };
        bar.finish_and_clear();
        let summary = result.with_context(|| {
            format!(
                "the scores so far are kept in {}; re-running resumes after them",
                out.display()
            )
        })?;
        println!(
            "scored {}, failed {}, already scored {} → {}",
            summary.scored,
            summary.failed,
            summary.skipped,
            out.display()
        );
        Ok(if summary.failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })?
}

fn percent(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut trajectories = Vec::new();
    for path in &a.trajectories {
        trajectories.extend(r2e_core::trajectory::read_file(path)?);
    }
    let scores = r2e_verify::score::read_all(&a.scores)?;
    let (tasks, mut notes) = report::collect(&trajectories, &scores);
    if !(0.0..1.0).contains(&a.confidence) {
        anyhow::bail!("--confidence must be between 0 and 1, e.g. 0.95");
    }
    let config = ReportConfig {
        bootstrap: Bootstrap {
            resamples: a.resamples,
            confidence: a.confidence,
            seed: a.seed,
        },
        hybrid: HybridConfig {
            min_keep: a.hybrid_min_keep,
            keep_fraction: a.hybrid_keep_fraction,
        },
    };
    let report = report::build(&tasks, &config)?;
    notes.extend(report.notes.iter().cloned());
    let ks: Vec<usize> = if a.k.is_empty() {
        let mut ks: Vec<usize> = std::iter::successors(Some(1usize), |k| Some(k * 2))
            .take_while(|&k| k < report.max_k)
            .collect();
        ks.push(report.max_k);
        ks
    } else {
        a.k.iter()
            .copied()
            .filter(|&k| k >= 1 && k <= report.max_k)
            .collect()
    };
    println!(
        "{} tasks, {} candidates ({} resolved), {}–{} rollouts per task; % resolved, {:.0}% intervals from {} bootstrap resamples",
        report.tasks,
        report.candidates,
        report.resolved,
        report.min_k,
        report.max_k,
        report.confidence * 100.0,
        report.resamples
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(
        std::iter::once("method".to_owned()).chain(ks.iter().map(|k| format!("k={k}"))),
    );
    for curve in &report.curves {
        let name = if curve.name == "pass@k" {
            "pass@k (oracle)".to_owned()
        } else {
            format!("best@k {}", curve.name)
        };
        let cells = ks.iter().map(|&k| {
            let p = curve.points[k - 1];
            if report.resamples > 0 {
                format!("{} [{}, {}]", percent(p.mean), percent(p.lo), percent(p.hi))
            } else {
                percent(p.mean)
            }
        });
        table.add_row(std::iter::once(name).chain(cells));
    }
    println!("{table}");
    if !report.verifiers.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED);
        table.set_header(vec![
            "verifier",
            "candidates scored",
            "tasks with both",
            "separates",
            "ties",
        ]);
        for v in &report.verifiers {
            let d = v.distinguishability;
            table.add_row(vec![
                v.verifier.clone(),
                v.scored.to_string(),
                d.tasks.to_string(),
                format!("{}%", percent(d.separated_rate())),
                format!("{}%", percent(d.tie_rate())),
            ]);
        }
        println!("{table}");
    }
    for note in &notes {
        println!("note: {note}");
    }
    for path in report.write_files(&a.out_dir)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
