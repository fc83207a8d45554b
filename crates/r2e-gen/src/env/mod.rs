//! Stage 3, `env`: a pinned Python environment per candidate commit, built
//! without hand-written scripts.
//!
//! For each commit the repository's metadata is read at that commit
//! ([`meta::EnvSpec`]). Commits whose metadata asks for the same environment,
//! made within the same sharing window (90 days by default), form one
//! *dependency set* and share one environment image (`r2e-gen/NAME-env:KEY`):
//! the set's earliest commit is checked out at `/testbed`, a virtualenv is made
//! at `/root/.venv`, and uv installs the project and its test requirements
//! with `--exclude-newer` set to that commit's date, so only versions
//! published before every commit of the set are used. What differs per commit
//! is only the source checkout, which validation adds on top. Development
//! tools that requirement files list (Sphinx, linters, tox, pre-commit, …:
//! [`meta::DEV_TOOLS`]) are not installed: the tests do not need them, and
//! their old releases are what most often fails to build.
//!
//! When an install fails, a short search runs (the paper's search-based
//! dependency resolution), at most [`EnvOptions::max_attempts`] tries:
//!
//! 1. Pythons in the order of [`python::order_candidates`] (the newest already
//!    released at the commit's date and allowed by `requires-python` first);
//! 2. for each, the editable install, with setuptools and wheel exempt from the
//!    date; after a build failure, the same with build-tool pins
//!    (`setuptools<72`, `cython<3`) as uv build constraints; then the build
//!    tools held to the date as well (but not before [`TOOLS_FLOOR`]) and the
//!    requirements only, `/testbed` put on the path by a `.pth` file instead
//!    of building the project; when a dependency's old sdist still does not
//!    build, that dependency alone is let past the date (its newest release,
//!    usually a wheel), up to three of them; the same for a dependency with
//!    no release before the date at all (deleted and re-uploaded later);
//! 3. when the dated pytest crashes on the Python or is older than 4.5 (its
//!    `-rA` summary does not list passing tests, which validation reads), the
//!    test harness (pytest, its own dependencies and the `pytest-*` plugins
//!    the repository asks for) is let past the date, and the repository's
//!    own pins of pytest and its plugins are dropped;
//! 4. when the installed environment cannot import a module the commit's
//!    tests import (pytest's collection reports `No module named 'X'`), or
//!    pytest itself cannot (`pkg_resources`, gone from setuptools 81 on), the
//!    distribution providing it is added and the same try repeated.
//!
//! Every try is recorded ([`Attempt`]); the row of each commit says what
//! worked. Per-repository overrides ([`Overrides`], a TOML file) cover the hard
//! cases: Python versions, extra requirements, build constraints, a command run
//! before installing, a custom install command.

pub mod meta;
pub mod python;

use crate::error::{Error, Result};
use crate::images::ImageKind;
use crate::model::{MinedCommit, rfc3339};
use crate::validate::{REPO_DIR, RepoArchive, docker_name, repo_name, revs_of, test_modules};
use futures_util::StreamExt;
use meta::EnvSpec;
use python::{PyVersion, order_candidates};
use r2e_core::jsonl::JsonlWriter;
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

/// Where environments put their virtualenv.
pub const VENV: &str = "/root/.venv";
/// Image label holding an environment's dependency-set key.
pub const KEY_LABEL: &str = "dev.r2e.gen.env";
/// Build constraints tried after a build failure: a setuptools that still has
/// `setuptools.command.test` (removed in 72) and PEP 660 editable installs
/// (64+), and Cython before 3.0's incompatible changes. When that fails too,
/// the build tools are held to the commit's date like everything else (old
/// sdists build with the setuptools of their time) and the project is put on
/// the path instead of being built ([`Method::Path`]).
pub const PIN_STEP: &[&str] = &["setuptools<72", "cython<3"];
/// Build tools that are not held to the commit's date at first: an editable
/// install needs a setuptools with PEP 660 (64+, 2022), and old build
/// backends fail on new Pythons.
pub const BUILD_TOOLS: &[&str] = &["setuptools", "wheel"];
/// The version of the way environments are made (install script, search):
/// part of every set's key, so that an image made the old way is not reused
/// once it changes.
const RECIPE: u32 = 3;
/// Where a try sees the host's shared uv cache ([`EnvOptions::uv_cache`]).
const SHARED_UV_CACHE: &str = "/r2e-cache/uv";
/// Characters of a failed try's log kept in its record (the end of the log).
const ERROR_TAIL: usize = 1500;
/// Standard-library modules removed in Python 3.12 and 3.13 (PEP 594,
/// PEP 632, `imp`): code importing one needs an older Python.
const REMOVED_STDLIB: &[&str] = &[
    "imp",
    "distutils",
    "asynchat",
    "asyncore",
    "smtpd",
    "aifc",
    "audioop",
    "cgi",
    "cgitb",
    "chunk",
    "crypt",
    "imghdr",
    "mailcap",
    "msilib",
    "nis",
    "nntplib",
    "ossaudiodev",
    "pipes",
    "sndhdr",
    "spwd",
    "sunau",
    "telnetlib",
    "uu",
    "xdrlib",
    "lib2to3",
];
/// The oldest pytest whose `-rA` summary lists passing tests (4.5, May 2019;
/// checked against 4.4.0 and 4.5.0).
const MIN_PYTEST: (u32, u32) = (4, 5);
/// The test harness let past the date when the dated pytest cannot run the
/// tests ([`Try::harness`]), with every `pytest-*` plugin the repository asks for.
pub const HARNESS: &[&str] = &[
    "pytest",
    // pytest's own dependencies from 4.5 to 8: held to an old date, they
    // would hold pytest back too (no attrs before 2015: pytest 3.2).
    "pluggy",
    "py",
    "iniconfig",
    "tomli",
    "exceptiongroup",
    "attrs",
    "packaging",
    "more-itertools",
    "atomicwrites",
    "wcwidth",
    "six",
    "importlib-metadata",
    "zipp",
    "colorama",
    "pygments",
    "typing-extensions",
    // pytest-cov loads it at start-up; old releases crash on new Pythons.
    "coverage",
];
/// Dependencies let past the date, at most.
const MAX_RELAXED: usize = 3;
/// Modules added to an environment automatically, at most.
const MAX_ADDED: usize = 3;

/// A Python the search may use: an image and the interpreter in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonImage {
    /// Its feature version.
    pub version: PyVersion,
    /// The image (with uv and git).
    pub image: String,
    /// The interpreter `uv venv --python` gets: a path in the image, or a
    /// version for uv to download (`--managed-python`).
    pub interpreter: String,
}

