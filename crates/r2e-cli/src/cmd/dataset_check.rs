//! `r2e dataset check`: proves every task of a dataset sound (see
//! `r2e_env::check`): gold resolves it, no patch does not, verdicts are
//! stable across reruns, the image starts and the tests finish in time.
//! Writes one row per task as it finishes (a rerun resumes), a summary
//! table, and with `--write-clean` the dataset of the sound tasks.

use super::dataset::{ReadArgs, load};
use super::{block_on, until_interrupted};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use r2e_core::jsonl::JsonlWriter;
use r2e_env::check::{Check, Verdict, check};
use r2e_env::{EnvOptions, Sandboxes};
use r2e_sandbox::{Provider, WarmPool};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `r2e dataset check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Dataset of tasks (any format r2e reads).
    #[arg(long)]
    dataset: PathBuf,
    /// Extra runs of each side (gold, no patch), to find flaky tests.
    #[arg(long, default_value_t = 1)]
    reruns: u32,
    /// Tasks checked at once.
    #[arg(long, default_value_t = 1, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Per-task report (JSONL); tasks already in it are skipped.
    #[arg(long, default_value = "check.jsonl")]
    out: PathBuf,
    /// Also write the dataset of the tasks found sound here.
    #[arg(long)]
    write_clean: Option<PathBuf>,
    /// Seconds the hidden tests may run.
    #[arg(long, default_value_t = 1800, value_parser = super::positive::<u64>)]
    timeout: u64,
    /// Started sandboxes kept ready per image.
    #[arg(long, default_value_t = 0)]
    pool: usize,
    #[command(flatten)]
    read: ReadArgs,
    #[command(flatten)]
    sandbox: super::limits::SandboxArgs,
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

/// Runs the check.
pub fn run(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let tasks = load(&a.dataset, &a.read)?;
    let sandbox = a.sandbox.resolve()?;
    let opts = EnvOptions {
        test_timeout: Duration::from_secs(a.timeout),
        limits: sandbox.limits,
        network: sandbox.network,
        ..EnvOptions::default()
    };
    let settings = CheckSettings {
        reruns: a.reruns,
        workers: a.workers,
        pool: a.pool,
        out: a.out.clone(),
        write_clean: a.write_clean.clone(),
    };
    block_on(async move {
        let provider: Arc<dyn Provider> = a.provider.connect().await?;
        until_interrupted(provider.as_ref(), async {
            let results = checks(provider.clone(), &tasks, opts, &settings).await?;
            let ok = results.iter().filter(|c| c.verdict == Verdict::Ok).count();
            Ok(if ok == results.len() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        })
        .await
    })?
}

/// How a check runs (what `r2e dataset check` and `r2e gen run` share).
pub struct CheckSettings {
    /// Extra runs of each side.
    pub reruns: u32,
    /// Tasks at once.
    pub workers: usize,
    /// Warm pool size.
    pub pool: usize,
    /// The per-task report (resumed).
    pub out: PathBuf,
    /// Where the sound tasks go, if anywhere.
    pub write_clean: Option<PathBuf>,
}

/// Checks `tasks` (skipping those already in the report), prints the
/// verdicts' table, writes the clean dataset when asked; returns every
/// task's check.
pub async fn checks(
    provider: Arc<dyn Provider>,
    tasks: &[r2e_core::Task],
    opts: EnvOptions,
    a: &CheckSettings,
) -> anyhow::Result<Vec<Check>> {
    let (mut writer, earlier) = JsonlWriter::<Check>::open(&a.out)?;
    let done: HashSet<String> = earlier.iter().map(|c| c.task_id.clone()).collect();
    let pending: Vec<&r2e_core::Task> = tasks
        .iter()
        .filter(|t| !done.contains(&t.task_id))
        .collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} tasks are already in {}",
            tasks.len() - pending.len(),
            tasks.len(),
            a.out.display()
        );
    }
    let sandboxes = match a.pool {
        0 => Sandboxes::Provider(provider.clone()),
        n => Sandboxes::Pool(WarmPool::new(provider.clone(), n)),
    };
    let bar = ProgressBar::new(pending.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks · {msg} · ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut results = earlier;
    let mut stream = futures_util::stream::iter(pending)
        .map(|task| {
            let (sandboxes, opts) = (sandboxes.clone(), opts.clone());
            async move { check(&sandboxes, task, &opts, a.reruns).await }
        })
        .buffer_unordered(a.workers);
    while let Some(c) = stream.next().await {
        writer.append(&c)?;
        if c.verdict != Verdict::Ok {
            bar.println(format!(
                "{:<21} {}: {}",
                c.verdict.as_str(),
                c.task_id,
                c.detail
            ));
        }
        results.push(c);
        let ok = results.iter().filter(|c| c.verdict == Verdict::Ok).count();
        bar.set_message(format!("{ok} ok"));
        super::advance(&bar, 1);
    }
    drop(stream);
    if let Sandboxes::Pool(pool) = &sandboxes {
        pool.drain().await;
    }
    bar.finish_and_clear();
    let mut counts: BTreeMap<Verdict, usize> = BTreeMap::new();
    for c in &results {
        *counts.entry(c.verdict).or_default() += 1;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["verdict", "tasks"]);
    for v in Verdict::ALL {
        t.add_row(vec![
            v.as_str().to_string(),
            counts.get(&v).copied().unwrap_or(0).to_string(),
        ]);
    }
    println!("{t}");
    println!("report: {}", a.out.display());
    if let Some(path) = &a.write_clean {
        let sound: HashSet<&str> = results
            .iter()
            .filter(|c| c.verdict == Verdict::Ok)
            .map(|c| c.task_id.as_str())
            .collect();
        let clean: Vec<r2e_core::Task> = tasks
            .iter()
            .filter(|t| sound.contains(t.task_id.as_str()))
            .cloned()
            .collect();
        r2e_core::dataset::write(path, &clean)?;
        println!(
            "{} sound task(s) written to {}",
            clean.len(),
            path.display()
        );
    }
    Ok(results)
}
