//! `r2e dataset`: inspect and convert task datasets (R2E-Gym, SWE-bench, SWE-Gym,
//! SWE-smith, r2e tasks; JSON Lines, JSON, Parquet, or a directory of shards).

use anyhow::anyhow;
use clap::{Args, Subcommand};
use r2e_core::Task;
use r2e_core::dataset::{self, DatasetError, LoadOptions};
use r2e_core::image::{ImageTemplate, PLACEHOLDERS};
use r2e_core::row::ConvertOptions;
use r2e_core::summary::Summary;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `r2e dataset` subcommands.
#[derive(Debug, Subcommand)]
pub enum DatasetCmd {
    /// Count a dataset's tasks per source format and per repository.
    Info(InfoArgs),
    /// Convert a dataset to r2e tasks: OUT's extension picks .jsonl, .json or .parquet
    /// (.jsonl.gz, .json.gz too); `-` writes JSON Lines to stdout.
    Convert(ConvertArgs),
    /// Build the demo tasks (a small Python package with three bugs) into an image
    /// from a base image and write them as a dataset: a first dataset that needs no registry.
    Demo(DemoArgs),
    /// Prove every task sound: the gold patch resolves it, no patch does not
    /// (every FAIL_TO_PASS test fails), statuses are stable across reruns, the
    /// image starts, the tests finish in time. Resumable; --write-clean keeps
    /// the sound tasks.
    Check(Box<super::dataset_check::CheckArgs>),
}

/// Arguments of `r2e dataset demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the tasks (.jsonl, .json or .parquet).
    #[arg(long, default_value = "demo.jsonl")]
    out: PathBuf,
    /// Base image with python3 and git (see `r2e image bootstrap`).
    #[arg(long, default_value = super::DEFAULT_IMAGE)]
    base_image: String,
}

/// Arguments of `r2e dataset info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Dataset file (.jsonl, .json, .parquet) or directory of them.
    path: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
}

/// Arguments of `r2e dataset convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Dataset file (.jsonl, .json, .parquet) or directory of them.
    input: PathBuf,
    /// Output file (.jsonl, .json, .parquet, .jsonl.gz, .json.gz), or `-` for stdout.
    output: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
}

/// How rows are read, shared by the subcommands that take a dataset.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Report each malformed row on stderr and skip it, instead of stopping at the first.
    #[arg(long)]
    skip_bad: bool,
    /// Image name for every task, e.g. 'myreg/{swebench_id}:latest' (see --help for the
    /// placeholders).
    #[arg(long, value_name = "TEMPLATE", long_help = template_help())]
    image_template: Option<ImageTemplate>,
}

fn template_help() -> String {
    let mut help = String::from(
        "Image name for every task, replacing the one the source names \
         (R2E-Gym: docker_image; SWE-smith: image_name; SWE-bench: \
         swebench/sweb.eval.x86_64.<id>:latest).\n\
         Example: --image-template 'mirror.local/{image}'\n\nPlaceholders:",
    );
    for (name, meaning) in PLACEHOLDERS {
        help.push_str(&format!("\n  {:<15} {meaning}", format!("{{{name}}}")));
    }
    help
}

/// Runs an `r2e dataset` subcommand.
pub fn run(cmd: DatasetCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DatasetCmd::Check(args) => return super::dataset_check::run(*args),
        DatasetCmd::Info(args) => {
            let mut summary = Summary::default();
            read(&args.path, &args.read, |task| {
                summary.add(&task);
                Ok(())
            })?;
            print!("{summary}");
        }
        DatasetCmd::Demo(args) => {
            let tasks = super::block_on(async {
                let provider = r2e_sandbox::docker::DockerProvider::connect().await?;
                anyhow::Ok(r2e_eval::demo::build(&provider, &args.base_image).await?)
            })??;
            dataset::write(&args.out, &tasks)?;
            eprintln!(
                "wrote {} demo tasks ({}) to {}",
                tasks.len(),
                tasks.first().map(|t| t.image.as_str()).unwrap_or_default(),
                args.out.display()
            );
        }
        DatasetCmd::Convert(args) => {
            let mut writer = dataset::create(&args.output)?;
            let mut written = 0usize;
            let result = read(&args.input, &args.read, |task| {
                written += 1;
                writer.write(&task)
            })
            .and_then(|()| Ok(writer.finish()?));
            if let Err(e) = result {
                // `r2e dataset convert IN - | head` stops reading early: not an error.
                return if is_broken_pipe(&e) {
                    Ok(ExitCode::SUCCESS)
                } else {
                    Err(e)
                };
            }
            let target = if args.output.as_os_str() == dataset::STDOUT {
                "standard output".into()
            } else {
                args.output.display().to_string()
            };
            let tasks = if written == 1 { "task" } else { "tasks" };
            eprintln!("wrote {written} {tasks} to {target}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<DatasetError>(),
        Some(DatasetError::Io { error, .. }) if error.kind() == std::io::ErrorKind::BrokenPipe
    )
}

/// Loads the whole dataset at `path`, reporting skipped rows on stderr.
///
/// Every task id must appear once: a repeated id would run and count the
/// task twice. With `--skip-bad` later repeats are reported and skipped.
pub fn load(path: &Path, args: &ReadArgs) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut repeated: Option<(String, usize, usize)> = None;
    read(path, args, |task| {
        let n = tasks.len() + 1;
        match seen.get(&task.task_id) {
            Some(&first) if args.skip_bad => {
                eprintln!("skipped task {n}: id {} repeats task {first}", task.task_id);
            }
            Some(&first) => {
                repeated = repeated.clone().or(Some((task.task_id.clone(), first, n)));
            }
            None => {
                seen.insert(task.task_id.clone(), n);
                tasks.push(task);
            }
        }
        Ok(())
    })?;
    if let Some((id, first, again)) = repeated {
        anyhow::bail!(
            "{}: task id {id} appears more than once (tasks {first} and {again}); \
             each task must be named once (--skip-bad keeps the first and skips the repeats)",
            path.display()
        );
    }
    if tasks.is_empty() {
        anyhow::bail!("{} holds no tasks", path.display());
    }
    Ok(tasks)
}

/// Reads the dataset at `path`, reporting skipped rows on stderr.
fn read(
    path: &Path,
    args: &ReadArgs,
    on_task: impl FnMut(Task) -> Result<(), DatasetError>,
) -> anyhow::Result<()> {
    let opts = LoadOptions {
        convert: ConvertOptions {
            image_template: args.image_template.clone(),
        },
        skip_bad: args.skip_bad,
    };
    let skipped = dataset::for_each(path, &opts, on_task, |bad| {
        eprintln!("skipped {bad}");
    })
    .map_err(|e| match e {
        DatasetError::Row(bad) => {
            anyhow!("{bad}\n(--skip-bad skips malformed rows and reports each one)")
        }
        other => other.into(),
    })?;
    if skipped > 0 {
        let rows = if skipped == 1 { "row" } else { "rows" };
        eprintln!("skipped {skipped} malformed {rows}");
    }
    Ok(())
}
