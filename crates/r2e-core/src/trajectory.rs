//! Trajectories: one JSON object per episode (one line of a JSONL file),
//! read by the viewer, the verifiers and the SFT export.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The agent called `finish`/`submit`.
    Submitted,
    /// The step limit was reached.
    MaxSteps,
    /// The token limit was reached.
    TokenLimit,
    /// The wall-time limit was reached.
    TimeLimit,
    /// The cost limit was reached.
    CostLimit,
    /// The model's context window was exceeded.
    ContextLength,
    /// Something failed (the message is in `error`).
    Error,
}

/// What the hidden tests said about an episode, or why they could not say.
///
/// An infrastructure failure is never a wrong answer: trainers must drop
/// `infra_error` episodes (and may retry them), not learn reward 0 from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardStatus {
    /// The hidden tests ran and the task is resolved (reward 1).
    Resolved,
    /// The hidden tests ran and the task is not resolved (reward 0).
    Unresolved,
    /// The hidden tests hit their time limit (reward 0; the patch may hang them).
    Timeout,
    /// No verdict: the sandbox died, the engine failed, the model server
    /// failed, or the patch could not be applied where it should have.
    InfraError,
}

impl RewardStatus {
    /// Every status, in display order.
    pub const ALL: [RewardStatus; 4] = [
        RewardStatus::Resolved,
        RewardStatus::Unresolved,
        RewardStatus::Timeout,
        RewardStatus::InfraError,
    ];

    /// The name trajectories and reports write (`infra_error`).
    pub fn as_str(self) -> &'static str {
        match self {
            RewardStatus::Resolved => "resolved",
            RewardStatus::Unresolved => "unresolved",
            RewardStatus::Timeout => "timeout",
            RewardStatus::InfraError => "infra_error",
        }
    }

    /// The reward value a status stands for; `None` for an infrastructure error.
    pub fn value(self) -> Option<f64> {
        match self {
            RewardStatus::Resolved => Some(1.0),
            RewardStatus::Unresolved | RewardStatus::Timeout => Some(0.0),
            RewardStatus::InfraError => None,
        }
    }
}

impl std::fmt::Display for RewardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens sent.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// One tool call the agent made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Tool name.
    pub tool: String,
    /// Arguments as the model gave them.
    pub args: serde_json::Map<String, serde_json::Value>,
}

/// One step: what the agent thought and did, and what it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The model's text before the action.
    pub thought: String,
    /// The tool call.
    pub action: Action,
    /// The observation text the model was shown.
    pub observation: String,
    /// Seconds spent waiting for the model.
    pub llm_secs: f64,
    /// Seconds spent in the environment.
    pub env_secs: f64,
    /// Tokens of this step's model call.
    #[serde(default)]
    pub usage: Usage,
}

/// One episode of an agent on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// The task.
    pub task_id: String,
    /// The model (or built-in agent, such as `oracle`).
    pub model: String,
    /// The agent configuration used.
    pub agent: String,
    /// Which of the K rollouts of this task this is (0-based).
    #[serde(default)]
    pub rollout: u32,
    /// How the model called tools: `native` (function calling) or `xml`
    /// (`<function=…><parameter=…>` text); empty for built-in agents.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action_format: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The final patch.
    pub patch: String,
    /// The reward from the hidden tests, when they ran.
    pub reward: Option<f64>,
    /// What the reward means: resolved, unresolved, timeout or infra_error
    /// (absent in trajectories written before r2e recorded it; see
    /// [`Trajectory::status`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_status: Option<RewardStatus>,
    /// The hidden tests' report behind the reward, as the grader wrote it:
    /// SWE-bench's `report.json` (`{instance_id: {"resolved", "tests_status":
    /// {"FAIL_TO_PASS": {"success", "failure"}, "PASS_TO_PASS": …}}}`) or
    /// R2E-Gym's expected-output comparison (`{task_id: {"resolved",
    /// "reward", "tests_status": {"matched", "mismatched", "missing",
    /// "unexpected"}}}`); absent when the tests did not run (or in files
    /// written before r2e recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_report: Option<serde_json::Value>,
    /// Why the episode ended.
    pub exit_reason: ExitReason,
    /// What failed, when `exit_reason` is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Total tokens.
    #[serde(default)]
    pub usage: Usage,
    /// Total cost in USD.
    #[serde(default)]
    pub cost_usd: f64,
    /// Start time, seconds since the epoch.
    pub started_at: f64,
    /// Wall time of the episode in seconds.
    pub duration_secs: f64,
    /// The conversation as the model last saw it, in OpenAI chat format
    /// (`{"role", "content", "tool_calls"?, "tool_call_id"?}` objects), for
    /// fine-tuning export and judges; empty for built-in agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<serde_json::Value>,
    /// The tool schemas offered to the model (native format only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

