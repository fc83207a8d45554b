//! The LLM agent loop (R2E-Gym's `Agent.run`): system and instance prompt,
//! one tool call per turn in either action format, the steps-remaining
//! reminder appended to the latest message, the missing-function-call nudge,
//! observation condensing when the conversation outgrows a budget, and limits
//! on steps, tokens, wall time and cost, each with its exit reason.
//!
//! The same loop with [`AgentConfig::testing`] is the testing agent of the
//! execution-based verifier; only the prompts differ.

use crate::action::{CONTINUE_MSG, XmlCall, from_tool_call, parse_xml};
use crate::config::{ActionFormat, AgentConfig, ConfigError, PromptVars};
use r2e_core::{Action, ExitReason, Step, Trajectory, Usage};
use r2e_env::Environment;
use r2e_llm::{ChatRequest, ChatResponse, Client, LlmError, Message, Role, ToolSpec};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What replaces an old observation when the conversation is condensed.
pub const CONDENSED: &str = "<Observation condensed for saving context>";

/// When an episode stops.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Steps the reminder counts down from; at zero the model is told to
    /// submit now (R2E-Gym's `max_steps`).
    pub max_steps: u32,
    /// Steps after which the episode ends (`max_steps` exit reason).
    pub max_steps_absolute: u32,
    /// A model call whose prompt plus completion reaches this many tokens
    /// ends the episode (`token_limit`), as R2E-Gym's `max_token_limit`.
    pub max_context_tokens: u64,
    /// Tokens summed over the episode that end it (`token_limit`).
    pub max_total_tokens: Option<u64>,
    /// Wall time of the episode (`time_limit`).
    pub max_time: Duration,
    /// Cost in USD (`cost_limit`); needs prices for the model.
    pub max_cost_usd: Option<f64>,
    /// Estimated prompt tokens above which old observations are condensed.
    pub condense_tokens: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 40,
            max_steps_absolute: 50,
            max_context_tokens: 65_536,
            max_total_tokens: None,
            max_time: Duration::from_secs(3600),
            max_cost_usd: None,
            condense_tokens: Some(28_000),
        }
    }
}

/// Sampling settings sent with every request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    /// Temperature (R2E-Gym uses 0 by default).
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Maximum tokens per reply.
    pub max_tokens: Option<u32>,
    /// Seed, for servers that honour it.
    pub seed: Option<u64>,
}

/// An agent that solves a task through the tools with a chat model.
#[derive(Clone)]
pub struct EditAgent {
    client: Arc<dyn Client>,
    model: String,
    config: AgentConfig,
    limits: Limits,
    sampling: Sampling,
    reward: bool,
    test_file: String,
}

/// The conversation and its bookkeeping during one episode.
struct Episode {
    history: Vec<Message>,
    steps: Vec<Step>,
    usage: Usage,
    cost: f64,
    /// Prompt tokens per character of the last request, to estimate the next one.
    tokens_per_char: f64,
}

