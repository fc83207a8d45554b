//! Stage 4, `validate`: run a candidate commit's tests on the old code (with
//! the new tests) and on the new code, and keep the commit only when it makes
//! a good task.
//!
//! Per repository, the history is copied once into a sandbox (a `git bundle`
//! of every ref, cloned to `/testbed`) and saved as a repository image. Each
//! candidate then runs in its own sandbox from that image:
//!
//! ```text
//! git checkout -f PARENT; git apply TEST_PATCH   → run TEST_CMD → old statuses
//! git apply GOLD_PATCH                           → run TEST_CMD twice → new statuses
//! keep when: same test ids on both sides, no PASS → non-PASS,
//!            at least one FAIL → PASS (tests whose two new runs differ are dropped)
//! then: git checkout -f PARENT; git clean -fdx; drop refs → task image
//! ```
//!
//! `TEST_CMD` runs only the test files the test patch touches: pytest with
//! `-rA` when the image can import it (log parser `pytest`), else
//! `python3 -m unittest -v MODULES` (log parser `django`, which reads
//! unittest's verbose lines). Statuses are parsed with [`r2e_grade::Parser`]
//! under [`Rules::V5`], the rules `r2e eval` applies to rows that carry
//! `log_parser`. Rows are appended to a JSONL file as they finish, and a rerun
//! skips commits already in it.
//!
//! A test module that fails to collect on the old code (the new tests import
//! a name the fix adds) leaves one file-level `ERROR` id where the new code
//! reports the module's tests; by default those tests count as failing on the
//! old code, so they become FAIL_TO_PASS. With
//! [`ValidateOptions::reject_collection_errors`] the ids must match as in
//! R2E-Gym, and such a candidate is rejected as `test_sets_differ`.
//!
//! **Where it runs** ([`Engines`]). Images are made on the local Docker
//! engine, which can save a container as an image: the workspace image, and
//! each valid candidate's task image. The test runs, the expensive part
//! (`2 × (1 + reruns)` suite runs per candidate, most candidates rejected),
//! go to any [`Provider`]: that engine by default, or Kubernetes pods from
//! the workspace image, which the cluster must be able to pull
//! ([`ValidateOptions::push_prefix`] pushes it to a registry first). A cluster
//! cannot save a pod as an image, so for a valid candidate run elsewhere
//! the task image is made in a fresh local sandbox from the same workspace
//! image, with the same steps ([`save_task_image`]) as after a local run:
//! the rows do not depend on where the tests ran.

use crate::error::{Error, Result};
use crate::images::ImageKind;
use crate::model::{FileKind, FileStatus, MinedCommit};
use futures_util::StreamExt;
use r2e_core::jsonl::JsonlWriter;
use r2e_core::{SourceFormat, Task};
use r2e_grade::{Parser, Rules, StatusMap};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, ExecOutput, Provider, Sandbox, SandboxSpec, shell_quote};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Default image validation runs in.
pub const DEFAULT_IMAGE: &str = "r2e/base:bookworm";
/// Where the repository lives in sandboxes and task images.
pub const REPO_DIR: &str = "/testbed";
/// Image label holding the commit a task image was made for.
pub const COMMIT_LABEL: &str = "dev.r2e.gen.commit";
/// Characters of the old-code test log kept in a row (the end of the log).
const LOG_TAIL: usize = 6000;

/// Settings of [`validate_jsonl`].
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Image with the repository's environment (Python and its dependencies).
    pub image: String,
    /// Repository name used in task ids and image names (default: the
    /// directory name of the repository, without `.git`).
    pub repo_name: Option<String>,
    /// Candidates validated at the same time.
    pub workers: usize,
    /// Seconds one test run may take.
    pub test_timeout_secs: f64,
    /// Extra runs of the tests on the old and on the new code: a test whose
    /// status differs between the runs of either side is flaky and left out
    /// of the task.
    pub reruns: usize,
    /// Save a task image per kept commit (`r2e-gen/NAME:SHORT`).
    pub build_images: bool,
    /// Per-commit environments from `r2e gen env`: commit id → an image that
    /// holds the repository at `/testbed` with its dependencies installed, or
    /// why none could be built. When set, `image` is not used, and a commit
    /// without an environment is rejected as `no_env`.
    pub envs: Option<BTreeMap<String, std::result::Result<String, String>>>,
    /// Memory, CPU and process limits of the sandboxes the tests run in.
    pub limits: r2e_sandbox::Limits,
    /// Give the test runs network access (off: a test that needs the
    /// network is not a good task).
    pub network: bool,
    /// R2E-Gym's rule for a test module that fails to collect on the old
    /// code: its file-level `ERROR` does not stand for the module's tests, so
    /// the test sets differ and the candidate is rejected (off: the module's
    /// tests count as failing on the old code).
    pub reject_collection_errors: bool,
    /// A registry prefix (`REGISTRY[/PATH]`) the test provider pulls from:
    /// each workspace image is tagged `PREFIX/IMAGE` on the local engine and
    /// pushed there (without credentials) before its candidates run, and
    /// their sandboxes start from that name. Task images stay local.
    pub push_prefix: Option<String>,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            image: DEFAULT_IMAGE.to_string(),
            repo_name: None,
            workers: 2,
            test_timeout_secs: 600.0,
            reruns: 1,
            build_images: true,
            envs: None,
            limits: r2e_sandbox::Limits::default(),
            network: false,
            reject_collection_errors: false,
            push_prefix: None,
        }
    }
}

/// Where validation runs its sandboxes: images (workspaces, task images)
/// are made on the local Docker engine `docker`; the candidates' test runs
/// go to `tests` (Kubernetes pods, say), or to `docker` too.
#[derive(Clone, Copy)]
pub struct Engines<'a> {
    /// The local Docker engine: prepares workspace images and saves task
    /// images.
    pub docker: &'a DockerProvider,
    /// Where the test runs go; `None`: `docker`. Its sandboxes start from
    /// the workspace images `docker` made, so it must be able to pull them.
    pub tests: Option<&'a dyn Provider>,
}

impl<'a> From<&'a DockerProvider> for Engines<'a> {
    /// Everything on one Docker engine.
    fn from(docker: &'a DockerProvider) -> Self {
        Engines {
            docker,
            tests: None,
        }
    }
}

/// What became of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A good task: kept.
    Valid,
    /// The commit does not make a task (see [`ValidatedCommit::reason`]).
    Rejected,
    /// Validation itself failed (sandbox, image); a rerun tries again only
    /// after the row is removed.
    Error,
}

