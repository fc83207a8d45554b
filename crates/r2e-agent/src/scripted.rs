//! Agents without a model: a fixed list of tool calls run through the
//! environment and recorded as a trajectory like any agent's.
//!
//! - [`oracle`] writes the task's gold patch with `file_editor`, applies it
//!   with `git apply` through `execute_bash` and submits; a task whose oracle
//!   does not earn reward 1 is broken.
//! - [`replay`] replays the actions of a recorded trajectory (to reproduce an
//!   episode, or to check that an environment still behaves the same).

use r2e_core::{Action, ExitReason, Step, Trajectory, Usage};
use r2e_env::Environment;
use serde_json::{Map, Value, json};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where the oracle writes the gold patch inside the sandbox (outside the repository).
const PATCH_PATH: &str = "/tmp/r2e-oracle.patch";

/// Runs the oracle on an environment and grades the result.
pub async fn oracle(env: &dyn Environment) -> Trajectory {
    let task = env.task();
    let plan: Vec<(String, &str, Value)> = vec![
        (
            "Write the reference fix to a file.".into(),
            "file_editor",
            json!({"command": "create", "path": PATCH_PATH, "file_text": task.gold_patch}),
        ),
        (
            "Apply it to the repository.".into(),
            "execute_bash",
            json!({"cmd": format!("git apply --verbose {PATCH_PATH} && rm {PATCH_PATH}")}),
        ),
        ("Done.".into(), "finish", json!({})),
    ];
    let plan = plan
        .into_iter()
        .map(|(thought, tool, args)| {
            let args: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
            (
                thought,
                Action {
                    tool: tool.into(),
                    args,
                },
            )
        })
        .collect();
    run(env, "oracle", "oracle", plan, true).await
}

/// Replays `recorded`'s actions on an environment reset to the same task and
/// grades the result. The observations are the new ones; compare them with
/// the recorded ones to see whether the environment changed.
pub async fn replay(env: &dyn Environment, recorded: &Trajectory) -> Trajectory {
    let plan = recorded
        .steps
        .iter()
        .map(|s| (s.thought.clone(), s.action.clone()))
        .collect();
    let mut traj = run(env, &recorded.model, "replay", plan, false).await;
    traj.rollout = recorded.rollout;
    traj.action_format = recorded.action_format.clone();
    traj
}

/// Runs `plan` step by step. With `strict`, a tool error stops the episode
/// with an error; otherwise every step runs as recorded. Steps without a tool
/// (a reply the model made without a call) are kept with an empty observation.
async fn run(
    env: &dyn Environment,
    model: &str,
    agent: &str,
    plan: Vec<(String, Action)>,
    strict: bool,
) -> Trajectory {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let clock = Instant::now();
    let mut steps = Vec::new();
    let mut finished = false;
    let mut failure = None;
    for (thought, action) in plan {
        let t = Instant::now();
        let observation = if action.tool.is_empty() {
            crate::action::CONTINUE_MSG.to_string()
        } else {
            match env.step(&action.tool, &action.args).await {
                Ok(reply) => {
                    finished = reply.finished;
                    if strict && !reply.finished && reply.error_code != "0" {
                        failure = Some(format!("{} failed: {}", action.tool, reply.text));
                    }
                    reply.text
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    String::new()
                }
            }
        };
        steps.push(Step {
            thought,
            action,
            observation,
            llm_secs: 0.0,
            env_secs: t.elapsed().as_secs_f64(),
            usage: Usage::default(),
        });
        if finished || failure.is_some() {
            break;
        }
    }
    let end = crate::ending::conclude(env, true, failure).await;
    let exit_reason = match (&end.error, finished) {
        (Some(_), _) => ExitReason::Error,
        (None, true) => ExitReason::Submitted,
        (None, false) => ExitReason::MaxSteps,
    };
    Trajectory {
        task_id: env.task().task_id.clone(),
        model: model.into(),
        agent: agent.into(),
        rollout: 0,
        action_format: String::new(),
        steps,
        patch: end.patch,
        reward: end.reward,
        reward_status: end.status,
        reward_report: end.report,
        exit_reason,
        error: end.error,
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at,
        duration_secs: clock.elapsed().as_secs_f64(),
        messages: Vec::new(),
        tools: Vec::new(),
    }
}
