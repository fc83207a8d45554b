//! r2e-env: a task's sandbox as an environment.
//!
//! [`RepoEnv::reset`] starts the task's image with the repository at
//! `/testbed`; [`RepoEnv::step`] runs one tool call (served natively by the
//! shim, with R2E-Gym's observation text); [`RepoEnv::patch`] is the final
//! patch R2E-Gym takes (`git add -A && git diff --cached`, hidden tests
//! excluded); [`RepoEnv::reward`] brings the hidden tests in only then, runs
//! them and grades the log with the same code as `r2e eval`.
//!
//! The reward is one thing an agent must not be able to fake. By default
//! ([`RewardIn::Fresh`]) it runs in a new sandbox from the task's image (from
//! the warm pool when there is one) with only the agent's patch applied, the
//! parts of it that could decide the verdict instead of the code removed
//! ([`r2e_core::reward_guard`]): whatever else the agent did to its sandbox
//! (a fake `python3`, a `sitecustomize.py` outside the repository, deleted
//! tests) is gone. [`RewardIn::Same`] keeps R2E-Gym's behaviour of running
//! the tests in the agent's own sandbox, for exact parity; it can be gamed.
//! Every reward carries a [`RewardStatus`]; an infrastructure failure is an
//! [`EnvError`], never a 0. [`check`] proves a task sound (`r2e dataset check`).

pub mod check;

use r2e_core::reward_guard::{self, Excluded};
use r2e_core::{Grading, RewardStatus, Task};
use r2e_grade::GradeOptions;
use r2e_sandbox::{
    ExecOptions, Provider, Sandbox, SandboxError, SandboxSpec, ToolReply, ToolRequest, WarmPool,
    shell_quote,
};
use std::sync::Arc;
use std::time::Duration;

/// Where hidden R2E-Gym tests live in the repository (excluded from patches).
const HIDDEN_TESTS_DIR: &str = "r2e_tests";
/// PATH of every tool call, as R2E-Gym sets it: the task's Python
/// environment is linked at /root/.venv (R2E-Gym: the repo's .venv; SWE-bench:
/// the `testbed` conda env) and comes first.
const AGENT_PATH: &str = "/root/.venv/bin:/root/.local/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The conda environment of SWE-bench images.
const SWEBENCH_CONDA_ENV: &str = "/opt/miniconda3/envs/testbed";
/// The exit code that tells a failed preparation from a patch that does not apply.
const SETUP_FAILED: i32 = 97;

/// Where the hidden tests of the reward run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardIn {
    /// A fresh sandbox from the task image with only the agent's (guarded)
    /// patch applied, as `r2e eval` grades: nothing else the agent did counts.
    #[default]
    Fresh,
    /// The agent's own sandbox, as R2E-Gym does (exact parity; an agent can
    /// fake its reward by changing the sandbox outside the repository).
    Same,
}

impl RewardIn {
    /// Parses `fresh` or `same`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fresh" => Some(RewardIn::Fresh),
            "same" => Some(RewardIn::Same),
            _ => None,
        }
    }
}

/// How an environment runs.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// The repository inside the image.
    pub workdir: String,
    /// Time limit of one tool call (R2E-Gym's 90 s).
    pub tool_timeout_secs: u64,
    /// Time limit of the hidden tests.
    pub test_timeout: Duration,
    /// Grading choices.
    pub grade: GradeOptions,
    /// Where the reward's hidden tests run.
    pub reward_in: RewardIn,
    /// Memory, CPU and process limits of the task's sandboxes.
    pub limits: r2e_sandbox::Limits,
    /// Network access of the task's sandboxes: `None` follows the task (off
    /// unless its `extra` has `"network": true`), `Some` forces it.
    pub network: Option<bool>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            workdir: "/testbed".into(),
            tool_timeout_secs: 90,
            test_timeout: Duration::from_secs(1800),
            grade: GradeOptions::default(),
            reward_in: RewardIn::default(),
            limits: r2e_sandbox::Limits::default(),
            network: None,
        }
    }
}

/// Bad settings in [`EnvOptions::apply_json`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(String);