/// One validated (or rejected) commit: a row of `validated.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatedCommit {
    /// Full hex id of the commit.
    pub hash: String,
    /// Its parent, the task's base commit.
    #[serde(default)]
    pub parent: Option<String>,
    /// Repository name (task ids are `NAME__SHORT`).
    pub repo: String,
    /// The repository's `owner/name` from its `origin` remote, when it has
    /// one: the task's `repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Valid, rejected or error.
    pub outcome: Outcome,
    /// Why the commit was rejected (a stable label such as `no_fail_to_pass`,
    /// then details), or the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The command that runs the commit's tests in `/testbed`.
    #[serde(default)]
    pub test_cmd: String,
    /// The r2e-grade parser for the command's log (`pytest` or `django`).
    #[serde(default)]
    pub log_parser: String,
    /// Tests failing on the old code and passing on the new.
    #[serde(default)]
    pub fail_to_pass: Vec<String>,
    /// Tests passing on both sides.
    #[serde(default)]
    pub pass_to_pass: Vec<String>,
    /// Tests whose status differed between two runs on the new code (left out
    /// of every list).
    #[serde(default)]
    pub flaky: Vec<String>,
    /// Status of every (non-flaky) test on the new code: the reward reference.
    #[serde(default)]
    pub expected_statuses: BTreeMap<String, String>,
    /// Status of every test on the old code with the new tests.
    #[serde(default)]
    pub old_statuses: BTreeMap<String, String>,
    /// The end of the old-code test log (failure output for issue writing).
    #[serde(default)]
    pub old_log: String,
    /// The end of the new-code test log (its first run), so that a reject can
    /// be read without running it again.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_log: String,
    /// The task image (repository at the parent commit), when built.
    #[serde(default)]
    pub image: String,
    /// Author date of the commit (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// The fix.
    #[serde(default)]
    pub gold_patch: String,
    /// The tests.
    #[serde(default)]
    pub test_patch: String,
    /// Whether the tests were written by a model (stage 5, `testgen`) rather
    /// than taken from the commit; tasks carry it as `extra.tests_generated`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generated_tests: bool,
}

impl ValidatedCommit {
    pub(crate) fn new(c: &MinedCommit, repo: &str) -> Self {
        ValidatedCommit {
            hash: c.hash.clone(),
            parent: c.parent.clone(),
            repo: repo.to_string(),
            origin: None,
            outcome: Outcome::Rejected,
            reason: None,
            test_cmd: String::new(),
            log_parser: String::new(),
            fail_to_pass: Vec::new(),
            pass_to_pass: Vec::new(),
            flaky: Vec::new(),
            expected_statuses: BTreeMap::new(),
            old_statuses: BTreeMap::new(),
            old_log: String::new(),
            new_log: String::new(),
            image: String::new(),
            created_at: c.author_date.clone(),
            gold_patch: c.gold_patch.clone(),
            test_patch: c.test_patch.clone(),
            generated_tests: false,
        }
    }

    pub(crate) fn reject(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Rejected;
        self.reason = Some(reason.into());
        self
    }

    /// The label of [`Self::reason`] (its first word), or the outcome.
    pub fn reason_label(&self) -> &str {
        match (&self.outcome, &self.reason) {
            (Outcome::Valid, _) => "valid",
            (Outcome::Error, _) => "error",
            (Outcome::Rejected, Some(r)) => r.split([':', ' ', ';']).next().unwrap_or(r),
            (Outcome::Rejected, None) => "rejected",
        }
    }

    /// The r2e task of a valid row: SWE-bench shape, `extra.test_cmd` and
    /// `extra.log_parser` for r2e's generic eval script, no issue text yet
    /// (stage 6 writes it). `None` for rejected rows.
    pub fn to_task(&self) -> Option<Task> {
        if self.outcome != Outcome::Valid {
            return None;
        }
        let mut extra = serde_json::Map::new();
        extra.insert("test_cmd".into(), self.test_cmd.clone().into());
        extra.insert("log_parser".into(), self.log_parser.clone().into());
        extra.insert("commit".into(), self.hash.clone().into());
        extra.insert("old_log".into(), self.old_log.clone().into());
        if self.generated_tests {
            extra.insert("tests_generated".into(), true.into());
        }
        // `source: swe_gen` grades as SWE-bench rows; the generator is said
        // here too, as rows made before that source existed did.
        extra.insert("generator".into(), GENERATOR.into());
        Some(Task {
            task_id: format!("{}__{}", self.repo, short(&self.hash)),
            source: SourceFormat::SweGen,
            repo: self.origin.clone().unwrap_or_else(|| self.repo.clone()),
            base_commit: self.parent.clone().unwrap_or_default(),
            image: self.image.clone(),
            problem_statement: String::new(),
            hints_text: None,
            gold_patch: self.gold_patch.clone(),
            test_patch: self.test_patch.clone(),
            test_files: Vec::new(),
            fail_to_pass: self.fail_to_pass.clone(),
            pass_to_pass: self.pass_to_pass.clone(),
            expected_statuses: self.expected_statuses.clone(),
            version: None,
            environment_setup_commit: None,
            created_at: Some(self.created_at.clone()).filter(|s| !s.is_empty()),
            extra,
        })
    }
}

/// Progress of [`validate_jsonl`].
#[derive(Debug, Clone)]
pub enum ValidateEvent {
    /// The repository image is being built (once per repository).
    Preparing,
    /// How many candidates will run, and how many the output already holds.
    Planned {
        /// Candidates in the input.
        total: usize,
        /// Of those, already in the output.
        already_done: usize,
    },
    /// One candidate finished.
    Done(Box<ValidatedCommit>),
}

/// Counts of a validation run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateSummary {
    /// Candidates read.
    pub input: usize,
    /// Already validated by an earlier run.
    pub already_done: usize,
    /// Rows by reason label (`valid`, `error`, `no_test_patch`, ...), this run
    /// and earlier runs together.
    pub by_reason: BTreeMap<String, usize>,
    /// Valid rows in the output.
    pub valid: usize,
}

/// How an image runs the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// `python3 -m pytest -rA` (log parser `pytest`).
    Pytest,
    /// `python3 -m unittest -v` (log parser `django`).
    Unittest,
}

impl Runner {
    /// The parser of this runner's logs.
    pub fn parser(self) -> Parser {
        match self {
            Runner::Pytest => Parser::Pytest,
            Runner::Unittest => Parser::Django,
        }
    }