impl PythonImage {
    /// Asks `image` which `python3` it has.
    pub async fn probe(provider: &DockerProvider, image: &str) -> Result<PythonImage> {
        let sb = provider.start_docker(&SandboxSpec::new(image)).await?;
        let out = sb
            .exec(
                "command -v uv >/dev/null || echo 'no uv' >&2; python3 --version",
                &ExecOptions::default(),
            )
            .await;
        let _ = sb.close().await;
        let out = out?;
        let text = out.stdout_text();
        let version = PyVersion::parse(&text).filter(|_| out.success());
        match version {
            Some(version) if out.stderr_text().trim().is_empty() => Ok(PythonImage {
                version,
                image: image.to_string(),
                interpreter: "/usr/bin/python3".into(),
            }),
            _ => Err(Error::Step {
                step: format!("probing Python and uv in {image}"),
                code: out.exit_code,
                stderr: format!("{}{}", text.trim(), out.stderr_text().trim()),
            }),
        }
    }

    /// A uv-managed Python `version` (downloaded by uv at install time) on
    /// `image`.
    pub fn managed(version: PyVersion, image: &str) -> PythonImage {
        PythonImage {
            version,
            image: image.to_string(),
            interpreter: version.to_string(),
        }
    }

    fn is_managed(&self) -> bool {
        !self.interpreter.starts_with('/')
    }
}

/// Per-repository settings for the hard cases, read from a TOML file:
///
/// ```toml
/// [default]            # every repository without its own table
/// max_attempts = 6
///
/// [repo.requests]      # by repository name
/// python = ["3.9"]                     # only these, in this order
/// extra_requires = ["pytest-httpbin"]  # installed with the test requirements
/// build_constraints = ["setuptools<58"]
/// pre_install = "apt-get install -y libxml2-dev"
/// install = "uv pip install -e '.[tests]'"  # replaces the project install
/// exclude_newer = "2020-01-01T00:00:00Z"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Settings for repositories without their own table.
    #[serde(default)]
    pub default: RepoOverride,
    /// Settings by repository name.
    #[serde(default)]
    pub repo: BTreeMap<String, RepoOverride>,
}

/// The settings of one repository (see [`Overrides`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoOverride {
    /// Python versions to try, in order (default: all available, by date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python: Vec<String>,
    /// Requirements installed besides the ones the metadata names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_requires: Vec<String>,
    /// uv build constraints applied to every try.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_constraints: Vec<String>,
    /// Shell run (as root, with network) before installing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_install: Option<String>,
    /// Shell that installs the project instead of `uv pip install -e .`
    /// (the virtualenv is active; requirements are already installed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    /// `--exclude-newer` for every commit instead of each set's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_newer: Option<String>,
    /// Tries per dependency set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<usize>,
}

impl Overrides {
    /// Reads an overrides file.
    pub fn load(path: &Path) -> Result<Overrides> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The settings of repository `name`.
    pub fn for_repo(&self, name: &str) -> &RepoOverride {
        self.repo.get(name).unwrap_or(&self.default)
    }
}

/// Settings of [`build_envs`].
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// The Pythons the search may use.
    pub pythons: Vec<PythonImage>,
    /// Repository name for images (default: the directory name).
    pub repo_name: Option<String>,
    /// Dependency sets built at the same time.
    pub workers: usize,
    /// Tries per dependency set (an override may change it).
    pub max_attempts: usize,
    /// Commits with the same metadata share an environment when made within
    /// this many days of each other (0: every distinct commit date gets its own).
    pub share_days: u32,
    /// Seconds one install may take.
    pub install_timeout_secs: f64,
    /// Per-repository settings.
    pub overrides: Overrides,
    /// Drop the failed rows of an earlier run from the output and try those
    /// commits again (their sets are built anew).
    pub retry_failed: bool,
    /// A host directory every try shares as uv's cache, so that a retry or
    /// another set does not download and build the same distributions again
    /// (`None`: each try has its own, dropped with it). Used only where the
    /// daemon sees this host's files.
    pub uv_cache: Option<std::path::PathBuf>,
    /// Memory, CPU and process limits of the install sandboxes (which always
    /// have network access: installs download packages).
    pub limits: r2e_sandbox::Limits,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            pythons: Vec::new(),
            repo_name: None,
            workers: 2,
            max_attempts: 8,
            share_days: 90,
            install_timeout_secs: 1200.0,
            overrides: Overrides::default(),
            retry_failed: false,
            uv_cache: Some(r2e_sandbox::shim::cache_dir().join("uv")),
            limits: r2e_sandbox::Limits::default(),
        }
    }
}

/// How a try installed the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `uv pip install -e . <requirements>`.
    Editable,
    /// The requirements only, `/testbed` on `sys.path` through a `.pth` file
    /// (repositories that are not packages, or whose build fails).
    Path,
    /// The override's install command after the requirements.
    Custom,
}

/// One try of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Python version.
    pub python: String,
    /// How the project was installed.
    pub method: Method,
    /// Build constraints of this try.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Build tools held to the commit's date as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dated_tools: bool,
    /// Dependencies let past the date (their build failed at it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxed: Vec<String>,
    /// The test harness let past the date (the dated pytest could not run
    /// the tests on this Python).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub harness: bool,
    /// Requirements added by the search (modules the tests import).
    #[serde(default)]
    pub added: Vec<String>,
    /// `None` when the try worked, else a label (`resolution`, `build`,
    /// `project_build`, `no_editable`, `missing_module`, `python_too_new`,
    /// `pytest_too_old`, `pytest_broken`,
    /// `python`, `timeout`, `sandbox`, `failed`) and the end of the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The dependency whose build failed, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_package: Option<String>,
    /// Seconds the try took.
    pub secs: f64,
}

impl Attempt {
    /// The label of a failed try's error (`build`, `resolution`, ...).
    pub fn label(&self) -> Option<&str> {
        self.error
            .as_deref()
            .map(|e| e.split(':').next().unwrap_or(e))
    }
}

/// What became of a commit's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvOutcome {
    /// An environment image exists for it.
    Built,
    /// Every try failed (see the attempts), or the sandbox did.
    Failed,
    /// Not a commit validation can use (unanalysed, root).
    Skipped,
}

/// A row of `envs.jsonl`: one candidate commit's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvRow {
    /// Full hex id of the commit.
    pub hash: String,
    /// Repository name.
    pub repo: String,
    /// Built, failed or skipped.
    pub outcome: EnvOutcome,
    /// Why not built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The dependency-set key: commits with the same key share the image.
    #[serde(default)]
    pub key: String,
    /// The environment image (repository at `/testbed`, virtualenv at
    /// `/root/.venv`).
    #[serde(default)]
    pub image: String,
    /// The commit the image was built at (the set's earliest).
    #[serde(default)]
    pub built_at: String,
    /// The Python that worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// The install method that worked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Build constraints that worked.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Whether the build tools were held to the commit's date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dated_tools: bool,
    /// Dependencies let past the date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxed: Vec<String>,
    /// Whether the test harness was let past the date.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub harness: bool,
    /// Requirements the search added.
    #[serde(default)]
    pub added: Vec<String>,
    /// uv's `--exclude-newer`.
    #[serde(default)]
    pub exclude_newer: String,
    /// The upload-date limit of the build tools ([`BUILD_TOOLS`]).
    #[serde(default)]
    pub tools_exclude_newer: String,
    /// What the metadata says.
    #[serde(default)]
    pub spec: EnvSpec,
    /// Every try, in order.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

