//! [`AnthropicClient`]: the Anthropic Messages API (`POST {base_url}/v1/messages`).
//!
//! * Auth: `x-api-key` from [`ClientOptions::api_key`] or `ANTHROPIC_API_KEY`
//!   (required for the default base URL), and `anthropic-version: 2023-06-01`.
//! * Base URL: [`ClientOptions::base_url`], else `ANTHROPIC_BASE_URL`, else
//!   `https://api.anthropic.com`; a trailing `/v1` is accepted.
//! * Messages: system messages become the top-level `system` (joined by a
//!   blank line); a tool result becomes a `tool_result` block of a user turn;
//!   consecutive turns of one role are merged into one message (so the
//!   results of parallel tool calls share one user turn, as the API requires);
//!   empty text is left out (the API rejects empty text blocks).
//! * `max_tokens` is required by the API: 4096 when the request leaves it unset.
//! * `seed` is ignored; `logprobs` is refused with [`LlmError::Unsupported`]
//!   (the API returns none).
//! * [`AnthropicClient::with_prompt_caching`] marks the system prompt and the
//!   last message with `cache_control`, so each agent step reads the
//!   conversation so far from Anthropic's prompt cache.

use crate::error::LlmError;
use crate::http::{HttpClient, StreamState, Wire};
use crate::types::{
    ChatRequest, ChatResponse, Delta, FinishReason, OnDelta, Role, ToolCall, ToolChoice, Usage,
};
use crate::{ANTHROPIC, Client, ClientOptions};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` when a request leaves it unset.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A client for the Anthropic Messages API.
pub struct AnthropicClient {
    http: HttpClient<AnthropicWire>,
}

impl AnthropicClient {
    /// A client with `options`; unset key and base URL are read from
    /// `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`.
    pub fn new(options: ClientOptions) -> Result<Self, LlmError> {
        let (base_url, api_key) = options.resolve_endpoint(
            ANTHROPIC,
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_BASE_URL",
            DEFAULT_BASE_URL,
        )?;
        let base_url = base_url.strip_suffix("/v1").unwrap_or(&base_url);
        let wire = AnthropicWire {
            url: format!("{base_url}/v1/messages"),
            api_key,
            prompt_caching: false,
        };
        Ok(Self {
            http: HttpClient::new(wire, &options)?,
        })
    }

    /// Marks the system prompt and the last message with
    /// `"cache_control": {"type": "ephemeral"}` (off by default).
    pub fn with_prompt_caching(mut self, on: bool) -> Self {
        self.http.wire.prompt_caching = on;
        self
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &str {
        &self.http.wire.url
    }
}

#[async_trait]
impl Client for AnthropicClient {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        self.http.chat(req, on_delta).await
    }
}

pub(crate) struct AnthropicWire {
    url: String,
    api_key: Option<String>,
    prompt_caching: bool,
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// One message in the API's shape: its role and content blocks.
type Turn = (&'static str, Vec<Value>);

/// `(system, messages)` in the API's shape.
fn convert_messages(req: &ChatRequest) -> Result<(Vec<&str>, Vec<Turn>), LlmError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for message in &req.messages {
        let (role, blocks) = match message.role {
            Role::System => {
                system.push(message.content.as_str());
                continue;
            }
            Role::User => ("user", text_block(&message.content).into_iter().collect()),
            Role::Assistant => {
                let mut blocks: Vec<Value> = text_block(&message.content).into_iter().collect();
                for call in &message.tool_calls {
                    let input = call.parse_arguments().map_err(|e| {
                        LlmError::InvalidRequest(format!(
                            "the history holds a tool call Anthropic cannot take back: {e}"
                        ))
                    })?;
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                let Some(id) = &message.tool_call_id else {
                    return Err(LlmError::InvalidRequest(
                        "a tool message needs the tool_call_id of the call it answers (Message::tool)".into(),
                    ));
                };
                let mut block = json!({"type": "tool_result", "tool_use_id": id});
                if !message.content.is_empty() {
                    block["content"] = message.content.clone().into();
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    Ok((system, turns))
}

impl Wire for AnthropicWire {
    type Stream = AnthropicStream;
    const PROVIDER: &'static str = ANTHROPIC;

    fn url(&self) -> &str {
        &self.url
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("anthropic-version", ANTHROPIC_VERSION.to_owned())];
        headers.extend(self.api_key.iter().map(|key| ("x-api-key", key.clone())));
        headers
    }

    fn body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        if req.logprobs {
            return Err(LlmError::Unsupported {
                provider: ANTHROPIC,
                what: "logprobs".into(),
                hint: "the Messages API returns no token probabilities; use an OpenAI-compatible \
                       server (vLLM, SGLang) for logprob-based scoring"
                    .into(),
            });
        }
        let cache_control = json!({"type": "ephemeral"});
        let (system, mut turns) = convert_messages(req)?;
        if self.prompt_caching
            && let Some(block) = turns.last_mut().and_then(|(_, blocks)| blocks.last_mut())
        {
            block["cache_control"] = cache_control.clone();
        }
        let mut body = Map::new();
        body.insert("model".into(), req.model.clone().into());
        body.insert(
            "max_tokens".into(),
            req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).into(),
        );
        if !system.is_empty() {
            let text = system.join("\n\n");
            let value = if self.prompt_caching {
                json!([{"type": "text", "text": text, "cache_control": cache_control}])
            } else {
                text.into()
            };
            body.insert("system".into(), value);
        }
        let messages = turns
            .into_iter()
            .map(|(role, blocks)| json!({"role": role, "content": blocks}));
        body.insert("messages".into(), messages.collect());
        if !req.tools.is_empty() {
            let tools = req.tools.iter().map(|tool| {
                json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters})
            });
            body.insert("tools".into(), tools.collect());
        }
        if let Some(choice) = &req.tool_choice {
            let choice = match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), t.into());
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), p.into());
        }
        if !req.stop.is_empty() {
            body.insert("stop_sequences".into(), req.stop.clone().into());
        }
        if req.stream {
            body.insert("stream".into(), true.into());
        }
        body.extend(req.extra.clone());
        Ok(Value::Object(body))
    }

    fn parse(&self, req: &ChatRequest, body: Value) -> Result<ChatResponse, String> {
        let Some(Value::Array(blocks)) = body.get("content") else {
            return Err("the reply has no content array".into());
        };
        let mut stream = AnthropicStream::default();
        for (index, block) in blocks.iter().enumerate() {
            stream.start_block(index, block, &mut |_| {})?;
        }
        stream.model = str_field(&body, "model").unwrap_or_else(|| req.model.clone());
        stream.id = str_field(&body, "id");
        stream.usage = body.get("usage").cloned().unwrap_or_default();
        stream.stop_reason = str_field(&body, "stop_reason");
        stream.into_response(body)
    }

    fn stream(&self, req: &ChatRequest) -> AnthropicStream {
        AnthropicStream {
            model: req.model.clone(),
            ..AnthropicStream::default()
        }
    }
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A content block being assembled.
enum Block {
    Text,
    Thinking,
    /// The tool call's position in [`AnthropicStream::tool_calls`].
    ToolUse(usize),
    Other,
}

/// Assembles a reply from content blocks: the events of a stream, or the
/// blocks of a whole reply (each then one `content_block_start` with its
/// full content).
#[derive(Default)]
pub(crate) struct AnthropicStream {
    id: Option<String>,
    model: String,
    content: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    /// The content blocks started so far, by the API's block index.
    blocks: Vec<(usize, Block)>,
    stop_reason: Option<String>,
    /// The latest `usage` object (`message_start`, then `message_delta` updates).
    usage: Value,
    stopped: bool,
}

impl AnthropicStream {
    fn block(&self, index: usize) -> Option<&Block> {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| b)
    }

    fn start_block(
        &mut self,
        index: usize,
        block: &Value,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<(), String> {
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let state = match kind {
            "text" => {
                let text = block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.push_text(text, on_delta);
                Block::Text
            }
            "thinking" => {
                let text = block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.push_reasoning(text, on_delta);
                Block::Thinking
            }
            "tool_use" => {
                let id = block
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or("a tool_use block has no id")?;
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a tool_use block has no name")?;
                // A whole reply carries the input; a stream starts with `{}`
                // and sends the JSON text in `input_json_delta`s.
                let arguments = match block.get("input") {
                    Some(Value::Object(input)) if input.is_empty() => String::new(),
                    Some(input) => input.to_string(),
                    None => String::new(),
                };
                let position = self.tool_calls.len();
                on_delta(Delta::ToolCall {
                    index: position,
                    id: Some(id),
                    name: Some(name),
                    arguments: &arguments,
                });
                self.tool_calls.push(ToolCall::new(id, name, arguments));
                Block::ToolUse(position)
            }
            _ => Block::Other,
        };
        self.blocks.push((index, state));
        Ok(())
    }

    fn push_text(&mut self, text: &str, on_delta: &mut OnDelta<'_>) {
        if !text.is_empty() {
            on_delta(Delta::Text(text));
            self.content.push_str(text);
        }
    }

    fn push_reasoning(&mut self, text: &str, on_delta: &mut OnDelta<'_>) {
        if !text.is_empty() {
            on_delta(Delta::Reasoning(text));
            self.reasoning.push_str(text);
        }
    }

    fn block_delta(
        &mut self,
        index: usize,
        delta: &Value,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<(), String> {
        let text = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or_default();
        match (self.block(index), delta.get("type").and_then(Value::as_str)) {
            (Some(Block::Text), Some("text_delta")) => self.push_text(text("text"), on_delta),
            (Some(Block::Thinking), Some("thinking_delta")) => {
                self.push_reasoning(text("thinking"), on_delta)
            }
            (Some(Block::ToolUse(position)), Some("input_json_delta")) => {
                let position = *position;
                let fragment = text("partial_json");
                if let Some(call) = self.tool_calls.get_mut(position) {
                    call.arguments.push_str(fragment);
                }
                on_delta(Delta::ToolCall {
                    index: position,
                    id: None,
                    name: None,
                    arguments: fragment,
                });
            }
            (None, _) => {
                return Err(format!(
                    "content_block_delta for block {index}, which never started"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn usage(&self) -> Usage {
        let number = |key: &str| self.usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        let cache_read_tokens = number("cache_read_input_tokens");
        let cache_write_tokens = number("cache_creation_input_tokens");
        let prompt_tokens = number("input_tokens") + cache_read_tokens + cache_write_tokens;
        let completion_tokens = number("output_tokens");
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            cache_read_tokens,
            cache_write_tokens,
        }
    }

    fn into_response(self, raw: Value) -> Result<ChatResponse, String> {
        let usage = self.usage();
        let Some(stop_reason) = self.stop_reason else {
            return Err("the reply ended without a stop_reason".into());
        };
        let mut tool_calls = self.tool_calls;
        for call in &mut tool_calls {
            if call.arguments.is_empty() {
                call.arguments = "{}".into();
            }
        }
        Ok(ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            reasoning: Some(self.reasoning).filter(|r| !r.is_empty()),
            tool_calls,
            finish_reason: FinishReason::from(stop_reason),
            usage,
            cost_usd: None,
            logprobs: None,
            raw,
            latency_ms: 0,
            attempts: 1,
            cached: false,
        })
    }
}

/// Merges the counts of a `usage` object into `into` (later events update earlier ones).
fn merge_usage(into: &mut Value, update: Option<&Value>) {
    if let (Some(Value::Object(update)), Value::Object(into)) = (update, &mut *into) {
        for (key, value) in update {
            if !value.is_null() {
                into.insert(key.clone(), value.clone());
            }
        }
    } else if let Some(update @ Value::Object(_)) = update {
        *into = update.clone();
    }
}

impl StreamState for AnthropicStream {
    fn is_done_marker(&self, _data: &str) -> bool {
        false
    }

    fn on_event(&mut self, event: &Value, on_delta: &mut OnDelta<'_>) -> Result<bool, String> {
        let index = || {
            event
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| "a content block event has no index".to_owned())
        };
        match event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "message_start" => {
                let message = event
                    .get("message")
                    .ok_or("message_start without a message")?;
                self.id = str_field(message, "id");
                if let Some(model) = str_field(message, "model") {
                    self.model = model;
                }
                merge_usage(&mut self.usage, message.get("usage"));
            }
            "content_block_start" => {
                let block = event
                    .get("content_block")
                    .ok_or("content_block_start without a block")?;
                self.start_block(index()?, block, on_delta)?;
            }
            "content_block_delta" => {
                let delta = event
                    .get("delta")
                    .ok_or("content_block_delta without a delta")?;
                self.block_delta(index()?, delta, on_delta)?;
            }
            "message_delta" => {
                if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                merge_usage(&mut self.usage, event.get("usage"));
            }
            "message_stop" => self.stopped = true,
            _ => {}
        }
        Ok(self.stopped)
    }

    fn finish(self, raw: Vec<Value>) -> Result<ChatResponse, String> {
        if !self.stopped {
            return Err("the event stream ended before message_stop".into());
        }
        self.into_response(Value::Array(raw))
    }
}
