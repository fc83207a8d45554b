//! `r2e gen`: SWE-Gen, tasks made from a repository's commits.
//!
//! `r2e gen mine` walks a history into commit rows (stage 1), `r2e gen filter`
//! keeps the likely bug fixes and prints the funnel (stage 2), `r2e gen env`
//! builds their environments (stage 3, module `gen_env`), `r2e gen validate`
//! runs each candidate's tests and writes tasks (stage 4), `r2e gen tests`
//! has a model write tests for fixes without them (stage 5, module
//! `gen_tests`), `r2e gen issue` has a model write the issue texts (stage 6),
//! `r2e gen run` chains them for a list of repositories. The logic lives in
//! `r2e-gen`; these modules parse arguments and show progress and tables.
//!
//! Images are made on the local Docker engine; the test runs of stages 4
//! and 5 (and `gen run`'s last check) go to the chosen sandbox provider
//! ([`GenEngines`]): `--provider kubernetes` runs them as pods, from images
//! the cluster must be able to pull (docs/swe-gen.md).

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use r2e_gen::filter::{FilterConfig, Funnel, Preset, filter_jsonl};
use r2e_gen::issue::{IssueEvent, IssueOptions, errors_path, issue_jsonl};
use r2e_gen::mine::{MineEvent, MineOptions, mine_to_jsonl, resolve_repo};
use r2e_gen::validate::{
    Engines, Outcome, ValidateEvent, ValidateOptions, output_paths, validate_jsonl, write_tasks,
};
use r2e_sandbox::Provider;
use r2e_sandbox::docker::DockerProvider;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The SWE-Gen stages.
#[derive(Debug, Subcommand)]
pub enum GenCmd {
    /// Stage 1: mine a repository's commits (diff stats, file kinds, gold/test
    /// patches, Python entities added/edited/deleted) into JSONL. Resumable.
    Mine(MineArgs),
    /// Stage 2: keep commits that pass R2E-Gym's heuristics; print the funnel.
    Filter(FilterArgs),
    /// Stage 3: a pinned environment per candidate from the repository's metadata
    /// (uv --exclude-newer at the commit's date, a search over Pythons and
    /// build-tool pins); commits with the same dependency set share an image. Resumable.
    Env(super::gen_env::EnvArgs),
    /// Stage 4: run each candidate's tests on the old and the new code (in
    /// Docker, or as Kubernetes pods); keep commits with a fail-to-pass test,
    /// save task images, write tasks. Resumable.
    Validate(ValidateArgs),
    /// Stage 5: for bug fixes rejected only for their tests, have a model write
    /// a test module against the change, validated like mined tests (failures
    /// fed back, up to --attempts); write tasks. Resumable.
    Tests(super::gen_tests::TestsArgs),
    /// Stage 6: have a model write each task's issue text from its fix, failing
    /// tests and their failure output. Resumable.
    Issue(IssueArgs),
    /// All stages for every repository of a list (mine, filter, env unless
    /// --image, validate, and with --model generated tests and issue texts),
    /// then one funnel table and one dataset (JSONL and Parquet). Restart-safe.
    Run(RunArgs),
    /// The images SWE-Gen saved (environment layers, workspaces, task images),
    /// with the disk each adds; --remove deletes them.
    Images(super::gen_images::ImagesArgs),
}