/// Progress of [`build_envs`].
#[derive(Debug, Clone)]
pub enum EnvEvent {
    /// What will be built.
    Planned {
        /// Candidates in the input.
        commits: usize,
        /// Of those, already in the output.
        already_done: usize,
        /// Dependency sets to build.
        sets: usize,
    },
    /// A try finished.
    Attempt {
        /// The set's key.
        key: String,
        /// The try.
        attempt: Attempt,
    },
    /// A set finished; its rows are written.
    SetDone {
        /// The set's key.
        key: String,
        /// Built or failed.
        outcome: EnvOutcome,
        /// Commits in the set.
        commits: usize,
    },
}

/// Counts of an environment run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSummary {
    /// Candidates read.
    pub input: usize,
    /// Already in the output before this run.
    pub already_done: usize,
    /// Commits with an environment (this run and earlier).
    pub built: usize,
    /// Commits without one.
    pub failed: usize,
    /// Commits skipped.
    pub skipped: usize,
    /// Distinct environment images.
    pub images: usize,
    /// Failed rows by the label of their last try.
    pub failures: BTreeMap<String, usize>,
}

/// Commit id → environment image, or why there is none: what
/// [`crate::validate::ValidateOptions::envs`] takes.
pub type EnvMap = BTreeMap<String, std::result::Result<String, String>>;

/// Reads an `envs.jsonl` into an [`EnvMap`].
pub fn load_env_map(path: &Path) -> Result<EnvMap> {
    let rows: Vec<EnvRow> = r2e_core::jsonl::read(path)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let v = match r.outcome {
                EnvOutcome::Built => Ok(r.image),
                _ => Err(r.reason.unwrap_or_else(|| "failed".into())),
            };
            (r.hash, v)
        })
        .collect())
}

/// The text of `path` at `rev` in the repository at `repo` (git CLI).
fn git_show(repo: &Path, rev: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The environment spec of commit `rev` of the repository at `repo`.
pub fn read_spec(repo: &Path, rev: &str) -> Result<EnvSpec> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["ls-tree", "-r", "--name-only", rev])
        .output()
        .map_err(|e| Error::io(repo, e))?;
    if !out.status.success() {
        return Err(Error::git(
            format!("git ls-tree {rev}"),
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    Ok(EnvSpec::from_files(&files, &|p| git_show(repo, rev, p)))
}

/// 64-bit FNV-1a, as 12 hex digits: a stable key across runs and builds.
fn fnv12(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..12].to_string()
}

/// The dependency-set key of a commit: its spec (not where it was read
/// from), the repository's overrides and its sharing window.
fn set_key(spec: &EnvSpec, ov: &RepoOverride, commit_time: i64, share_days: u32) -> String {
    let window = if share_days == 0 {
        commit_time
    } else {
        commit_time.div_euclid(i64::from(share_days) * 86_400)
    };
    let spec = EnvSpec {
        sources: Vec::new(),
        dev_tools: Vec::new(),
        ..spec.clone()
    };
    let data = serde_json::json!({
        "recipe": RECIPE,
        "spec": spec,
        "override": ov,
        "window": window,
    });
    fnv12(data.to_string().as_bytes())
}

/// One dependency set: the commits sharing an environment.
struct Set<'a> {
    key: String,
    spec: EnvSpec,
    /// Earliest first.
    commits: Vec<&'a MinedCommit>,
}

/// A try's plan.
#[derive(Debug, Clone, PartialEq)]
struct Try {
    python: PythonImage,
    method: Method,
    pins: Vec<String>,
    /// Build tools held to the commit's date too.
    dated_tools: bool,
    /// Dependencies let past the date.
    relaxed: Vec<String>,
    /// The test harness ([`HARNESS`] and `pytest-*` plugins) let past the date.
    harness: bool,
    added: Vec<String>,
}

/// The upload-date limits of an install.
#[derive(Debug, Clone)]
struct Cutoffs {
    /// uv's `--exclude-newer`: the set's date.
    deps: String,
    /// The limit of [`BUILD_TOOLS`] (the time of the run).
    tools: String,
    /// Their limit when held to the date: the set's date, but not before
    /// [`TOOLS_FLOOR`].
    dated_tools: String,
}

/// The earliest build tools an install can use: uv builds `setup.py`
/// projects with `setuptools>=40.8.0`, released in February 2019.
pub const TOOLS_FLOOR: &str = "2019-03-01T00:00:00+00:00";