impl Trajectory {
    /// The episode's reward status: the recorded one, else (older files) an
    /// `error` exit is an infrastructure error and the reward decides the rest.
    pub fn status(&self) -> RewardStatus {
        if let Some(s) = self.reward_status {
            return s;
        }
        match (self.exit_reason, self.reward) {
            (ExitReason::Error, _) | (_, None) => RewardStatus::InfraError,
            (_, Some(r)) if r >= 1.0 => RewardStatus::Resolved,
            _ => RewardStatus::Unresolved,
        }
    }

    /// Whether the episode has a verdict (anything but an infrastructure error).
    pub fn graded(&self) -> bool {
        self.status() != RewardStatus::InfraError
    }
}

/// What can go wrong reading or writing a trajectory file.
pub type TrajectoryFileError = crate::jsonl::JsonlError;

/// Appends trajectories to a JSONL file as episodes finish (see [`crate::jsonl`]).
pub type TrajectoryWriter = crate::jsonl::JsonlWriter<Trajectory>;

/// Reads a trajectory JSONL file. A last line without its newline that does
/// not parse (a run killed while writing) is ignored; any other bad line is
/// an error naming it.
pub fn read_file(path: &Path) -> Result<Vec<Trajectory>, TrajectoryFileError> {
    crate::jsonl::read(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trajectory {
        Trajectory {
            task_id: "t".into(),
            model: "m".into(),
            agent: "a".into(),
            rollout: 2,
            action_format: "xml".into(),
            steps: vec![Step {
                thought: "look".into(),
                action: Action {
                    tool: "execute_bash".into(),
                    args: serde_json::json!({"cmd": "ls"})
                        .as_object()
                        .cloned()
                        .unwrap(),
                },
                observation: "x".into(),
                llm_secs: 0.1 + 0.2,
                env_secs: 0.000735509,
                usage: Usage {
                    prompt_tokens: 3,
                    completion_tokens: 4,
                },
            }],
            patch: String::new(),
            reward: Some(1.0),
            reward_status: Some(RewardStatus::Resolved),
            reward_report: Some(serde_json::json!({"t": {"resolved": true}})),
            exit_reason: ExitReason::Submitted,
            error: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            started_at: 1_795_644_873.025_796_7,
            duration_secs: 0.103402043,
            messages: vec![serde_json::json!({"role": "user", "content": "fix it"})],
            tools: Vec::new(),
        }
    }

    #[test]
    fn a_trajectory_survives_a_json_round_trip_exactly() {
        let traj = sample();
        let line = serde_json::to_string(&traj).unwrap();
        assert!(line.contains(r#""exit_reason":"submitted""#), "{line}");
        assert_eq!(serde_json::from_str::<Trajectory>(&line).unwrap(), traj);
    }

    #[test]
    fn the_status_of_older_trajectories_follows_reward_and_exit() {
        let mut t = sample();
        t.reward_status = None;
        assert_eq!(t.status(), RewardStatus::Resolved);
        t.reward = Some(0.0);
        assert_eq!(t.status(), RewardStatus::Unresolved);
        t.exit_reason = ExitReason::Error;
        assert_eq!(t.status(), RewardStatus::InfraError);
        t.reward_status = Some(RewardStatus::Timeout);
        assert_eq!(t.status(), RewardStatus::Timeout);
        assert!(t.graded());
        let line = serde_json::to_string(&t).unwrap();
        assert!(line.contains(r#""reward_status":"timeout""#), "{line}");
    }
}
