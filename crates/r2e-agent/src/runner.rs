//! Many episodes: K rollouts of every task, N at a time, each in its own
//! sandbox (from a warm pool when asked), every trajectory appended to a JSONL
//! file as it finishes so that a stopped run resumes where it stopped.

use crate::edit::EditAgent;
use crate::scripted;
use futures_util::StreamExt;
use r2e_core::{
    ExitReason, RewardStatus, Task, Trajectory, TrajectoryFileError, TrajectoryWriter, Usage,
};
use r2e_env::{EnvError, EnvFactory, EnvOptions, Environment, RepoEnv, Sandboxes};
use r2e_sandbox::{Provider, WarmPool};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Which agent plays the episodes.
#[derive(Clone)]
pub enum Policy {
    /// The LLM agent.
    Edit(Arc<EditAgent>),
    /// The gold patch through the tools.
    Oracle,
    /// The recorded actions of earlier trajectories, by (task, rollout).
    Replay(Arc<HashMap<(String, u32), Trajectory>>),
}

/// How a run goes.
#[derive(Clone)]
pub struct RunOptions {
    /// Rollouts per task.
    pub k: u32,
    /// Episodes at once.
    pub workers: usize,
    /// Run again the episodes that ended in an error in an earlier run.
    pub retry_errors: bool,
}

/// Where an episode's environment comes from.
#[derive(Clone)]
pub enum Envs {
    /// A sandbox of this machine (from a warm pool or started on demand).
    Local {
        /// Where sandboxes come from.
        sandboxes: Sandboxes,
        /// Environment settings.
        opts: EnvOptions,
    },
    /// Made elsewhere.
    Remote(Arc<dyn EnvFactory>),
}

impl Envs {
    /// Sandboxes of `provider`, `pool` of them kept ready per image (0: each
    /// started on demand), with `opts`.
    pub fn local(provider: Arc<dyn Provider>, pool: usize, opts: EnvOptions) -> Envs {
        let sandboxes = match pool {
            0 => Sandboxes::Provider(provider),
            n => Sandboxes::Pool(WarmPool::new(provider, n)),
        };
        Envs::Local { sandboxes, opts }
    }

    /// Closes the ready sandboxes of a warm pool, if there is one.
    pub async fn drain(&self) {
        if let Envs::Local {
            sandboxes: Sandboxes::Pool(pool),
            ..
        } = self
        {
            pool.drain().await;
        }
    }

