//! The provider-neutral vocabulary: messages, tools, requests, responses,
//! token usage, logprobs and streaming deltas.
//!
//! Every type here is `Serialize + Deserialize`, so requests and responses
//! go into trajectories and into the record/replay cache as they are.

use crate::error::LlmError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::ops::AddAssign;
use std::time::Duration;

/// Who wrote a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model (OpenAI `system`; Anthropic's top-level `system`).
    System,
    /// The user's turn.
    User,
    /// The model's turn, possibly with tool calls.
    Assistant,
    /// The result of one tool call, answering [`Message::tool_call_id`].
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text (may be empty for an assistant turn that only calls tools).
    #[serde(default)]
    pub content: String,
    /// The tool calls of an assistant turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the id of the [`ToolCall`] this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// An assistant message with text (possibly empty) and tool calls.
    pub fn assistant_with_tool_calls(
        content: impl Into<String>,
        tool_calls: Vec<ToolCall>,
    ) -> Self {
        Self {
            tool_calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    /// This message as OpenAI's chat-completions API takes it (the format
    /// trajectories store and fine-tuning tools read).
    pub fn to_openai_json(&self) -> Result<Value, crate::LlmError> {
        crate::openai::message_json(self)
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (`call_…`, `toolu_…`); a tool result answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments exactly as the model wrote them: a JSON text that should
    /// hold an object, but models do write malformed JSON — see
    /// [`ToolCall::parse_arguments`].
    pub arguments: String,
}

impl ToolCall {
    /// A tool call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    /// The arguments parsed as a JSON object; an empty text counts as `{}`.
    ///
    /// A malformed text or a JSON value that is not an object gives
    /// [`LlmError::ToolArguments`], whose message is meant to go back to the
    /// model as the tool's observation.
    pub fn parse_arguments(&self) -> Result<Map<String, Value>, LlmError> {
        if self.arguments.trim().is_empty() {
            return Ok(Map::new());
        }
        let error = |message: String| LlmError::ToolArguments {
            id: self.id.clone(),
            name: self.name.clone(),
            message,
            arguments: self.arguments.clone(),
        };
        match serde_json::from_str::<Value>(&self.arguments) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(error(format!(
                "expected a JSON object, got {}",
                json_kind(&other)
            ))),
            Err(e) => Err(error(format!("invalid JSON: {e}"))),
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

impl ToolSpec {
    /// A tool spec.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    /// Reads one tool schema in any of the usual shapes: OpenAI's
    /// `{"type": "function", "function": {name, description, parameters}}`,
    /// the bare `{name, description, parameters}`, or Anthropic's
    /// `{name, description, input_schema}`.
    pub fn from_json(value: &Value) -> Result<Self, LlmError> {
        let function = value.get("function").unwrap_or(value);
        let name = function.get("name").and_then(Value::as_str);
        let Some(name) = name else {
            return Err(LlmError::InvalidRequest(format!(
                "a tool schema needs a \"name\" (or \"function\": {{\"name\": …}}): {}",
                truncate_chars(&value.to_string(), 200)
            )));
        };
        let description = function
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let parameters = function
            .get("parameters")
            .or_else(|| function.get("input_schema"))
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
        Ok(Self::new(name, description, parameters))
    }

    /// Reads a JSON array of tool schemas (see [`ToolSpec::from_json`]), such as
    /// `r2e_tools::tools()`.
    pub fn list_from_json(value: &Value) -> Result<Vec<Self>, LlmError> {
        let Some(items) = value.as_array() else {
            return Err(LlmError::InvalidRequest(
                "tool schemas must be a JSON array".to_owned(),
            ));
        };
        items.iter().map(Self::from_json).collect()
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (the default when tools are given).
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call some tool (OpenAI `required`, Anthropic `any`).
    Required,
    /// The model must call this tool.
    Tool(String),
}

/// One chat completion request.
///
/// Build it with [`ChatRequest::new`] and the setters; unset parameters are
/// left out of the HTTP body so the server's defaults apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name as the server knows it.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call (native function calling).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Tool choice; `None`: auto when tools are given (the OpenAI client
    /// sends it explicitly), else left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The most tokens to generate. Anthropic requires a value: 4096 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Ask for the log-probability of every generated token (OpenAI-compatible
    /// servers only; Anthropic gives [`LlmError::Unsupported`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub logprobs: bool,
    /// With `logprobs`: how many top alternatives per position (OpenAI allows 0–20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Sampling seed (OpenAI-compatible servers; ignored by Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stream the reply (server-sent events). The assembled [`ChatResponse`]
    /// is the same; [`crate::Client::chat_streaming`] sees the pieces as they come.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Fields merged into the top level of the HTTP body last, overriding
    /// ours: provider extras such as vLLM's `repetition_penalty`,
    /// `chat_template_kwargs` or OpenAI's `reasoning_effort`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// Never sent: only part of the cache key. Set it to tell apart
    /// otherwise identical requests whose replies must differ, e.g. the k
    /// samples of best-of-k (`"sample-3"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_salt: Option<String>,
}

impl ChatRequest {
    /// A request for `model` with `messages` and every parameter unset.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            ..Self::default()
        }
    }

    /// Sets the tools.
    pub fn tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }

    /// Sets the tool choice.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets top_p.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the most tokens to generate.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the stop sequences.
    pub fn stop(mut self, stop: Vec<String>) -> Self {
        self.stop = stop;
        self
    }

    /// Asks for logprobs with `top` alternatives per position.
    pub fn logprobs(mut self, top: u8) -> Self {
        self.logprobs = true;
        self.top_logprobs = Some(top);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Streams the reply.
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Adds a provider-specific body field (see [`ChatRequest::extra`]).
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// Sets the cache salt (see [`ChatRequest::cache_salt`]).
    pub fn cache_salt(mut self, salt: impl Into<String>) -> Self {
        self.cache_salt = Some(salt.into());
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FinishReason {
    /// A natural end or a stop sequence (OpenAI `stop`; Anthropic `end_turn`, `stop_sequence`).
    Stop,
    /// `max_tokens` was reached (OpenAI `length`; Anthropic `max_tokens`).
    Length,
    /// The model called tools (OpenAI `tool_calls`; Anthropic `tool_use`).
    ToolCalls,
    /// The provider filtered or refused the output (OpenAI `content_filter`; Anthropic `refusal`).
    ContentFilter,
    /// Anything else, as the server spelled it (`""` when it gave none).
    Other(String),
}

impl From<String> for FinishReason {
    fn from(value: String) -> Self {
        match value.as_str() {
            "stop" | "end_turn" | "stop_sequence" => Self::Stop,
            "length" | "max_tokens" => Self::Length,
            "tool_calls" | "tool_use" | "function_call" => Self::ToolCalls,
            "content_filter" | "refusal" => Self::ContentFilter,
            _ => Self::Other(value),
        }
    }
}

impl From<FinishReason> for String {
    fn from(value: FinishReason) -> Self {
        value.to_string()
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(other) => other,
        })
    }
}

/// Token counts of one call (or, summed with `+=`, of many).
///
/// `prompt_tokens` counts every input token, cached or not, for both
/// providers (Anthropic's `input_tokens` excludes cache reads and writes;
/// they are added back here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, including `cache_read_tokens` and `cache_write_tokens`.
    pub prompt_tokens: u64,
    /// Generated tokens (including reasoning tokens).
    pub completion_tokens: u64,
    /// `prompt_tokens + completion_tokens`.
    pub total_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic).
    #[serde(default)]
    pub cache_write_tokens: u64,
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// One alternative at a token position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
}

