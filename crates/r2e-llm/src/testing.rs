//! [`ScriptedServer`]: a real HTTP server on 127.0.0.1 that answers chat
//! requests from a queue of scripted [`Reply`]s, in the OpenAI chat
//! completions format or the Anthropic Messages format, plain or streamed,
//! and records every request it receives.
//!
//! It exists for tests — of this crate and of the agent loop and verifiers
//! that drive whole episodes through an [`crate::OpenAiClient`] or
//! [`crate::AnthropicClient`] — so that nothing is mocked but the model:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use r2e_llm::testing::{ScriptedServer, Turn};
//! use r2e_llm::{ChatRequest, Client, Message};
//! let server = ScriptedServer::start().await?;
//! server.push(Turn::tool_call("execute_bash", r#"{"command": "ls"}"#));
//! server.push(Turn::text("done"));
//! let client = server.openai_client()?;
//! let reply = client.chat(&ChatRequest::new("m", vec![Message::user("hi")])).await?;
//! assert_eq!(reply.tool_calls[0].name, "execute_bash");
//! assert_eq!(server.requests()[0].path, "/v1/chat/completions");
//! # Ok(()) }
//! ```
//!
//! **Routing.** A `POST` whose path ends in `/chat/completions` is answered
//! in OpenAI's format, one ending in `/messages` in Anthropic's; a request
//! body with `"stream": true` gets server-sent events (OpenAI chunks ending in
//! `data: [DONE]`, with a usage chunk when `stream_options.include_usage` is
//! set; Anthropic's `message_start` … `message_stop` events). Other paths get
//! a 404 and consume no reply. Each connection serves one request and is
//! closed (`connection: close`).
//!
//! **Replies** are taken in order, one per request. When the queue is empty
//! the server answers 400 with a message saying so, so a test that sends more
//! requests than it scripted fails loudly. Dropping the server stops it and
//! ends every hanging connection.

use crate::types::{FinishReason, TokenLogprob, ToolCall, TopLogprob};
use crate::{AnthropicClient, ClientOptions, LlmError, OpenAiClient};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One scripted model turn, rendered in whichever format the request asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// The reply text.
    pub text: String,
    /// Reasoning text (OpenAI `reasoning_content`, Anthropic `thinking` block).
    pub reasoning: Option<String>,
    /// Tool calls. An empty id is filled in as `call_N` / `toolu_N`, with N
    /// counting tool calls over the server's lifetime from 1. The arguments
    /// are sent as written (OpenAI) or, when they parse, as the `input`
    /// object (Anthropic; as a JSON string when they do not).
    pub tool_calls: Vec<ToolCall>,
    /// The finish reason; default: tool calls when there are any, else stop.
    pub finish_reason: Option<FinishReason>,
    /// Per-token logprobs, sent (OpenAI only) when the request asks for
    /// logprobs, each cut to the request's `top_logprobs`. When streamed
    /// they are sent one token per chunk and the tokens make up the text, so
    /// they should join to [`Turn::text`].
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// `(prompt, completion)` tokens; default: request body bytes / 4 and
    /// reply bytes / 4, at least 1 each.
    pub usage: Option<(u64, u64)>,
}

impl Turn {
    /// A turn that says `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// A turn that calls `name` with `arguments` (a JSON text, malformed if you like).
    pub fn tool_call(name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self::default().with_tool_call(name, arguments)
    }

    /// Adds a tool call.
    pub fn with_tool_call(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        self.tool_calls.push(ToolCall::new("", name, arguments));
        self
    }

    /// Sets the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Sets the reasoning text.
    pub fn with_reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning = Some(reasoning.into());
        self
    }

    /// Sets the finish reason.
    pub fn with_finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = Some(reason);
        self
    }

    /// Sets the logprobs (see [`token`] to write them).
    pub fn with_logprobs(mut self, logprobs: Vec<TokenLogprob>) -> Self {
        self.logprobs = Some(logprobs);
        self
    }

    /// Sets the token usage.
    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }
}

