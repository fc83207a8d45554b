//! [`OpenAiClient`]: the OpenAI chat completions API (`POST
//! {base_url}/chat/completions`), as served by OpenAI and by every
//! OpenAI-compatible server (vLLM, SGLang, LiteLLM, OpenRouter, …).
//!
//! * Auth: `Authorization: Bearer <key>` when a key is set. The key comes from
//!   [`ClientOptions::api_key`] or `OPENAI_API_KEY`; it is required only for
//!   the default base URL, so a local vLLM without `--api-key` needs none.
//! * Base URL: [`ClientOptions::base_url`], else `OPENAI_BASE_URL`, else
//!   `https://api.openai.com/v1`. As with OpenAI's SDKs the base includes
//!   `/v1` (vLLM: `http://host:8000/v1`).
//! * `max_tokens` is sent as `max_completion_tokens` for OpenAI's reasoning
//!   models (`o1`, `o3`, `o4-…`, `gpt-5…`), which reject `max_tokens`.
//! * Streaming asks for `stream_options.include_usage` so usage and cost are
//!   known for streamed replies too.
//! * Tools without a [`ChatRequest::tool_choice`] go out with `"tool_choice":
//!   "auto"`, which OpenAI, vLLM and SGLang assume anyway and llama.cpp's
//!   `chatml-function-calling` needs to show the model its tools.
//! * An assistant turn that only calls tools goes out with `"content": ""`,
//!   not `null`: both are valid OpenAI, but llama.cpp's server refuses `null`.
//! * Reasoning text is read from `reasoning_content` (vLLM, DeepSeek) or
//!   `reasoning` (OpenRouter).

use crate::error::LlmError;
use crate::http::{HttpClient, StreamState, Wire};
use crate::types::{
    ChatRequest, ChatResponse, Delta, FinishReason, Message, OnDelta, Role, TokenLogprob, ToolCall,
    ToolChoice, TopLogprob, Usage,
};
use crate::{Client, ClientOptions, OPENAI};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A client for OpenAI-compatible chat completions.
pub struct OpenAiClient {
    http: HttpClient<OpenAiWire>,
}

impl OpenAiClient {
    /// A client with `options`; unset key and base URL are read from
    /// `OPENAI_API_KEY` and `OPENAI_BASE_URL`.
    pub fn new(options: ClientOptions) -> Result<Self, LlmError> {
        let (base_url, api_key) = options.resolve_endpoint(
            OPENAI,
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            DEFAULT_BASE_URL,
        )?;
        let wire = OpenAiWire {
            url: format!("{base_url}/chat/completions"),
            api_key,
        };
        Ok(Self {
            http: HttpClient::new(wire, &options)?,
        })
    }

    /// A client for `base_url` (e.g. `http://127.0.0.1:8000/v1`) with default
    /// options; the key, if any, from `OPENAI_API_KEY`.
    pub fn with_base_url(base_url: impl Into<String>) -> Result<Self, LlmError> {
        Self::new(ClientOptions {
            base_url: Some(base_url.into()),
            ..ClientOptions::default()
        })
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &str {
        &self.http.wire.url
    }
}

#[async_trait]
impl Client for OpenAiClient {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        self.http.chat(req, on_delta).await
    }
}

pub(crate) struct OpenAiWire {
    url: String,
    api_key: Option<String>,
}

/// Whether `model` is one of OpenAI's reasoning models, which take
/// `max_completion_tokens` instead of `max_tokens`.
fn uses_max_completion_tokens(model: &str) -> bool {
    let name = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}-")))
        || name.starts_with("gpt-5")
}

pub(crate) fn message_json(message: &Message) -> Result<Value, LlmError> {
    Ok(match message.role {
        Role::System => json!({"role": "system", "content": message.content}),
        Role::User => json!({"role": "user", "content": message.content}),
        Role::Assistant => {
            let mut object = Map::new();
            object.insert("role".into(), "assistant".into());
            // Text even when empty: llama.cpp's server refuses a null content.
            object.insert("content".into(), message.content.clone().into());
            if !message.tool_calls.is_empty() {
                let calls = message.tool_calls.iter().map(|call| {
                    json!({
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    })
                });
                object.insert("tool_calls".into(), calls.collect());
            }
            Value::Object(object)
        }
        Role::Tool => {
            let Some(id) = &message.tool_call_id else {
                return Err(LlmError::InvalidRequest(
                    "a tool message needs the tool_call_id of the call it answers (Message::tool)"
                        .into(),
                ));
            };
            json!({"role": "tool", "tool_call_id": id, "content": message.content})
        }
    })
}

