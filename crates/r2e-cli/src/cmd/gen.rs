//! `r2e gen`: SWE-Gen, tasks made from a repository's commits.
//!
//! `r2e gen mine` walks a history into commit rows (stage 1), `r2e gen filter`
//! keeps the likely bug fixes and prints the funnel (stage 2). The logic lives in
//! `r2e-gen`; this module parses arguments and shows progress and tables.

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_gen::filter::{FilterConfig, Funnel, filter_jsonl};
use r2e_gen::mine::{MineEvent, MineOptions, mine_to_jsonl, resolve_repo};
use std::path::PathBuf;
use std::process::ExitCode;

/// The SWE-Gen stages.
#[derive(Debug, Subcommand)]
pub enum GenCmd {
    /// Stage 1: mine a repository's commits (diff stats, file kinds, gold/test
    /// patches, Python entities added/edited/deleted) into JSONL. Resumable.
    Mine(MineArgs),
    /// Stage 2: keep commits that pass R2E-Gym's heuristics; print the funnel.
    Filter(FilterArgs),
}

/// Arguments of `r2e gen mine`.
#[derive(Debug, Args)]
pub struct MineArgs {
    /// A local clone (work tree or bare), or a URL to clone (https://, file://, ssh://).
    #[arg(long)]
    repo: String,
    /// Output JSONL; rows already in it are kept and their commits skipped.
    #[arg(long)]
    out: PathBuf,
    /// Mine only the newest N commits.
    #[arg(long)]
    max_commits: Option<usize>,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Start from this branch, tag or full commit id instead of HEAD.
    #[arg(long)]
    rev: Option<String>,
    /// Where URLs are cloned (default: ~/.cache/r2e/repos).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

/// Arguments of `r2e gen filter`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Mined commits (output of `r2e gen mine`).
    #[arg(long, required_unless_present = "print_config")]
    commits: Option<PathBuf>,
    /// Kept commits, rewritten on every run.
    #[arg(long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// JSON file overriding rule settings (see --print-config for all keys).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also write `{"hash","rule"}` for every removed commit here.
    #[arg(long)]
    rejected: Option<PathBuf>,
    /// Print the effective rule settings as JSON (a starting point for --config) and exit.
    #[arg(long)]
    print_config: bool,
}

/// Runs an `r2e gen` subcommand.
pub fn run(cmd: GenCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GenCmd::Mine(a) => mine(a),
        GenCmd::Filter(a) => filter(a),
    }
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("r2e").join("repos")
}

fn mine(a: MineArgs) -> anyhow::Result<ExitCode> {
    let cache = a.cache_dir.unwrap_or_else(default_cache_dir);
    if r2e_gen::mine::is_url(&a.repo) {
        eprintln!("cloning {} into {} ...", a.repo, cache.display());
    }
    let repo = resolve_repo(&a.repo, &cache)?;
    let opts = MineOptions {
        max_commits: a.max_commits,
        workers: a.workers,
        rev: a.rev,
    };
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} mining [{bar:30}] {pos}/{len} commits, {per_sec}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let summary = mine_to_jsonl(&repo, &a.out, &opts, &mut |e| match e {
        MineEvent::Planned {
            total,
            already_done,
        } => {
            if already_done > 0 {
                eprintln!(
                    "{already_done} of {total} commits already in {}",
                    a.out.display()
                );
            }
            bar.set_length((total - already_done) as u64);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        MineEvent::Mined(_) => bar.inc(1),
    })
    .with_context(|| format!("mining {}", a.repo))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let skipped: Vec<String> = summary
        .skipped
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    println!(
        "mined {} commits in {:.1}s ({:.0}/s){}; {} already done; {} rows in {}",
        summary.mined,
        secs,
        summary.mined as f64 / secs.max(1e-9),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", skipped: {}", skipped.join(", "))
        },
        summary.already_done,
        summary.total,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn filter(a: FilterArgs) -> anyhow::Result<ExitCode> {
    let config = match &a.config {
        Some(p) => FilterConfig::load(p)?,
        None => FilterConfig::default(),
    };
    if a.print_config {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(commits), Some(out)) = (a.commits, a.out) else {
        anyhow::bail!("--commits and --out are required");
    };
    let funnel = filter_jsonl(&commits, &out, a.rejected.as_deref(), &config)
        .with_context(|| format!("filtering {}", commits.display()))?;
    println!("{}", funnel_table(&funnel));
    println!(
        "kept {} of {} commits in {}",
        funnel.kept,
        funnel.input,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The funnel as a table: rule, what it keeps, removed, left.
pub fn funnel_table(funnel: &Funnel) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "rule",
        "keeps commits that",
        "removed",
        "left",
    ]);
    t.add_row(vec![
        "(mined)".to_string(),
        String::new(),
        String::new(),
        funnel.input.to_string(),
    ]);
    for (rule, desc, removed, left) in funnel.table_rows() {
        t.add_row(vec![rule, desc, removed.to_string(), left.to_string()]);
    }
    t
}