    /// The name of [`Self::parser`] as task rows carry it.
    pub fn parser_name(self) -> &'static str {
        match self {
            Runner::Pytest => "pytest",
            Runner::Unittest => "django",
        }
    }

    /// The command running `files` (paths relative to the repository root).
    pub fn command(self, files: &[String]) -> String {
        match self {
            Runner::Pytest => {
                let quoted: Vec<String> = files.iter().map(|f| shell_quote(f)).collect();
                format!(
                    "python3 -m pytest -rA -p no:cacheprovider {}",
                    quoted.join(" ")
                )
            }
            Runner::Unittest => {
                let modules: Vec<String> = files
                    .iter()
                    .map(|f| shell_quote(&f.trim_end_matches(".py").replace('/', ".")))
                    .collect();
                format!("python3 -m unittest -v {}", modules.join(" "))
            }
        }
    }
}

/// What pytest 4 and later say of a `[pytest]` section in `setup.cfg`, which
/// they refuse to run with.
pub(crate) const LEGACY_SETUP_CFG: &str =
    "[pytest] section in setup.cfg files is no longer supported";

/// The pytest command of a repository whose `setup.cfg` has a `[pytest]`
/// section: `command` with the configuration files left out (`-c /dev/null`)
/// and the rootdir kept at the repository, so that test ids do not change.
pub(crate) fn without_legacy_config(command: &str) -> String {
    command.replacen(
        "python3 -m pytest ",
        &format!("python3 -m pytest -c /dev/null --rootdir {REPO_DIR} "),
        1,
    )
}

/// The first 12 hex digits of a commit id.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A Docker-safe name component: lowercase `[a-z0-9._-]`, other bytes as `-`.
pub(crate) fn docker_name(s: &str) -> String {
    let n: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let n = n
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if n.is_empty() { "repo".to_string() } else { n }
}

/// The repository name of `repo` (its directory name without `.git`).
pub fn repo_name(repo: &Path) -> String {
    let base = repo
        .canonicalize()
        .unwrap_or_else(|_| repo.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    docker_name(base.strip_suffix(".git").unwrap_or(&base))
}

/// What SWE-Gen tasks carry as `extra.generator`.
pub const GENERATOR: &str = "r2e-gen";

/// `owner/name` of the repository at `repo` from its `origin` remote's URL
/// (`https://host/owner/name(.git)`, `git@host:owner/name.git`,
/// `ssh://git@host/owner/name`), or `None` without one.
pub fn origin_name(repo: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["config", "--get", "remote.origin.url"])
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    owner_name(&url)
}

/// `owner/name` from a remote URL (see [`origin_name`]); local paths give
/// `None`.
pub fn owner_name(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme != "file" => rest.split_once('/')?.1,
        Some(_) => return None,
        None => url.split_once(':').filter(|(h, _)| h.contains('@'))?.1,
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let mut parts = rest.rsplit('/');
    let (name, owner) = (parts.next()?, parts.next()?);
    (!name.is_empty() && !owner.is_empty()).then(|| format!("{owner}/{name}"))
}

/// The test files of a commit that a runner can run: Python test modules the
/// test patch adds or modifies (`test_*.py` / `*_test.py`), in path order.
pub fn test_modules(c: &MinedCommit) -> Vec<String> {
    let mut files: Vec<String> = c
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Test && f.status != FileStatus::Deleted)
        .filter(|f| f.omitted.is_none())
        .filter(|f| {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
        })
        .map(|f| f.path.clone())
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Why a commit cannot be validated without running anything, if it cannot.
fn static_rejection(c: &MinedCommit) -> Option<String> {
    if let Some(skip) = &c.skipped {
        return Some(format!("not_analysed: {}", skip.label()));
    }
    if c.parent.is_none() {
        return Some("not_analysed: root".into());
    }
    if c.test_patch.trim().is_empty() {
        return Some("no_test_patch".into());
    }
    if c.gold_patch.trim().is_empty() {
        return Some("no_gold_patch".into());
    }
    if test_modules(c).is_empty() {
        return Some("no_test_modules".into());
    }
    None
}

/// Runs `cmd` in `/testbed`, failing on a non-zero exit.
async fn step(sb: &dyn Sandbox, cmd: &str) -> Result<ExecOutput> {
    let opts = ExecOptions {
        cwd: Some(REPO_DIR.into()),
        timeout: Some(std::time::Duration::from_secs(600)),
        ..Default::default()
    };
    let out = sb.exec(cmd, &opts).await?;
    if !out.success() {
        let err = out.stderr_text();
        let tail = err.get(err.len().saturating_sub(2000)..).unwrap_or(&err);
        return Err(Error::Step {
            step: cmd.to_string(),
            code: out.exit_code,
            stderr: tail.trim().to_string(),
        });
    }
    Ok(out)
}

