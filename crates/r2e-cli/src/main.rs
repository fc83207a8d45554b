//! `r2e`: executable repository environments for coding agents.
//!
//! This binary only parses arguments and wires the library crates together;
//! each subcommand lives in its own module under `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// r2e — executable repository environments for training and evaluating coding agents.
///
/// Start with `r2e quickstart` (base image, demo tasks, the oracle agent, rewards;
/// no LLM or registry needed) and `r2e doctor`.
#[derive(Debug, Parser)]
#[command(name = "r2e", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// First contact: base image, a small real dataset, an agent through the tools,
    /// reward from the hidden tests — the oracle with no LLM or registry, or
    /// --model/--base-url for an LLM agent.
    Quickstart(cmd::quickstart::QuickstartArgs),
    /// Run an agent on a dataset: K rollouts per task, N at a time, trajectories
    /// written as they finish (rerun to resume).
    Run(Box<cmd::run::RunArgs>),
    /// Read, inspect and convert task datasets (R2E-Gym, SWE-bench; JSONL, JSON, Parquet).
    #[command(subcommand)]
    Dataset(cmd::dataset::DatasetCmd),
    /// Grade a test log against a task: per-test statuses, FAIL_TO_PASS/PASS_TO_PASS, report.json.
    Grade(cmd::grade::GradeArgs),
    /// Evaluate predictions (SWE-bench format, or `gold`) against a dataset, as the SWE-bench harness does.
    Eval(cmd::eval::EvalArgs),
    /// Serve environments over HTTP (a JSON API under /v1) to trainers on other machines.
    Serve(cmd::serve::ServeArgs),
    /// Look at trajectories in a browser: filters, search, steps, patches, rollouts side by side.
    View(cmd::view::ViewArgs),
    /// Print the eval script the harness runs for one task (SWE-bench's eval.sh).
    EvalScript(cmd::eval_script::EvalScriptArgs),
    /// Run commands in sandboxes: one-off runs, interactive shells, cleanup.
    #[command(subcommand)]
    Sandbox(cmd::sandbox::SandboxCmd),
    /// Run an agent tool (file_editor, search, execute_bash, finish) on this host,
    /// printing exactly the observation R2E-Gym's tool prints.
    Tool(cmd::tool::ToolArgs),
    /// Build base images without a registry.
    #[command(subcommand)]
    Image(cmd::image::ImageCmd),
    /// Check the Docker daemon, the shim and the base image; say how to fix problems.
    Doctor(cmd::doctor::DoctorArgs),
    /// Measure r2e's speed against its baselines.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
    /// Verifiers: score candidate patches (judge model, generated tests), report
    /// best@k / pass@k with plots.
    #[command(subcommand)]
    Verify(cmd::verify::VerifyCmd),
    /// Export training data from trajectories.
    #[command(subcommand)]
    Export(cmd::export::ExportCmd),
    /// SWE-Gen: make tasks from a repository's commits (mine, filter, env, validate, tests, issue, run).
    #[command(subcommand)]
    Gen(cmd::r#gen::GenCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Quickstart(a) => cmd::quickstart::run(a),
        Command::Run(a) => cmd::run::run(*a),
        Command::Dataset(c) => cmd::dataset::run(c),
        Command::Grade(a) => cmd::grade::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::View(a) => cmd::view::run(a),
        Command::EvalScript(a) => cmd::eval_script::run(a),
        Command::Sandbox(c) => cmd::sandbox::run(c),
        Command::Tool(a) => cmd::tool::run(a),
        Command::Image(c) => cmd::image::run(c),
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Verify(c) => cmd::verify::run(c),
        Command::Export(c) => cmd::export::run(c),
        Command::Gen(c) => cmd::r#gen::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose
/// text the line already holds (library errors often quote their source).
fn render(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(text.trim()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    /// Every subcommand's arguments are consistent (unique names, valid
    /// defaults): clap checks this only when a subcommand is first built.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn elapsed_time_reads_like_a_clock() {
        use std::time::Duration;
        assert_eq!(super::cmd::clock(Duration::from_secs(7)), "0:07");
        assert_eq!(super::cmd::clock(Duration::from_secs(68)), "1:08");
        assert_eq!(super::cmd::clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn a_cause_quoted_by_its_error_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io).context("reading p.jsonl: No such file");
        assert_eq!(super::render(&e), "reading p.jsonl: No such file");
        let e = anyhow::anyhow!("disk full").context("writing out.jsonl");
        assert_eq!(super::render(&e), "writing out.jsonl: disk full");
    }
}