    /// A started environment for `task`.
    pub async fn create(&self, task: &Task) -> Result<Box<dyn Environment>, EnvError> {
        match self {
            Envs::Local { sandboxes, opts } => Ok(Box::new(
                RepoEnv::reset_with(sandboxes.clone(), task.clone(), opts.clone()).await?,
            )),
            Envs::Remote(factory) => factory.create(task).await,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Episodes run now.
    pub episodes: usize,
    /// Episodes found finished in the output file and skipped.
    pub skipped: usize,
    /// Episodes with reward 1.
    pub resolved: usize,
    /// Episodes per reward status (resolved, unresolved, timeout, infra_error).
    pub statuses: BTreeMap<RewardStatus, usize>,
    /// Episodes per exit reason.
    pub exits: BTreeMap<String, usize>,
    /// Tokens of all episodes run now.
    pub usage: Usage,
    /// Cost in USD of all episodes run now.
    pub cost_usd: f64,
    /// Wall time in seconds.
    pub secs: f64,
}

impl RunSummary {
    /// Counts one finished episode.
    pub fn add(&mut self, traj: &Trajectory) {
        self.episodes += 1;
        self.resolved += usize::from(traj.reward == Some(1.0));
        *self.statuses.entry(traj.status()).or_default() += 1;
        *self.exits.entry(exit_name(traj.exit_reason)).or_default() += 1;
        self.usage += traj.usage;
        self.cost_usd += traj.cost_usd;
    }

    /// Episodes with this status.
    pub fn count(&self, status: RewardStatus) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Episodes that got a verdict: all but the infrastructure errors, which
    /// say nothing about the agent and stay out of the resolved rate.
    pub fn graded(&self) -> usize {
        self.episodes - self.count(RewardStatus::InfraError)
    }

    /// Resolved episodes over graded ones (timeouts count as not resolved;
    /// infrastructure errors are left out); `None` when nothing was graded.
    pub fn resolved_rate(&self) -> Option<f64> {
        let graded = self.graded();
        (graded > 0).then(|| self.resolved as f64 / graded as f64)
    }
}

/// The episodes of `tasks` × `0..k` that `done` does not hold yet, in
/// order: rollout-major, so that every task gets its first rollout before
/// any gets its second.
pub fn pending(tasks: &[Task], k: u32, done: &HashSet<(String, u32)>) -> Vec<(Task, u32)> {
    (0..k)
        .flat_map(|r| tasks.iter().map(move |t| (t, r)))
        .filter(|(t, r)| !done.contains(&(t.task_id.clone(), *r)))
        .map(|(t, r)| (t.clone(), r))
        .collect()
}

/// The (task, rollout) pairs of earlier trajectories that count as finished.
pub fn finished(earlier: &[Trajectory], retry_errors: bool) -> HashSet<(String, u32)> {
    let mut latest: HashMap<(String, u32), &Trajectory> = HashMap::new();
    for t in earlier {
        latest.insert((t.task_id.clone(), t.rollout), t);
    }
    latest
        .into_iter()
        .filter(|(_, t)| {
            !(retry_errors
                && (t.exit_reason == ExitReason::Error || t.status() == RewardStatus::InfraError))
        })
        .map(|(key, _)| key)
        .collect()
}

/// Runs `jobs` in environments from `envs`, appending each trajectory to
/// `writer` as it finishes and passing it to `on_done` (for progress). Failures of single episodes
/// (missing image, dead sandbox, model errors) become trajectories with exit
/// reason `error` and the message; only a failing output file stops the run.
pub async fn run(
    envs: Envs,
    jobs: Vec<(Task, u32)>,
    policy: Policy,
    opts: RunOptions,
    writer: TrajectoryWriter,
    on_done: &(dyn Fn(&Trajectory) + Send + Sync),
) -> Result<RunSummary, TrajectoryFileError> {
    let clock = Instant::now();
    let mut writer = writer;
    let mut summary = RunSummary::default();
    let mut stream = futures_util::stream::iter(jobs)
        .map(|(task, rollout)| {
            let (envs, policy) = (envs.clone(), policy.clone());
            async move { episode(&envs, task, rollout, &policy).await }
        })
        .buffer_unordered(opts.workers.max(1));
    let mut failure = None;
    while let Some(traj) = stream.next().await {
        if let Err(e) = writer.append(&traj) {
            failure = Some(e);
            break;
        }
        summary.add(&traj);
        on_done(&traj);
    }
    drop(stream);
    envs.drain().await;
    if let Some(e) = failure {
        return Err(e);
    }
    summary.secs = clock.elapsed().as_secs_f64();
    Ok(summary)
}

/// The name of an exit reason as trajectories write it (`max_steps`).
pub fn exit_name(reason: ExitReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One episode: an environment for `task` from `envs`, `policy` played in
/// it, then closed. Failures become an `error` trajectory.
pub async fn episode(envs: &Envs, task: Task, rollout: u32, policy: &Policy) -> Trajectory {
    let started = Instant::now();
    let env = match envs.create(&task).await {
        Ok(env) => env,
        Err(e) => {
            return failed(
                &task,
                rollout,
                policy,
                format!("starting the environment: {e}"),
                started,
            );
        }
    };
    let mut traj = match policy {
        Policy::Edit(agent) => agent.run(env.as_ref(), rollout).await,
        Policy::Oracle => scripted::oracle(env.as_ref()).await,
        Policy::Replay(recorded) => match recorded.get(&(task.task_id.clone(), rollout)) {
            Some(t) => scripted::replay(env.as_ref(), t).await,
            None => failed(
                &task,
                rollout,
                policy,
                "no recorded trajectory for this rollout".into(),
                started,
            ),
        },
    };
    traj.rollout = rollout;
    if let Err(e) = env.close().await {
        tracing::warn!("closing the sandbox of {}: {e}", task.task_id);
    }
    traj
}

/// The trajectory of an episode that could not run.
fn failed(
    task: &Task,
    rollout: u32,
    policy: &Policy,
    error: String,
    started: Instant,
) -> Trajectory {
    let (model, agent, format) = match policy {
        Policy::Edit(a) => (
            a.model().to_string(),
            a.config().name.clone(),
            a.config().action_format.as_str().to_string(),
        ),
        Policy::Oracle => ("oracle".into(), "oracle".into(), String::new()),
        Policy::Replay(_) => ("replay".into(), "replay".into(), String::new()),
    };
    Trajectory {
        task_id: task.task_id.clone(),
        model,
        agent,
        rollout,
        action_format: format,
        steps: Vec::new(),
        patch: String::new(),
        reward: None,
        reward_status: Some(RewardStatus::InfraError),
        reward_report: None,
        exit_reason: ExitReason::Error,
        error: Some(error),
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        duration_secs: started.elapsed().as_secs_f64(),
        messages: Vec::new(),
        tools: Vec::new(),
    }
}
