//! `r2e eval`: evaluate predictions the way the SWE-bench harness does.

use super::dataset::{ReadArgs, load};
use super::{block_on, until_interrupted};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_core::RewardStatus;
use r2e_eval::{EvalOptions, InstanceOutcome, Verdict, evaluate_all, predictions};
use r2e_grade::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Arguments of `r2e eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset of tasks (JSONL, JSON or Parquet; a directory of shards).
    #[arg(long)]
    dataset: PathBuf,
    /// Predictions in SWE-bench's format (JSONL, or JSON list/object), or `gold`
    /// to evaluate the dataset's gold patches.
    #[arg(long)]
    predictions: String,
    /// Names the run: logs go to <log-dir>/<run-id>/<model>/<instance>/.
    #[arg(long)]
    run_id: String,
    /// Instances evaluated at once.
    #[arg(long, default_value_t = 1, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Limit on each instance's test run, in seconds.
    #[arg(long, default_value_t = 1800, value_parser = super::positive::<u64>)]
    timeout: u64,
    /// Evaluate only these instances (space- or comma-separated).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    instance_ids: Vec<String>,
    /// Root of the per-instance logs.
    #[arg(long, default_value = "logs/run_evaluation")]
    log_dir: PathBuf,
    /// Where the run report <model>.<run-id>.json is written.
    #[arg(long, default_value = ".")]
    report_dir: PathBuf,
    /// Log parser to use instead of each task's default.
    #[arg(long)]
    parser: Option<Parser>,
    #[command(flatten)]
    read: ReadArgs,
    /// Limits of the sandboxes (network on by default, as in SWE-bench's harness).
    #[command(flatten)]
    sandbox: super::limits::SandboxArgs,
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

/// Runs an evaluation; exits 0 when it completed (whatever the verdicts).
pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    let mut tasks = load(&a.dataset, &a.read)?;
    let mut preds = if a.predictions == "gold" {
        predictions::gold(&tasks)
    } else {
        predictions::load(std::path::Path::new(&a.predictions))?
    };
    if !a.instance_ids.is_empty() {
        let wanted: std::collections::HashSet<&str> =
            a.instance_ids.iter().map(String::as_str).collect();
        let missing: Vec<&&str> = wanted
            .iter()
            .filter(|id| !tasks.iter().any(|t| t.task_id == **id))
            .collect();
        if let Some(id) = missing.first() {
            anyhow::bail!(
                "--instance-ids names {id}, which is not in {}",
                a.dataset.display()
            );
        }
        tasks.retain(|t| wanted.contains(t.task_id.as_str()));
        preds.retain(|p| wanted.contains(p.instance_id.as_str()));
    }
    if preds.is_empty() {
        anyhow::bail!(
            "no predictions to evaluate in {} (for the dataset's own fixes use --predictions gold)",
            a.predictions
        );
    }
    super::writable_dir("--log-dir", &a.log_dir)?;
    super::writable_dir("--report-dir", &a.report_dir)?;
    let mut opts = EvalOptions::new(&a.run_id);
    opts.workers = a.workers;
    opts.timeout = Duration::from_secs(a.timeout);
    opts.log_root = a.log_dir;
    opts.report_dir = a.report_dir;
    opts.grade.parser = a.parser;
    let sandbox = a.sandbox.resolve()?;
    opts.limits = sandbox.limits;
    opts.network = sandbox.network.unwrap_or(true);
    block_on(async move {
        let provider = a.provider.connect().await?;
        until_interrupted(
            provider.as_ref(),
            evaluate(provider.as_ref(), &tasks, &preds, &opts),
        )
        .await
    })?
}

async fn evaluate(
    provider: &dyn r2e_sandbox::Provider,
    tasks: &[r2e_core::Task],
    preds: &[predictions::Prediction],
    opts: &EvalOptions,
) -> anyhow::Result<ExitCode> {
    let bar = ProgressBar::new(preds.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg} ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let (resolved, errors, resumed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let statuses = std::sync::Mutex::new(BTreeMap::<RewardStatus, usize>::new());
    let on_done = |o: &InstanceOutcome| {
        resumed.fetch_add(usize::from(o.resumed), Ordering::Relaxed);
        *statuses
            .lock()
            .expect("status counts")
            .entry(o.verdict.status())
            .or_default() += 1;
        match &o.verdict {
            Verdict::Resolved => {
                resolved.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::Error(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                bar.println(format!("error  {}: {e}", o.instance_id));
            }
            Verdict::Timeout(secs) => {
                errors.fetch_add(1, Ordering::Relaxed);
                bar.println(format!(
                    "timeout {}: the tests ran past {secs} s",
                    o.instance_id
                ));
            }
            _ => {}
        }
        bar.set_message(format!(
            "resolved {}, errors {}",
            resolved.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed)
        ));
        super::advance(&bar, 1);
    };
    let reports = evaluate_all(provider, tasks, preds, opts, &on_done).await?;
    bar.finish_and_clear();
    let resumed = resumed.into_inner();
    if resumed > 0 {
        println!(
            "skipped {resumed} instance(s) finished by an earlier run with this run id (their report.json is kept)"
        );
    }
    for (path, r) in &reports {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_header(vec!["", "instances"]);
        for (k, v) in [
            ("total", r.total_instances),
            ("submitted", r.submitted_instances),
            ("completed", r.completed_instances),
            ("resolved", r.resolved_instances),
            ("unresolved", r.unresolved_instances),
            ("empty patch", r.empty_patch_instances),
            ("error (SWE-bench's count)", r.error_instances),
        ] {
            t.add_row(vec![k.to_string(), v.to_string()]);
        }
        println!("{t}");
        println!("report: {}", path.display());
    }
    let statuses = statuses.into_inner().expect("status counts");
    let count = |s: RewardStatus| statuses.get(&s).copied().unwrap_or(0);
    let (timeouts, infra) = (
        count(RewardStatus::Timeout),
        count(RewardStatus::InfraError),
    );
    println!(
        "reward status: {} resolved, {} unresolved (empty patches included), {timeouts} tests timed out, {infra} infra errors",
        count(RewardStatus::Resolved),
        count(RewardStatus::Unresolved),
    );
    println!("logs: {}", opts.log_root.join(&opts.run_id).display());
    if timeouts + infra > 0 {
        println!(
            "{} instance(s) have no verdict yet; rerunning the same command retries them (finished ones are skipped):\n  {}",
            timeouts + infra,
            super::retry_command(false)
        );
    }
    Ok(ExitCode::SUCCESS)
}