/// Arguments of `r2e gen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A file with one repository per line: a local clone or a URL (`#` starts a comment).
    #[arg(long)]
    repos: PathBuf,
    /// Output directory: DIR/<repo>/ holds each stage's files, DIR/tasks.jsonl all tasks.
    #[arg(long)]
    out: PathBuf,
    /// Candidates validated (and issue texts written) at the same time.
    #[arg(long, default_value_t = 2, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Mine only the newest N commits of each repository.
    #[arg(long)]
    max_commits: Option<usize>,
    /// Filter rule settings (JSON; see `r2e gen filter --print-config`).
    /// (`--config` names r2e's own config file, as in every command.)
    #[arg(long, value_name = "JSON")]
    filter_config: Option<PathBuf>,
    /// Filter rule set: r2e-gym (R2E-Gym's selection, the default) or r2e
    /// (broader); see `r2e gen filter --preset`.
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    preset: Option<Preset>,
    /// One ready-made image with the repositories' Python environment for every
    /// commit, instead of building environments (stage 3).
    #[arg(long)]
    image: Option<String>,
    /// Stage 3's settings.
    #[command(flatten)]
    env: super::gen_env::EnvSettings,
    /// With --model, stage 5 writes tests for at most N of the fixes that the
    /// filter rejected for their tests only (newest first; default: all).
    #[arg(long)]
    max_test_commits: Option<usize>,
    /// How the tests run.
    #[command(flatten)]
    tests: TestRunSettings,
    /// Skip merge commits when mining (see `r2e gen mine --no-merges`).
    #[arg(long)]
    no_merges: bool,
    /// Extra runs of each side in the last stage, `r2e dataset check` on the
    /// tasks made (DIR/check.jsonl; the sound ones in DIR/tasks_checked.jsonl).
    #[arg(long, default_value_t = 1)]
    check_reruns: u32,
    /// Skip that last stage.
    #[arg(long)]
    no_check: bool,
    /// Where URLs are cloned (default: ~/.cache/r2e/repos).
    #[arg(long)]
    clone_dir: Option<PathBuf>,
    /// With --model, stage 6 writes issue texts.
    #[command(flatten)]
    llm: super::llm::LlmArgs,
    /// Where the test runs of stages 4 and 5 and the last check go (images
    /// are made on the local Docker engine).
    #[command(flatten)]
    sandbox: super::provider::SandboxProviderArgs,
}

/// Arguments of `r2e gen validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The repository the candidates come from (a local clone).
    #[arg(long)]
    repo: PathBuf,
    /// Candidate commits (output of `r2e gen filter`, or any `r2e gen mine` rows).
    #[arg(long)]
    candidates: PathBuf,
    /// Output directory: validated.jsonl (every candidate, resumable) and
    /// tasks.jsonl (the valid ones as r2e tasks).
    #[arg(long)]
    out: PathBuf,
    /// Image with the repository's Python environment (when there is no --envs).
    #[arg(long, default_value = r2e_gen::validate::DEFAULT_IMAGE)]
    image: String,
    /// Each commit's environment from `r2e gen env` (its envs.jsonl); commits
    /// without one are rejected as no_env.
    #[arg(long, conflicts_with = "image")]
    envs: Option<PathBuf>,
    /// Candidates validated at the same time.
    #[arg(long, default_value_t = 2, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Repository name for task ids and images (default: the directory name).
    #[arg(long)]
    name: Option<String>,
    /// How the tests run.
    #[command(flatten)]
    tests: TestRunSettings,
    /// Where the test runs go (images are made on the local Docker engine;
    /// a cluster must be able to pull them, see docs/swe-gen.md).
    #[command(flatten)]
    provider: super::provider::ProviderArgs,
}

/// The sandboxes of a stage that runs candidates' tests: the local Docker
/// engine, which makes the workspace and task images, and the provider the
/// test runs go to when it is not that engine (`--provider kubernetes`).
pub struct GenEngines {
    docker: DockerProvider,
    tests: Option<Arc<dyn Provider>>,
}

impl GenEngines {
    /// Connects to the local Docker engine and the chosen provider, removing
    /// what killed runs left behind on the latter.
    pub async fn connect(choice: &super::provider::ProviderArgs) -> anyhow::Result<Self> {
        let connected = choice.connect_kind().await?;
        super::provider::sweep(&connected).await;
        Ok(match connected {
            super::provider::Connected::Docker(docker) => GenEngines {
                docker,
                tests: None,
            },
            super::provider::Connected::Kube(kube) => GenEngines {
                docker: DockerProvider::connect()
                    .await
                    .context("the local Docker engine makes the images of --provider kubernetes")?,
                tests: Some(Arc::new(kube)),
            },
        })
    }