/// The install script of a try, run in `/testbed` at the set's commit.
fn install_script(t: &Try, spec: &EnvSpec, ov: &RepoOverride, cut: &Cutoffs) -> String {
    let mut reqs = spec.all_requirements();
    reqs.extend(ov.extra_requires.iter().cloned());
    reqs.extend(t.added.iter().cloned());
    let harness: Vec<String> = if t.harness {
        let plugins = reqs
            .iter()
            .map(|r| meta::requirement_name(r))
            .filter(|n| n.starts_with("pytest-"));
        HARNESS
            .iter()
            .map(|h| h.to_string())
            .chain(plugins)
            .collect()
    } else {
        Vec::new()
    };
    // A repository's own pin of pytest (`pytest==3.0.2`) or a plugin would
    // hold the harness back whatever the date: those are taken by name only.
    // Pins of pytest's dependencies stay: the project may need them.
    if t.harness {
        for r in reqs.iter_mut() {
            let name = meta::requirement_name(r);
            if ["pytest", "pluggy", "py"].contains(&name.as_str()) || name.starts_with("pytest-") {
                *r = name;
            }
        }
    }
    let mut pins: Vec<String> = ov.build_constraints.clone();
    pins.extend(t.pins.iter().cloned());
    let q = r2e_sandbox::shell_quote;
    let managed = if t.python.is_managed() {
        " --managed-python"
    } else {
        ""
    };
    let mut s = format!(
        "set -eu\n\
         export UV_EXCLUDE_NEWER={ex} UV_LINK_MODE=copy UV_CACHE_DIR=${{R2E_UV_CACHE:-/tmp/r2e-uv-cache}} \
         UV_PYTHON_INSTALL_DIR=/opt/r2e-python VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH\n\
         rm -rf {VENV}\n\
         uv venv -q --python {py}{managed} {VENV}\n",
        ex = q(&cut.deps),
        py = q(&t.python.interpreter),
    );
    if let Some(pre) = &ov.pre_install {
        s.push_str(&format!("( {pre} )\n"));
    }
    s.push_str(&format!(
        "printf '%s\\n' {} > /tmp/r2e-env/requirements.txt\n",
        reqs.iter().map(|r| q(r)).collect::<Vec<_>>().join(" ")
    ));
    let mut constraints = String::new();
    if !pins.is_empty() {
        s.push_str(&format!(
            "printf '%s\\n' {} > /tmp/r2e-env/build-constraints.txt\n",
            pins.iter().map(|r| q(r)).collect::<Vec<_>>().join(" ")
        ));
        constraints.push_str(" -b /tmp/r2e-env/build-constraints.txt");
    }
    let tools_cut = if t.dated_tools {
        &cut.dated_tools
    } else {
        &cut.tools
    };
    let tools: String = BUILD_TOOLS
        .iter()
        .map(|b| (*b, tools_cut.as_str()))
        .chain(t.relaxed.iter().map(|r| (r.as_str(), cut.tools.as_str())))
        .chain(harness.iter().map(|h| (h.as_str(), cut.tools.as_str())))
        .map(|(b, when)| format!(" --exclude-newer-package {}", q(&format!("{b}={when}"))))
        .collect();
    let uv = format!("uv pip install{constraints}{tools}");
    match t.method {
        Method::Editable => s.push_str(&format!("{uv} -e . -r /tmp/r2e-env/requirements.txt\n")),
        Method::Path => s.push_str(&format!("{uv} -r /tmp/r2e-env/requirements.txt\n")),
        Method::Custom => s.push_str(&format!(
            "{uv} -r /tmp/r2e-env/requirements.txt\n( {} )\n",
            ov.install.as_deref().unwrap_or("true")
        )),
    }
    // The checkout on the path whatever the method: the set's commits may
    // move the package (`pkg/` → `src/pkg/`) without changing the metadata,
    // and an editable install's finder would still point at the old place.
    // Python adds only the directories that exist when it starts, and before
    // the editable finder, which comes last.
    s.push_str(&format!(
        "site=$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\n\
         printf '%s\\n' {REPO_DIR}/src {REPO_DIR} > \"$site/r2e_testbed.pth\"\n\
         python -c 'import pytest'\nrm -rf /tmp/r2e-uv-cache\n"
    ));
    s
}

/// The label of a failed install from its log.
fn classify_failure(log: &str, timed_out: bool) -> &'static str {
    if timed_out {
        return "timeout";
    }
    if log.contains("does not support editable") || log.contains("build_editable") {
        return "no_editable";
    }
    let project_build = log.contains("file:///testbed") || log.contains("@ file://");
    if log.contains("Failed to build")
        || log.contains("Build backend failed")
        || log.contains("Failed to prepare distributions")
        || log.contains("subprocess-exited-with-error")
    {
        return if project_build {
            "project_build"
        } else {
            "build"
        };
    }
    if log.contains("No solution found") || log.contains("unsatisfiable") {
        return "resolution";
    }
    if log.contains("No interpreter found") || log.contains("download") && log.contains("Python") {
        return "python";
    }
    "failed"
}

/// A failed install's error, `LABEL: LOG`. An install that finished but
/// whose `import pytest` check failed on a missing module (pytest 3 imports
/// `pkg_resources`, which setuptools 81 dropped) is a missing module.
fn install_error(log: &str, timed_out: bool) -> String {
    let label = classify_failure(log, timed_out);
    if label == "failed"
        && let Some(m) = missing_module(log, &BTreeSet::new())
    {
        return module_error(&m);
    }
    format!("{label}: {log}")
}

/// The error of an environment that lacks module `m`: an older Python when
/// the standard library dropped it, else a distribution to add.
fn module_error(m: &str) -> String {
    if REMOVED_STDLIB.contains(&m) {
        format!(
            "python_too_new: the code imports `{m}`, which this Python's standard library \
             no longer has"
        )
    } else {
        format!("missing_module: {m}")
    }
}