/// The sampled token at one position, with the top alternatives there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The sampled token's text.
    pub token: String,
    /// Its natural-log probability.
    pub logprob: f64,
    /// The most likely tokens at this position, most likely first (as many as
    /// `top_logprobs` asked for; servers usually include the sampled token).
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

/// The model's reply to one [`ChatRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's response id, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that answered, as the server names it.
    pub model: String,
    /// The reply text (empty when the model only called tools).
    pub content: String,
    /// Reasoning text the server returned separately (vLLM/DeepSeek
    /// `reasoning_content`, Anthropic `thinking` blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool calls, in order.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// Cost in US dollars from the client's [`crate::PriceTable`]; `None` when
    /// the model has no price there (e.g. a local vLLM model).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Per-token logprobs, when the request asked and the server returned them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// The server's JSON as received: the response object, or for a streamed
    /// reply the array of every event's `data` object.
    pub raw: Value,
    /// Wall-clock time of the successful HTTP exchange, in milliseconds.
    pub latency_ms: u64,
    /// HTTP attempts this reply took (more than 1 after retries).
    #[serde(default = "one")]
    pub attempts: u32,
    /// True when the reply came from the record/replay cache (no server was
    /// asked; usage and cost are the recorded ones).
    #[serde(default)]
    pub cached: bool,
}

fn one() -> u32 {
    1
}

impl ChatResponse {
    /// The assistant message to append to the conversation.
    pub fn to_message(&self) -> Message {
        Message::assistant_with_tool_calls(self.content.clone(), self.tool_calls.clone())
    }

    /// The latency as a [`Duration`].
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// A piece of a reply as it arrives (see [`crate::Client::chat_streaming`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Delta<'a> {
    /// More reply text.
    Text(&'a str),
    /// More reasoning text.
    Reasoning(&'a str),
    /// A piece of the tool call at `index`: the first piece carries its id
    /// and name, the following ones more argument text.
    ToolCall {
        /// Position of the call in the reply.
        index: usize,
        /// The call's id (first piece only).
        id: Option<&'a str>,
        /// The tool's name (first piece only).
        name: Option<&'a str>,
        /// More argument text.
        arguments: &'a str,
    },
    /// The attempt failed and will be retried: forget what was received so far.
    Retry {
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Why it failed.
        error: &'a LlmError,
        /// How long the client waits before the next attempt.
        delay: Duration,
    },
}

/// The callback that receives [`Delta`]s (any lifetime of the piece).
pub type OnDelta<'a> = dyn for<'d> FnMut(Delta<'d>) + Send + 'a;

/// Feeds a whole response to a delta sink as if it had been streamed in one
/// piece each (used for non-streamed replies and cache hits).
pub(crate) fn emit_whole(response: &ChatResponse, on_delta: &mut OnDelta<'_>) {
    if let Some(reasoning) = &response.reasoning {
        on_delta(Delta::Reasoning(reasoning));
    }
    if !response.content.is_empty() {
        on_delta(Delta::Text(&response.content));
    }
    for (index, call) in response.tool_calls.iter().enumerate() {
        on_delta(Delta::ToolCall {
            index,
            id: Some(&call.id),
            name: Some(&call.name),
            arguments: &call.arguments,
        });
    }
}

/// The first `max` characters of `text`, with `…` when cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
