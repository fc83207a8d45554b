//! The oracle agent: writes the gold patch with `file_editor`, applies it with
//! `git apply` through `execute_bash`, submits, and records a trajectory like
//! any agent's. A task whose oracle does not earn reward 1 is broken.

use r2e_core::{Action, ExitReason, Step, Task, Trajectory, Usage};
use r2e_env::{EnvError, RepoEnv};
use serde_json::{Map, Value, json};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where the oracle writes the gold patch inside the sandbox (outside the repository).
const PATCH_PATH: &str = "/tmp/r2e-oracle.patch";

/// Runs the oracle on an environment and grades the result.
pub async fn run(env: &RepoEnv) -> Trajectory {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let clock = Instant::now();
    let task = env.task();
    let mut steps = Vec::new();
    let outcome = act(env, task, &mut steps).await;
    let (patch, reward, exit_reason, error) = match outcome {
        Ok(()) => match (env.patch().await, env.reward().await) {
            (Ok(patch), Ok(reward)) => (patch, Some(reward.value), ExitReason::Submitted, None),
            (Err(e), _) | (_, Err(e)) => {
                (String::new(), None, ExitReason::Error, Some(e.to_string()))
            }
        },
        Err(e) => (String::new(), None, ExitReason::Error, Some(e)),
    };
    Trajectory {
        task_id: task.task_id.clone(),
        model: "oracle".into(),
        agent: "oracle".into(),
        rollout: 0,
        action_format: String::new(),
        steps,
        patch,
        reward,
        exit_reason,
        error,
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at,
        duration_secs: clock.elapsed().as_secs_f64(),
        messages: Vec::new(),
        tools: Vec::new(),
    }
}

async fn act(env: &RepoEnv, task: &Task, steps: &mut Vec<Step>) -> Result<(), String> {
    let plan: [(&str, &str, Value); 3] = [
        (
            "Write the reference fix to a file.",
            "file_editor",
            json!({"command": "create", "path": PATCH_PATH, "file_text": task.gold_patch}),
        ),
        (
            "Apply it to the repository.",
            "execute_bash",
            json!({"cmd": format!("git apply --verbose {PATCH_PATH} && rm {PATCH_PATH}")}),
        ),
        ("Done.", "finish", json!({})),
    ];
    for (thought, tool, args) in plan {
        let args: Map<String, Value> = args.as_object().cloned().unwrap_or_default();
        let t = Instant::now();
        let reply = env
            .step(tool, &args)
            .await
            .map_err(|e: EnvError| e.to_string())?;
        steps.push(Step {
            thought: thought.into(),
            action: Action {
                tool: tool.into(),
                args,
            },
            observation: reply.text.clone(),
            llm_secs: 0.0,
            env_secs: t.elapsed().as_secs_f64(),
            usage: Usage::default(),
        });
        if tool != "finish" && reply.error_code != "0" {
            return Err(format!("{tool} failed: {}", reply.text));
        }
    }
    Ok(())
}