/// A `git bundle` of every ref of the repository at `repo` (git CLI).
fn bundle(repo: &Path) -> Result<Vec<u8>> {
    let file = scratch_path(repo, "bundle");
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["bundle", "create", "-q"])
        .arg(&file)
        .arg("--all")
        .output()
        .map_err(|e| Error::io(repo, e))?;
    if !out.status.success() {
        return Err(Error::git(
            "git bundle create --all",
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    let data = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
    let _ = std::fs::remove_file(&file);
    Ok(data)
}

/// The id of HEAD of the repository at `repo`, for naming its image.
fn head_id(repo: &Path) -> Result<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .map_err(|e| Error::io(repo, e))?;
    if !out.status.success() {
        return Err(Error::git(
            "git rev-parse HEAD",
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// An image with the repository's full history at `/testbed` and a Python
/// that can run its tests: what each candidate's sandbox starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The image.
    pub image: String,
    /// How it runs tests (pytest when it can import pytest).
    pub runner: Runner,
}

impl Workspace {
    /// Builds a workspace from an environment image without the repository:
    /// `image` plus the full history of `repo` at `/testbed`, saved as
    /// `r2e-gen/NAME:repo-HEAD`.
    /// `revs` are the commits the workspace must hold when the repository
    /// cannot be copied whole (see [`copy_repo`]).
    pub async fn prepare(
        provider: &DockerProvider,
        repo: &Path,
        name: &str,
        image: &str,
        revs: &[String],
    ) -> Result<Workspace> {
        let tag = format!("r2e-gen/{name}:repo-{}", short(&head_id(repo)?));
        let sb = provider.start_docker(&SandboxSpec::new(image)).await?;
        let result: Result<Runner> = async {
            RepoArchive::new(repo, revs)?.copy_into(&sb).await?;
            let runner = probe_runner(&sb).await?;
            let labels = ImageKind::Workspace.labels(name);
            provider.commit(&sb, &tag, labels, &[]).await?;
            Ok(runner)
        }
        .await;
        let _ = sb.close().await;
        Ok(Workspace {
            image: tag,
            runner: result?,
        })
    }

    /// A workspace from an image that already holds the repository at
    /// `/testbed` (an environment layer of `r2e gen env`).
    pub async fn existing(provider: &DockerProvider, image: &str) -> Result<Workspace> {
        let sb = provider.start_docker(&SandboxSpec::new(image)).await?;
        let runner = probe_runner(&sb).await;
        let _ = sb.close().await;
        Ok(Workspace {
            image: image.to_string(),
            runner: runner?,
        })
    }
}

/// The workspace of each commit, built or probed once per image: the
/// environment of [`ValidateOptions::envs`] when set, else
/// [`ValidateOptions::image`] with the repository copied in.
pub struct Workspaces<'a> {
    provider: &'a DockerProvider,
    repo: &'a Path,
    name: &'a str,
    opts: &'a ValidateOptions,
    ready: HashMap<String, Workspace>,
    revs: Vec<String>,
}

impl<'a> Workspaces<'a> {
    /// Workspaces for commits of the repository at `repo`, named `name`.
    pub fn new(
        provider: &'a DockerProvider,
        repo: &'a Path,
        name: &'a str,
        opts: &'a ValidateOptions,
    ) -> Self {
        Workspaces {
            provider,
            repo,
            name,
            opts,
            ready: HashMap::new(),
            revs: Vec::new(),
        }
    }

    /// The commits a workspace must hold when the repository cannot be
    /// copied whole: give every commit that will be validated.
    pub fn with_commits<'c>(mut self, commits: impl IntoIterator<Item = &'c MinedCommit>) -> Self {
        self.revs = revs_of(commits);
        self
    }

    /// The image `c` runs in, or why it is rejected without running
    /// (a static reason such as `no_test_patch`, or `no_env`).
    fn image_for(&self, c: &MinedCommit) -> std::result::Result<String, String> {
        if let Some(why) = static_rejection(c) {
            return Err(why);
        }
        match &self.opts.envs {
            None => Ok(self.opts.image.clone()),
            Some(envs) => match envs.get(&c.hash) {
                Some(Ok(image)) => Ok(image.clone()),
                Some(Err(why)) => Err(format!("no_env: {why}")),
                None => Err("no_env: not in the environments file".to_string()),
            },
        }
    }

    /// Whether [`Self::for_commit`] will copy the repository into an image
    /// (slow, once per image) for `c`.
    pub fn needs_preparing(&self, c: &MinedCommit) -> bool {
        self.opts.envs.is_none()
            && self
                .image_for(c)
                .is_ok_and(|image| !self.ready.contains_key(&image))
    }

    /// The workspace of `c`, or why `c` is rejected without running. Errors
    /// only when an image cannot be prepared or probed.
    pub async fn for_commit(
        &mut self,
        c: &MinedCommit,
    ) -> Result<std::result::Result<Workspace, String>> {
        let image = match self.image_for(c) {
            Ok(image) => image,
            Err(why) => return Ok(Err(why)),
        };
        if let Some(ws) = self.ready.get(&image) {
            return Ok(Ok(ws.clone()));
        }
        let mut ws = if self.opts.envs.is_some() {
            Workspace::existing(self.provider, &image).await?
        } else {
            Workspace::prepare(self.provider, self.repo, self.name, &image, &self.revs).await?
        };
        if let Some(prefix) = &self.opts.push_prefix {
            ws.image = push(self.provider, &ws.image, prefix).await?;
        }
        self.ready.insert(image, ws.clone());
        Ok(Ok(ws))
    }
}

/// Tags `image` as `PREFIX/IMAGE` on `docker` and pushes it there; returns
/// the new name.
async fn push(docker: &DockerProvider, image: &str, prefix: &str) -> Result<String> {
    use bollard::query_parameters::{PushImageOptions, TagImageOptions};
    let target = format!("{}/{image}", prefix.trim_end_matches('/'));
    let (repo, tag) = r2e_sandbox::image::split_reference(&target);
    let failed = |context: String| {
        move |source| {
            Error::from(r2e_sandbox::SandboxError::Docker {
                context: format!("{context}\n  hint: {REGISTRY_HINT}"),
                source,
            })
        }
    };
    let tag_opts = TagImageOptions {
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
    };
    docker
        .client()
        .tag_image(image, Some(tag_opts))
        .await
        .map_err(failed(format!("tagging {image} as {target}")))?;
    let push_opts = PushImageOptions {
        tag: Some(tag.to_string()),
        platform: None,
    };
    let mut progress = docker.client().push_image(repo, Some(push_opts), None);
    while let Some(step) = progress.next().await {
        step.map_err(failed(format!("pushing {target}")))?;
    }
    Ok(target)
}

/// What to check when a push fails.
const REGISTRY_HINT: &str = "--push-prefix names a registry the Docker engine can push to \
     without credentials (e.g. kind's local registry, localhost:5001); `docker push` by hand \
     shows what it answers";

/// The commits and parents of `commits`: what a sandbox checks out.
pub fn revs_of<'c>(commits: impl IntoIterator<Item = &'c MinedCommit>) -> Vec<String> {
    let mut revs: Vec<String> = commits
        .into_iter()
        .flat_map(|c| std::iter::once(c.hash.clone()).chain(c.parent.clone()))
        .collect();
    revs.sort();
    revs.dedup();
    revs
}

/// A repository packed for copying into sandboxes: made once, copied into
/// as many sandboxes as need it.
#[derive(Debug, Clone)]
pub enum RepoArchive {
    /// Every ref, as a `git bundle --all`.
    Bundle(Vec<u8>),
    /// A tar of the `.git` of a shallow repository holding only some commits.
    GitDir(Vec<u8>),
}

impl RepoArchive {
    /// Packs `repo`: a bundle of every ref, or, when the repository cannot be
    /// bundled whole (objects missing from a partial clone or a damaged
    /// snapshot), only `revs`, fetched shallow into a fresh repository.
    /// `revs` should name every commit a sandbox checks out (candidates and
    /// their parents).
    pub fn new(repo: &Path, revs: &[String]) -> Result<RepoArchive> {
        match bundle(repo) {
            Ok(data) => Ok(RepoArchive::Bundle(data)),
            Err(whole) if !revs.is_empty() => shallow_git_dir(repo, revs)
                .map(RepoArchive::GitDir)
                .map_err(|e| {
                    Error::git(
                        "copying the repository",
                        format!("{whole}; and fetching only the commits needed failed too: {e}"),
                    )
                }),
            Err(e) => Err(e),
        }
    }

    /// Unpacks the history into `/testbed` of `sb` (no checkout).
    pub async fn copy_into(&self, sb: &dyn Sandbox) -> Result<()> {
        let (file, data, cmd) = match self {
            RepoArchive::Bundle(data) => (
                "/tmp/repo.bundle",
                data,
                format!(
                    "rm -rf {REPO_DIR} && git clone -q --no-checkout /tmp/repo.bundle {REPO_DIR}"
                ),
            ),
            RepoArchive::GitDir(data) => (
                "/tmp/repo.tar",
                data,
                format!(
                    "rm -rf {REPO_DIR} && mkdir -p {REPO_DIR}/.git \
                     && tar -xf /tmp/repo.tar -C {REPO_DIR}/.git \
                     && git -C {REPO_DIR} config core.bare false"
                ),
            ),
        };
        sb.write_file(file, data, None).await?;
        let cmd = format!("{cmd} && rm {file}");
        let out = sb.exec(&cmd, &ExecOptions::default()).await?;
        if !out.success() {
            return Err(Error::Step {
                step: cmd,
                code: out.exit_code,
                stderr: out.stderr_text().trim().to_string(),
            });
        }
        Ok(())
    }
}

/// A tar of the `.git` directory of a fresh repository holding `revs` (and
/// nothing below them), fetched from `repo` with depth 1.
fn shallow_git_dir(repo: &Path, revs: &[String]) -> Result<Vec<u8>> {
    let tmp = scratch_path(repo, "shallow");
    let _ = std::fs::remove_dir_all(&tmp);
    let run = |args: &[&str], cwd: &Path| -> Result<Vec<u8>> {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .current_dir(cwd)
            .output()
            .map_err(|e| Error::io(cwd, e))?;
        if !out.status.success() {
            return Err(Error::git(
                args[..args.len().min(4)].join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(out.stdout)
    };
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = (|| {
        let source = repo
            .canonicalize()
            .map_err(|e| Error::io(repo, e))?
            .to_string_lossy()
            .into_owned();
        run(&["git", "init", "-q", "--bare", "."], &tmp)?;
        let mut fetch = vec![
            "git",
            "fetch",
            "-q",
            "--depth=1",
            "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack",
        ];
        let url = format!("file://{source}");
        fetch.push(&url);
        let mut wanted: Vec<&str> = revs.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        fetch.extend(wanted);
        run(&fetch, &tmp)?;
        run(&["tar", "-cf", "-", "."], &tmp)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A fresh scratch path for `repo` under the temporary directory.
fn scratch_path(repo: &Path, what: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("r2e-gen-{}", std::process::id()))
        .join(format!("{}-{what}-{seq}", repo_name(repo)))
}

/// pytest when the sandbox's `python3` imports it, else unittest.
async fn probe_runner(sb: &dyn Sandbox) -> Result<Runner> {
    let probe = sb
        .exec(
            "python3 -c 'import pytest' 2>/dev/null",
            &ExecOptions::default(),
        )
        .await?;
    Ok(if probe.success() {
        Runner::Pytest
    } else {
        Runner::Unittest
    })
}

/// Parses a test log, keeping the end of the log for the record.
fn statuses(runner: Runner, out: &ExecOutput) -> StatusMap {
    let log = format!("{}\n{}", out.stdout_text(), out.stderr_text());
    runner.parser().parse(&log, Rules::V5)
}

fn to_map(s: &StatusMap) -> BTreeMap<String, String> {
    s.iter()
        .map(|(k, v)| (k.to_string(), v.as_str().to_string()))
        .collect()
}

/// Decides a row from the three runs (the verdict rules of the module docs).
/// The verdict on a candidate from its test statuses on the old code and on
/// the new code: each side's first run, then its reruns. A test whose status
/// changes between the runs of either side is flaky and left out.
/// With `expand_collection_errors`, an old-code module that failed to
/// collect stands for its tests on the new code, all failing.
fn judge(
    mut row: ValidatedCommit,
    old_runs: &[StatusMap],
    runs: &[StatusMap],
    expand_collection_errors: bool,
) -> ValidatedCommit {
    let (Some(first_old), Some((new, reruns))) = (old_runs.first(), runs.split_first()) else {
        return row.reject("no_test_results: the tests were not run");
    };
    row.old_statuses = to_map(first_old);
    let expanded: Vec<StatusMap>;
    let old_runs = if expand_collection_errors {
        expanded = old_runs
            .iter()
            .map(|run| with_collection_errors_expanded(run, new))
            .collect();
        &expanded[..]
    } else {
        old_runs
    };
    let (old, old_reruns) = old_runs.split_first().expect("checked above");
    if new.is_empty() {
        return row.reject("no_test_results: nothing parsed from the new-code run");
    }
    let new_ids: BTreeSet<&str> = new.iter().map(|(k, _)| k).collect();
    let old_ids: BTreeSet<&str> = old.iter().map(|(k, _)| k).collect();
    if new_ids != old_ids {
        let only_new: Vec<&str> = new_ids.difference(&old_ids).copied().collect();
        let only_old: Vec<&str> = old_ids.difference(&new_ids).copied().collect();
        return row.reject(format!(
            "test_sets_differ: only on new code {only_new:?}, only on old code {only_old:?}"
        ));
    }
    let mut broken = Vec::new();
    for (id, status) in new.iter() {
        let was = old.get(id);
        if reruns.iter().any(|again| again.get(id) != Some(status))
            || old_reruns.iter().any(|again| again.get(id) != was)
        {
            row.flaky.push(id.to_string());
            continue;
        }
        row.expected_statuses
            .insert(id.to_string(), status.as_str().to_string());
        match (was.is_some_and(|s| s.is_pass()), status.is_pass()) {
            (false, true) => row.fail_to_pass.push(id.to_string()),
            (true, true) => row.pass_to_pass.push(id.to_string()),
            (true, false) => broken.push(id.to_string()),
            (false, false) => {}
        }
    }
    if !broken.is_empty() {
        return row.reject(format!("breaks_passing: {broken:?}"));
    }
    if row.fail_to_pass.is_empty() {
        return row.reject("no_fail_to_pass");
    }
    row.outcome = Outcome::Valid;
    row
}

/// `old` with each file-level id that is not a test on the new code (a
/// module that failed to collect, as pytest reports it: `ERROR path.py`)
/// replaced by the new code's tests of that module (`path.py::…`), failing.
fn with_collection_errors_expanded(old: &StatusMap, new: &StatusMap) -> StatusMap {
    let mut out = StatusMap::new();
    for (id, status) in old.iter() {
        if !id.contains("::") && new.get(id).is_none() && !status.is_pass() {
            let prefix = format!("{id}::");
            let tests: Vec<&str> = new
                .iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(&prefix))
                .collect();
            if !tests.is_empty() {
                for t in tests {
                    out.record(t, r2e_grade::TestStatus::Failed);
                }
                continue;
            }
        }
        out.record(id, status.clone());
    }
    out
}

/// The end of a test run's output (stdout, then stderr), at most
/// [`LOG_TAIL`] bytes.
fn log_tail(out: &ExecOutput) -> String {
    let log = format!("{}\n{}", out.stdout_text(), out.stderr_text());
    crate::text::tail(&log, LOG_TAIL).to_string()
}

/// A rejected row's reason with what its logs say went wrong on each side
/// (`...; new code: SyntaxError: invalid syntax in pkg/core.py line 484`).
fn with_causes(mut row: ValidatedCommit) -> ValidatedCommit {
    if row.outcome != Outcome::Rejected {
        return row;
    }
    let causes: Vec<String> = [("old code", &row.old_log), ("new code", &row.new_log)]
        .into_iter()
        .filter_map(|(side, log)| log_cause(log).map(|c| format!("{side}: {c}")))
        .collect();
    if let Some(reason) = row.reason.as_mut().filter(|_| !causes.is_empty()) {
        reason.push_str("; ");
        reason.push_str(&causes.join("; "));
    }
    row
}

/// The first exception a test log reports, on one line, with the file and
/// line of the traceback entry before it (`/testbed/` left out).
pub fn log_cause(log: &str) -> Option<String> {
    let mut place: Option<String> = None;
    for line in log.lines() {
        let t = line.trim_start_matches(['E', '>']).trim();
        if let Some(rest) = t.strip_prefix("File \"")
            && let Some((path, after)) = rest.split_once("\", line ")
        {
            let n: String = after.chars().take_while(char::is_ascii_digit).collect();
            let path = path.strip_prefix("/testbed/").unwrap_or(path);
            place = Some(format!("{path} line {n}"));
            continue;
        }
        let name = t.split([':', ' ']).next().unwrap_or("");
        let is_exception = !name.is_empty()
            && (name.ends_with("Error") || name.ends_with("Exception"))
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && t[name.len()..].starts_with(':');
        if is_exception {
            let mut cause: String = t.chars().take(160).collect();
            if let Some(p) = &place {
                cause.push_str(&format!(" in {p}"));
            }
            return Some(cause);
        }
    }
    None
}

/// Validates one candidate of repository `name` in a sandbox from `ws`:
/// never fails, a sandbox failure is an [`Outcome::Error`] row.
pub async fn validate_commit(
    engines: Engines<'_>,
    ws: &Workspace,
    c: &MinedCommit,
    name: &str,
    opts: &ValidateOptions,
) -> ValidatedCommit {
    let row = ValidatedCommit::new(c, name);
    if let Some(reason) = static_rejection(c) {
        return row.reject(reason);
    }
    match run_candidate(engines, &ws.image, ws.runner, c, row.clone(), opts).await {
        Ok(row) => row,
        Err(e) => {
            let mut row = row;
            row.outcome = Outcome::Error;
            row.reason = Some(e.to_string());
            row
        }
    }
}

async fn run_candidate(
    engines: Engines<'_>,
    repo_image: &str,
    runner: Runner,
    c: &MinedCommit,
    mut row: ValidatedCommit,
    opts: &ValidateOptions,
) -> Result<ValidatedCommit> {
    let parent = c.parent.clone().unwrap_or_default();
    let files = test_modules(c);
    row.test_cmd = runner.command(&files);
    row.log_parser = runner.parser_name().to_string();
    let mut spec = SandboxSpec::new(repo_image);
    spec.workdir = Some(REPO_DIR.into());
    spec.network = opts.network;
    spec.limits = opts.limits;
    let started = match engines.tests {
        Some(tests) => tests
            .start(&spec)
            .await
            .map_err(|e| with_pull_hint(e, repo_image))?,
        None => engines.docker.start(&spec).await?,
    };
    let sb: &dyn Sandbox = &*started;
    let result = async {
        step(
            sb,
            &format!(
                "git checkout -q -f {} && git clean -fdxq",
                shell_quote(&parent)
            ),
        )
        .await?;
        sb.write_file("/tmp/r2e_test.patch", c.test_patch.as_bytes(), None)
            .await?;
        sb.write_file("/tmp/r2e_gold.patch", c.gold_patch.as_bytes(), None)
            .await?;
        if step(sb, "git apply /tmp/r2e_test.patch").await.is_err() {
            return Ok(row.clone().reject("test_patch_does_not_apply"));
        }
        let test_opts = ExecOptions {
            cwd: Some(REPO_DIR.into()),
            timeout: Some(std::time::Duration::from_secs_f64(opts.test_timeout_secs)),
            ..Default::default()
        };
        let mut old_out = sb.exec(&row.test_cmd, &test_opts).await?;
        if runner == Runner::Pytest
            && format!("{}{}", old_out.stdout_text(), old_out.stderr_text())
                .contains(LEGACY_SETUP_CFG)
        {
            row.test_cmd = without_legacy_config(&row.test_cmd);
            old_out = sb.exec(&row.test_cmd, &test_opts).await?;
        }
        let mut old_runs = vec![statuses(runner, &old_out)];
        for _ in 0..opts.reruns {
            old_runs.push(statuses(runner, &sb.exec(&row.test_cmd, &test_opts).await?));
        }
        row.old_log = log_tail(&old_out);
        if step(sb, "git apply /tmp/r2e_gold.patch").await.is_err() {
            return Ok(row.clone().reject("gold_patch_does_not_apply"));
        }
        let mut runs = Vec::with_capacity(1 + opts.reruns);
        for i in 0..=opts.reruns {
            let out = sb.exec(&row.test_cmd, &test_opts).await?;
            if i == 0 {
                row.new_log = log_tail(&out);
            }
            runs.push(statuses(runner, &out));
        }
        let mut row = with_causes(judge(
            row.clone(),
            &old_runs,
            &runs,
            !opts.reject_collection_errors,
        ));
        if row.outcome == Outcome::Valid && opts.build_images {
            row.image = match engines.tests {
                None => save_task_image(engines.docker, sb, &row).await?,
                // Pods cannot be saved: a fresh local sandbox from the
                // same workspace image.
                Some(_) => {
                    let local = engines.docker.start_docker(&spec).await?;
                    let image = save_task_image(engines.docker, &local, &row).await;
                    let _ = local.close().await;
                    image?
                }
            };
        }
        Ok(row)
    }
    .await;
    let _ = sb.close().await;
    result
}

/// A failure to start a sandbox elsewhere than on the local engine, with
/// what to do when the cause is the workspace image `image` (made locally,
/// so unknown to a cluster until it is loaded or pushed).
fn with_pull_hint(e: r2e_sandbox::SandboxError, image: &str) -> r2e_sandbox::SandboxError {
    match e {
        r2e_sandbox::SandboxError::Provider { provider, message } => {
            r2e_sandbox::SandboxError::Provider {
                provider,
                message: format!(
                    "{message}\n  hint: workspace image {image} was made on the local Docker \
                     engine: if the cluster cannot pull it, load it (`kind load docker-image \
                     {image}`) or push it to a registry the nodes pull from, remove the error \
                     rows and rerun (docs/swe-gen.md)"
                ),
            }
        }
        other => other,
    }
}

/// Saves the task image of `row` from `sb`, a sandbox of the local Docker
/// engine `docker` from the candidate's workspace image: the repository at
/// the parent, clean, with every ref and the reflog dropped so that `git log
/// --all` does not show the fix, saved as `r2e-gen/NAME:SHORT` with the
/// task labels. Returns the image's name.
async fn save_task_image(
    docker: &DockerProvider,
    sb: &dyn Sandbox,
    row: &ValidatedCommit,
) -> Result<String> {
    step(
        sb,
        &format!(
            "git checkout -q -f {p} && git clean -fdxq && rm -f /tmp/r2e_*.patch \
             && git for-each-ref --format='%(refname)' | while read r; do git update-ref --no-deref -d \"$r\" || true; done \
             && git reflog expire --expire=now --all && git checkout -q --detach {p}",
            p = shell_quote(row.parent.as_deref().unwrap_or_default())
        ),
    )
    .await?;
    let image = format!("r2e-gen/{}:{}", row.repo, short(&row.hash));
    let mut labels = ImageKind::Task.labels(&row.repo);
    labels.insert(COMMIT_LABEL.to_string(), row.hash.clone());
    docker.commit(sb, &image, labels, &[]).await?;
    Ok(image)
}

/// Validates the candidates in `candidates` (JSONL of [`MinedCommit`]) of the
/// repository at `repo`, appending one [`ValidatedCommit`] per candidate to
/// `out`; commits already in `out` are skipped. `engines`: a
/// [`DockerProvider`] for everything on one engine, or [`Engines`].
pub async fn validate_jsonl<'a>(
    engines: impl Into<Engines<'a>>,
    repo: &Path,
    candidates: &Path,
    out: &Path,
    opts: &ValidateOptions,
    on_event: &mut (dyn FnMut(ValidateEvent) + Send),
) -> Result<ValidateSummary> {
    let engines = engines.into();
    let rows: Vec<MinedCommit> = crate::jsonl::read_rows(candidates)?;
    let (mut writer, done) = JsonlWriter::<ValidatedCommit>::open(out)?;
    let mut summary = ValidateSummary {
        input: rows.len(),
        ..Default::default()
    };
    let done_hashes: BTreeSet<String> = done.iter().map(|r| r.hash.clone()).collect();
    for r in &done {
        *summary
            .by_reason
            .entry(r.reason_label().to_string())
            .or_default() += 1;
    }
    let todo: Vec<&MinedCommit> = rows
        .iter()
        .filter(|c| !done_hashes.contains(&c.hash))
        .collect();
    summary.already_done = rows.len() - todo.len();
    let name = opts
        .repo_name
        .clone()
        .map(|n| docker_name(&n))
        .unwrap_or_else(|| repo_name(repo));
    let mut workspaces =
        Workspaces::new(engines.docker, repo, &name, opts).with_commits(todo.iter().copied());
    let mut plan: Vec<(&MinedCommit, std::result::Result<Workspace, String>)> = Vec::new();
    for c in todo {
        if workspaces.needs_preparing(c) {
            on_event(ValidateEvent::Preparing);
        }
        plan.push((c, workspaces.for_commit(c).await?));
    }
    on_event(ValidateEvent::Planned {
        total: rows.len(),
        already_done: summary.already_done,
    });
    let name = &name;
    let origin = origin_name(repo);
    let mut stream = futures_util::stream::iter(plan)
        .map(|(c, ws)| async move {
            match ws {
                Ok(ws) => validate_commit(engines, &ws, c, name, opts).await,
                Err(why) => ValidatedCommit::new(c, name).reject(why),
            }
        })
        .buffer_unordered(opts.workers.max(1));
    while let Some(mut row) = stream.next().await {
        row.origin = origin.clone();
        writer.append(&row)?;
        *summary
            .by_reason
            .entry(row.reason_label().to_string())
            .or_default() += 1;
        on_event(ValidateEvent::Done(Box::new(row)));
    }
    let all: Vec<ValidatedCommit> = r2e_core::jsonl::read(out)?;
    summary.valid = all.iter().filter(|r| r.outcome == Outcome::Valid).count();
    Ok(summary)
}

/// Writes the tasks of the valid rows of `validated` (a `validated.jsonl`) to
/// `out` (JSONL or Parquet by extension). Returns how many.
pub fn write_tasks(validated: &Path, out: &Path) -> Result<usize> {
    let rows: Vec<ValidatedCommit> = r2e_core::jsonl::read(validated)?;
    let tasks: Vec<Task> = rows.iter().filter_map(ValidatedCommit::to_task).collect();
    r2e_core::dataset::write(out, &tasks)?;
    Ok(tasks.len())
}

/// Default output paths under a directory: `validated.jsonl`, `tasks.jsonl`.
pub fn output_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("validated.jsonl"), dir.join("tasks.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use r2e_grade::TestStatus;

    fn map(pairs: &[(&str, TestStatus)]) -> StatusMap {
        let mut m = StatusMap::new();
        for (k, v) in pairs {
            m.record(k, v.clone());
        }
        m
    }

    fn row() -> ValidatedCommit {
        ValidatedCommit::new(
            &MinedCommit {
                parent: Some("0123".into()),
                ..MinedCommit::empty("abcdef0123456789")
            },
            "r",
        )
    }

    #[test]
    fn owner_and_name_from_remotes() {
        for url in [
            "https://github.com/tkem/cachetools",
            "https://github.com/tkem/cachetools.git",
            "git@github.com:tkem/cachetools.git",
            "ssh://git@github.com/tkem/cachetools/",
        ] {
            assert_eq!(owner_name(url).as_deref(), Some("tkem/cachetools"), "{url}");
        }
        for url in ["/srv/git/cachetools", "file:///srv/cachetools.git", ""] {
            assert_eq!(owner_name(url), None, "{url}");
        }
    }

    #[test]
    fn a_reason_without_details_keeps_its_label_when_causes_are_added() {
        let mut r = row().reject("no_fail_to_pass");
        r.old_log = "E   ModuleNotFoundError: No module named 'yaml'\n".into();
        let r = with_causes(r);
        assert_eq!(
            r.reason.as_deref(),
            Some("no_fail_to_pass; old code: ModuleNotFoundError: No module named 'yaml'")
        );
        assert_eq!(r.reason_label(), "no_fail_to_pass");
    }

    #[test]
    fn causes_from_logs() {
        let log = "==== ERRORS ====\n___ ERROR collecting tests/test_core.py ___\n\
                   tests/test_core.py:1: in <module>\n    import pkg.core\n  \
                   File \"/testbed/pkg/core.py\", line 484\n    print 'x'\n          ^\n\
                   E   SyntaxError: Missing parentheses in call to 'print'\n";
        assert_eq!(
            log_cause(log).as_deref(),
            Some("SyntaxError: Missing parentheses in call to 'print' in pkg/core.py line 484")
        );
        assert_eq!(log_cause("3 passed in 0.1s\nValueError raised? no\n"), None);
        assert_eq!(
            log_cause("E   ModuleNotFoundError: No module named 'yaml'").as_deref(),
            Some("ModuleNotFoundError: No module named 'yaml'")
        );
    }

    #[test]
    fn verdicts() {
        use TestStatus::{Failed as F, Passed as P};
        let old = map(&[("a", F), ("b", P), ("c", F)]);
        let new = map(&[("a", P), ("b", P), ("c", P)]);
        let again = map(&[("a", P), ("b", P), ("c", F)]);
        let r = judge(
            row(),
            std::slice::from_ref(&old),
            &[new.clone(), again],
            true,
        );
        assert_eq!(r.outcome, Outcome::Valid);
        assert_eq!(
            (r.fail_to_pass, r.pass_to_pass, r.flaky),
            (
                vec!["a".to_string()],
                vec!["b".to_string()],
                vec!["c".to_string()]
            )
        );
        // A second rerun catches what the first missed; no rerun, no flakes.
        let third = map(&[("a", P), ("b", F), ("c", P)]);
        let r = judge(
            row(),
            std::slice::from_ref(&old),
            &[new.clone(), new.clone(), third],
            true,
        );
        assert_eq!(
            (r.flaky, r.fail_to_pass),
            (
                vec!["b".to_string()],
                vec!["a".to_string(), "c".to_string()]
            )
        );
        let r = judge(
            row(),
            std::slice::from_ref(&old),
            &[new.clone(), new.clone(), map(&[("a", P), ("b", P)])],
            true,
        );
        assert_eq!(r.flaky, ["c"]);
        let r = judge(
            row(),
            std::slice::from_ref(&old),
            std::slice::from_ref(&new),
            true,
        );
        assert_eq!((r.fail_to_pass.len(), r.flaky.len()), (2, 0));
        let r = judge(
            row(),
            &[map(&[("a", P), ("b", P)])],
            &[map(&[("a", P), ("b", F)]), map(&[("a", P), ("b", F)])],
            true,
        );
        assert_eq!(r.reason_label(), "breaks_passing");
        let r = judge(
            row(),
            &[map(&[("a", P)])],
            &[map(&[("a", P)]), map(&[("a", P)])],
            true,
        );
        assert_eq!(r.reason_label(), "no_fail_to_pass");
        let r = judge(
            row(),
            &[map(&[("a", F)])],
            &[map(&[("a", P), ("b", P)]), map(&[("a", P), ("b", P)])],
            true,
        );
        assert_eq!(r.reason_label(), "test_sets_differ");
        // A test that passes on one run of the old code and fails on the
        // other is flaky too: the unpatched code could pass it.
        let r = judge(
            row(),
            &[old.clone(), map(&[("a", P), ("b", P), ("c", F)])],
            &[new.clone(), new.clone()],
            true,
        );
        assert_eq!(
            (r.flaky, r.fail_to_pass),
            (vec!["a".to_string()], vec!["c".to_string()])
        );
    }

    #[test]
    fn a_module_that_fails_to_collect_on_the_old_code() {
        use TestStatus::{Error as E, Passed as P};
        let old = map(&[("t.py", E), ("u.py::c", P)]);
        let new = map(&[("t.py::a", P), ("t.py::b", P), ("u.py::c", P)]);
        let r = judge(
            row(),
            &[old.clone(), old.clone()],
            &[new.clone(), new.clone()],
            true,
        );
        assert_eq!(r.outcome, Outcome::Valid, "{r:?}");
        assert_eq!(
            (r.fail_to_pass, r.pass_to_pass),
            (
                vec!["t.py::a".to_string(), "t.py::b".to_string()],
                vec!["u.py::c".to_string()]
            )
        );
        // The recorded old statuses are what the old code reported.
        assert_eq!(
            r.old_statuses.get("t.py").map(String::as_str),
            Some("ERROR")
        );
        let r = judge(row(), &[old], &[new], false);
        assert_eq!(r.reason_label(), "test_sets_differ");
    }

    #[test]
    fn a_legacy_setup_cfg_is_left_out() {
        let cmd = Runner::Pytest.command(&["tests/test_a.py".into()]);
        assert_eq!(
            without_legacy_config(&cmd),
            "python3 -m pytest -c /dev/null --rootdir /testbed -rA -p no:cacheprovider \
             tests/test_a.py"
        );
    }

    #[test]
    fn names_and_commands() {
        assert_eq!(docker_name("My Repo!"), "my-repo");
        assert_eq!(
            Runner::Unittest.command(&["tests/test_a.py".into()]),
            "python3 -m unittest -v tests.test_a"
        );
        assert_eq!(
            Runner::Pytest.command(&["tests/test_a.py".into()]),
            "python3 -m pytest -rA -p no:cacheprovider tests/test_a.py"
        );
    }
}
