//! The data of stage 3: the Pythons the search may use, per-repository
//! overrides, the options of a run, and the rows, events and counts it
//! produces (`envs.jsonl`).

use super::meta::EnvSpec;
use super::python::PyVersion;
use crate::error::{Error, Result};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where environments put their virtualenv.
pub const VENV: &str = "/root/.venv";
/// Image label holding an environment's dependency-set key.
pub const KEY_LABEL: &str = "dev.r2e.gen.env";

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
    /// Asks `image` which `python3` it has (the first on its `PATH`, e.g.
    /// `/usr/local/bin/python3` in the official `python:3.7` images), and
    /// whether it has uv and git.
    pub async fn probe(provider: &DockerProvider, image: &str) -> Result<PythonImage> {
        let sb = provider.start_docker(&SandboxSpec::new(image)).await?;
        let out = sb
            .exec(
                "command -v uv >/dev/null || echo 'no uv' >&2; \
                 command -v git >/dev/null || echo 'no git' >&2; \
                 p=$(command -v python3) && echo \"$p\" && \"$p\" --version",
                &ExecOptions::default(),
            )
            .await;
        let _ = sb.close().await;
        let out = out?;
        let text = out.stdout_text();
        let mut lines = text.lines();
        let interpreter = lines.next().unwrap_or_default().trim();
        let version = lines
            .next()
            .and_then(PyVersion::parse)
            .filter(|_| out.success() && interpreter.starts_with('/'));
        match version {
            Some(version) if out.stderr_text().trim().is_empty() => Ok(PythonImage {
                version,
                image: image.to_string(),
                interpreter: interpreter.to_string(),
            }),
            _ => Err(Error::Step {
                step: format!("probing Python, uv and git in {image}"),
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

    pub(super) fn is_managed(&self) -> bool {
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
    /// uv settings every install gets: where uv downloads packages and
    /// managed Pythons from (a company mirror, an index proxy). By default the
    /// host's own values of [`UV_SOURCE_SETTINGS`], as uv on the host would
    /// use them. Not saved into images.
    pub uv_env: Vec<(String, String)>,
}

/// The uv environment variables that say where uv downloads from, which the
/// search passes from the host to its installs (`--managed-python` reads the
/// two Python ones: without GitHub, point them at a mirror).
pub const UV_SOURCE_SETTINGS: &[&str] = &[
    "UV_PYTHON_INSTALL_MIRROR",
    "UV_PYTHON_DOWNLOADS_JSON_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INSECURE_HOST",
];

/// The host's values of [`UV_SOURCE_SETTINGS`] (unset and empty ones left out).
pub fn host_uv_env() -> Vec<(String, String)> {
    UV_SOURCE_SETTINGS
        .iter()
        .filter_map(|k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_string(), v))
        })
        .collect()
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
            uv_env: host_uv_env(),
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

/// How an environment was set up: what a try tried ([`Attempt`]) and, on a
/// built row, what worked ([`EnvRow`]); its fields sit flat in both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Python version (empty on a row without an environment).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub python: String,
    /// How the project was installed (`None` on a row without an
    /// environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Build constraints.
    #[serde(default)]
    pub pins: Vec<String>,
    /// Build tools held to the commit's date as well.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dated_tools: bool,
    /// Dependencies let past the date (their build failed at it, or they
    /// broke the package's import).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxed: Vec<String>,
    /// The test harness let past the date (the dated pytest could not run
    /// the tests on this Python).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub harness: bool,
    /// Requirements added by the search (modules the tests import).
    #[serde(default)]
    pub added: Vec<String>,
}

/// One try of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// What it tried.
    #[serde(flatten)]
    pub setup: Setup,
    /// `None` when the try worked, else a label (`resolution`, `build`,
    /// `project_build`, `no_editable`, `missing_module`, `python_too_new` (a
    /// module the standard library dropped, or a `SyntaxError` in the
    /// repository's own code), `collection_fails` (a test module does not
    /// collect) or `package_import_fails` (without test modules, a package
    /// of the checkout does not import), `pytest_too_old`, `pytest_broken`,
    /// `python`, `timeout`, `sandbox`, `failed`) and the end of the log, or
    /// for an import failure its exception and where it was raised.
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
    /// Why not built: the last try's label, or `no_python_old_enough` when
    /// even the oldest Python available was too new for the code.
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
    /// What worked (empty when nothing did).
    #[serde(flatten)]
    pub setup: Setup,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of `envs.jsonl` as `gen env` wrote them on tkem/cachetools before
    /// [`Setup`] existed (built and failed, with and without tries, with the
    /// harness let past the date) read and write back byte for byte.
    #[test]
    fn env_rows_round_trip_byte_for_byte() {
        let text = include_str!("testdata/envs.jsonl");
        assert_eq!(text.lines().count(), 6);
        for line in text.lines() {
            let row: EnvRow = serde_json::from_str(line).expect("row");
            assert_eq!(serde_json::to_string(&row).expect("json"), line);
            for a in &row.attempts {
                assert!(
                    !a.setup.python.is_empty() && a.setup.method.is_some(),
                    "{a:?}"
                );
            }
            assert_eq!(
                row.setup.method.is_some(),
                row.outcome == EnvOutcome::Built,
                "{row:?}"
            );
        }
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
}
