//! Evaluating predictions: for each instance start the task's sandbox, apply
//! the patch the way SWE-bench does, run the eval script, grade the log and
//! write SWE-bench's per-instance files. Finished instances are skipped on a
//! re-run, so an interrupted evaluation resumes where it stopped.

use crate::predictions::Prediction;
use crate::report::RunReport;
use futures_util::StreamExt;
use r2e_core::{Grading, Task};
use r2e_grade::GradeOptions;
use r2e_sandbox::{ExecOptions, Provider, Sandbox, SandboxSpec, shell_quote};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the patch goes inside the sandbox.
const PATCH_PATH: &str = "/tmp/patch.diff";
/// Where the eval script goes inside the sandbox.
const EVAL_PATH: &str = "/eval.sh";
/// The repository inside task images.
const WORKDIR: &str = "/testbed";
/// SWE-bench's patch application attempts, in order.
const APPLY_COMMANDS: [&str; 3] = [
    "git apply --verbose",
    "git apply --verbose --reject",
    "patch --batch --fuzz=5 -p1 -i",
];

/// How to run an evaluation.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Names this run's log directory and report.
    pub run_id: String,
    /// Root of the logs: `<log_root>/<run_id>/<model>/<instance>/`.
    pub log_root: PathBuf,
    /// Where the run report `<model>.<run_id>.json` is written.
    pub report_dir: PathBuf,
    /// Limit on the eval script's run time.
    pub timeout: Duration,
    /// Instances evaluated at once.
    pub workers: usize,
    /// Cap on the captured test log.
    pub max_output: u64,
    /// Grading choices (parser, rule generation).
    pub grade: GradeOptions,
    /// Memory, CPU and process limits of each instance's sandbox.
    pub limits: r2e_sandbox::Limits,
    /// Network access of each instance's sandbox (on, as in SWE-bench's
    /// harness: eval scripts may reinstall the package).
    pub network: bool,
}

impl EvalOptions {
    /// SWE-bench's defaults: logs under `logs/run_evaluation`, report in the
    /// current directory, 1800 s per instance, one worker.
    pub fn new(run_id: impl Into<String>) -> Self {
        EvalOptions {
            run_id: run_id.into(),
            log_root: PathBuf::from("logs/run_evaluation"),
            report_dir: PathBuf::from("."),
            timeout: Duration::from_secs(1800),
            workers: 1,
            max_output: 64 << 20,
            grade: GradeOptions::default(),
            limits: r2e_sandbox::Limits::default(),
            network: true,
        }
    }

    /// The directory holding one instance's files.
    pub fn instance_dir(&self, pred: &Prediction) -> PathBuf {
        self.log_root
            .join(&self.run_id)
            .join(pred.model_dir())
            .join(&pred.instance_id)
    }
}

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Graded and resolved.
    Resolved,
    /// Graded, not resolved.
    Unresolved,
    /// The prediction had no patch; nothing ran.
    EmptyPatch,
    /// The tests hit the time limit (seconds); SWE-bench lists it among the errors.
    Timeout(u64),
    /// The instance could not be graded (patch did not apply, sandbox or engine failure).
    Error(String),
}

impl Verdict {
    /// The reward status this verdict stands for: an empty patch is
    /// unresolved; a patch that does not apply, a dead sandbox or an engine
    /// failure is an infrastructure error.
    pub fn status(&self) -> r2e_core::RewardStatus {
        use r2e_core::RewardStatus;
        match self {
            Verdict::Resolved => RewardStatus::Resolved,
            Verdict::Unresolved | Verdict::EmptyPatch => RewardStatus::Unresolved,
            Verdict::Timeout(_) => RewardStatus::Timeout,
            Verdict::Error(_) => RewardStatus::InfraError,
        }
    }
}

/// One instance's result.
#[derive(Debug, Clone)]
pub struct InstanceOutcome {
    /// The instance.
    pub instance_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Which command applied the patch, when one did.
    pub applied_with: Option<String>,
    /// Taken from an earlier run's report instead of evaluated now.
    pub resumed: bool,
    /// Wall time spent on it now.
    pub duration: Duration,
}

/// Failures that stop a whole evaluation before it starts.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Predictions name instances the dataset does not have.
    #[error(
        "{count} prediction(s) name instances not in the dataset, e.g. {example}; check --dataset or --instance-ids"
    )]
    UnknownInstances {
        /// How many.
        count: usize,
        /// One of them.
        example: String,
    },
    /// The run report could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Evaluates every prediction against its task, `opts.workers` at a time,
