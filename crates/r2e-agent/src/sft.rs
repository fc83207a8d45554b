//! Trajectories as supervised fine-tuning data, in the chat formats that TRL
//! and LLaMA-Factory read, keeping the action format the episode used:
//!
//! - [`SftFormat::OpenAi`]: `{"messages": [...], "tools": [...]}` — OpenAI
//!   chat messages exactly as the model saw them (system, user, assistant
//!   with `tool_calls`, `tool` results; XML-format episodes carry their
//!   `<function=…>` calls in the assistant text), plus the tool schemas of
//!   native episodes. TRL's `SFTTrainer` reads this directly.
//! - [`SftFormat::ShareGpt`]: LLaMA-Factory's ShareGPT layout:
//!   `{"system", "tools", "conversations": [{"from": "human"|"gpt"|"function_call"|"observation", "value"}]}`.
//!   A native call becomes a `function_call` turn whose value is
//!   `{"name", "arguments"}` JSON; LLaMA-Factory has no place for text next to
//!   a call in that turn, so the reasoning text of native calls is dropped
//!   there (use the OpenAI format to keep it).

use r2e_core::Trajectory;
use serde_json::{Value, json};

/// An output format of `r2e export sft`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SftFormat {
    /// OpenAI chat messages (TRL).
    OpenAi,
    /// ShareGPT conversations (LLaMA-Factory).
    ShareGpt,
}

impl std::str::FromStr for SftFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openai" | "messages" => Ok(SftFormat::OpenAi),
            "sharegpt" => Ok(SftFormat::ShareGpt),
            other => Err(format!(
                "unknown format `{other}`: use `openai` or `sharegpt`"
            )),
        }
    }
}

/// Why a trajectory was left out of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// It has no recorded conversation (a built-in agent such as `oracle`).
    NoConversation,
    /// Only resolved episodes were asked for and this one was not.
    NotResolved,
    /// The episode ended in an infrastructure error: what the model saw may
    /// be cut short or wrong, so it is never training data.
    InfraError,
}

/// One trajectory as a fine-tuning example, or why it is left out.
pub fn example(traj: &Trajectory, format: SftFormat, only_resolved: bool) -> Result<Value, Skip> {
    if traj.messages.is_empty() {
        return Err(Skip::NoConversation);
    }
    if traj.status() == r2e_core::RewardStatus::InfraError {
        return Err(Skip::InfraError);
    }
    if only_resolved && traj.reward != Some(1.0) {
        return Err(Skip::NotResolved);
    }
    Ok(match format {
        SftFormat::OpenAi => {
            let mut v = json!({"messages": traj.messages});
            if !traj.tools.is_empty() {
                v["tools"] = Value::Array(traj.tools.clone());
            }
            v
        }
        SftFormat::ShareGpt => sharegpt(traj),
    })
}

fn sharegpt(traj: &Trajectory) -> Value {
    let mut system = String::new();
    let mut turns = Vec::new();
    let text = |m: &Value| {
        m.get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for m in &traj.messages {
        match m.get("role").and_then(Value::as_str).unwrap_or("") {
            "system" => system = text(m),
            "user" => turns.push(json!({"from": "human", "value": text(m)})),
            "tool" => turns.push(json!({"from": "observation", "value": text(m)})),
            "assistant" => {
                let call = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .and_then(|calls| calls.first())
                    .and_then(|c| c.get("function"));
                match call {
                    Some(f) => {
                        let arguments = f
                            .get("arguments")
                            .and_then(Value::as_str)
                            .and_then(|a| serde_json::from_str::<Value>(a).ok())
                            .unwrap_or_else(|| json!({}));
                        let value = json!({"name": f.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments});
                        turns.push(json!({"from": "function_call", "value": value.to_string()}));
                    }
                    None => turns.push(json!({"from": "gpt", "value": text(m)})),
                }
            }
            _ => {}
        }
    }
    let mut v = json!({"conversations": turns, "system": system});
    if !traj.tools.is_empty() {
        let tools: Vec<Value> = traj
            .tools
            .iter()
            .map(|t| t.get("function").cloned().unwrap_or_else(|| t.clone()))
            .collect();
        v["tools"] = Value::String(Value::Array(tools).to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use r2e_core::{ExitReason, Usage};

    fn traj(messages: Vec<Value>, tools: Vec<Value>, reward: Option<f64>) -> Trajectory {
        Trajectory {
            task_id: "t".into(),
            model: "m".into(),
            agent: "edit".into(),
            rollout: 0,
            action_format: "native".into(),
            steps: Vec::new(),
            patch: String::new(),
            reward,
            reward_status: None,
            reward_report: None,
            exit_reason: ExitReason::Submitted,
            error: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            started_at: 0.0,
            duration_secs: 0.0,
            messages,
            tools,
        }
    }

    #[test]
    fn native_episodes_become_function_call_and_observation_turns() {
        let t = traj(
            vec![
                json!({"role": "system", "content": "sys"}),
                json!({"role": "user", "content": "fix\nSteps Remaining: 2"}),
                json!({"role": "assistant", "content": "look", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"search_term\": \"x\"}"}}]}),
                json!({"role": "tool", "tool_call_id": "c1", "content": "found"}),
                json!({"role": "assistant", "content": "no call"}),
                json!({"role": "user", "content": "nudge"}),
            ],
            vec![json!({"type": "function", "function": {"name": "search"}})],
            Some(1.0),
        );
        let v = example(&t, SftFormat::ShareGpt, true).unwrap();
        assert_eq!(v["system"], "sys");
        let from: Vec<&str> = v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["from"].as_str().unwrap())
            .collect();
        assert_eq!(
            from,
            ["human", "function_call", "observation", "gpt", "human"]
        );
        assert_eq!(
            v["conversations"][1]["value"],
            r#"{"arguments":{"search_term":"x"},"name":"search"}"#
        );
        assert_eq!(v["tools"], r#"[{"name":"search"}]"#);
        let o = example(&t, SftFormat::OpenAi, false).unwrap();
        assert_eq!(o["messages"].as_array().unwrap().len(), 6);
        assert_eq!(o["tools"][0]["function"]["name"], "search");
    }

    #[test]
    fn unresolved_and_modelless_episodes_are_skipped_when_asked() {
        let t = traj(
            vec![json!({"role": "user", "content": "x"})],
            Vec::new(),
            Some(0.0),
        );
        assert_eq!(example(&t, SftFormat::OpenAi, true), Err(Skip::NotResolved));
        assert!(example(&t, SftFormat::OpenAi, false).is_ok());
        let t = traj(Vec::new(), Vec::new(), Some(1.0));
        assert_eq!(
            example(&t, SftFormat::OpenAi, false),
            Err(Skip::NoConversation)
        );
    }

    #[test]
    fn infra_error_episodes_are_never_exported() {
        let mut t = traj(
            vec![json!({"role": "user", "content": "x"})],
            Vec::new(),
            None,
        );
        t.exit_reason = ExitReason::Error;
        assert_eq!(example(&t, SftFormat::OpenAi, false), Err(Skip::InfraError));
        t.exit_reason = ExitReason::MaxSteps;
        t.reward = Some(1.0);
        t.reward_status = Some(r2e_core::RewardStatus::InfraError);
        assert_eq!(
            example(&t, SftFormat::ShareGpt, false),
            Err(Skip::InfraError)
        );
    }
}
