//! r2e-py: the native module `r2e._native` behind the Python package `r2e`.
//!
//! It wraps [`r2e_env::RepoEnv`] and [`r2e_sandbox::WarmPool`] and holds no
//! logic of its own: one shared tokio runtime and one provider per sandbox
//! engine choice per process (Docker by default; Kubernetes with
//! `provider="kubernetes"` and a `provider_config` file, or `R2E_PROVIDER`
//! and `R2E_PROVIDER_CONFIG`, as the CLI's `--provider`/`--provider-config`,
//! through [`r2e_kube::KubeProvider::open`]); every blocking call releases the GIL (so any number of
//! environments can be driven from any number of threads); structured values
//! cross the boundary as JSON text, which the pure-Python layer
//! (`python/r2e/`) turns into dataclasses. Errors become the exception
//! classes `r2e.InfraError` (with `r2e.SandboxDied` and `r2e.Timeout` below
//! it) and `r2e.TaskError`, carrying the message the CLI prints.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use r2e_core::Task;
use r2e_env::{EnvError, EnvOptions, RepoEnv, Sandboxes};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Provider, SandboxError, WarmPool};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

create_exception!(
    r2e,
    InfraError,
    PyException,
    "The infrastructure failed (sandbox, engine, patch application): no verdict, never a 0."
);
create_exception!(
    r2e,
    SandboxDied,
    InfraError,
    "The sandbox went away (killed, out of memory, removed) during a call."
);
create_exception!(
    r2e,
    Timeout,
    InfraError,
    "The sandbox did not answer within its deadline."
);
create_exception!(
    r2e,
    TaskError,
    PyException,
    "The task itself is unusable (a malformed row, no way to run its tests)."
);

/// The process's runtime, shared by every environment.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("r2e")
            .build()
            .expect("a tokio runtime")
    })
}

/// Which engine runs sandboxes: the CLI's `--provider` and `--provider-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    /// The local Docker daemon (or `DOCKER_HOST`).
    Docker,
    /// A Kubernetes cluster, configured by this file (absolute) or defaults.
    Kubernetes(Option<PathBuf>),
}

impl Choice {
    /// `provider` and `provider_config`, else `$R2E_PROVIDER` and
    /// `$R2E_PROVIDER_CONFIG`, else Docker.
    fn resolve(provider: Option<&str>, config: Option<&str>) -> PyResult<Self> {
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let kind = provider
            .map(String::from)
            .or_else(|| env("R2E_PROVIDER"))
            .unwrap_or_else(|| "docker".into());
        let config = config
            .map(String::from)
            .or_else(|| env("R2E_PROVIDER_CONFIG"));
        match (kind.as_str(), config) {
            ("docker", None) => Ok(Choice::Docker),
            ("docker", Some(_)) => Err(PyValueError::new_err(
                "provider_config (or $R2E_PROVIDER_CONFIG) is for provider=\"kubernetes\"",
            )),
            ("kubernetes", file) => {
                Ok(Choice::Kubernetes(file.map(|f| {
                    std::path::absolute(&f).unwrap_or_else(|_| f.into())
                })))
            }
            (other, _) => Err(PyValueError::new_err(format!(
                "provider={other:?}: use \"docker\" or \"kubernetes\" (R2E_PROVIDER likewise)"
            ))),
        }
    }
}

/// The providers connected so far, one per choice, each on first use.
static PROVIDERS: Mutex<Vec<(Choice, Arc<dyn Provider>)>> = Mutex::new(Vec::new());

/// The provider of `choice`, connected on first use.
fn provider(choice: &Choice) -> PyResult<Arc<dyn Provider>> {
    let mut slot = PROVIDERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = slot.iter().find(|(c, _)| c == choice) {
        return Ok(p.clone());
    }
    let p: Arc<dyn Provider> = match choice {
        Choice::Docker => Arc::new(
            runtime()
                .block_on(DockerProvider::connect())
                .map_err(sandbox_err)?,
        ),
        Choice::Kubernetes(file) => Arc::new(
            r2e_kube::KubeProvider::open(file.as_deref()).map_err(|e| match e {
                r2e_kube::OpenError::Config(c) => PyValueError::new_err(c.to_string()),
                connect => InfraError::new_err(connect.to_string()),
            })?,
        ),
    };
    slot.push((choice.clone(), p.clone()));
    Ok(p)
}

fn sandbox_err(e: SandboxError) -> PyErr {
    match e {
        SandboxError::Died { .. } | SandboxError::Closed(_) => SandboxDied::new_err(e.to_string()),
        SandboxError::Unresponsive { .. } => Timeout::new_err(e.to_string()),
        other => InfraError::new_err(other.to_string()),
    }
}

fn env_err(e: EnvError) -> PyErr {
    if e.is_task_error() {
        return TaskError::new_err(e.to_string());
    }
    match e {
        EnvError::Sandbox(s) => sandbox_err(s),
        other => InfraError::new_err(other.to_string()),
    }
}