/// A sampled token with its logprob and top alternatives `(token, logprob)`.
pub fn token(token: &str, logprob: f64, top: &[(&str, f64)]) -> TokenLogprob {
    TokenLogprob {
        token: token.to_owned(),
        logprob,
        top_logprobs: top
            .iter()
            .map(|(token, logprob)| TopLogprob {
                token: (*token).to_owned(),
                logprob: *logprob,
            })
            .collect(),
    }
}

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// Answer 200 with a model turn.
    Turn(Turn),
    /// Answer `status` with the API's error JSON carrying `message`, and a
    /// `Retry-After` header (seconds) when given.
    Error {
        /// The HTTP status.
        status: u16,
        /// The error message.
        message: String,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
    /// Answer 400 with the API's context-length error (OpenAI's
    /// `context_length_exceeded`, Anthropic's "prompt is too long").
    ContextLength,
    /// Answer exactly this.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The content type.
        content_type: String,
        /// The body bytes.
        body: Vec<u8>,
    },
    /// Read the request and never answer (until the client gives up or the server is dropped).
    Hang,
    /// Close the connection without answering.
    Disconnect,
    /// Start a stream (send the headers and the first `events` events of the
    /// turn) and then close the connection, as a crashed server would.
    CutStream {
        /// The turn whose events are sent.
        turn: Turn,
        /// How many events are sent before the cut.
        events: usize,
    },
    /// Wait, then do the inner reply.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// HTTP 429 with `Retry-After: seconds`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        Self::Error {
            status: 429,
            message: "Rate limit reached; please try again later.".into(),
            retry_after: Some(retry_after_seconds),
        }
    }

    /// An HTTP error status with a message.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self::Error {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// HTTP 200 with a body that is not JSON.
    pub fn garbage() -> Self {
        Self::Raw {
            status: 200,
            content_type: "application/json".into(),
            body: b"<html><body>502 Bad Gateway</body></html> {\"choices\": [".to_vec(),
        }
    }
}

impl From<Turn> for Reply {
    fn from(turn: Turn) -> Self {
        Self::Turn(turn)
    }
}

/// A request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The method (`POST`).
    pub method: String,
    /// The path with query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Decides the reply to a request when no scripted reply is queued.
pub type Responder = dyn Fn(&RecordedRequest) -> Reply + Send + Sync;

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Arc<Responder>>>,
    requests: Mutex<Vec<RecordedRequest>>,
    tool_call_ids: Mutex<u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scripted server (see the module docs). Stops when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: watch::Sender<()>,
}

