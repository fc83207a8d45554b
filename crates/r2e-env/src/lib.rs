//! r2e-env: a task's sandbox as an environment.
//!
//! [`RepoEnv::reset`] starts the task's image with the repository at
//! `/testbed`; [`RepoEnv::step`] runs one tool call (served natively by the
//! shim, with R2E-Gym's observation text); [`RepoEnv::patch`] is the final
//! patch R2E-Gym takes (`git add -A && git diff --cached`, hidden tests
//! excluded); [`RepoEnv::reward`] brings the hidden tests in only then, runs
//! them and grades the log with the same code as `r2e eval`.

use r2e_core::{SourceFormat, Task};
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
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            workdir: "/testbed".into(),
            tool_timeout_secs: 90,
            test_timeout: Duration::from_secs(1800),
            grade: GradeOptions::default(),
        }
    }
}

/// The reward of an episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Reward {
    /// 1.0 when resolved, else 0.0.
    pub value: f64,
    /// The report (SWE-bench `report.json` or R2E-Gym comparison), as JSON text.
    pub report: String,
    /// The hidden tests' log.
    pub log: String,
    /// The hidden tests hit their time limit (the reward is then 0).
    pub timed_out: bool,
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

/// One task's sandbox as an environment.
pub struct RepoEnv {
    task: Task,
    sandbox: Box<dyn Sandbox>,
    opts: EnvOptions,
}

impl RepoEnv {
    /// Starts the task's sandbox and prepares it the way its image family
    /// expects; the hidden tests are not in reach of the agent.
    pub async fn reset(
        provider: &dyn Provider,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        let sandbox = provider.start(&Self::sandbox_spec(&task, &opts)).await?;
        Self::reset_in(sandbox, task, opts).await
    }

    /// Like [`RepoEnv::reset`], with a sandbox from a [`WarmPool`]: a few
    /// milliseconds instead of a container start.
    pub async fn reset_from_pool(
        pool: &Arc<WarmPool>,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        let sandbox = pool.take(&Self::sandbox_spec(&task, &opts)).await?;
        Self::reset_in(sandbox, task, opts).await
    }

    /// The sandbox a task's environment runs in (what a warm pool keeps ready).
    pub fn sandbox_spec(task: &Task, opts: &EnvOptions) -> SandboxSpec {
        let mut spec = SandboxSpec::new(&task.image);
        spec.workdir = Some(opts.workdir.clone());
        spec.env.push(("PATH".into(), AGENT_PATH.into()));
        spec
    }

    /// Prepares a fresh sandbox started from [`RepoEnv::sandbox_spec`].
    async fn reset_in(
        sandbox: Box<dyn Sandbox>,
        task: Task,
        opts: EnvOptions,
    ) -> Result<Self, EnvError> {
        let env = RepoEnv {
            task,
            sandbox,
            opts,
        };
        let wd = shell_quote(&env.opts.workdir);
        let setup = match env.task.source {
            // R2E-Gym images: the repo's venv is used through /root/.venv and
            // its executables through /root/.local/bin; stale bytecode goes;
            // the hidden tests shipped in the image leave the agent's reach
            // (the reward brings its own copy).
            SourceFormat::R2eGym => format!(
                "cd {wd} || exit 1; if [ -d .venv ] && [ ! -e /root/.venv ]; then ln -s {wd}/.venv /root/.venv; fi \
                 && mkdir -p /root/.local/bin \
                 && if [ -d .venv/bin ]; then find {wd}/.venv/bin -maxdepth 1 \\( -type f -o -type l \\) -perm -u+x -exec ln -sf {{}} /root/.local/bin/ \\; ; fi \
                 && find . -name '*.pyc' -delete 2>/dev/null; find . -name __pycache__ -prune -exec rm -rf {{}} + 2>/dev/null; \
                 rm -rf {HIDDEN_TESTS_DIR} run_tests.sh /r2e_tests"
            ),
            // SWE-bench images: the `testbed` conda env is the task's Python.
            SourceFormat::SweBench => format!(
                "if [ -d {SWEBENCH_CONDA_ENV} ] && [ ! -e /root/.venv ]; then ln -s {SWEBENCH_CONDA_ENV} /root/.venv; fi"
            ),
        };
        env.run_setup(&setup, "preparing the image").await?;
        Ok(env)
    }

    async fn run_setup(&self, cmd: &str, what: &str) -> Result<(), EnvError> {
        let out = self.sandbox.exec(cmd, &ExecOptions::timeout(300.0)).await?;
        if out.exit_code != 0 {
            return Err(EnvError::Setup {
                task: self.task.task_id.clone(),
                what: what.into(),
                stderr: out.stderr_text().trim().to_string(),
            });
        }
        Ok(())
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
        let req = ToolRequest {
            name: name.into(),
            args: args.clone(),
            cwd: Some(self.opts.workdir.clone()),
            timeout_secs: Some(self.opts.tool_timeout_secs),
        };
        Ok(self.sandbox.call_tool(req).await?)
    }

    /// The agent's changes as R2E-Gym takes them: every change under the
    /// repository against `HEAD`, new files included, hidden tests excluded.
    pub async fn patch(&self) -> Result<String, EnvError> {
        let cmd = format!(
            "cd {wd} && git add -A >/dev/null && git -c core.quotepath=false diff --cached HEAD -- . ':(exclude){HIDDEN_TESTS_DIR}'",
            wd = shell_quote(&self.opts.workdir)
        );
        let out = self
            .sandbox
            .exec(&cmd, &ExecOptions::timeout(300.0))
            .await?;
        if out.exit_code != 0 {
            return Err(EnvError::Setup {
                task: self.task.task_id.clone(),
                what: "git diff".into(),
                stderr: out.stderr_text().trim().to_string(),
            });
        }
        Ok(out.stdout_text().into_owned())
    }

    /// Brings the hidden tests in, runs them on the repository as the agent
    /// left it, and grades the log.
    pub async fn reward(&self) -> Result<Reward, EnvError> {
        let script = r2e_eval::test_script(&self.task)?;
        let run = r2e_eval::run_hidden_tests(
            self.sandbox.as_ref(),
            &self.task,
            &script,
            self.opts.test_timeout,
            64 << 20,
        )
        .await?;
        if run.timed_out {
            return Ok(Reward {
                value: 0.0,
                report: String::new(),
                log: run.log,
                timed_out: true,
            });
        }
        let graded = r2e_grade::grade_task(&self.task, &run.log, &self.opts.grade)?;
        Ok(Reward {
            value: if graded.resolved() { 1.0 } else { 0.0 },
            report: graded.to_json(),
            log: run.log,
            timed_out: false,
        })
    }

    /// Removes the sandbox.
    pub async fn close(self) -> Result<(), EnvError> {
        Ok(self.sandbox.close().await?)
    }
}
