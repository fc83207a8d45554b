//! `r2e export`: data for training from trajectories.

use super::dataset::ReadArgs;
use super::verify::{PromptArgs, issues};
use clap::{Args, Subcommand};
use r2e_verify::export::{ExportFormat, write_examples};
use std::path::PathBuf;
use std::process::ExitCode;

/// `r2e export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// Fine-tuning data from trajectories: OpenAI chat messages (TRL) or
    /// ShareGPT (LLaMA-Factory), in the action format the episodes used.
    Sft(super::export_sft::SftArgs),
    /// Training examples for the execution-free judge: its prompt for each
    /// trajectory, answered YES when the reward is 1 and NO otherwise.
    Verifier(VerifierArgs),
}

/// Arguments of `r2e export verifier`.
#[derive(Debug, Args)]
pub struct VerifierArgs {
    /// Trajectories (JSONL) with rewards.
    #[arg(long)]
    trajectories: PathBuf,
    /// The dataset the trajectories were made from (for the issue texts).
    #[arg(long)]
    dataset: PathBuf,
    /// The JSONL file to write (replaced).
    #[arg(long)]
    out: PathBuf,
    /// openai ({"messages": [{role, content}…]}) or sharegpt ({"conversations": [{from, value}…]}).
    #[arg(long, default_value = "openai")]
    format: ExportFormat,
    #[command(flatten)]
    prompt: PromptArgs,
    #[command(flatten)]
    read: ReadArgs,
}

/// Runs an `r2e export` subcommand.
pub fn run(cmd: ExportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ExportCmd::Sft(a) => super::export_sft::run(a),
        ExportCmd::Verifier(a) => {
            let trajectories = r2e_core::trajectory::read_file(&a.trajectories)?;
            let issues = issues(&a.dataset, &a.read)?;
            let config = a.prompt.config()?;
            let summary = write_examples(&trajectories, &issues, &config, a.format, &a.out)?;
            println!(
                "wrote {} examples ({} YES, {} NO) to {}",
                summary.yes + summary.no,
                summary.yes,
                summary.no,
                a.out.display()
            );
            if summary.unrewarded > 0 {
                println!(
                    "skipped {} trajectories without a reward (run their hidden tests first)",
                    summary.unrewarded
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