    /// The engines as `r2e_gen` takes them.
    pub fn engines(&self) -> Engines<'_> {
        Engines {
            docker: &self.docker,
            tests: self.tests.as_deref(),
        }
    }

    /// Runs `work` until it finishes or Ctrl-C arrives; on Ctrl-C the
    /// sandboxes of both engines are removed and `None` is returned.
    pub async fn or_interrupted<F: std::future::Future>(
        &self,
        bar: &ProgressBar,
        work: F,
    ) -> Option<F::Output> {
        let result = super::or_interrupted(&self.docker, bar, work).await;
        if result.is_none()
            && let Some(tests) = &self.tests
        {
            // Sandboxes dropped with the work may be gone already.
            let n = tests.close_all().await;
            if n > 0 {
                eprintln!("removed {n} {} sandbox(es)", tests.name());
            }
        }
        result
    }
}

/// How candidates' tests run (stages 4 and 5).
#[derive(Debug, Clone, Args)]
pub struct TestRunSettings {
    /// Seconds one test run may take.
    #[arg(long, default_value_t = 600.0, value_parser = super::positive_secs)]
    pub test_timeout: f64,
    /// Extra runs of the tests on the old and on the fixed code; a test whose
    /// status changes between the runs of either side is flaky and left out
    /// of the task (0: no rerun).
    #[arg(long, default_value_t = 1)]
    pub reruns: usize,
    /// R2E-Gym's rule for a test module that fails to collect on the old
    /// code (the new tests import a name the fix adds): reject the candidate
    /// as "test sets differ". By default the module's tests count as failing
    /// on the old code and become FAIL_TO_PASS.
    #[arg(long)]
    pub reject_collection_errors: bool,
    /// Tag each workspace image REGISTRY[/PATH]/IMAGE and push it there
    /// (no credentials: e.g. kind's local registry) before its candidates
    /// run, so that a cluster's nodes can pull it; their pods start from
    /// that name. Task images stay local.
    #[arg(long, value_name = "REGISTRY[/PATH]")]
    pub push_prefix: Option<String>,
    /// Limits of the sandboxes; --network applies to the test runs (off by
    /// default), environment installs always have network access.
    #[command(flatten)]
    pub sandbox: super::limits::SandboxArgs,
}

impl TestRunSettings {
    /// Validation settings: these, plus the environment (`--envs`, or one
    /// `image`), the repository's name and the worker count.
    pub fn options(
        &self,
        image: &str,
        envs: Option<&std::path::Path>,
        name: Option<String>,
        workers: usize,
    ) -> anyhow::Result<ValidateOptions> {
        let sandbox = self.sandbox.resolve()?;
        Ok(ValidateOptions {
            image: image.to_string(),
            repo_name: name,
            workers,
            test_timeout_secs: self.test_timeout,
            reruns: self.reruns,
            build_images: true,
            envs: envs.map(r2e_gen::env::load_env_map).transpose()?,
            limits: sandbox.limits,
            network: sandbox.network.unwrap_or(false),
            reject_collection_errors: self.reject_collection_errors,
            push_prefix: self.push_prefix.clone(),
        })
    }

    /// The sandbox settings of `r2e gen env` within `r2e gen run`: these
    /// limits; installs have network access whatever --network says.
    pub fn install_sandbox(&self) -> super::limits::SandboxArgs {
        super::limits::SandboxArgs {
            network: None,
            ..self.sandbox.clone()
        }
    }
}