impl EnvOptions {
    /// Applies settings given as JSON, as the Python package and the HTTP
    /// server receive them: `step_timeout` and `reward_timeout` (seconds),
    /// `reward_in` (`fresh`|`same`), `network` (bool; null keeps the task's
    /// policy), and `limits` (`memory` such as "4g", `cpus`, `cpu_shares`,
    /// `pids`; a missing key keeps the default, null lifts the limit).
    /// Unknown keys are refused, so that a typo is not silently ignored.
    pub fn apply_json(&mut self, v: &serde_json::Value) -> Result<(), OptionsError> {
        use r2e_sandbox::limits;
        let Some(map) = v.as_object() else {
            return match v {
                serde_json::Value::Null => Ok(()),
                _ => Err(OptionsError("options must be a JSON object".into())),
            };
        };
        let secs = |key: &str, v: &serde_json::Value| match v.as_f64() {
            Some(s) if s > 0.0 && s.is_finite() => Ok(s),
            _ => Err(OptionsError(format!(
                "{key} must be a number of seconds above 0"
            ))),
        };
        for (key, value) in map {
            match key.as_str() {
                "step_timeout" => self.tool_timeout_secs = secs(key, value)?.ceil() as u64,
                "reward_timeout" => {
                    self.test_timeout = Duration::from_secs_f64(secs(key, value)?);
                }
                "reward_in" => {
                    let s = value.as_str().unwrap_or_default();
                    self.reward_in = RewardIn::parse(s).ok_or_else(|| {
                        OptionsError(format!("reward_in {value}: use \"fresh\" or \"same\""))
                    })?;
                }
                "network" => {
                    self.network = match value {
                        serde_json::Value::Null => None,
                        serde_json::Value::Bool(b) => Some(*b),
                        other => {
                            return Err(OptionsError(format!(
                                "network {other}: use true, false or null"
                            )));
                        }
                    };
                }
                "limits" => {
                    let Some(l) = value.as_object() else {
                        if value.is_null() {
                            continue;
                        }
                        return Err(OptionsError("limits must be a JSON object".into()));
                    };
                    for (key, value) in l {
                        let text = match value {
                            serde_json::Value::Null => "none".to_string(),
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let bad = |e: r2e_sandbox::LimitError| OptionsError(e.to_string());
                        let lim = &mut self.limits;
                        match key.as_str() {
                            "memory" => {
                                lim.memory_bytes = limits::parse_memory(&text).map_err(bad)?
                            }
                            "cpus" => lim.cpus = limits::parse_cpus(&text).map_err(bad)?,
                            "cpu_shares" => {
                                lim.cpu_shares =
                                    limits::parse_count("cpu_shares", &text).map_err(bad)?;
                            }
                            "pids" => lim.pids = limits::parse_count("pids", &text).map_err(bad)?,
                            other => {
                                return Err(OptionsError(format!(
                                    "unknown limit {other:?}: use memory, cpus, cpu_shares or pids"
                                )));
                            }
                        }
                    }
                }
                other => {
                    return Err(OptionsError(format!(
                        "unknown option {other:?}: use step_timeout, reward_timeout, reward_in, network or limits"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The reward of an episode: the hidden tests ran (or there was nothing to
/// run them on) and gave a verdict. Failures to get one are [`EnvError`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Reward {
    /// 1.0 when resolved, else 0.0.
    pub value: f64,
    /// Resolved, unresolved or timeout (never infra_error: that is an `Err`).
    pub status: RewardStatus,
    /// The report (SWE-bench `report.json` or R2E-Gym comparison), as JSON
    /// text; empty when the tests timed out or did not run.
    pub report: String,
    /// The hidden tests' log (empty when they did not run).
    pub log: String,
    /// Parts of the agent's patch left out of the reward, and why.
    pub excluded: Vec<Excluded>,
    /// Wall time of the reward, sandbox start included.
    pub duration: Duration,
}

/// What can go wrong in an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The task has no way to run its tests.
    #[error(transparent)]
    Spec(#[from] r2e_eval::spec::SpecError),
    /// The log could not be graded.
    #[error(transparent)]
    Grade(#[from] r2e_grade::GradeError),
    /// The agent's patch did not apply in the reward's fresh sandbox.
    #[error(
        "the agent's patch does not apply in a fresh sandbox of {task}: {stderr}\n  \
         hint: --reward-in same grades in the agent's own sandbox"
    )]
    PatchApply {
        /// The task.
        task: String,
        /// `git apply`'s error output.
        stderr: String,
    },
    /// An environment server answered with an error.
    #[error("{message}")]
    Remote {
        /// What the server said.
        message: String,
        /// The server blamed the task, not the infrastructure.
        task: bool,
    },
    /// A setup command failed.
    #[error("{what} failed in {task}: {stderr}")]
    Setup {
        /// The task.
        task: String,
        /// The step.
        what: String,
        /// Its error output.
        stderr: String,
    },
}

impl EnvError {
    /// Whether the task itself is at fault (it has no way to run or grade
    /// its tests), rather than the infrastructure.
    pub fn is_task_error(&self) -> bool {
        matches!(
            self,
            EnvError::Spec(_) | EnvError::Grade(_) | EnvError::Remote { task: true, .. }
        )
    }
}

/// What agents act on: a task's environment, in this process ([`RepoEnv`])
/// or on an `r2e serve` instance. The agent loops take any of them.
#[async_trait::async_trait]
pub trait Environment: Send + Sync {
    /// The task.
    fn task(&self) -> &Task;
    /// The repository's directory inside the sandbox.
    fn workdir(&self) -> &str;
    /// Runs one tool call.
    async fn step(
        &self,
        name: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ToolReply, EnvError>;
    /// The agent's patch (R2E-Gym's).
    async fn patch(&self) -> Result<String, EnvError>;
    /// The hidden tests' verdict.
    async fn reward(&self) -> Result<Reward, EnvError>;
    /// Removes the sandbox.
    async fn close(self: Box<Self>) -> Result<(), EnvError>;
}

/// Makes environments for tasks (the runner's source of them when they
/// live elsewhere, such as on an `r2e serve` instance).
#[async_trait::async_trait]
pub trait EnvFactory: Send + Sync {
    /// A started environment for `task`.
    async fn create(&self, task: &Task) -> Result<Box<dyn Environment>, EnvError>;
}

#[async_trait::async_trait]
impl Environment for RepoEnv {
    fn task(&self) -> &Task {
        RepoEnv::task(self)
    }
    fn workdir(&self) -> &str {
        RepoEnv::workdir(self)
    }
    async fn step(
        &self,
        name: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ToolReply, EnvError> {
        RepoEnv::step(self, name, args).await
    }
    async fn patch(&self) -> Result<String, EnvError> {
        RepoEnv::patch(self).await
    }
    async fn reward(&self) -> Result<Reward, EnvError> {
        RepoEnv::reward(self).await
    }
    async fn close(self: Box<Self>) -> Result<(), EnvError> {
        RepoEnv::close(*self).await
    }
}

/// Where an environment gets sandboxes: straight from a provider, or from a
/// warm pool (which falls back to its provider when it has none ready).
#[derive(Clone)]
pub enum Sandboxes {
    /// Start each one.
    Provider(Arc<dyn Provider>),
    /// Take a ready one.
    Pool(Arc<WarmPool>),
}

impl Sandboxes {
    /// A started sandbox for `spec`.
    pub async fn start(&self, spec: &SandboxSpec) -> Result<Box<dyn Sandbox>, SandboxError> {
        match self {
            Sandboxes::Provider(p) => p.start(spec).await,
            Sandboxes::Pool(pool) => pool.take(spec).await,
        }
    }
}

/// One task's sandbox as an environment.
pub struct RepoEnv {
    task: Task,
    sandbox: Box<dyn Sandbox>,
    sandboxes: Sandboxes,
    opts: EnvOptions,
    /// The commit the repository was at after reset (the agent may move HEAD).
    base: String,
}

impl RepoEnv {
    /// Starts the task's sandbox and prepares it the way its image family
    /// expects; the hidden tests are not in reach of the agent.
    pub async fn reset(
        provider: Arc<dyn Provider>,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        Self::reset_with(Sandboxes::Provider(provider), task, opts).await
    }

    /// Like [`RepoEnv::reset`], with a sandbox from a [`WarmPool`]: a few
    /// milliseconds instead of a container start.
    pub async fn reset_from_pool(
        pool: &Arc<WarmPool>,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        Self::reset_with(Sandboxes::Pool(pool.clone()), task, opts).await
    }

    /// Like [`RepoEnv::reset`], with sandboxes (this one and the reward's)
    /// from `sandboxes`.
    pub async fn reset_with(
        sandboxes: Sandboxes,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        let sandbox = sandboxes.start(&Self::sandbox_spec(&task, &opts)).await?;
        let prepared = prepare(sandbox.as_ref(), &task, &opts).await;
        if let Err(e) = prepared {
            let _ = sandbox.close().await;
            return Err(e);
        }
        let head = sandbox
            .exec(
                &format!(
                    "git -C {} rev-parse --verify -q HEAD",
                    shell_quote(&opts.workdir)
                ),
                &ExecOptions::timeout(60.0),
            )
            .await;
        let base = match head {
            Ok(out) if out.success() => out.stdout_text().trim().to_string(),
            _ => "HEAD".to_string(),
        };
        Ok(RepoEnv {
            task,
            sandbox,
            sandboxes,
            opts,
            base,
        })
    }

    /// The sandbox a task's environment runs in (what a warm pool keeps ready).
    /// Agent episodes run offline unless the task says it needs the network
    /// (`"network": true` in its `extra`) or `opts.network` decides.
    pub fn sandbox_spec(task: &Task, opts: &EnvOptions) -> SandboxSpec {
        let mut spec = SandboxSpec::new(&task.image);
        spec.workdir = Some(opts.workdir.clone());
        spec.env.push(("PATH".into(), AGENT_PATH.into()));
        spec.limits = opts.limits;
        spec.network = opts
            .network
            .unwrap_or_else(|| task.extra.get("network") == Some(&serde_json::Value::Bool(true)));
        spec
    }

    /// The fresh sandbox the reward runs in: the agent's spec, with the
    /// network on unless [`EnvOptions::network`] turns it off, as `r2e eval`
    /// runs the hidden tests (SWE-bench's eval scripts reinstall the package).
    pub fn reward_spec(task: &Task, opts: &EnvOptions) -> SandboxSpec {
        let mut spec = Self::sandbox_spec(task, opts);
        spec.network = opts.network.unwrap_or(true);
        spec
    }

    /// The task.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The repository's directory inside the sandbox (`/testbed`).
    pub fn workdir(&self) -> &str {
        &self.opts.workdir
    }

    /// The sandbox.
    pub fn sandbox(&self) -> &dyn Sandbox {
        self.sandbox.as_ref()
    }

    /// Runs one tool call and returns its observation.
    pub async fn step(
        &self,
        name: &str,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ToolReply, EnvError> {
        self.step_within(name, args, None).await
    }

    /// [`RepoEnv::step`] with its own time limit in seconds (`None`: the
    /// environment's `tool_timeout_secs`).
    pub async fn step_within(
        &self,
        name: &str,
        args: &serde_json::Map<String, serde_json::Value>,
        timeout_secs: Option<u64>,
    ) -> Result<ToolReply, EnvError> {
        let req = ToolRequest {
            name: name.into(),
            args: args.clone(),
            cwd: Some(self.opts.workdir.clone()),
            timeout_secs: Some(timeout_secs.unwrap_or(self.opts.tool_timeout_secs)),
        };
        Ok(self.sandbox.call_tool(req).await?)
    }

    /// The agent's changes as R2E-Gym takes them: every change under the
    /// repository against `HEAD`, new files included, hidden tests excluded.
    pub async fn patch(&self) -> Result<String, EnvError> {
        self.diff("HEAD", "").await
    }

    /// `git diff --cached` of everything under the repository against `base`
    /// (with `extra` flags), hidden tests excluded.
    async fn diff(&self, base: &str, extra: &str) -> Result<String, EnvError> {
        let cmd = format!(
            "cd {wd} && git add -A >/dev/null && git -c core.quotepath=false diff --cached {extra} {base} -- . ':(exclude){HIDDEN_TESTS_DIR}'",
            wd = shell_quote(&self.opts.workdir),
            base = shell_quote(base),
        );
        setup_step(self.sandbox.as_ref(), &self.task, &cmd, "git diff", 300.0).await
    }

    /// A second environment of the same task whose repository is in this
    /// one's state (every change under the repository, untracked files
    /// included, carried over as a binary patch onto a fresh sandbox from the
    /// same provider or pool); the two then diverge independently. Changes
    /// outside the repository are not carried over.
    pub async fn fork(&self) -> Result<RepoEnv, EnvError> {
        let patch = self.diff(&self.base, "--binary").await?;
        let child =
            Self::reset_with(self.sandboxes.clone(), self.task.clone(), self.opts.clone()).await?;
        if !patch.trim().is_empty() {
            let opts = ExecOptions {
                stdin: patch.into_bytes(),
                ..ExecOptions::timeout(300.0)
            };
            let cmd = format!(
                "cd {} && git apply --whitespace=nowarn -",
                shell_quote(&self.opts.workdir)
            );
            let out = child.sandbox.exec(&cmd, &opts).await;
            let failed = match out {
                Ok(out) if out.success() => None,
                Ok(out) => Some(EnvError::PatchApply {
                    task: self.task.task_id.clone(),
                    stderr: out.stderr_text().trim().to_string(),
                }),
                Err(e) => Some(e.into()),
            };
            if let Some(e) = failed {
                let _ = child.sandbox.close().await;
                return Err(e);
            }
        }
        Ok(child)
    }

    /// The reward: the hidden tests' verdict on the agent's work, where
    /// [`EnvOptions::reward_in`] says. With [`RewardIn::Fresh`] (the default)
    /// only the agent's patch, guarded by [`reward_guard::guard`], reaches a
    /// new sandbox; an empty guarded patch is unresolved without running the
    /// tests, as SWE-bench's harness treats an empty prediction.
    pub async fn reward(&self) -> Result<Reward, EnvError> {
        let clock = std::time::Instant::now();
        let mut reward = match self.opts.reward_in {
            RewardIn::Same => self.grade_in(self.sandbox.as_ref()).await?,
            RewardIn::Fresh => self.reward_fresh().await?,
        };
        reward.duration = clock.elapsed();
        Ok(reward)
    }

    async fn reward_fresh(&self) -> Result<Reward, EnvError> {
        let patch = self.diff(&self.base, "--binary").await?;
        let guarded = reward_guard::guard(&patch, &self.task);
        if guarded.patch.trim().is_empty() {
            // SWE-bench's report for an instance without a patch.
            let report = format!(
                "{{{}: {{\"patch_is_None\": false, \"patch_exists\": false, \"patch_successfully_applied\": false, \"resolved\": false}}}}",
                serde_json::Value::from(self.task.task_id.as_str())
            );
            return Ok(Reward {
                value: 0.0,
                status: RewardStatus::Unresolved,
                report,
                log: String::new(),
                excluded: guarded.excluded,
                duration: Duration::ZERO,
            });
        }
        let spec = Self::reward_spec(&self.task, &self.opts);
        let sandbox = self.sandboxes.start(&spec).await?;
        let graded = async {
            // One round trip: prepare the image, then apply the patch from stdin.
            let cmd = format!(
                "( {setup} ) || exit {SETUP_FAILED}; cd {wd} && git apply --whitespace=nowarn -",
                setup = setup_command(&self.task, &self.opts),
                wd = shell_quote(&self.opts.workdir)
            );
            let opts = ExecOptions {
                stdin: guarded.patch.clone().into_bytes(),
                ..ExecOptions::timeout(300.0)
            };
            let out = sandbox.exec(&cmd, &opts).await?;
            if !out.success() {
                let stderr = out.stderr_text().trim().to_string();
                return Err(if out.exit_code == SETUP_FAILED {
                    EnvError::Setup {
                        task: self.task.task_id.clone(),
                        what: "preparing the reward's sandbox".into(),
                        stderr,
                    }
                } else {
                    EnvError::PatchApply {
                        task: self.task.task_id.clone(),
                        stderr,
                    }
                });
            }
            self.grade_in(sandbox.as_ref()).await
        }
        .await;
        // Removing a container takes longer than the rest of a pooled
        // reward: it happens off the caller's path (were the process to
        // exit first, the dropped connection still ends the sandbox).
        let task_id = self.task.task_id.clone();
        tokio::spawn(async move {
            if let Err(e) = sandbox.close().await {
                tracing::warn!("removing the reward sandbox of {task_id}: {e}");
            }
        });
        let mut reward = graded?;
        reward.excluded = guarded.excluded;
        Ok(reward)
    }

    /// Brings the hidden tests into `sandbox`, runs them on the repository
    /// as it is there, and grades the log.
    async fn grade_in(&self, sandbox: &dyn Sandbox) -> Result<Reward, EnvError> {
        let script = r2e_eval::test_script(&self.task)?;
        let run = r2e_eval::run_hidden_tests(
            sandbox,
            &self.task,
            &script,
            self.opts.test_timeout,
            64 << 20,
        )
        .await?;
        let mut reward = Reward {
            value: 0.0,
            status: RewardStatus::Timeout,
            report: String::new(),
            log: run.log,
            excluded: Vec::new(),
            duration: run.duration,
        };
        if !run.timed_out {
            let graded = r2e_grade::grade_task(&self.task, &reward.log, &self.opts.grade)?;
            reward.status = if graded.resolved() {
                RewardStatus::Resolved
            } else {
                RewardStatus::Unresolved
            };
            reward.value = if graded.resolved() { 1.0 } else { 0.0 };
            reward.report = graded.to_json();
        }
        Ok(reward)
    }

    /// Removes the sandbox.
    pub async fn close(self) -> Result<(), EnvError> {
        Ok(self.sandbox.close().await?)
    }
}

/// Prepares a sandbox started from [`RepoEnv::sandbox_spec`] the way the
/// task's image family expects, with the hidden tests out of reach.
async fn prepare(sandbox: &dyn Sandbox, task: &Task, opts: &EnvOptions) -> Result<(), EnvError> {
    let setup = setup_command(task, opts);
    setup_step(sandbox, task, &setup, "preparing the image", 300.0).await?;
    Ok(())
}

/// The shell command [`prepare`] runs.
fn setup_command(task: &Task, opts: &EnvOptions) -> String {
    let wd = shell_quote(&opts.workdir);
    match task.source.grading() {
        // R2E-Gym images: the repo's venv is used through /root/.venv and
        // its executables through /root/.local/bin; stale bytecode goes;
        // the hidden tests shipped in the image leave the agent's reach
        // (the reward brings its own copy).
        Grading::R2eGym => format!(
            "cd {wd} || exit 1; if [ -d .venv ] && [ ! -e /root/.venv ]; then ln -s {wd}/.venv /root/.venv; fi \
             && mkdir -p /root/.local/bin \
             && if [ -d .venv/bin ]; then find {wd}/.venv/bin -maxdepth 1 \\( -type f -o -type l \\) -perm -u+x -exec ln -sf {{}} /root/.local/bin/ \\; ; fi \
             && find . -name '*.pyc' -delete 2>/dev/null; find . -name __pycache__ -prune -exec rm -rf {{}} + 2>/dev/null; \
             rm -rf {HIDDEN_TESTS_DIR} run_tests.sh /r2e_tests"
        ),
        // SWE-bench images: the `testbed` conda env is the task's Python.
        Grading::SweBench => format!(
            "if [ -d {SWEBENCH_CONDA_ENV} ] && [ ! -e /root/.venv ]; then ln -s {SWEBENCH_CONDA_ENV} /root/.venv; fi"
        ),
    }
}

/// Runs one setup command; a non-zero exit is an [`EnvError::Setup`].
async fn setup_step(
    sandbox: &dyn Sandbox,
    task: &Task,
    cmd: &str,
    what: &str,
    timeout_secs: f64,
) -> Result<String, EnvError> {
    let out = sandbox
        .exec(cmd, &ExecOptions::timeout(timeout_secs))
        .await?;
    if out.exit_code != 0 {
        return Err(EnvError::Setup {
            task: task.task_id.clone(),
            what: what.into(),
            stderr: out.stderr_text().trim().to_string(),
        });
    }
    Ok(out.stdout_text().into_owned())
}
