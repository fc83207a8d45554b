//! `r2e export sft`: trajectories as fine-tuning data (OpenAI messages for
//! TRL, ShareGPT for LLaMA-Factory), in the action format each episode used.

use anyhow::Context;
use clap::Args;
use r2e_agent::sft::{SftFormat, Skip, example};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `r2e export sft`.
#[derive(Debug, Args)]
pub struct SftArgs {
    /// Trajectory files written by `r2e run`.
    #[arg(long, required = true, num_args = 1..)]
    trajectories: Vec<PathBuf>,
    /// Keep only episodes with reward 1.
    #[arg(long)]
    only_resolved: bool,
    /// openai (messages + tools; TRL) or sharegpt (conversations; LLaMA-Factory).
    #[arg(long, default_value = "openai")]
    format: SftFormat,
    /// Output JSONL file.
    #[arg(long)]
    out: PathBuf,
}

/// Writes the examples and says how many were kept and why others were not.
pub fn run(a: SftArgs) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let (mut kept, mut unresolved, mut modelless, mut infra) = (0usize, 0usize, 0usize, 0usize);
    for path in &a.trajectories {
        for traj in r2e_core::trajectory::read_file(path)? {
            match example(&traj, a.format, a.only_resolved) {
                Ok(v) => {
                    writeln!(out, "{v}")?;
                    kept += 1;
                }
                Err(Skip::NotResolved) => unresolved += 1,
                Err(Skip::NoConversation) => modelless += 1,
                Err(Skip::InfraError) => infra += 1,
            }
        }
    }
    out.flush()?;
    eprintln!(
        "wrote {kept} examples to {} (left out: {unresolved} not resolved, {modelless} without a model conversation, {infra} infrastructure errors)",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