/// Arguments of `r2e gen issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Tasks from `r2e gen validate` (DIR/tasks.jsonl).
    #[arg(long)]
    tasks: PathBuf,
    /// Output dataset (JSONL) of the tasks with issue texts; failures go to
    /// NAME.errors.jsonl next to it.
    #[arg(long)]
    out: PathBuf,
    /// Tasks sent to the model at the same time.
    #[arg(long, default_value_t = 4, value_parser = super::positive::<usize>)]
    workers: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    temperature: f64,
    #[command(flatten)]
    llm: super::llm::LlmArgs,
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
    /// Record merge commits as skipped instead of mining them against their
    /// first parent (R2E-Gym mines them: on projects that merge pull
    /// requests, a merge's diff is the whole request, fix and tests).
    #[arg(long)]
    no_merges: bool,
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
    /// Rule set: r2e-gym (R2E-Gym's candidate selection exactly, the default)
    /// or r2e (r2e's broader entity and test matching). Wins over the config
    /// file's `preset`.
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    preset: Option<Preset>,
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
        GenCmd::Env(a) => super::block_on(super::gen_env::run(a))?,
        GenCmd::Validate(a) => super::block_on(validate(a))?,
        GenCmd::Issue(a) => super::block_on(issue(a))?,
        GenCmd::Tests(a) => super::block_on(super::gen_tests::run(a))?,
        GenCmd::Run(a) => run_all(a),
        GenCmd::Images(a) => super::block_on(super::gen_images::run(a))?,
    }
}

/// The name of a repository entry: its directory or URL's last segment.
fn repo_name(entry: &str) -> String {
    let last = entry
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(entry);
    let name = last.trim_end_matches(".git");
    if name.is_empty() || name == "repo" {
        // Mirrors laid out as OWNER+NAME/repo: take the parent.
        let parent = entry
            .trim_end_matches('/')
            .rsplit('/')
            .nth(1)
            .unwrap_or("repo");
        return parent.replace('+', "__");
    }
    name.to_string()
}

/// Commits with an environment in an `envs.jsonl` (0 when it does not exist).
fn env_built(path: &std::path::Path) -> usize {
    r2e_core::jsonl::read::<r2e_gen::env::EnvRow>(path).map_or(0, |rows| {
        rows.iter()
            .filter(|r| r.outcome == r2e_gen::env::EnvOutcome::Built)
            .count()
    })
}

/// Rows in a JSONL file (0 when it does not exist).
fn rows(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().filter(|l| !l.trim().is_empty()).count())
}