impl ScriptedServer {
    /// Binds 127.0.0.1 on a free port and starts serving on the current tokio runtime.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (shutdown, mut stopped) = watch::channel(());
        let state = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(serve(stream, Arc::clone(&state), stopped.clone()));
                        }
                    }
                }
            }
        });
        Ok(Self {
            addr,
            shared,
            _shutdown: shutdown,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL for [`OpenAiClient`]: `http://127.0.0.1:PORT/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// An [`OpenAiClient`] for this server with API key `test-key` and a 30 s timeout.
    pub fn openai_client(&self) -> Result<OpenAiClient, LlmError> {
        OpenAiClient::new(self.options(self.openai_base_url()))
    }

    /// An [`AnthropicClient`] for this server with API key `test-key` and a 30 s timeout.
    pub fn anthropic_client(&self) -> Result<AnthropicClient, LlmError> {
        AnthropicClient::new(self.options(self.url()))
    }

    fn options(&self, base_url: String) -> ClientOptions {
        ClientOptions {
            base_url: Some(base_url),
            api_key: Some("test-key".into()),
            timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        }
    }

    /// Queues a reply.
    pub fn push(&self, reply: impl Into<Reply>) {
        lock(&self.shared.replies).push_back(reply.into());
    }

    /// Answers every request that finds the queue empty with `responder`'s
    /// reply (for many concurrent conversations, such as benchmarks).
    pub fn set_responder(
        &self,
        responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) {
        *lock(&self.shared.responder) = Some(Arc::new(responder));
    }

    /// Replies queued and not yet served.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.replies).len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
}

/// What one request asked for, as far as rendering cares.
struct Ask {
    api: Api,
    model: String,
    stream: bool,
    include_usage: bool,
    top_logprobs: Option<usize>,
    body_len: usize,
}

impl Ask {
    fn of(request: &RecordedRequest) -> Option<Self> {
        let path = request.path.split('?').next().unwrap_or_default();
        let api = if path.ends_with("/chat/completions") {
            Api::OpenAi
        } else if path.ends_with("/messages") {
            Api::Anthropic
        } else {
            return None;
        };
        let body = request.json();
        let top_logprobs = match body.get("logprobs") {
            Some(Value::Bool(true)) => Some(
                body.get("top_logprobs")
                    .and_then(Value::as_u64)
                    .and_then(|k| usize::try_from(k).ok())
                    .unwrap_or(usize::MAX),
            ),
            _ => None,
        };
        Some(Self {
            api,
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("scripted")
                .to_owned(),
            stream: body.get("stream") == Some(&Value::Bool(true)),
            include_usage: body.pointer("/stream_options/include_usage")
                == Some(&Value::Bool(true)),
            top_logprobs,
            body_len: request.body.len(),
        })
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, mut stopped: watch::Receiver<()>) {
    let Ok(Some(request)) = read_request(&mut stream).await else {
        return;
    };
    let ask = Ask::of(&request);
    let request_copy = request.clone();
    let number = {
        let mut requests = lock(&shared.requests);
        requests.push(request);
        requests.len()
    };
    let Some(ask) = ask else {
        let body = json!({"error": {"message": "the scripted server serves …/chat/completions and …/messages"}});
        write_plain(
            &mut stream,
            404,
            "application/json",
            &[],
            body.to_string().as_bytes(),
        )
        .await;
        return;
    };
    let queued = lock(&shared.replies).pop_front();
    let responder = lock(&shared.responder).clone();
    let reply = queued.or_else(|| responder.map(|r| r(&request_copy))).unwrap_or_else(|| Reply::Error {
        status: 400,
        message: format!("scripted server: no reply queued for request #{number} (push one with ScriptedServer::push)"),
        retry_after: None,
    });
    let mut reply = reply;
    while let Reply::Delayed(delay, inner) = reply {
        tokio::select! {
            _ = stopped.changed() => return,
            () = tokio::time::sleep(delay) => reply = *inner,
        }
    }
    match reply {
        Reply::Turn(turn) => {
            let turn = fill_ids(turn, &ask, &shared);
            if ask.stream {
                write_events(&mut stream, &ask, &stream_events(&turn, &ask), usize::MAX).await;
            } else {
                let body = whole_reply(&turn, &ask).to_string();
                write_plain(&mut stream, 200, "application/json", &[], body.as_bytes()).await;
            }
        }
        Reply::CutStream { turn, events } => {
            let turn = fill_ids(turn, &ask, &shared);
            write_events(&mut stream, &ask, &stream_events(&turn, &ask), events).await;
        }
        Reply::Error {
            status,
            message,
            retry_after,
        } => {
            let headers: Vec<_> = retry_after
                .iter()
                .map(|s| ("retry-after", s.to_string()))
                .collect();
            let body = error_body(ask.api, status, &message, None).to_string();
            write_plain(
                &mut stream,
                status,
                "application/json",
                &headers,
                body.as_bytes(),
            )
            .await;
        }
        Reply::ContextLength => {
            let (message, code) = match ask.api {
                Api::OpenAi => (
                    "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens \
                     (8000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
                    Some("context_length_exceeded"),
                ),
                Api::Anthropic => ("prompt is too long: 210000 tokens > 200000 maximum", None),
            };
            let body = error_body(ask.api, 400, message, code).to_string();
            write_plain(&mut stream, 400, "application/json", &[], body.as_bytes()).await;
        }
        Reply::Raw {
            status,
            content_type,
            body,
        } => write_plain(&mut stream, status, &content_type, &[], &body).await,
        Reply::Hang => {
            // Wait for the client to close the connection, or the server to stop.
            let mut byte = [0u8; 1];
            tokio::select! {
                _ = stopped.changed() => {}
                _ = stream.read(&mut byte) => {}
            }
        }
        Reply::Disconnect | Reply::Delayed(..) => {}
    }
}

/// Gives tool calls without an id one (`call_N` or `toolu_N`).
fn fill_ids(mut turn: Turn, ask: &Ask, shared: &Shared) -> Turn {
    for call in turn.tool_calls.iter_mut().filter(|c| c.id.is_empty()) {
        let mut counter = lock(&shared.tool_call_ids);
        *counter += 1;
        let prefix = if ask.api == Api::OpenAi {
            "call"
        } else {
            "toolu"
        };
        call.id = format!("{prefix}_{counter}");
    }
    turn
}

async fn read_request(stream: &mut TcpStream) -> io::Result<Option<RecordedRequest>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head over 1 MiB",
            ));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Some(RecordedRequest {
        method,
        path,
        headers,
        body,
    }))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

async fn write_plain(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
) {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    // The client may have gone (a timeout test): nothing to do about it.
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// Writes an event stream (at most `limit` events), then closes the connection.
async fn write_events(stream: &mut TcpStream, ask: &Ask, events: &[Value], limit: usize) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for event in events.iter().take(limit) {
        let frame = match (ask.api, event) {
            (Api::OpenAi, Value::String(marker)) => format!("data: {marker}\n\n"),
            (Api::OpenAi, event) => format!("data: {event}\n\n"),
            (Api::Anthropic, event) => {
                let name = event
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                format!("event: {name}\ndata: {event}\n\n")
            }
        };
        if stream.write_all(frame.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
    let _ = stream.shutdown().await;
}

fn error_body(api: Api, status: u16, message: &str, code: Option<&str>) -> Value {
    let kind = match (api, status) {
        (_, 401) => "authentication_error",
        (_, 429) => "rate_limit_error",
        (Api::Anthropic, 529) => "overloaded_error",
        (Api::Anthropic, 500..) => "api_error",
        (Api::OpenAi, 500..) => "server_error",
        _ => "invalid_request_error",
    };
    match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

fn usage_of(turn: &Turn, ask: &Ask) -> (u64, u64) {
    turn.usage.unwrap_or_else(|| {
        let reply_len = turn.text.len()
            + turn
                .tool_calls
                .iter()
                .map(|c| c.arguments.len())
                .sum::<usize>();
        let quarter = |n: usize| u64::try_from(n / 4).unwrap_or(u64::MAX).max(1);
        (quarter(ask.body_len), quarter(reply_len))
    })
}

fn finish_of(turn: &Turn, api: Api) -> String {
    let reason = turn
        .finish_reason
        .clone()
        .unwrap_or(if turn.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        });
    match (api, reason) {
        (Api::OpenAi, reason) => reason.to_string(),
        (Api::Anthropic, FinishReason::Stop) => "end_turn".into(),
        (Api::Anthropic, FinishReason::Length) => "max_tokens".into(),
        (Api::Anthropic, FinishReason::ToolCalls) => "tool_use".into(),
        (Api::Anthropic, FinishReason::ContentFilter) => "refusal".into(),
        (Api::Anthropic, FinishReason::Other(other)) => other,
    }
}

/// The logprobs to send: only when asked, each cut to `top_logprobs`.
fn logprobs_of(turn: &Turn, ask: &Ask) -> Option<Vec<Value>> {
    let top = ask.top_logprobs?;
    let entries = turn.logprobs.as_ref()?;
    let entry = |e: &TokenLogprob| {
        let alternatives: Vec<Value> = e
            .top_logprobs
            .iter()
            .take(top)
            .map(|t| json!({"token": t.token, "logprob": t.logprob, "bytes": t.token.as_bytes()}))
            .collect();
        json!({"token": e.token, "logprob": e.logprob, "bytes": e.token.as_bytes(), "top_logprobs": alternatives})
    };
    Some(entries.iter().map(entry).collect())
}

/// The `input` object of an Anthropic `tool_use` block.
fn tool_input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

fn whole_reply(turn: &Turn, ask: &Ask) -> Value {
    let (prompt, completion) = usage_of(turn, ask);
    let finish = finish_of(turn, ask.api);
    match ask.api {
        Api::OpenAi => {
            let mut message = json!({
                "role": "assistant",
                "content": if turn.text.is_empty() && !turn.tool_calls.is_empty() { Value::Null } else { turn.text.clone().into() },
            });
            if let Some(reasoning) = &turn.reasoning {
                message["reasoning_content"] = reasoning.clone().into();
            }
            if !turn.tool_calls.is_empty() {
                let calls = turn.tool_calls.iter().map(|c| {
                    json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})
                });
                message["tool_calls"] = calls.collect();
            }
            let logprobs = logprobs_of(turn, ask).map(|content| json!({"content": content}));
            json!({
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": ask.model,
                "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            })
        }
        Api::Anthropic => {
            let mut content = Vec::new();
            if let Some(reasoning) = &turn.reasoning {
                content.push(
                    json!({"type": "thinking", "thinking": reasoning, "signature": "scripted"}),
                );
            }
            if !turn.text.is_empty() {
                content.push(json!({"type": "text", "text": turn.text}));
            }
            for call in &turn.tool_calls {
                content.push(
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(&call.arguments)}),
                );
            }
            json!({
                "id": "msg_scripted",
                "type": "message",
                "role": "assistant",
                "model": ask.model,
                "content": content,
                "stop_reason": finish,
                "stop_sequence": null,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            })
        }
    }
}

/// `text` in pieces of up to 5 characters.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(5).map(|c| c.iter().collect()).collect()
}

/// The events of a streamed turn; for OpenAI the last is the string `[DONE]`.
fn stream_events(turn: &Turn, ask: &Ask) -> Vec<Value> {
    let (prompt, completion) = usage_of(turn, ask);
    let finish = finish_of(turn, ask.api);
    match ask.api {
        Api::OpenAi => {
            let chunk = |delta: Value, logprobs: Option<Value>, finish: Option<&str>| {
                json!({
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": ask.model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
                })
            };
            let mut events = vec![chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                None,
            )];
            if let Some(reasoning) = &turn.reasoning {
                events.extend(
                    pieces(reasoning)
                        .into_iter()
                        .map(|p| chunk(json!({"reasoning_content": p}), None, None)),
                );
            }
            match logprobs_of(turn, ask) {
                Some(entries) => events.extend(entries.into_iter().map(|entry| {
                    let text = entry.get("token").cloned().unwrap_or_default();
                    chunk(
                        json!({"content": text}),
                        Some(json!({"content": [entry]})),
                        None,
                    )
                })),
                None => events.extend(
                    pieces(&turn.text)
                        .into_iter()
                        .map(|p| chunk(json!({"content": p}), None, None)),
                ),
            }
            for (index, call) in turn.tool_calls.iter().enumerate() {
                let start = json!({"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}});
                events.push(chunk(json!({"tool_calls": [start]}), None, None));
                for piece in pieces(&call.arguments) {
                    let more = json!({"index": index, "function": {"arguments": piece}});
                    events.push(chunk(json!({"tool_calls": [more]}), None, None));
                }
            }
            events.push(chunk(json!({}), None, Some(&finish)));
            if ask.include_usage {
                events.push(json!({
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "model": ask.model,
                    "choices": [],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
                }));
            }
            events.push(Value::String("[DONE]".into()));
            events
        }
        Api::Anthropic => {
            let mut events = vec![
                json!({"type": "message_start", "message": {
                    "id": "msg_scripted", "type": "message", "role": "assistant", "model": ask.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": prompt, "output_tokens": 1},
                }}),
                json!({"type": "ping"}),
            ];
            let mut index = 0;
            let mut block = |start: Value, deltas: Vec<Value>, events: &mut Vec<Value>| {
                events.push(
                    json!({"type": "content_block_start", "index": index, "content_block": start}),
                );
                events.extend(deltas.into_iter().map(
                    |delta| json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ));
                events.push(json!({"type": "content_block_stop", "index": index}));
                index += 1;
            };
            if let Some(reasoning) = &turn.reasoning {
                let deltas = pieces(reasoning)
                    .into_iter()
                    .map(|p| json!({"type": "thinking_delta", "thinking": p}))
                    .chain([json!({"type": "signature_delta", "signature": "scripted"})])
                    .collect();
                block(
                    json!({"type": "thinking", "thinking": ""}),
                    deltas,
                    &mut events,
                );
            }
            if !turn.text.is_empty() {
                let deltas = pieces(&turn.text)
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect();
                block(json!({"type": "text", "text": ""}), deltas, &mut events);
            }
            for call in &turn.tool_calls {
                let deltas = pieces(&call.arguments)
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect();
                block(
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
                    deltas,
                    &mut events,
                );
            }
            events.push(json!({"type": "message_delta", "delta": {"stop_reason": finish, "stop_sequence": null}, "usage": {"output_tokens": completion}}));
            events.push(json!({"type": "message_stop"}));
            events
        }
    }
}
