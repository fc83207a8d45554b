//! One module per `r2e` subcommand, plus the async runtime and Ctrl-C handling
//! they share.

pub mod bench;
pub mod bench_disk;
pub mod bench_env;
pub mod bench_grade;
pub mod bench_mine;
pub mod bench_serve;
pub mod bench_soak;
pub mod bench_verify;
pub mod bench_view;
pub mod dataset;
pub mod dataset_check;
pub mod doctor;
pub mod eval;
pub mod eval_script;
pub mod export;
pub mod export_sft;
pub mod r#gen;
pub mod gen_env;
pub mod gen_images;
pub mod gen_tests;
pub mod grade;
pub mod image;
pub mod limits;
pub mod llm;
pub mod provider;
pub mod quickstart;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod tool;
pub mod verify;
pub mod verify_exec;
pub mod view;

use r2e_sandbox::Provider;
use std::future::Future;
use std::process::ExitCode;

/// Default image of the sandbox commands: what `r2e image bootstrap` builds.
pub const DEFAULT_IMAGE: &str = "r2e/base:bookworm";

/// Advances `bar` by `n`. Where stderr is not a terminal (a log file, CI)
/// the bar draws nothing, so a plain line tells how far the work is: every
/// 5% of it, and at the end.
pub fn advance(bar: &indicatif::ProgressBar, n: u64) {
    use std::io::IsTerminal;
    let before = bar.position();
    bar.inc(n);
    if n == 0 || std::io::stderr().is_terminal() {
        return;
    }
    let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
    // Without a known length, a line every 1,000.
    let step = if len == 0 { 1000 } else { (len / 20).max(1) };
    if pos / step != before / step || pos == len {
        let done = match (pos * 100).checked_div(len) {
            Some(pct) => format!(
                "{pos}/{len} ({pct}%), ETA {}",
                indicatif::HumanDuration(bar.eta())
            ),
            None => pos.to_string(),
        };
        eprintln!(
            "  {done}, {} elapsed: {}",
            clock(bar.elapsed()),
            bar.message()
        );
    }
}

/// Creates `dir` when missing and checks that a file can be written there,
/// so that a long run does not fail on every item for a bad path.
pub fn writable_dir(flag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let probe = dir.join(format!(".r2e-write-check-{}", std::process::id()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            anyhow::anyhow!(
                "{flag} {}: cannot write there ({e}); pick a directory you can write to",
                dir.display()
            )
        })
}

/// A count that must be at least 1 (`--workers 0` would run nothing,
/// `--timeout 0` would kill everything at once).
pub fn positive<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    match s.parse::<T>() {
        Ok(n) if n == T::default() => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A number of seconds that must be above 0.
pub fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        Ok(_) => Err("must be a number of seconds above 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A duration as a clock reads it: `0:07`, `1:08`, `1:02:03`.
pub fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, m, s) => format!("{m}:{s:02}"),
        (h, m, s) => format!("{h}:{m:02}:{s:02}"),
    }
}

/// Bytes as B, kB or MB (binary multiples), the way image sizes are shown.
pub fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if f >= 1024.0 * 1024.0 {
        format!("{:.1} MB", f / 1024.0 / 1024.0)
    } else if f >= 1024.0 {
        format!("{:.1} kB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// This process's command line, quoted for a shell, with `--retry-errors`
/// added (once) when `retry_flag`: what a user runs to retry the episodes
/// that ended without a verdict.
pub fn retry_command(retry_flag: bool) -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if retry_flag && !args.iter().any(|a| a == "--retry-errors") {
        args.push("--retry-errors".into());
    }
    args.iter()
        .map(|a| r2e_sandbox::shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes what killed r2e processes left behind (containers whose owner is
/// gone, among them ones created but never started, which the engine does
/// not remove by itself; their socket folders), before a run adds its own.
/// Sandboxes of r2e processes still running are not touched.
pub async fn sweep_leftovers(provider: &r2e_sandbox::docker::DockerProvider) {
    match provider.gc(false).await {
        Ok(r) if !r.containers.is_empty() => eprintln!(
            "removed {} sandbox(es) left by r2e processes that were killed",
            r.containers.len()
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("removing sandboxes left by killed runs: {e}"),
    }
}

/// Runs an async command on a fresh runtime.
pub fn block_on<F: Future>(fut: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(fut))
}

/// Runs `work` until it finishes or Ctrl-C arrives. On Ctrl-C the progress bar
/// stays as it was, every sandbox the provider started is removed, and `None`
/// comes back: the caller exits with 130, and a rerun resumes.
pub async fn or_interrupted<F: Future>(
    provider: &dyn Provider,
    bar: &indicatif::ProgressBar,
    work: F,
) -> Option<F::Output> {
    tokio::select! {
        result = work => Some(result),
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            let n = provider.close_all().await;
            eprintln!("interrupted; removed {n} sandboxes; rerun to resume");
            None
        }
    }
}

/// Runs `work` until it finishes or Ctrl-C arrives; on Ctrl-C every sandbox
/// the provider started is removed before exiting with 130.
pub async fn until_interrupted<F>(provider: &dyn Provider, work: F) -> anyhow::Result<ExitCode>
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            let n = provider.close_all().await;
            eprintln!("\ninterrupted: removed {n} sandbox(es)");
            Ok(ExitCode::from(130))
        }
    }
}