fn run_all(a: RunArgs) -> anyhow::Result<ExitCode> {
    let list = std::fs::read_to_string(&a.repos)
        .with_context(|| format!("reading {}", a.repos.display()))?;
    let entries: Vec<&str> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    anyhow::ensure!(
        !entries.is_empty(),
        "{} names no repository",
        a.repos.display()
    );
    let cache = a.clone_dir.clone().unwrap_or_else(default_cache_dir);
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "repository",
        "commits",
        "candidates",
        "env built",
        "validated",
        "generated tests",
        "with issue text",
        "note",
    ]);
    let mut all_tasks = Vec::new();
    let mut failures = 0;
    for (i, entry) in entries.iter().enumerate() {
        let name = repo_name(entry);
        let dir = a.out.join(&name);
        eprintln!(
            "== [{}/{}] {entry} → {}",
            i + 1,
            entries.len(),
            dir.display()
        );
        let outcome = run_repo(&a, entry, &name, &dir, &cache);
        let (commits, candidates) = (
            rows(&dir.join("commits.jsonl")),
            rows(&dir.join("candidates.jsonl")),
        );
        let tasks_file = dir.join("tasks.jsonl");
        let generated_file = dir.join("tests_tasks.jsonl");
        let issue_files = [
            dir.join("tasks_with_issues.jsonl"),
            dir.join("tests_tasks_with_issues.jsonl"),
        ];
        let note = match &outcome {
            Ok(()) => String::new(),
            Err(e) => {
                failures += 1;
                format!("stopped: {e:#}")
            }
        };
        let final_tasks: &[std::path::PathBuf] = if a.llm.model.is_some() {
            &issue_files
        } else {
            std::slice::from_ref(&tasks_file)
        };
        for file in final_tasks.iter().filter(|f| f.exists()) {
            all_tasks.extend(r2e_core::dataset::load(file, &Default::default())?.tasks);
        }
        table.add_row(vec![
            name,
            commits.to_string(),
            candidates.to_string(),
            match &a.image {
                Some(_) => "— (--image)".to_string(),
                None => env_built(&dir.join("envs.jsonl")).to_string(),
            },
            rows(&tasks_file).to_string(),
            if a.llm.model.is_some() {
                rows(&generated_file).to_string()
            } else {
                "— (no --model)".into()
            },
            if a.llm.model.is_some() {
                issue_files
                    .iter()
                    .map(|f| rows(f))
                    .sum::<usize>()
                    .to_string()
            } else {
                "— (no --model)".into()
            },
            note,
        ]);
    }
    let dataset = a.out.join("tasks.jsonl");
    r2e_core::dataset::write(&dataset, &all_tasks)?;
    r2e_core::dataset::write(&dataset.with_extension("parquet"), &all_tasks)?;
    println!("{table}");
    if !a.no_check && !all_tasks.is_empty() {
        eprintln!(
            "== last stage: r2e dataset check on the {} task(s)",
            all_tasks.len()
        );
        check_stage(&a, &all_tasks)?;
    }
    println!(
        "{} tasks from {} repositories in {} (and tasks.parquet)",
        all_tasks.len(),
        entries.len(),
        dataset.display()
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `r2e dataset check` on the tasks made (resumes from DIR/check.jsonl).
fn check_stage(a: &RunArgs, tasks: &[r2e_core::Task]) -> anyhow::Result<()> {
    let settings = super::dataset_check::CheckSettings {
        reruns: a.check_reruns,
        workers: a.workers,
        pool: 0,
        out: a.out.join("check.jsonl"),
        write_clean: Some(a.out.join("tasks_checked.jsonl")),
    };
    let sandbox = a.tests.sandbox.resolve()?;
    let opts = r2e_env::EnvOptions {
        limits: sandbox.limits,
        network: sandbox.network,
        test_timeout: std::time::Duration::from_secs_f64(a.tests.test_timeout),
        ..r2e_env::EnvOptions::default()
    };
    super::block_on(async {
        let provider = a.sandbox.choice().connect().await?;
        super::dataset_check::checks(provider, tasks, opts, &settings).await
    })??;
    Ok(())
}

/// Every stage for one repository; each stage resumes from its own file.
fn run_repo(
    a: &RunArgs,
    entry: &str,
    name: &str,
    dir: &std::path::Path,
    cache: &std::path::Path,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ok = |code: ExitCode, stage: &str| {
        anyhow::ensure!(code == ExitCode::SUCCESS, "{stage} did not finish");
        Ok(())
    };
    ok(
        mine(MineArgs {
            repo: entry.to_string(),
            out: dir.join("commits.jsonl"),
            max_commits: a.max_commits,
            workers: 0,
            rev: None,
            no_merges: a.no_merges,
            cache_dir: Some(cache.to_path_buf()),
        })?,
        "mine",
    )?;
    ok(
        filter(FilterArgs {
            commits: Some(dir.join("commits.jsonl")),
            out: Some(dir.join("candidates.jsonl")),
            config: a.filter_config.clone(),
            preset: a.preset,
            rejected: Some(dir.join("rejected.jsonl")),
            print_config: false,
        })?,
        "filter",
    )?;
    let repo = resolve_repo(entry, cache)?;
    let envs = match &a.image {
        Some(_) => None,
        None => {
            let envs = dir.join("envs.jsonl");
            ok(
                super::block_on(super::gen_env::run(super::gen_env::EnvArgs {
                    repo: repo.clone(),
                    candidates: dir.join("candidates.jsonl"),
                    out: envs.clone(),
                    settings: a.env.clone(),
                    name: Some(name.to_string()),
                    sandbox: a.tests.install_sandbox(),
                }))??,
                "env",
            )?;
            Some(envs)
        }
    };
    let image = a
        .image
        .clone()
        .unwrap_or_else(|| r2e_gen::validate::DEFAULT_IMAGE.to_string());
    ok(
        super::block_on(validate(ValidateArgs {
            repo: repo.clone(),
            candidates: dir.join("candidates.jsonl"),
            out: dir.to_path_buf(),
            image: image.clone(),
            envs: envs.clone(),
            workers: a.workers,
            name: Some(name.to_string()),
            tests: a.tests.clone(),
            provider: a.sandbox.choice(),
        }))??,
        "validate",
    )?;
    if a.llm.model.is_some() {
        // Stage 5 for the fixes the filter rejected for their tests only; their
        // environments first, in the same envs.jsonl.
        let rules: Vec<String> = r2e_gen::testgen::DEFAULT_RULES
            .iter()
            .map(|r| r.to_string())
            .collect();
        if let Some(envs) = &envs {
            let selection = r2e_gen::testgen::selected(
                &dir.join("commits.jsonl"),
                &dir.join("rejected.jsonl"),
                &r2e_gen::testgen::TestGenOptions {
                    rules: rules.clone(),
                    max: a.max_test_commits,
                    ..Default::default()
                },
            )?;
            let selected = dir.join("test_candidates.jsonl");
            let mut text = String::new();
            for c in &selection.commits {
                text.push_str(&serde_json::to_string(c)?);
                text.push('\n');
            }
            std::fs::write(&selected, text)
                .with_context(|| format!("writing {}", selected.display()))?;
            ok(
                super::block_on(super::gen_env::run(super::gen_env::EnvArgs {
                    repo: repo.clone(),
                    candidates: selected,
                    out: envs.clone(),
                    settings: a.env.clone(),
                    name: Some(name.to_string()),
                    sandbox: a.tests.install_sandbox(),
                }))??,
                "env (generated tests)",
            )?;
        }
        ok(
            super::block_on(super::gen_tests::run(super::gen_tests::TestsArgs {
                repo: repo.clone(),
                commits: dir.join("commits.jsonl"),
                rejected: dir.join("rejected.jsonl"),
                rules,
                out: dir.to_path_buf(),
                image: image.clone(),
                envs: envs.clone(),
                workers: a.workers,
                attempts: 3,
                max: a.max_test_commits,
                name: Some(name.to_string()),
                tests: a.tests.clone(),
                temperature: 0.7,
                llm: a.llm.clone(),
                sandbox: a.sandbox.clone(),
            }))??,
            "tests",
        )?;
        for (tasks, out) in [
            ("tasks.jsonl", "tasks_with_issues.jsonl"),
            ("tests_tasks.jsonl", "tests_tasks_with_issues.jsonl"),
        ] {
            ok(
                super::block_on(issue(IssueArgs {
                    tasks: dir.join(tasks),
                    out: dir.join(out),
                    workers: a.workers,
                    temperature: 0.7,
                    llm: a.llm.clone(),
                }))??,
                "issue",
            )?;
        }
    }
    Ok(())
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
        skip_merges: a.no_merges,
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
            start_bar(
                &bar,
                "commits",
                total,
                already_done,
                &a.out,
                total - already_done,
                "",
            );
        }
        MineEvent::Mined(_) => super::advance(&bar, 1),
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
        Some(p) => FilterConfig::load(p, a.preset)?,
        None => FilterConfig::for_preset(a.preset.unwrap_or_default()),
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
        "kept {} of {} commits ({} of them merge commits, diffed against their first parent; \
         rule set {}) in {}",
        funnel.kept,
        funnel.input,
        funnel.kept_merges,
        config.preset.name(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--preset`'s parser.
fn parse_preset(name: &str) -> Result<Preset, String> {
    Preset::parse(name).ok_or_else(|| {
        format!(
            "unknown rule set `{name}`; the rule sets are {}",
            Preset::NAMES
        )
    })
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

/// Commits by outcome label (`valid`, `no_fail_to_pass`, ...).
pub fn outcome_table(by_reason: &std::collections::BTreeMap<String, usize>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["outcome", "commits"]);
    for (reason, n) in by_reason {
        t.add_row(vec![reason.clone(), n.to_string()]);
    }
    t
}

/// Shows `bar` for `todo` items, after saying how many of `total` `what` an
/// earlier run already wrote to `out`.
pub fn start_bar(
    bar: &ProgressBar,
    what: &str,
    total: usize,
    already_done: usize,
    out: &std::path::Path,
    todo: usize,
    message: &'static str,
) {
    if already_done > 0 {
        eprintln!(
            "{already_done} of {total} {what} already in {}",
            out.display()
        );
    }
    bar.set_length(todo as u64);
    bar.set_message(message);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
}

fn bar(template: &str) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::hidden();
    bar.set_style(ProgressStyle::with_template(template)?.progress_chars("=> "));
    Ok(bar)
}

async fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let engines = GenEngines::connect(&a.provider).await?;
    let opts = a
        .tests
        .options(&a.image, a.envs.as_deref(), a.name, a.workers)?;
    let (validated, tasks) = output_paths(&a.out);
    let bar = bar("{spinner} validating [{bar:30}] {pos}/{len} commits, {msg}, ETA {eta}")?;
    let mut valid = 0usize;
    let work = async {
        validate_jsonl(
            engines.engines(),
            &a.repo,
            &a.candidates,
            &validated,
            &opts,
            &mut |e| match e {
                ValidateEvent::Preparing => eprintln!("copying the repository into an image ..."),
                ValidateEvent::Planned {
                    total,
                    already_done,
                } => {
                    start_bar(
                        &bar,
                        "candidates",
                        total,
                        already_done,
                        &validated,
                        total - already_done,
                        "0 valid",
                    );
                }
                ValidateEvent::Done(row) => {
                    if row.outcome == Outcome::Valid {
                        valid += 1;
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
    let summary = result.with_context(|| format!("validating {}", a.candidates.display()))?;
    bar.finish_and_clear();
    let n_tasks = write_tasks(&validated, &tasks)?;
    println!("{}", outcome_table(&summary.by_reason));
    println!(
        "funnel: {} candidates → {} validated ({} this run, {} earlier); {} tasks in {}",
        summary.input,
        summary.valid,
        summary.input - summary.already_done,
        summary.already_done,
        n_tasks,
        tasks.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn issue(a: IssueArgs) -> anyhow::Result<ExitCode> {
    let Some((model, client)) = a.llm.client()? else {
        anyhow::bail!("--model is required");
    };
    let opts = IssueOptions {
        model,
        temperature: a.temperature,
        workers: a.workers,
    };
    let bar = bar("{spinner} writing issues [{bar:30}] {pos}/{len} tasks, {msg}, ETA {eta}")?;
    let mut failed = 0usize;
    let summary = issue_jsonl(&client, &a.tasks, &a.out, &opts, &mut |e| match e {
        IssueEvent::Planned {
            total,
            already_done,
        } => {
            start_bar(
                &bar,
                "tasks",
                total,
                already_done,
                &a.out,
                total - already_done,
                "0 failed",
            );
        }
        IssueEvent::Done { task_id, error } => {
            if let Some(error) = error {
                failed += 1;
                bar.println(format!("{task_id}: {error}"));
            }
            bar.set_message(format!("{failed} failed"));
            super::advance(&bar, 1);
        }
    })
    .await
    .with_context(|| format!("writing issues for {}", a.tasks.display()))?;
    bar.finish_and_clear();
    println!(
        "funnel: {} tasks → {} with issue text, {} failed (see {}); output {}",
        summary.input,
        summary.written,
        summary.failed,
        errors_path(&a.out).display(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