/// calling `on_done` as each instance finishes, and writes one run report per
/// model. Instances with a `report.json` from an earlier run are not re-run.
pub async fn evaluate_all(
    provider: &dyn Provider,
    tasks: &[Task],
    predictions: &[Prediction],
    opts: &EvalOptions,
    on_done: &(dyn Fn(&InstanceOutcome) + Sync),
) -> Result<Vec<(PathBuf, RunReport)>, EvalError> {
    let by_id: HashMap<&str, &Task> = tasks.iter().map(|t| (t.task_id.as_str(), t)).collect();
    let unknown: Vec<&str> = predictions
        .iter()
        .map(|p| p.instance_id.as_str())
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if let Some(first) = unknown.first() {
        return Err(EvalError::UnknownInstances {
            count: unknown.len(),
            example: first.to_string(),
        });
    }
    let by_id = &by_id;
    let outcomes: Vec<(&Prediction, InstanceOutcome)> = futures_util::stream::iter(predictions)
        .map(|pred| async move {
            let outcome =
                evaluate_one(provider, by_id[pred.instance_id.as_str()], pred, opts).await;
            on_done(&outcome);
            (pred, outcome)
        })
        .buffer_unordered(opts.workers.max(1))
        .collect()
        .await;
    let mut models: Vec<&str> = predictions
        .iter()
        .map(|p| p.model_name_or_path.as_str())
        .collect();
    models.sort();
    models.dedup();
    let mut reports = Vec::new();
    for model in models {
        let mine: Vec<(&Prediction, &InstanceOutcome)> = outcomes
            .iter()
            .filter(|(p, _)| p.model_name_or_path == model)
            .map(|(p, o)| (*p, o))
            .collect();
        let report = RunReport::build(tasks, &mine);
        let path =
            opts.report_dir
                .join(format!("{}.{}.json", model.replace('/', "__"), opts.run_id));
        std::fs::write(&path, r2e_grade::json::to_python_json(&report)).map_err(|source| {
            EvalError::Io {
                path: path.clone(),
                source,
            }
        })?;
        reports.push((path, report));
    }
    Ok(reports)
}

