//! `r2e eval-script`: print the eval script the SWE-bench harness would run for
//! a task (`eval.sh`), to read it, diff it or run it by hand in the task's image.

use super::dataset::{ReadArgs, load};
use anyhow::{Context, bail};
use clap::Args;
use r2e_eval::spec::{self, Generation};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `r2e eval-script`.
#[derive(Debug, Args)]
pub struct EvalScriptArgs {
    /// The task: one dataset row (e.g. row.json), or a dataset together with --instance.
    #[arg(long)]
    task: PathBuf,
    /// The instance to take from a dataset of several rows.
    #[arg(long)]
    instance: Option<String>,
    /// SWE-bench harness generation to reproduce: v4 (swebench 3.x/4.x) or v5
    /// (5.x: the row's own eval_script, test exit code recorded). Default: v5 for
    /// rows that carry an eval_script, else v4.
    #[arg(long, value_name = "v4|v5")]
    generation: Option<Generation>,
    #[command(flatten)]
    read: ReadArgs,
}

/// Prints the script on stdout, byte for byte as the harness writes `eval.sh`.
pub fn run(a: EvalScriptArgs) -> anyhow::Result<ExitCode> {
    let mut tasks = load(&a.task, &a.read)?;
    let task = match (&a.instance, tasks.len()) {
        (Some(id), _) => match tasks.iter().position(|t| &t.task_id == id) {
            Some(i) => tasks.swap_remove(i),
            None => bail!("{} has no task {id}", a.task.display()),
        },
        (None, 1) => tasks.swap_remove(0),
        (None, 0) => bail!("{} holds no task", a.task.display()),
        (None, n) => bail!(
            "{} holds {n} tasks; choose one with --instance ID",
            a.task.display()
        ),
    };
    let generation = a.generation.unwrap_or_else(|| Generation::for_task(&task));
    let script = spec::eval_script_with(&task, generation)?;
    let mut out = std::io::stdout().lock();
    out.write_all(script.as_bytes())
        .and_then(|()| out.flush())
        .context("writing the script to stdout")?;
    Ok(ExitCode::SUCCESS)
}
