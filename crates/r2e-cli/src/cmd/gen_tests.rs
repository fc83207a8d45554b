//! `r2e gen tests`: SWE-Gen stage 5. For bug fixes the filter rejected only
//! for their tests, a model writes a test module against the change; each
//! module is validated like mined tests (in Docker, or as Kubernetes pods
//! with `--sandbox-provider kubernetes`) and sent back with the reason until
//! it is valid or the attempts run out. The logic lives in
//! `r2e_gen::testgen`; this module parses arguments and shows progress, the
//! outcome table and Ctrl-C handling.

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use r2e_gen::testgen::{TestGenEvent, TestGenOptions, output_paths, run_stage};
use r2e_gen::validate::Outcome;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `r2e gen tests`.
#[derive(Debug, Clone, Args)]
pub struct TestsArgs {
    /// The repository the commits come from (a local clone).
    #[arg(long)]
    pub repo: PathBuf,
    /// Mined commits (output of `r2e gen mine`).
    #[arg(long)]
    pub commits: PathBuf,
    /// Rejected commits with their rule (`r2e gen filter --rejected`).
    #[arg(long)]
    pub rejected: PathBuf,
    /// Filter rules whose rejected commits get generated tests (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "test_entity_edit,test_match"
    )]
    pub rules: Vec<String>,
    /// Output directory: tests_validated.jsonl (every commit, resumable),
    /// tests_validated.attempts.jsonl (each attempt's module and reason) and
    /// tests_tasks.jsonl (the valid ones as r2e tasks).
    #[arg(long)]
    pub out: PathBuf,
    /// Image with the repository's Python environment (when there is no --envs).
    #[arg(long, default_value = r2e_gen::validate::DEFAULT_IMAGE)]
    pub image: String,
    /// Each commit's environment from `r2e gen env` (its envs.jsonl); commits
    /// without one are rejected as no_env.
    #[arg(long, conflicts_with = "image")]
    pub envs: Option<PathBuf>,
    /// Commits worked on at the same time.
    #[arg(long, default_value_t = 2, value_parser = super::positive::<usize>)]
    pub workers: usize,
    /// Test modules asked for per commit (the first included).
    #[arg(long, default_value_t = 3)]
    pub attempts: usize,
    /// Take at most N selected commits (newest first).
    #[arg(long)]
    pub max: Option<usize>,
    /// Repository name for task ids and images (default: the directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// How the tests run.
    #[command(flatten)]
    pub tests: super::r#gen::TestRunSettings,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// The model (--model is required).
    #[command(flatten)]
    pub llm: super::llm::LlmArgs,
    /// Where the test runs go (--provider is the model's protocol here;
    /// images are made on the local Docker engine).
    #[command(flatten)]
    pub sandbox: super::provider::SandboxProviderArgs,
}

/// Runs `r2e gen tests`.
pub async fn run(a: TestsArgs) -> anyhow::Result<ExitCode> {
    let known: Vec<&str> = r2e_gen::filter::RULES.iter().map(|(r, _)| *r).collect();
    if let Some(bad) = a.rules.iter().find(|r| !known.contains(&r.as_str())) {
        anyhow::bail!(
            "--rules: unknown rule `{bad}`; the rules are {}",
            known.join(", ")
        );
    }
    let Some((model, client)) = a.llm.client()? else {
        anyhow::bail!("--model is required: the model writes the tests");
    };
    let engines = super::r#gen::GenEngines::connect(&a.sandbox.choice()).await?;
    let opts = TestGenOptions {
        model,
        temperature: a.temperature,
        workers: a.workers,
        attempts: a.attempts,
        rules: a.rules.clone(),
        max: a.max,
        test_dir: None,
        validate: a
            .tests
            .options(&a.image, a.envs.as_deref(), a.name.clone(), a.workers)?,
    };
    let paths = output_paths(&a.out);
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} writing tests [{bar:30}] {pos}/{len} commits, {msg}, ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    let mut valid = 0usize;
    let work = async {
        run_stage(
            &*client,
            engines.engines(),
            &a.repo,
            &a.commits,
            &a.rejected,
            &a.out,
            &opts,
            &mut |e| match e {
                TestGenEvent::Preparing => eprintln!("copying the repository into an image ..."),
                TestGenEvent::Planned {
                    total,
                    already_done,
                } => {
                    super::r#gen::start_bar(
                        &bar,
                        "commits",
                        total,
                        already_done,
                        &paths.validated,
                        total - already_done,
                        "0 valid",
                    );
                }
                TestGenEvent::Done { row, attempts } => {
                    if row.outcome == Outcome::Valid {
                        valid += 1;
                    } else {
                        let reason = row.reason.as_deref().unwrap_or("rejected");
                        let reason: String = reason.chars().take(200).collect();
                        bar.println(format!(
                            "{}: {reason} ({attempts} model answers)",
                            row.hash.get(..12).unwrap_or(&row.hash)
                        ));
                    }
                    bar.set_message(format!("{valid} valid"));
                    super::advance(&bar, 1);
                }
            },
        )
        .await
    };
    let Some(result) = engines.or_interrupted(&bar, work).await else {
        return Ok(ExitCode::from(130));
    };
    let summary = result.with_context(|| format!("writing tests for {}", a.repo.display()))?;
    bar.finish_and_clear();
    println!("{}", super::r#gen::outcome_table(&summary.by_reason));
    println!(
        "funnel: {} commits selected ({}) → {} with valid generated tests ({} this run, {} \
         earlier; {} model answers); {} tasks in {}; attempts in {}",
        summary.input,
        a.rules.join(", "),
        summary.valid,
        summary.input - summary.already_done,
        summary.already_done,
        summary.replies,
        summary.tasks,
        paths.tasks.display(),
        paths.attempts.display()
    );
    Ok(ExitCode::SUCCESS)
}