/// The dependency a failed install could not use: the one uv could not
/// build (``Failed to build `NAME==VERSION` ``), unless it is the project
/// itself, or the one with no release before the date (`` `NAME` was
/// filtered by `exclude-newer` ``).
fn failed_dependency(log: &str) -> Option<String> {
    if let Some(end) = log.find("` was filtered by `exclude-newer`") {
        let name = &log[..end];
        let name = &name[name.rfind('`')? + 1..];
        return (!name.is_empty()).then(|| name.to_string());
    }
    let pos = log
        .find("Failed to build `")
        .map(|p| p + "Failed to build `".len())
        .or_else(|| {
            log.find("Failed to download and build `")
                .map(|p| p + "Failed to download and build `".len())
        })?;
    let spec = &log[pos..];
    let spec = &spec[..spec.find('`')?];
    if spec.contains(" @ ") {
        return None;
    }
    let name = spec.split("==").next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The module a collection log says is missing (`No module named 'a.b'` →
/// `a`), unless it is part of the repository itself.
fn missing_module(log: &str, own: &BTreeSet<String>) -> Option<String> {
    let pos = log.find("No module named '")?;
    let rest = &log[pos + "No module named '".len()..];
    let module = rest.split(['\'', '.']).next()?.to_string();
    (!module.is_empty() && !own.contains(&module)).then_some(module)
}

/// The distribution that provides import `module` (a few well-known
/// differences, else the module name).
pub fn distribution_for(module: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("yaml", "PyYAML"),
        ("attr", "attrs"),
        ("dateutil", "python-dateutil"),
        ("PIL", "Pillow"),
        ("sklearn", "scikit-learn"),
        ("bs4", "beautifulsoup4"),
        ("cv2", "opencv-python"),
        ("Crypto", "pycryptodome"),
        ("OpenSSL", "pyOpenSSL"),
        ("jwt", "PyJWT"),
        ("serial", "pyserial"),
        ("dotenv", "python-dotenv"),
        ("git", "GitPython"),
        ("zmq", "pyzmq"),
        // setuptools 81 dropped pkg_resources.
        ("pkg_resources", "setuptools<81"),
        ("google", "protobuf"),
        ("socks", "PySocks"),
        ("magic", "python-magic"),
        ("typing_extensions", "typing-extensions"),
        ("pytest_httpbin", "pytest-httpbin"),
        ("mock", "mock"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| module.replace('_', "-"))
}

/// Runs one try in a fresh sandbox; on success the sandbox is returned, ready
/// to be saved.
async fn run_try(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    t: &Try,
    ov: &RepoOverride,
    cut: &Cutoffs,
    opts: &EnvOptions,
) -> (Attempt, Option<r2e_sandbox::docker::DockerSandbox>) {
    let start = Instant::now();
    let mut attempt = Attempt {
        python: t.python.version.to_string(),
        method: t.method,
        pins: t.pins.clone(),
        dated_tools: t.dated_tools,
        relaxed: t.relaxed.clone(),
        harness: t.harness,
        added: t.added.clone(),
        error: None,
        failed_package: None,
        secs: 0.0,
    };
    let result = async {
        let mut spec = SandboxSpec::new(&t.python.image);
        spec.network = true;
        spec.limits = opts.limits;
        let shared_cache = opts
            .uv_cache
            .as_ref()
            .filter(|_| provider.shares_host_paths());
        if let Some(host) = shared_cache {
            spec.caches
                .push((host.clone(), SHARED_UV_CACHE.to_string()));
        }
        let sb = provider.start_docker(&spec).await?;
        let r: Result<std::result::Result<(), String>> = async {
            archive.copy_into(&sb).await?;
            let rep = &set.commits[0];
            let script = install_script(t, &set.spec, ov, cut);
            sb.write_file("/tmp/r2e-env/install.sh", script.as_bytes(), None)
                .await?;
            let cwd = ExecOptions {
                cwd: Some(REPO_DIR.into()),
                ..Default::default()
            };
            let co = sb
                .exec(
                    &format!("git checkout -q -f {}", r2e_sandbox::shell_quote(&rep.hash)),
                    &cwd,
                )
                .await?;
            if !co.success() {
                return Ok(Err(format!(
                    "failed: checkout: {}",
                    co.stderr_text().trim()
                )));
            }
            let run = ExecOptions {
                timeout: Some(std::time::Duration::from_secs_f64(
                    opts.install_timeout_secs,
                )),
                // Only the install uses the shared cache; nothing of it is
                // saved into the image.
                env: shared_cache
                    .map(|_| ("R2E_UV_CACHE".to_string(), SHARED_UV_CACHE.to_string()))
                    .into_iter()
                    .collect(),
                ..cwd.clone()
            };
            let out = sb.exec("bash /tmp/r2e-env/install.sh", &run).await?;
            if !out.success() {
                let log = format!("{}\n{}", out.stdout_text(), out.stderr_text());
                return Ok(Err(install_error(&log, out.timed_out)));
            }
            // Can the installed environment import what the tests import?
            let files = test_modules(rep);
            if !files.is_empty() {
                let quoted: Vec<String> =
                    files.iter().map(|f| r2e_sandbox::shell_quote(f)).collect();
                let collect = format!(
                    "python -m pytest --collect-only -q -p no:cacheprovider {} 2>&1",
                    quoted.join(" ")
                );
                let path = ExecOptions {
                    env: vec![(
                        "PATH".into(),
                        format!("{VENV}/bin:/usr/local/bin:/usr/bin:/bin"),
                    )],
                    ..cwd.clone()
                };
                let out = sb.exec(&collect, &path).await?;
                let text = out.stdout_text();
                let listing = sb
                    .exec(
                        &format!("ls -1 {REPO_DIR} {REPO_DIR}/src 2>/dev/null"),
                        &cwd,
                    )
                    .await?;
                let own: BTreeSet<String> = listing
                    .stdout_text()
                    .lines()
                    .map(|l| l.trim().trim_end_matches(".py").to_string())
                    .collect();
                if let Some(m) = missing_module(&text, &own) {
                    return Ok(Err(module_error(&m)));
                }
                if !t.harness && text.contains("INTERNALERROR") {
                    return Ok(Err(format!(
                        "pytest_broken: pytest crashes on this Python: {}",
                        tail(&text)
                    )));
                }
            }
            // Validation reads `pytest -rA`'s per-test summary, which lists
            // passing tests from pytest 4.5 on.
            let version = sb
                .exec(
                    &format!("{VENV}/bin/python -c 'import pytest; print(pytest.__version__)'"),
                    &cwd,
                )
                .await?;
            let text = version.stdout_text();
            let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
            let found = (parts.next().flatten(), parts.next().flatten());
            if let (Some(major), Some(minor)) = found
                && (major, minor) < MIN_PYTEST
            {
                return Ok(Err(format!(
                    "pytest_too_old: pytest {} does not list passing tests under -rA{}",
                    version.stdout_text().trim(),
                    if t.harness {
                        ", even with the test harness let past the date"
                    } else {
                        ""
                    }
                )));
            }
            let clean = format!(
                "git checkout -q -f {} && git clean -fdq && rm -rf /tmp/r2e-env /root/.cache",
                r2e_sandbox::shell_quote(&rep.hash)
            );
            let out = sb.exec(&clean, &cwd).await?;
            if !out.success() {
                return Ok(Err(format!(
                    "failed: cleanup: {}",
                    out.stderr_text().trim()
                )));
            }
            Ok(Ok(()))
        }
        .await;
        match r {
            Ok(Ok(())) => Ok((None, Some(sb))),
            Ok(Err(e)) => {
                let _ = sb.close().await;
                Ok((Some(e), None))
            }
            Err(e) => {
                let _ = sb.close().await;
                Err(e)
            }
        }
    }
    .await;
    attempt.secs = start.elapsed().as_secs_f64();
    match result {
        Ok((err, sb)) => {
            attempt.failed_package = err.as_deref().and_then(failed_dependency);
            attempt.error = err.map(|e| match e.split_once(": ") {
                Some((label, log)) => format!("{label}: {}", tail(log)),
                None => e,
            });
            (attempt, sb)
        }
        Err(e) => {
            attempt.error = Some(format!("sandbox: {e}"));
            (attempt, None)
        }
    }
}

/// The end of a log, on a character boundary.
fn tail(log: &str) -> String {
    let log = log.trim();
    let mut start = log.len().saturating_sub(ERROR_TAIL);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_string()
}

/// The Pythons to try for a set, in order.
fn pythons_for(set: &Set<'_>, ov: &RepoOverride, opts: &EnvOptions) -> Vec<PythonImage> {
    if !ov.python.is_empty() {
        return ov
            .python
            .iter()
            .filter_map(|v| PyVersion::parse(v))
            .filter_map(|v| opts.pythons.iter().find(|p| p.version == v).cloned())
            .collect();
    }
    let versions: Vec<PyVersion> = opts.pythons.iter().map(|p| p.version).collect();
    let order = order_candidates(
        &versions,
        set.spec.requires_python.as_deref(),
        set.commits[0].commit_time,
    );
    order
        .into_iter()
        .filter_map(|v| opts.pythons.iter().find(|p| p.version == v).cloned())
        .collect()
}

/// The next try with the same Python after `t` failed as `a` says, or `None`
/// to move on to the next Python (see the module docs for the steps).
fn next_try(t: &Try, a: &Attempt) -> Option<Try> {
    let mut n = t.clone();
    let fresh = t.pins.is_empty() && !t.dated_tools && t.relaxed.is_empty();
    let to_path = |n: &mut Try| {
        if n.method == Method::Editable {
            n.method = Method::Path;
        }
    };
    match a.label()? {
        "missing_module" if t.added.len() < MAX_ADDED => {
            let error = a.error.as_deref().unwrap_or_default();
            let dist = distribution_for(error.trim_start_matches("missing_module:").trim());
            if t.added.contains(&dist) {
                return None;
            }
            n.added.push(dist);
        }
        "build" | "project_build" if fresh => {
            n.pins = PIN_STEP.iter().map(|p| p.to_string()).collect();
        }
        "build" | "project_build" | "no_editable" if !t.dated_tools && t.relaxed.is_empty() => {
            n.dated_tools = true;
            n.pins.clear();
            to_path(&mut n);
        }
        // An old sdist that builds with no setuptools this Python runs, or a
        // dependency with no release before the date (deleted and re-uploaded,
        // like atomicwrites in 2022): take that dependency's newest release.
        "build" | "resolution" => {
            let p = a.failed_package.clone()?;
            if t.relaxed.contains(&p) || t.relaxed.len() >= MAX_RELAXED {
                return None;
            }
            n.relaxed.push(p);
            n.dated_tools = false;
            to_path(&mut n);
        }
        "project_build" | "no_editable" if t.method == Method::Editable => to_path(&mut n),
        "pytest_too_old" | "pytest_broken" if !t.harness => n.harness = true,
        _ => return None,
    }
    Some(n)
}

/// The search for one set: returns every try and, when one worked, the
/// sandbox holding the environment.
async fn search(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    ov: &RepoOverride,
    cut: &Cutoffs,
    opts: &EnvOptions,
    on_attempt: &(dyn Fn(&Attempt) + Sync),
) -> (
    Vec<Attempt>,
    Option<(Try, r2e_sandbox::docker::DockerSandbox)>,
) {
    let max = ov.max_attempts.unwrap_or(opts.max_attempts).max(1);
    let mut attempts = Vec::new();
    let first_method = match (ov.install.is_some(), set.spec.installable) {
        (true, _) => Method::Custom,
        (false, true) => Method::Editable,
        (false, false) => Method::Path,
    };
    'pythons: for python in pythons_for(set, ov, opts) {
        let mut t = Try {
            python,
            method: first_method,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
        };
        while attempts.len() < max {
            let (a, sb) = run_try(provider, archive, set, &t, ov, cut, opts).await;
            on_attempt(&a);
            let stop = a.label() == Some("sandbox");
            let next = next_try(&t, &a);
            let worked = a.error.is_none();
            attempts.push(a);
            if worked {
                if let Some(sb) = sb {
                    return (attempts, Some((t, sb)));
                }
                break;
            }
            // A sandbox failure is not the environment's fault: no other try
            // would do better.
            if stop {
                break 'pythons;
            }
            match next {
                Some(n) => t = n,
                None => continue 'pythons,
            }
        }
        if attempts.len() >= max {
            break;
        }
    }
    (attempts, None)
}

/// Builds the environments of the candidates in `candidates` (JSONL of
/// [`MinedCommit`]) of the repository at `repo`, appending one [`EnvRow`] per
/// candidate to `out`; commits already in `out` are skipped, and a set whose
/// image already exists is not built again.
pub async fn build_envs(
    provider: &DockerProvider,
    repo: &Path,
    candidates: &Path,
    out: &Path,
    opts: &EnvOptions,
    on_event: &(dyn Fn(EnvEvent) + Sync),
) -> Result<EnvSummary> {
    let rows: Vec<MinedCommit> = crate::jsonl::read_rows(candidates)?;
    if opts.retry_failed && out.exists() {
        let kept: Vec<EnvRow> = r2e_core::jsonl::read::<EnvRow>(out)?
            .into_iter()
            .filter(|r| r.outcome != EnvOutcome::Failed)
            .collect();
        let tmp = out.with_extension("jsonl.tmp");
        let mut text = String::new();
        for r in &kept {
            text.push_str(&serde_json::to_string(r).map_err(|e| Error::BadRow {
                path: out.to_path_buf(),
                line: 0,
                message: e.to_string(),
            })?);
            text.push('\n');
        }
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    }
    let (mut writer, done) = JsonlWriter::<EnvRow>::open(out)?;
    let done_hashes: BTreeSet<&str> = done.iter().map(|r| r.hash.as_str()).collect();
    let name = opts
        .repo_name
        .clone()
        .map(|n| docker_name(&n))
        .unwrap_or_else(|| repo_name(repo));
    let ov = opts.overrides.for_repo(&name).clone();
    let todo: Vec<&MinedCommit> = rows
        .iter()
        .filter(|c| !done_hashes.contains(c.hash.as_str()))
        .collect();
    let already_done = rows.len() - todo.len();
    // Earlier runs' images, by key.
    let mut built: HashMap<String, EnvRow> = HashMap::new();
    for r in &done {
        if r.outcome == EnvOutcome::Built && r.built_at == r.hash {
            built.insert(r.key.clone(), r.clone());
        }
    }
    let mut sets: BTreeMap<String, Set> = BTreeMap::new();
    let mut new_rows = Vec::new();
    for c in todo {
        let mut row = EnvRow {
            hash: c.hash.clone(),
            repo: name.clone(),
            outcome: EnvOutcome::Skipped,
            reason: None,
            key: String::new(),
            image: String::new(),
            built_at: String::new(),
            python: None,
            method: None,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
            exclude_newer: String::new(),
            tools_exclude_newer: String::new(),
            spec: EnvSpec::default(),
            attempts: Vec::new(),
        };
        if c.skipped.is_some() || c.parent.is_none() {
            row.reason = Some("not_analysed".into());
            new_rows.push(row);
            continue;
        }
        let spec = match read_spec(repo, &c.hash) {
            Ok(s) => s,
            Err(e) => {
                row.outcome = EnvOutcome::Failed;
                row.reason = Some(format!("metadata: {e}"));
                new_rows.push(row);
                continue;
            }
        };
        let key = set_key(&spec, &ov, c.commit_time, opts.share_days);
        sets.entry(key.clone())
            .or_insert_with(|| Set {
                key,
                spec,
                commits: Vec::new(),
            })
            .commits
            .push(c);
    }
    for row in &new_rows {
        writer.append(row)?;
    }
    for set in sets.values_mut() {
        set.commits.sort_by_key(|c| (c.commit_time, c.hash.clone()));
    }
    // Sets whose image an earlier run built only get rows.
    let mut to_build = Vec::new();
    for set in sets.into_values() {
        match built.get(&set.key) {
            Some(prev) if provider.image_exists(&prev.image).await? => {
                for c in &set.commits {
                    writer.append(&member_row(prev, c))?;
                }
            }
            _ => to_build.push(set),
        }
    }
    on_event(EnvEvent::Planned {
        commits: rows.len(),
        already_done,
        sets: to_build.len(),
    });
    if !to_build.is_empty() {
        // The repository is packed once and copied into every try's sandbox.
        let archive = RepoArchive::new(
            repo,
            &revs_of(to_build.iter().flat_map(|s| s.commits.iter().copied())),
        )?;
        let (ov, name, archive) = (&ov, &name, &archive);
        let mut stream = futures_util::stream::iter(to_build)
            .map(|set| async move {
                let rows = build_set(provider, archive, &set, ov, name, opts, on_event).await;
                (set.key.clone(), rows)
            })
            .buffer_unordered(opts.workers.max(1));
        while let Some((key, rows)) = stream.next().await {
            let rows = rows?;
            for r in &rows {
                writer.append(r)?;
            }
            on_event(EnvEvent::SetDone {
                key,
                outcome: rows.first().map_or(EnvOutcome::Failed, |r| r.outcome),
                commits: rows.len(),
            });
        }
    }
    let all: Vec<EnvRow> = r2e_core::jsonl::read(out)?;
    let mut summary = EnvSummary {
        input: rows.len(),
        already_done,
        ..Default::default()
    };
    let mut images = BTreeSet::new();
    for r in &all {
        match r.outcome {
            EnvOutcome::Built => {
                summary.built += 1;
                images.insert(r.image.clone());
            }
            EnvOutcome::Failed => {
                summary.failed += 1;
                let label = r
                    .reason
                    .as_deref()
                    .and_then(|x| x.split([':', ' ']).next())
                    .unwrap_or("failed");
                *summary.failures.entry(label.to_string()).or_default() += 1;
            }
            EnvOutcome::Skipped => summary.skipped += 1,
        }
    }
    summary.images = images.len();
    Ok(summary)
}

/// The row of commit `c` sharing the environment of `built`.
fn member_row(built: &EnvRow, c: &MinedCommit) -> EnvRow {
    EnvRow {
        hash: c.hash.clone(),
        attempts: if c.hash == built.hash {
            built.attempts.clone()
        } else {
            Vec::new()
        },
        ..built.clone()
    }
}

/// Builds one set and returns the rows of its commits.
async fn build_set(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    ov: &RepoOverride,
    name: &str,
    opts: &EnvOptions,
    on_event: &(dyn Fn(EnvEvent) + Sync),
) -> Result<Vec<EnvRow>> {
    let rep = set.commits[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let deps = ov
        .exclude_newer
        .clone()
        .unwrap_or_else(|| rfc3339(rep.commit_time, 0));
    let floor = python::day_seconds(TOOLS_FLOOR).unwrap_or(0);
    let dated_tools = if python::day_seconds(&deps).is_some_and(|d| d >= floor) {
        deps.clone()
    } else {
        TOOLS_FLOOR.to_string()
    };
    let cut = Cutoffs {
        deps,
        tools: rfc3339(now, 0),
        dated_tools,
    };
    let image = format!("r2e-gen/{name}-env:{}", set.key);
    let key = set.key.clone();
    let (attempts, found) = search(provider, archive, set, ov, &cut, opts, &|a| {
        on_event(EnvEvent::Attempt {
            key: key.clone(),
            attempt: a.clone(),
        })
    })
    .await;
    let mut row = EnvRow {
        hash: rep.hash.clone(),
        repo: name.to_string(),
        outcome: EnvOutcome::Failed,
        reason: None,
        key: set.key.clone(),
        image: String::new(),
        built_at: rep.hash.clone(),
        python: None,
        method: None,
        pins: Vec::new(),
        dated_tools: false,
        relaxed: Vec::new(),
        harness: false,
        added: Vec::new(),
        exclude_newer: cut.deps,
        tools_exclude_newer: cut.tools,
        spec: set.spec.clone(),
        attempts,
    };
    match found {
        Some((t, sb)) => {
            let mut labels = ImageKind::Env.labels(name);
            labels.insert(KEY_LABEL.to_string(), set.key.clone());
            let env = [
                format!(
                    "PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ),
                format!("VIRTUAL_ENV={VENV}"),
            ];
            let saved = provider.commit(&sb, &image, labels, &env).await;
            let _ = sb.close().await;
            saved?;
            row.outcome = EnvOutcome::Built;
            row.image = image;
            row.python = Some(t.python.version.to_string());
            row.method = Some(t.method);
            row.pins = t.pins;
            row.dated_tools = t.dated_tools;
            row.relaxed = t.relaxed;
            row.harness = t.harness;
            row.added = t.added;
        }
        None => {
            row.reason = Some(match row.attempts.last() {
                Some(a) => format!(
                    "{} ({} tries; last: {})",
                    a.label().unwrap_or("failed"),
                    row.attempts.len(),
                    a.error.as_deref().unwrap_or("")
                ),
                None => "no_python: no Python to try (see --python)".to_string(),
            });
        }
    }
    Ok(set.commits.iter().map(|c| member_row(&row, c)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_labels() {
        assert_eq!(
            classify_failure("  × No solution found when resolving dependencies:", false),
            "resolution"
        );
        assert_eq!(
            classify_failure("× Failed to build `calc @ file:///testbed`", false),
            "project_build"
        );
        assert_eq!(
            classify_failure("× Failed to build `oldpkg==0.1`", false),
            "build"
        );
        assert_eq!(classify_failure("", true), "timeout");
        let own: BTreeSet<String> = ["calc".to_string()].into();
        assert_eq!(
            missing_module(
                "E   ModuleNotFoundError: No module named 'yaml.loader'",
                &own
            ),
            Some("yaml".into())
        );
        assert_eq!(missing_module("No module named 'calc'", &own), None);
        assert_eq!(distribution_for("yaml"), "PyYAML");
        assert_eq!(
            failed_dependency("error: Failed to build `markupsafe==1.0`\n  cause"),
            Some("markupsafe".into())
        );
        assert_eq!(
            failed_dependency("error: Failed to download and build `pysocks==1.6.8`"),
            Some("pysocks".into())
        );
        assert_eq!(
            failed_dependency("× Failed to build `calc @ file:///testbed`"),
            None
        );
        assert_eq!(distribution_for("pytest_mock"), "pytest-mock");
        // uv's hint when every release of a dependency is newer than the date.
        assert_eq!(
            failed_dependency(
                "error: No solution found when resolving dependencies\n  cause: Because there \
                 are no versions of atomicwrites and pytest>=3.8.2 depends on atomicwrites>=1.0 \
                 ...\n\nhint: `atomicwrites` was filtered by `exclude-newer` to only include \
                 packages uploaded before 2018-10-16T12:54:25Z."
            ),
            Some("atomicwrites".into())
        );
    }

    #[test]
    fn an_install_whose_pytest_cannot_import_a_module_is_missing_it() {
        // marshmallow, April 2018: pytest 3.0.2 with a setuptools that has no
        // pkg_resources any more.
        let log = " + pytest==3.0.2\n + setuptools==82.0.1\nTraceback (most recent call \
                   last):\n  File \"/root/.venv/lib/python3.9/site-packages/_pytest/config.py\", \
                   line 8, in <module>\n    import pkg_resources\nModuleNotFoundError: No module \
                   named 'pkg_resources'";
        assert_eq!(install_error(log, false), "missing_module: pkg_resources");
        assert_eq!(distribution_for("pkg_resources"), "setuptools<81");
        let imp = install_error("ModuleNotFoundError: No module named 'imp'", false);
        assert!(imp.starts_with("python_too_new: "), "{imp}");
        assert_eq!(install_error("exit 1", false), "failed: exit 1");
        // A build failure stays one, whatever module its log names.
        let build = install_error(
            "error: Failed to build `nodeenv==1.3.2`\nModuleNotFoundError: No module named 'pipes'",
            false,
        );
        assert!(build.starts_with("build: "), "{build}");
    }

    fn attempt(error: &str, failed: Option<&str>) -> Attempt {
        Attempt {
            python: "3.9".into(),
            method: Method::Editable,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
            error: Some(error.into()),
            failed_package: failed.map(str::to_string),
            secs: 0.0,
        }
    }

    #[test]
    fn the_search_steps() {
        let t = Try {
            python: PythonImage::managed(PyVersion { major: 3, minor: 9 }, "img"),
            method: Method::Editable,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
        };
        let build = |pkg: &str| attempt("build: Failed to build", Some(pkg));
        // Pins, then dated tools without building the project, then the
        // failing dependencies one by one, up to three.
        let t = next_try(&t, &build("markupsafe")).expect("pins");
        assert_eq!(
            (t.pins.as_slice(), t.method),
            (
                PIN_STEP
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .as_slice(),
                Method::Editable
            )
        );
        let t = next_try(&t, &build("markupsafe")).expect("dated");
        assert!(t.dated_tools && t.pins.is_empty() && t.method == Method::Path);
        let t = next_try(&t, &build("pysocks")).expect("relax");
        assert_eq!(
            (t.relaxed.clone(), t.dated_tools),
            (vec!["pysocks".to_string()], false)
        );
        let t = next_try(&t, &build("markupsafe")).expect("relax again");
        let t = next_try(&t, &build("cffi")).expect("relax a third");
        assert_eq!(t.relaxed, ["pysocks", "markupsafe", "cffi"]);
        assert!(next_try(&t, &build("ruamel-yaml")).is_none());
        // A missing module is added once; other failures move on.
        let fresh = Try {
            relaxed: Vec::new(),
            ..t.clone()
        };
        let missing = attempt("missing_module: yaml", None);
        let with_yaml = next_try(&fresh, &missing).expect("add");
        assert_eq!(with_yaml.added, ["PyYAML"]);
        assert!(next_try(&with_yaml, &missing).is_none());
        let filtered = attempt("resolution: x", Some("atomicwrites"));
        assert_eq!(
            next_try(&fresh, &filtered).expect("relax").relaxed,
            ["atomicwrites"]
        );
        for label in [
            "resolution: x",
            "python_too_new: x",
            "timeout: x",
            "failed: x",
        ] {
            assert!(next_try(&fresh, &attempt(label, None)).is_none(), "{label}");
        }
    }

    #[test]
    fn keys_share_within_a_window() {
        let spec = EnvSpec {
            requires: vec!["six".into()],
            ..Default::default()
        };
        let ov = RepoOverride::default();
        let day = 86_400;
        let a = set_key(&spec, &ov, 100 * day, 90);
        assert_eq!(a, set_key(&spec, &ov, 101 * day, 90));
        assert_ne!(a, set_key(&spec, &ov, 200 * day, 90));
        let other = EnvSpec {
            requires: vec!["six<2".into()],
            ..Default::default()
        };
        assert_ne!(a, set_key(&other, &ov, 100 * day, 90));
        let moved = EnvSpec {
            sources: vec!["setup.py".into()],
            ..spec.clone()
        };
        assert_eq!(a, set_key(&moved, &ov, 100 * day, 90));
        assert_eq!(a.len(), 12);
    }

    #[test]
    fn overrides_parse_and_reject_typos() {
        let o: Overrides = toml::from_str(
            "[default]\nmax_attempts = 2\n[repo.calc]\npython = [\"3.11\"]\nextra_requires = [\"six\"]\n",
        )
        .expect("parse");
        assert_eq!(o.for_repo("calc").python, vec!["3.11"]);
        assert_eq!(o.for_repo("other").max_attempts, Some(2));
        assert!(toml::from_str::<Overrides>("[repo.calc]\npyhton = []\n").is_err());
    }

    #[test]
    fn scripts_pin_the_date_and_the_method() {
        let t = Try {
            python: PythonImage {
                version: PyVersion { major: 3, minor: 9 },
                image: "img".into(),
                interpreter: "/usr/bin/python3".into(),
            },
            method: Method::Path,
            pins: vec!["setuptools<58".into()],
            dated_tools: false,
            relaxed: vec!["markupsafe".into()],
            harness: false,
            added: vec!["PyYAML".into()],
        };
        let spec = EnvSpec {
            requires: vec!["packaging".into()],
            ..Default::default()
        };
        let cut = Cutoffs {
            deps: "2021-06-01T00:00:00+00:00".into(),
            tools: "2026-01-01T00:00:00+00:00".into(),
            dated_tools: "2021-06-01T00:00:00+00:00".into(),
        };
        let s = install_script(&t, &spec, &RepoOverride::default(), &cut);
        assert!(s.contains("UV_EXCLUDE_NEWER=2021-06-01T00:00:00+00:00 "));
        assert!(!s.contains(" -e ."));
        insta::assert_snapshot!(s);
        // The last step of the search holds the build tools to the date too.
        let dated = Try {
            dated_tools: true,
            ..t
        };
        let s = install_script(&dated, &spec, &RepoOverride::default(), &cut);
        assert!(
            s.contains("--exclude-newer-package setuptools=2021-06-01T00:00:00+00:00"),
            "{s}"
        );
        // The harness past the date: the repository's own pins of it are
        // dropped (marshmallow 2016 pins pytest==3.0.2), and pytest's own
        // dependencies go with it (no attrs before 2015 held pytest at 3.2).
        let harness = Try {
            harness: true,
            ..dated
        };
        let pinned = EnvSpec {
            test_requires: vec![
                "pytest==3.0.2".into(),
                "pytest-cov==2.5.1".into(),
                "six==1.10.0".into(),
            ],
            ..spec
        };
        let s = install_script(&harness, &pinned, &RepoOverride::default(), &cut);
        assert!(
            s.contains("printf '%s\\n' packaging pytest pytest-cov six==1.10.0 PyYAML"),
            "{s}"
        );
        for dist in ["pytest", "pytest-cov", "attrs", "pluggy"] {
            assert!(
                s.contains(&format!(
                    "--exclude-newer-package {dist}=2026-01-01T00:00:00+00:00"
                )),
                "{dist}: {s}"
            );
        }
    }
}