impl Wire for OpenAiWire {
    type Stream = OpenAiStream;
    const PROVIDER: &'static str = OPENAI;

    fn url(&self) -> &str {
        &self.url
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.api_key
            .iter()
            .map(|key| ("authorization", format!("Bearer {key}")))
            .collect()
    }

    fn body(&self, req: &ChatRequest) -> Result<Value, LlmError> {
        let mut body = Map::new();
        body.insert("model".into(), req.model.clone().into());
        let messages = req
            .messages
            .iter()
            .map(message_json)
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("messages".into(), messages.into());
        if !req.tools.is_empty() {
            let tools = req.tools.iter().map(|tool| {
                json!({
                    "type": "function",
                    "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
                })
            });
            body.insert("tools".into(), tools.collect());
        }
        // An unset choice with tools is sent as `auto`, the API's default:
        // llama.cpp's chatml-function-calling format reads a missing one as
        // `none` and leaves the tools out of the prompt.
        let choice = req
            .tool_choice
            .as_ref()
            .or((!req.tools.is_empty()).then_some(&ToolChoice::Auto));
        if let Some(choice) = choice {
            let choice = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), t.into());
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), p.into());
        }
        if let Some(n) = req.max_tokens {
            let key = if uses_max_completion_tokens(&req.model) {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body.insert(key.into(), n.into());
        }
        if !req.stop.is_empty() {
            body.insert("stop".into(), req.stop.clone().into());
        }
        if let Some(seed) = req.seed {
            body.insert("seed".into(), seed.into());
        }
        if req.logprobs {
            body.insert("logprobs".into(), true.into());
            if let Some(k) = req.top_logprobs {
                body.insert("top_logprobs".into(), k.into());
            }
        }
        if req.stream {
            body.insert("stream".into(), true.into());
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        body.extend(req.extra.clone());
        Ok(Value::Object(body))
    }

    fn parse(&self, req: &ChatRequest, body: Value) -> Result<ChatResponse, String> {
        let choice = body
            .get("choices")
            .and_then(|c| c.get(0))
            .ok_or("the reply has no choices[0]")?;
        let message = choice.get("message").ok_or("choices[0] has no message")?;
        let tool_calls = match message.get("tool_calls") {
            Some(Value::Array(calls)) => calls
                .iter()
                .enumerate()
                .map(|(i, call)| parse_tool_call(i, call))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let logprobs = match choice.get("logprobs").and_then(|l| l.get("content")) {
            Some(Value::Array(entries)) => Some(
                entries
                    .iter()
                    .map(parse_logprob)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => None,
        };
        Ok(ChatResponse {
            id: str_field(&body, "id"),
            model: str_field(&body, "model").unwrap_or_else(|| req.model.clone()),
            content: content_text(message.get("content")),
            reasoning: reasoning_text(message),
            tool_calls,
            finish_reason: finish_reason(choice),
            usage: parse_usage(body.get("usage")),
            cost_usd: None,
            logprobs,
            raw: body,
            latency_ms: 0,
            attempts: 1,
            cached: false,
        })
    }

    fn stream(&self, req: &ChatRequest) -> OpenAiStream {
        OpenAiStream {
            model: req.model.clone(),
            ..OpenAiStream::default()
        }
    }
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `content` as a string, or as an array of `{"type": "text", "text"}` parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn reasoning_text(message: &Value) -> Option<String> {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.get(*key).and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn finish_reason(choice: &Value) -> FinishReason {
    FinishReason::from(str_field(choice, "finish_reason").unwrap_or_default())
}

/// Arguments as the model wrote them; some servers send an object instead of a string.
fn arguments_text(arguments: Option<&Value>) -> String {
    match arguments {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

fn parse_tool_call(index: usize, call: &Value) -> Result<ToolCall, String> {
    let function = call
        .get("function")
        .ok_or(format!("tool_calls[{index}] has no function"))?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or(format!("tool_calls[{index}] has no function name"))?;
    let id = str_field(call, "id").unwrap_or_else(|| format!("call_{index}"));
    Ok(ToolCall::new(
        id,
        name,
        arguments_text(function.get("arguments")),
    ))
}

fn parse_logprob(entry: &Value) -> Result<TokenLogprob, String> {
    let token_and_logprob = |v: &Value| -> Result<(String, f64), String> {
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or("a logprob entry has no token")?;
        let logprob = v
            .get("logprob")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("the logprob entry for {token:?} has no number"))?;
        Ok((token.to_owned(), logprob))
    };
    let (token, logprob) = token_and_logprob(entry)?;
    let top_logprobs = match entry.get("top_logprobs") {
        Some(Value::Array(top)) => top
            .iter()
            .map(|t| token_and_logprob(t).map(|(token, logprob)| TopLogprob { token, logprob }))
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    Ok(TokenLogprob {
        token,
        logprob,
        top_logprobs,
    })
}

fn parse_usage(usage: Option<&Value>) -> Usage {
    let number = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let Some(usage) = usage else {
        return Usage::default();
    };
    let prompt_tokens = number(usage.get("prompt_tokens"));
    let completion_tokens = number(usage.get("completion_tokens"));
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: usage
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(prompt_tokens + completion_tokens),
        cache_read_tokens: number(usage.pointer("/prompt_tokens_details/cached_tokens")),
        cache_write_tokens: 0,
    }
}

/// Assembles `chat.completion.chunk` events.
#[derive(Default)]
pub(crate) struct OpenAiStream {
    id: Option<String>,
    model: String,
    content: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<FinishReason>,
    usage: Usage,
    logprobs: Option<Vec<TokenLogprob>>,
}

impl StreamState for OpenAiStream {
    fn is_done_marker(&self, data: &str) -> bool {
        data.trim() == "[DONE]"
    }

    fn on_event(&mut self, chunk: &Value, on_delta: &mut OnDelta<'_>) -> Result<bool, String> {
        if self.id.is_none() {
            self.id = str_field(chunk, "id");
        }
        if let Some(model) = str_field(chunk, "model") {
            self.model = model;
        }
        if chunk.get("usage").is_some_and(Value::is_object) {
            self.usage = parse_usage(chunk.get("usage"));
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(false);
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(reasoning) = reasoning_text(delta) {
                on_delta(Delta::Reasoning(&reasoning));
                self.reasoning.push_str(&reasoning);
            }
            let text = content_text(delta.get("content"));
            if !text.is_empty() {
                on_delta(Delta::Text(&text));
                self.content.push_str(&text);
            }
            if let Some(Value::Array(calls)) = delta.get("tool_calls") {
                for call in calls {
                    self.on_tool_call(call, on_delta)?;
                }
            }
        }
        if let Some(Value::Array(entries)) = choice.get("logprobs").and_then(|l| l.get("content")) {
            let parsed = entries
                .iter()
                .map(parse_logprob)
                .collect::<Result<Vec<_>, _>>()?;
            self.logprobs.get_or_insert_with(Vec::new).extend(parsed);
        }
        if let Some(reason) = str_field(choice, "finish_reason") {
            self.finish_reason = Some(FinishReason::from(reason));
        }
        Ok(false)
    }

    fn finish(self, raw: Vec<Value>) -> Result<ChatResponse, String> {
        let Some(finish_reason) = self.finish_reason else {
            return Err(
                "the event stream ended before the reply was complete (no finish_reason)".into(),
            );
        };
        Ok(ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            reasoning: Some(self.reasoning).filter(|r| !r.is_empty()),
            tool_calls: self.tool_calls,
            finish_reason,
            usage: self.usage,
            cost_usd: None,
            logprobs: self.logprobs,
            raw: Value::Array(raw),
            latency_ms: 0,
            attempts: 1,
            cached: false,
        })
    }
}

impl OpenAiStream {
    fn on_tool_call(&mut self, call: &Value, on_delta: &mut OnDelta<'_>) -> Result<(), String> {
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(self.tool_calls.len().saturating_sub(1));
        if index > self.tool_calls.len() {
            return Err(format!("tool call index {index} skips a call"));
        }
        if index == self.tool_calls.len() {
            self.tool_calls
                .push(ToolCall::new(format!("call_{index}"), "", ""));
        }
        let id = call.get("id").and_then(Value::as_str);
        let function = call.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let arguments = arguments_text(function.and_then(|f| f.get("arguments")));
        let entry = &mut self.tool_calls[index];
        if let Some(id) = id {
            entry.id = id.to_owned();
        }
        if let Some(name) = name {
            entry.name.push_str(name);
        }
        entry.arguments.push_str(&arguments);
        on_delta(Delta::ToolCall {
            index,
            id,
            name,
            arguments: &arguments,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_take_max_completion_tokens() {
        for model in [
            "o1",
            "o3-mini",
            "o4-mini",
            "gpt-5",
            "gpt-5-mini",
            "openai/o3",
        ] {
            assert!(uses_max_completion_tokens(model), "{model}");
        }
        for model in ["gpt-4o", "o1x", "Qwen/Qwen3-8B", "olmo-2"] {
            assert!(!uses_max_completion_tokens(model), "{model}");
        }
    }
}