impl EditAgent {
    /// An agent calling `model` through `client` with `config`'s prompts.
    pub fn new(client: Arc<dyn Client>, model: impl Into<String>, config: AgentConfig) -> Self {
        EditAgent {
            client,
            model: model.into(),
            config,
            limits: Limits::default(),
            sampling: Sampling {
                temperature: Some(0.0),
                ..Sampling::default()
            },
            reward: true,
            test_file: "test_issue.py".into(),
        }
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the sampling settings.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Whether to run the hidden tests at the end (on by default; the testing
    /// agent turns it off).
    pub fn with_reward(mut self, reward: bool) -> Self {
        self.reward = reward;
        self
    }

    /// The file the testing agent's prompt asks for (relative to the repository).
    pub fn with_test_file(mut self, test_file: impl Into<String>) -> Self {
        self.test_file = test_file.into();
        self
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The tool schemas sent in native mode (R2E-Gym's, byte for byte).
    fn tool_specs(&self) -> Vec<ToolSpec> {
        match self.config.action_format {
            ActionFormat::Native => {
                ToolSpec::list_from_json(&r2e_tools::tools()).unwrap_or_default()
            }
            ActionFormat::Xml => Vec::new(),
        }
    }

    /// Runs one episode on a reset environment and returns its trajectory;
    /// rollout `rollout` of the task (it also salts the response cache, so
    /// that sampled rollouts differ).
    pub async fn run(&self, env: &dyn Environment, rollout: u32) -> Trajectory {
        let started_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let clock = Instant::now();
        let task = env.task();
        let mut ep = Episode {
            history: Vec::new(),
            steps: Vec::new(),
            usage: Usage::default(),
            cost: 0.0,
            tokens_per_char: 0.25,
        };
        let tools = self.tool_specs();
        let (exit_reason, error) = match self.prompts(env) {
            Ok((system, instance)) => {
                ep.history = vec![Message::system(system), Message::user(instance)];
                self.act(env, rollout, &tools, &mut ep, clock).await
            }
            Err(e) => (ExitReason::Error, Some(e.to_string())),
        };
        let end = crate::ending::conclude(env, self.reward, error).await;
        Trajectory {
            task_id: task.task_id.clone(),
            model: self.model.clone(),
            agent: self.config.name.clone(),
            rollout,
            action_format: self.config.action_format.as_str().into(),
            steps: ep.steps,
            patch: end.patch,
            reward: end.reward,
            reward_status: end.status,
            reward_report: end.report,
            exit_reason: if end.error.is_some() && exit_reason == ExitReason::Submitted {
                ExitReason::Error
            } else {
                exit_reason
            },
            error: end.error,
            usage: ep.usage,
            cost_usd: ep.cost,
            started_at,
            duration_secs: clock.elapsed().as_secs_f64(),
            messages: openai_messages(&ep.history),
            tools: match self.config.action_format {
                ActionFormat::Native => r2e_tools::tools().as_array().cloned().unwrap_or_default(),
                ActionFormat::Xml => Vec::new(),
            },
        }
    }

    fn prompts(&self, env: &dyn Environment) -> Result<(String, String), ConfigError> {
        let task = env.task();
        let vars = PromptVars {
            problem_statement: task.problem_statement.clone(),
            working_dir: env.workdir().to_string(),
            test_patch: task.test_patch.clone(),
            test_file: self.test_file.clone(),
        };
        Ok((
            self.config.render_system(&vars)?,
            self.config.render_instance(&vars)?,
        ))
    }

    /// The loop; returns why it stopped and what failed, if anything.
    async fn act(
        &self,
        env: &dyn Environment,
        rollout: u32,
        tools: &[ToolSpec],
        ep: &mut Episode,
        clock: Instant,
    ) -> (ExitReason, Option<String>) {
        let limits = &self.limits;
        let salt = format!("{}#{rollout}", env.task().task_id);
        let mut step_count: u32 = 0;
        loop {
            let remaining = i64::from(limits.max_steps) - i64::from(step_count);
            let reminder = if remaining > 0 {
                format!("\nSteps Remaining: {remaining}")
            } else {
                "\nYou have reached the maximum number of steps. Please submit your answer NOW."
                    .to_string()
            };
            if let Some(last) = ep.history.last_mut() {
                last.content.push_str(&reminder);
            }
            let request = self.request(ep, tools, &salt);
            let t = Instant::now();
            let left = limits.max_time.saturating_sub(clock.elapsed());
            let response = match tokio::time::timeout(left, self.client.chat(&request)).await {
                Err(_) => return (ExitReason::TimeLimit, None),
                Ok(Err(e)) if e.is_context_length() => return (ExitReason::ContextLength, None),
                Ok(Err(e)) => return (ExitReason::Error, Some(llm_error(&e))),
                Ok(Ok(r)) => r,
            };
            let llm_secs = t.elapsed().as_secs_f64();
            self.account(ep, &request, &response);
            let (thought, action, assistant, call_id) = self.interpret(&response);
            ep.history.push(assistant);
            let t = Instant::now();
            let (observation, finished) = if action.tool.is_empty() {
                (CONTINUE_MSG.to_string(), false)
            } else {
                match env.step(&action.tool, &action.args).await {
                    Ok(reply) => (reply.text, reply.finished),
                    Err(e) => {
                        return (
                            ExitReason::Error,
                            Some(format!("tool `{}`: {e}", action.tool)),
                        );
                    }
                }
            };
            let env_secs = t.elapsed().as_secs_f64();
            ep.history.push(match call_id {
                Some(id) => Message::tool(id, observation.clone()),
                None => Message::user(observation.clone()),
            });
            ep.steps.push(Step {
                thought,
                action,
                observation,
                llm_secs,
                env_secs,
                usage: Usage {
                    prompt_tokens: response.usage.prompt_tokens,
                    completion_tokens: response.usage.completion_tokens,
                },
            });
            step_count += 1;
            let context = response.usage.prompt_tokens + response.usage.completion_tokens;
            let total = ep.usage.prompt_tokens + ep.usage.completion_tokens;
            if finished {
                return (
                    if remaining >= 0 {
                        ExitReason::Submitted
                    } else {
                        ExitReason::MaxSteps
                    },
                    None,
                );
            } else if context >= limits.max_context_tokens
                || limits.max_total_tokens.is_some_and(|m| total >= m)
            {
                return (ExitReason::TokenLimit, None);
            } else if step_count >= limits.max_steps_absolute {
                return (ExitReason::MaxSteps, None);
            } else if clock.elapsed() >= limits.max_time {
                return (ExitReason::TimeLimit, None);
            } else if limits.max_cost_usd.is_some_and(|m| ep.cost >= m) {
                return (ExitReason::CostLimit, None);
            }
        }
    }

    /// The request for the next turn: the history, condensed if it grew too large.
    fn request(&self, ep: &Episode, tools: &[ToolSpec], salt: &str) -> ChatRequest {
        let messages = match self.limits.condense_tokens {
            Some(budget) => condense(&ep.history, budget, ep.tokens_per_char),
            None => ep.history.clone(),
        };
        let mut req = ChatRequest::new(&self.model, messages)
            .tools(tools.to_vec())
            .cache_salt(salt);
        let s = &self.sampling;
        req.temperature = s.temperature;
        req.top_p = s.top_p;
        req.max_tokens = s.max_tokens;
        req.seed = s.seed;
        req
    }

    fn account(&self, ep: &mut Episode, request: &ChatRequest, response: &ChatResponse) {
        ep.usage += Usage {
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
        };
        ep.cost += response.cost_usd.unwrap_or(0.0);
        let chars = chars_of(&request.messages);
        if response.usage.prompt_tokens > 0 && chars > 0 {
            ep.tokens_per_char = response.usage.prompt_tokens as f64 / chars as f64;
        }
    }

    /// The thought, the action, the assistant message to keep in the
    /// history, and the id of the tool call the observation answers.
    fn interpret(&self, response: &ChatResponse) -> (String, Action, Message, Option<String>) {
        match self.config.action_format {
            ActionFormat::Native => {
                let thought = response.content.clone();
                let first = response.tool_calls.first();
                let action = first
                    .map(|c| from_tool_call(&c.name, &c.arguments))
                    .unwrap_or_else(|| XmlCall::default().to_action());
                // R2E-Gym keeps only the first tool call of a reply.
                let calls: Vec<_> = first.cloned().into_iter().collect();
                let id = calls.first().map(|c| c.id.clone());
                let message = Message::assistant_with_tool_calls(thought.clone(), calls);
                (thought, action, message, id)
            }
            ActionFormat::Xml => {
                let (thought, call) = parse_xml(&response.content);
                let message = Message::assistant(format!("{thought}\n\n{}", call.render()));
                (thought, call.to_action(), message, None)
            }
        }
    }
}

/// Characters of the messages' contents (and tool-call arguments).
fn chars_of(messages: &[Message]) -> usize {
    messages
        .iter()
        .map(|m| {
            m.content.chars().count()
                + m.tool_calls
                    .iter()
                    .map(|c| c.arguments.len() + c.name.len())
                    .sum::<usize>()
        })
        .sum()
}

/// R2E-Gym's condensing: while the estimated prompt exceeds `budget` tokens,
/// replace observations (user and tool messages after the instance prompt,
/// oldest first, never the latest one) with a short placeholder.
pub fn condense(history: &[Message], budget: u64, tokens_per_char: f64) -> Vec<Message> {
    let mut messages = history.to_vec();
    let estimate = |m: &[Message]| (chars_of(m) as f64 * tokens_per_char) as u64;
    if estimate(&messages) <= budget {
        return messages;
    }
    let observations: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m.role, Role::User | Role::Tool))
        .map(|(i, _)| i)
        .collect();
    if observations.len() <= 2 {
        return messages;
    }
    for &i in &observations[1..observations.len() - 1] {
        if messages[i].content != CONDENSED {
            messages[i].content = CONDENSED.to_string();
        }
        if estimate(&messages) <= budget {
            break;
        }
    }
    messages
}

/// An LLM failure as the trajectory records it.
fn llm_error(e: &LlmError) -> String {
    format!("the model call failed: {e}")
}

/// The JSON of a message list in OpenAI format (what trajectories store).
pub fn openai_messages(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .filter_map(|m| m.to_openai_json().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(n: usize) -> Message {
        Message::user("x".repeat(n))
    }

    #[test]
    fn condensing_replaces_old_observations_oldest_first_and_keeps_the_ends() {
        let history = vec![
            Message::system("s".repeat(100)),
            obs(400),
            Message::assistant("a"),
            obs(4_000),
            Message::assistant("b"),
            obs(4_000),
            Message::assistant("c"),
            obs(4_000),
        ];
        // Under budget: untouched.
        assert_eq!(condense(&history, 10_000, 0.25), history);
        // Over budget: the first observation after the instance prompt goes
        // first, then the next, until the estimate fits; never the instance
        // prompt or the latest observation.
        // 12,503 characters ≈ 3,126 tokens; one observation less ≈ 2,136.
        let c = condense(&history, 2_500, 0.25);
        assert_eq!(c[3].content, CONDENSED);
        assert_eq!(c[5].content.len(), 4_000);
        let c = condense(&history, 1_500, 0.25);
        assert_eq!(c[1].content.len(), 400);
        assert_eq!(c[3].content, CONDENSED);
        assert_eq!(c[5].content, CONDENSED);
        assert_eq!(c[7].content.len(), 4_000);
        // Nothing left to condense: as small as it gets.
        let c = condense(&history, 10, 0.25);
        assert_eq!(c.iter().filter(|m| m.content == CONDENSED).count(), 2);
    }
}