/// Parses the options the Python layer sends (see `r2e.Env`).
fn options(json_text: &str) -> PyResult<EnvOptions> {
    let v: Value =
        serde_json::from_str(json_text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut opts = EnvOptions::default();
    opts.apply_json(&v)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(opts)
}

/// Turns a dataset row (R2E-Gym, SWE-bench, SWE-smith, SWE-Gym, SWE-Gen or an
/// r2e task, as JSON text) into an r2e task (JSON text).
#[pyfunction]
fn task_from_row(row_json: &str) -> PyResult<String> {
    let row: Value =
        serde_json::from_str(row_json).map_err(|e| TaskError::new_err(e.to_string()))?;
    let task = r2e_core::row::task_from_value(&row, &Default::default())
        .map_err(|e| TaskError::new_err(e.to_string()))?;
    Ok(serde_json::to_string(&task).expect("a task serializes"))
}

/// Reads a dataset (JSONL, JSON, Parquet, or a directory of them) as a JSON
/// array of r2e tasks.
#[pyfunction]
fn load_dataset(py: Python<'_>, path: &str) -> PyResult<String> {
    py.detach(|| {
        let loaded = r2e_core::dataset::load(std::path::Path::new(path), &Default::default())
            .map_err(|e| TaskError::new_err(e.to_string()))?;
        Ok(serde_json::to_string(&loaded.tasks).expect("tasks serialize"))
    })
}

/// Removes every sandbox this process started, on every provider (called
/// at interpreter exit).
#[pyfunction]
fn close_all(py: Python<'_>) -> usize {
    py.detach(|| {
        let providers: Vec<Arc<dyn Provider>> = PROVIDERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, p)| p.clone())
            .collect();
        runtime().block_on(async {
            let mut closed = 0;
            for p in providers {
                closed += p.close_all().await;
            }
            closed
        })
    })
}

/// Started sandboxes kept ready per image, shared by many environments.
#[pyclass(frozen, module = "r2e._native")]
struct Pool {
    inner: Arc<WarmPool>,
}

#[pymethods]
impl Pool {
    #[new]
    #[pyo3(signature = (size, provider=None, provider_config=None))]
    fn new(
        py: Python<'_>,
        size: usize,
        provider: Option<&str>,
        provider_config: Option<&str>,
    ) -> PyResult<Self> {
        let choice = Choice::resolve(provider, provider_config)?;
        let p = py.detach(|| self::provider(&choice))?;
        Ok(Pool {
            inner: WarmPool::new(p, size),
        })
    }

    /// Starts sandboxes until `size` are ready for `task_json`'s image.
    fn fill(&self, py: Python<'_>, task_json: &str, options_json: &str) -> PyResult<()> {
        let task = parse_task(task_json)?;
        let opts = options(options_json)?;
        let spec = RepoEnv::sandbox_spec(&task, &opts);
        py.detach(|| runtime().block_on(self.inner.fill(&spec)))
            .map_err(sandbox_err)
    }

    /// Closes every ready sandbox.
    fn drain(&self, py: Python<'_>) {
        py.detach(|| runtime().block_on(self.inner.drain()));
    }
}

fn parse_task(task_json: &str) -> PyResult<Task> {
    serde_json::from_str(task_json).map_err(|e| TaskError::new_err(format!("not an r2e task: {e}")))
}

/// One task's environment (see `r2e.Env` for the documented API).
#[pyclass(frozen, module = "r2e._native")]
struct Env {
    task: Task,
    opts: EnvOptions,
    sandboxes: Sandboxes,
    env: Mutex<Option<Arc<RepoEnv>>>,
}