/// Evaluates one prediction (or takes the verdict of an earlier run).
pub async fn evaluate_one(
    provider: &dyn Provider,
    task: &Task,
    pred: &Prediction,
    opts: &EvalOptions,
) -> InstanceOutcome {
    let started = Instant::now();
    let dir = opts.instance_dir(pred);
    let outcome = |verdict, applied_with, resumed| InstanceOutcome {
        instance_id: pred.instance_id.clone(),
        verdict,
        applied_with,
        resumed,
        duration: started.elapsed(),
    };
    if let Some(resolved) = finished_report(&dir.join("report.json"), &pred.instance_id) {
        let verdict = if resolved {
            Verdict::Resolved
        } else {
            Verdict::Unresolved
        };
        return outcome(verdict, None, true);
    }
    if pred.is_empty() {
        return outcome(Verdict::EmptyPatch, None, false);
    }
    let mut log = match InstanceLog::create(&dir) {
        Ok(l) => l,
        Err(e) => {
            return outcome(
                Verdict::Error(format!("cannot write logs to {}: {e}", dir.display())),
                None,
                false,
            );
        }
    };
    log.line(&format!(
        "Evaluating {} with image {}",
        pred.instance_id, task.image
    ));
    let mut applied_with = None;
    let verdict = match run_instance(
        provider,
        task,
        pred,
        opts,
        &dir,
        &mut log,
        &mut applied_with,
    )
    .await
    {
        Ok(v) => v,
        Err(message) => {
            log.line(&format!("Error: {message}"));
            Verdict::Error(message)
        }
    };
    log.line(&format!(
        "Verdict: {verdict:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    outcome(verdict, applied_with, false)
}

/// `Some(resolved)` when `path` holds a finished report for `id`.
fn finished_report(path: &Path, id: &str) -> Option<bool> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let entry = v.get(id)?;
    Some(
        entry
            .get("resolved")
            .and_then(|r| r.as_bool())
            .unwrap_or(false),
    )
}

async fn run_instance(
    provider: &dyn Provider,
    task: &Task,
    pred: &Prediction,
    opts: &EvalOptions,
    dir: &Path,
    log: &mut InstanceLog,
    applied_with: &mut Option<String>,
) -> Result<Verdict, String> {
    let patch = pred.model_patch.clone().unwrap_or_default();
    write(dir, "patch.diff", &patch)?;
    let script = test_script(task).map_err(|e| e.to_string())?;
    write(dir, "eval.sh", &script)?;
    let mut spec = SandboxSpec::new(&task.image);
    spec.limits = opts.limits;
    spec.network = opts.network;
    let sandbox = provider.start(&spec).await.map_err(|e| e.to_string())?;
    log.line(&format!(
        "Sandbox {} started",
        &sandbox.id()[..12.min(sandbox.id().len())]
    ));
    let result = in_sandbox(
        sandbox.as_ref(),
        task,
        &patch,
        &script,
        opts,
        dir,
        log,
        applied_with,
    )
    .await;
    if let Err(e) = sandbox.close().await {
        log.line(&format!("Warning: removing the sandbox: {e}"));
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn in_sandbox(
    sb: &dyn Sandbox,
    task: &Task,
    patch: &str,
    script: &str,
    opts: &EvalOptions,
    dir: &Path,
    log: &mut InstanceLog,
    applied_with: &mut Option<String>,
) -> Result<Verdict, String> {
    let in_repo = ExecOptions {
        cwd: Some(WORKDIR.into()),
        timeout: Some(Duration::from_secs(600)),
        ..Default::default()
    };
    let err = |e: r2e_sandbox::SandboxError| e.to_string();
    sb.write_file(PATCH_PATH, patch.as_bytes(), None)
        .await
        .map_err(err)?;
    for cmd in APPLY_COMMANDS {
        let out = sb
            .exec(&format!("{cmd} {PATCH_PATH}"), &in_repo)
            .await
            .map_err(err)?;
        if out.exit_code == 0 {
            log.line(&format!(
                ">>>>> Applied Patch ({cmd}):\n{}{}",
                out.stdout_text(),
                out.stderr_text()
            ));
            *applied_with = Some(cmd.to_string());
            break;
        }
        log.line(&format!(
            "Failed to apply patch with {cmd}:\n{}{}",
            out.stdout_text(),
            out.stderr_text()
        ));
    }
    if applied_with.is_none() {
        log.line(">>>>> Patch Apply Failed");
        return Err("the patch does not apply (git apply, git apply --reject and patch --fuzz=5 all failed)".into());
    }
    let diff = sb
        .exec("git -c core.fileMode=false diff", &in_repo)
        .await
        .map_err(err)?;
    log.line(&format!("Git diff before:\n{}", diff.stdout_text()));
    let out = run_hidden_tests(sb, task, script, opts.timeout, opts.max_output)
        .await
        .map_err(err)?;
    let mut test_output = out.log;
    log.line(&format!(
        "Test runtime: {:.2} seconds",
        out.duration.as_secs_f64()
    ));
    if out.timed_out {
        test_output.push_str(&format!(
            "\n\nTimeout error: {} seconds exceeded.",
            opts.timeout.as_secs()
        ));
        write(dir, "test_output.txt", &test_output)?;
        log.line(&format!(
            "the tests timed out after {} s",
            opts.timeout.as_secs()
        ));
        return Ok(Verdict::Timeout(opts.timeout.as_secs()));
    }
    write(dir, "test_output.txt", &test_output)?;
    let graded =
        r2e_grade::grade_task(task, &test_output, &opts.grade).map_err(|e| e.to_string())?;
    write(dir, "report.json", &graded.to_json())?;
    log.line(&format!("report: {}", graded.to_json()));
    Ok(if graded.resolved() {
        Verdict::Resolved
    } else {
        Verdict::Unresolved
    })
}

/// R2E-Gym runs its hidden tests (copied to `/testbed/r2e_tests`) with the
/// image's `run_tests.sh`.
fn r2e_gym_script(task: &Task) -> String {
    let cmd = task
        .extra
        .get("test_cmd")
        .and_then(|v| v.as_str())
        .unwrap_or("bash run_tests.sh");
    format!("#!/bin/bash\ncd {}\n{cmd}\n", shell_quote(WORKDIR))
}

/// The output of one run of a task's hidden tests.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// Standard output and error of the eval script, interleaved as produced.
    pub log: String,
    /// The time limit killed the run.
    pub timed_out: bool,
    /// How long it ran.
    pub duration: Duration,
}

/// The script that runs `task`'s hidden tests: SWE-bench's eval.sh (see
/// [`crate::spec`]) or, for R2E-Gym rows, the image's `run_tests.sh`.
pub fn test_script(task: &Task) -> Result<String, crate::spec::SpecError> {
    match task.source.grading() {
        Grading::R2eGym => Ok(r2e_gym_script(task)),
        Grading::SweBench => crate::spec::eval_script(task),
    }
}

/// Brings `task`'s hidden tests into the sandbox (R2E-Gym's test files; the
/// script applies SWE-bench's test patch itself) and runs `script` there,
/// whatever state the repository is in. This is both the harness's test run
/// and an environment's reward.
pub async fn run_hidden_tests(
    sb: &dyn Sandbox,
    task: &Task,
    script: &str,
    timeout: Duration,
    max_output: u64,
) -> Result<TestRun, r2e_sandbox::SandboxError> {
    if task.source.grading() == Grading::R2eGym {
        for f in &task.test_files {
            sb.write_file(&format!("{WORKDIR}/{}", f.path), f.content.as_bytes(), None)
                .await?;
        }
    }
    sb.write_file(EVAL_PATH, script.as_bytes(), Some(0o755))
        .await?;
    let run = ExecOptions {
        timeout: Some(timeout),
        max_output,
        ..Default::default()
    };
    let out = sb
        .exec(&format!("/bin/bash {EVAL_PATH} 2>&1"), &run)
        .await?;
    Ok(TestRun {
        log: out.stdout_text().into_owned(),
        timed_out: out.timed_out,
        duration: out.duration,
    })
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `run_instance.log`: a timestamped account of what happened.
struct InstanceLog {
    file: std::fs::File,
    started: Instant,
}

impl InstanceLog {
    fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::File::create(dir.join("run_instance.log"))?;
        Ok(InstanceLog {
            file,
            started: Instant::now(),
        })
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(
            self.file,
            "[{:8.3}s] {text}",
            self.started.elapsed().as_secs_f64()
        );
    }
}