impl Env {
    /// The live environment, or an error saying to reset first.
    fn live(&self) -> PyResult<Arc<RepoEnv>> {
        self.env
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                InfraError::new_err(format!(
                    "the environment of {} is not started: call reset() first (or it was closed)",
                    self.task.task_id
                ))
            })
    }

    /// Takes the live environment out and removes its sandbox.
    fn shut(&self) -> Result<(), SandboxError> {
        let env = self.env.lock().unwrap_or_else(|e| e.into_inner()).take();
        match env {
            Some(env) => runtime().block_on(env.sandbox().close()),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl Env {
    #[new]
    #[pyo3(signature = (task_json, options_json, pool=None, provider=None, provider_config=None))]
    fn new(
        py: Python<'_>,
        task_json: &str,
        options_json: &str,
        pool: Option<&Bound<'_, Pool>>,
        provider: Option<&str>,
        provider_config: Option<&str>,
    ) -> PyResult<Self> {
        let task = parse_task(task_json)?;
        let opts = options(options_json)?;
        let sandboxes = match pool {
            Some(_) if provider.is_some() || provider_config.is_some() => {
                return Err(PyValueError::new_err(
                    "a pool has its own provider: pass provider and provider_config to the Pool",
                ));
            }
            Some(p) => Sandboxes::Pool(p.get().inner.clone()),
            None => {
                let choice = Choice::resolve(provider, provider_config)?;
                Sandboxes::Provider(py.detach(|| self::provider(&choice))?)
            }
        };
        Ok(Env {
            task,
            opts,
            sandboxes,
            env: Mutex::new(None),
        })
    }

    /// Starts a fresh sandbox (closing the previous one); returns the issue text.
    fn reset(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| {
            self.shut().map_err(sandbox_err)?;
            let env = runtime()
                .block_on(RepoEnv::reset_with(
                    self.sandboxes.clone(),
                    self.task.clone(),
                    self.opts.clone(),
                ))
                .map_err(env_err)?;
            *self.env.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(env));
            Ok(self.task.problem_statement.clone())
        })
    }

    /// Runs one tool call; returns the reply as JSON (`output`, `error_code`,
    /// `exit_code`, `finished`, `text`, `duration_us`).
    #[pyo3(signature = (tool, args_json, timeout=None))]
    fn step(
        &self,
        py: Python<'_>,
        tool: &str,
        args_json: &str,
        timeout: Option<f64>,
    ) -> PyResult<String> {
        let env = self.live()?;
        let args: serde_json::Map<String, Value> = serde_json::from_str(args_json)
            .map_err(|e| PyValueError::new_err(format!("tool arguments: {e}")))?;
        let timeout = timeout.map(|t| t.ceil().max(1.0) as u64);
        let reply = py
            .detach(|| runtime().block_on(env.step_within(tool, &args, timeout)))
            .map_err(env_err)?;
        Ok(serde_json::to_string(&reply).expect("a reply serializes"))
    }

    /// Runs a shell command in the repository; returns (stdout, stderr,
    /// exit code, timed out, out of memory).
    #[pyo3(signature = (cmd, timeout=None))]
    fn exec(
        &self,
        py: Python<'_>,
        cmd: &str,
        timeout: Option<f64>,
    ) -> PyResult<(String, String, i32, bool, bool)> {
        let env = self.live()?;
        let opts = ExecOptions {
            cwd: Some(env.workdir().to_string()),
            ..ExecOptions::timeout(timeout.unwrap_or(self.opts.tool_timeout_secs as f64))
        };
        let out = py
            .detach(|| runtime().block_on(env.sandbox().exec(cmd, &opts)))
            .map_err(sandbox_err)?;
        Ok((
            out.stdout_text().into_owned(),
            out.stderr_text().into_owned(),
            out.exit_code,
            out.timed_out,
            out.oom_killed,
        ))
    }

    /// A file's bytes.
    fn read_file<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyBytes>> {
        let env = self.live()?;
        let data = py
            .detach(|| runtime().block_on(env.sandbox().read_file(path)))
            .map_err(sandbox_err)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Writes a file (parents created).
    #[pyo3(signature = (path, data, mode=None))]
    fn write_file(
        &self,
        py: Python<'_>,
        path: &str,
        data: &[u8],
        mode: Option<u32>,
    ) -> PyResult<()> {
        let env = self.live()?;
        py.detach(|| runtime().block_on(env.sandbox().write_file(path, data, mode)))
            .map_err(sandbox_err)
    }

    /// The agent's patch as R2E-Gym takes it.
    fn patch(&self, py: Python<'_>) -> PyResult<String> {
        let env = self.live()?;
        py.detach(|| runtime().block_on(env.patch()))
            .map_err(env_err)
    }

    /// The reward as JSON (`value`, `status`, `report`, `log`, `excluded`,
    /// `seconds`).
    fn reward(&self, py: Python<'_>) -> PyResult<String> {
        let env = self.live()?;
        let r = py
            .detach(|| runtime().block_on(env.reward()))
            .map_err(env_err)?;
        Ok(json!({
            "value": r.value,
            "status": r.status,
            "report": r.report,
            "log": r.log,
            "excluded": r.excluded,
            "seconds": r.duration.as_secs_f64(),
        })
        .to_string())
    }

    /// A second environment whose repository is in this one's state.
    fn fork(&self, py: Python<'_>) -> PyResult<Env> {
        let env = self.live()?;
        let child = py
            .detach(|| runtime().block_on(env.fork()))
            .map_err(env_err)?;
        Ok(Env {
            task: self.task.clone(),
            opts: self.opts.clone(),
            sandboxes: self.sandboxes.clone(),
            env: Mutex::new(Some(Arc::new(child))),
        })
    }

    /// Removes the sandbox; idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.shut()).map_err(sandbox_err)
    }

    /// The container id or pod name, while the environment is started.
    fn sandbox_id(&self) -> Option<String> {
        let env = self.env.lock().unwrap_or_else(|e| e.into_inner()).clone();
        env.map(|e| e.sandbox().id().to_string())
    }

    /// The task as JSON.
    fn task_json(&self) -> String {
        serde_json::to_string(&self.task).expect("a task serializes")
    }
}

impl Drop for Env {
    /// A dropped environment removes its sandbox.
    fn drop(&mut self) {
        let _ = self.shut();
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InfraError", py.get_type::<InfraError>())?;
    m.add("SandboxDied", py.get_type::<SandboxDied>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("TaskError", py.get_type::<TaskError>())?;
    m.add_class::<Env>()?;
    m.add_class::<Pool>()?;
    m.add_function(wrap_pyfunction!(task_from_row, m)?)?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(close_all, m)?)?;
    Ok(())
}
