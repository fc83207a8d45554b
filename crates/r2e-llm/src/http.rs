//! The HTTP exchange both providers share: one POST with a JSON body, the
//! error mapping (status, server message, `Retry-After`, context-length
//! detection), and reading the reply as one JSON document or as server-sent
//! events.
//!
//! A provider supplies a [`Wire`]: its URL and headers, how a
//! [`ChatRequest`] becomes a body, and how a body or an event stream becomes
//! a [`ChatResponse`]. [`HttpClient`] does the rest.

use crate::ClientOptions;
use crate::error::LlmError;
use crate::price::PriceTable;
use crate::types::{ChatRequest, ChatResponse, OnDelta, emit_whole, truncate_chars};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a provider contributes to an [`HttpClient`].
pub(crate) trait Wire: Send + Sync {
    /// The state that assembles one streamed reply.
    type Stream: StreamState;

    /// `openai` or `anthropic`.
    const PROVIDER: &'static str;

    /// The endpoint.
    fn url(&self) -> &str;
    /// Provider headers (auth, versions); content-type is added by the transport.
    fn headers(&self) -> Vec<(&'static str, String)>;
    /// The JSON body of a request.
    fn body(&self, req: &ChatRequest) -> Result<Value, LlmError>;
    /// A non-streamed reply; `Err` carries what is missing or malformed.
    fn parse(&self, req: &ChatRequest, body: Value) -> Result<ChatResponse, String>;
    /// A fresh stream assembler.
    fn stream(&self, req: &ChatRequest) -> Self::Stream;
}

/// Assembles a streamed reply from its events.
pub(crate) trait StreamState: Send {
    /// Whether this non-JSON `data` marks the end of the stream (`[DONE]`).
    fn is_done_marker(&self, data: &str) -> bool;
    /// One event's `data` JSON (already checked not to be an error object).
    /// Returns whether the reply is complete (`message_stop`), or `Err` for a
    /// malformed event.
    fn on_event(&mut self, data: &Value, on_delta: &mut OnDelta<'_>) -> Result<bool, String>;
    /// The reply, once the stream has ended. `Err` when it ended early.
    fn finish(self, raw: Vec<Value>) -> Result<ChatResponse, String>;
}

/// The reqwest client and what error messages need to know.
pub(crate) struct HttpClient<W> {
    pub(crate) wire: W,
    http: reqwest::Client,
    timeout: Duration,
    prices: Arc<PriceTable>,
    extra_headers: Vec<(String, String)>,
}

impl<W: Wire> HttpClient<W> {
    pub(crate) fn new(wire: W, options: &ClientOptions) -> Result<Self, LlmError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("r2e-llm/", env!("CARGO_PKG_VERSION")));
        if is_loopback(wire.url()) {
            // A server on this machine (local vLLM, a test server) is never
            // reached through HTTP(S)_PROXY.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| {
            LlmError::InvalidRequest(format!("cannot build the HTTP client: {}", error_chain(&e)))
        })?;
        Ok(Self {
            wire,
            http,
            timeout: options.timeout,
            prices: Arc::clone(&options.prices),
            extra_headers: options.headers.clone(),
        })
    }

    /// One attempt: send, read, assemble, price.
    pub(crate) async fn chat(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let body = self.wire.body(req)?;
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::InvalidRequest(format!("cannot serialise the request: {e}")))?;
        let url = self.wire.url();
        let started = Instant::now();
        let mut builder = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in self.wire.headers() {
            builder = builder.header(name, value);
        }
        for (name, value) in &self.extra_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let retry_after = retry_after(response.headers());
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?;
            return Err(self.api_error(req, status, &bytes, retry_after));
        }
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut reply = if streamed {
            self.read_stream(req, response, on_delta).await?
        } else {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| self.transport_error(e))?;
            let value = self.json(&bytes)?;
            if let Some(error) = error_object(&value) {
                return Err(self.error_from_json(req, status, error, None));
            }
            let reply = self
                .wire
                .parse(req, value)
                .map_err(|m| self.bad_response(m, &bytes))?;
            emit_whole(&reply, on_delta);
            reply
        };
        reply.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        reply.cost_usd = self
            .prices
            .cost(&req.model, &reply.usage)
            .or_else(|| self.prices.cost(&reply.model, &reply.usage));
        Ok(reply)
    }

    async fn read_stream(
        &self,
        req: &ChatRequest,
        mut response: reqwest::Response,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let mut state = self.wire.stream(req);
        let mut decoder = SseDecoder::default();
        let mut raw = Vec::new();
        let mut done = false;
        while !done {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| self.transport_error(e))?;
            let Some(chunk) = chunk else { break };
            for data in decoder.push(&chunk) {
                if state.is_done_marker(&data) {
                    done = true;
                    break;
                }
                let value = self.json(data.as_bytes())?;
                if let Some(error) = error_object(&value) {
                    return Err(self.error_from_json(req, 200, error, None));
                }
                done = state
                    .on_event(&value, on_delta)
                    .map_err(|m| self.bad_response(m, data.as_bytes()))?;
                raw.push(value);
                if done {
                    break;
                }
            }
        }
        state.finish(raw).map_err(|message| LlmError::Transport {
            provider: W::PROVIDER,
            url: self.wire.url().to_owned(),
            message,
        })
    }

    fn json(&self, bytes: &[u8]) -> Result<Value, LlmError> {
        serde_json::from_slice(bytes)
            .map_err(|e| self.bad_response(format!("invalid JSON ({e})"), bytes))
    }

    fn bad_response(&self, message: String, bytes: &[u8]) -> LlmError {
        LlmError::BadResponse {
            provider: W::PROVIDER,
            url: self.wire.url().to_owned(),
            message,
            snippet: truncate_chars(&String::from_utf8_lossy(bytes), 300),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> LlmError {
        let url = self.wire.url().to_owned();
        let provider = W::PROVIDER;
        if e.is_builder() {
            LlmError::InvalidRequest(format!(
                "cannot build the HTTP request: {}",
                error_chain(&e)
            ))
        } else if e.is_timeout() {
            LlmError::Timeout {
                provider,
                url,
                after: self.timeout,
            }
        } else if e.is_connect() {
            LlmError::Connect {
                provider,
                url,
                message: error_chain(&e),
            }
        } else {
            LlmError::Transport {
                provider,
                url,
                message: error_chain(&e),
            }
        }
    }

    fn api_error(
        &self,
        req: &ChatRequest,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> LlmError {
        let parsed = serde_json::from_slice::<Value>(body).ok();
        match parsed.as_ref().and_then(error_object) {
            Some(error) => self.error_from_json(req, status, error, retry_after),
            None => {
                let text = String::from_utf8_lossy(body);
                let message = if text.trim().is_empty() {
                    "(empty body)".to_owned()
                } else {
                    truncate_chars(text.trim(), 500)
                };
                self.error(req, status, message, retry_after)
            }
        }
    }

    fn error_from_json(
        &self,
        req: &ChatRequest,
        status: u16,
        error: ApiError,
        retry_after: Option<Duration>,
    ) -> LlmError {
        // An error inside a 200 body or an event stream: take the status from
        // the error's code or kind, so that retries treat it right.
        let status = if status < 300 { error.status() } else { status };
        let message = match &error.kind {
            Some(kind) if !error.message.contains(kind.as_str()) => {
                format!("{} ({kind})", error.message)
            }
            _ => error.message.clone(),
        };
        if is_context_length(&error) {
            return LlmError::ContextLength {
                provider: W::PROVIDER,
                model: req.model.clone(),
                message: error.message,
            };
        }
        self.error(req, status, message, retry_after)
    }

    fn error(
        &self,
        req: &ChatRequest,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    ) -> LlmError {
        if status == 400 || status == 413 {
            let probe = ApiError {
                message: message.clone(),
                kind: None,
                code: None,
            };
            if is_context_length(&probe) {
                return LlmError::ContextLength {
                    provider: W::PROVIDER,
                    model: req.model.clone(),
                    message,
                };
            }
        }
        LlmError::Http {
            provider: W::PROVIDER,
            url: self.wire.url().to_owned(),
            status,
            message,
            retry_after,
        }
    }
}

/// An error object from a body: OpenAI `{"error": {"message", "type", "code"}}`,
/// Anthropic `{"type": "error", "error": {"type", "message"}}`, vLLM's older
/// `{"object": "error", "message", "code"}`, FastAPI's `{"detail": …}`.
struct ApiError {
    message: String,
    kind: Option<String>,
    code: Option<Value>,
}

impl ApiError {
    /// The HTTP status this error stands for when it came inside a 2xx reply.
    fn status(&self) -> u16 {
        if let Some(code) = self.code.as_ref().and_then(Value::as_u64)
            && let Ok(code) = u16::try_from(code)
            && (400..600).contains(&code)
        {
            return code;
        }
        match self.kind.as_deref().unwrap_or_default() {
            "overloaded_error" => 529,
            "rate_limit_error" | "rate_limit_exceeded" => 429,
            "invalid_request_error" | "BadRequestError" => 400,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" | "NotFoundError" => 404,
            _ => 500,
        }
    }
}

fn error_object(value: &Value) -> Option<ApiError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match value.get("error") {
        Some(Value::Object(error)) => Some(ApiError {
            message: text(error.get("message"))
                .unwrap_or_else(|| Value::Object(error.clone()).to_string()),
            kind: text(error.get("type")),
            code: error.get("code").cloned(),
        }),
        Some(Value::String(message)) => Some(ApiError {
            message: message.clone(),
            kind: None,
            code: None,
        }),
        _ if value.get("object").and_then(Value::as_str) == Some("error") => Some(ApiError {
            message: text(value.get("message")).unwrap_or_default(),
            kind: text(value.get("type")),
            code: value.get("code").cloned(),
        }),
        _ if value.get("choices").is_none() && value.get("detail").is_some() => Some(ApiError {
            message: match value.get("detail") {
                Some(Value::String(s)) => s.clone(),
                other => other.map(Value::to_string).unwrap_or_default(),
            },
            kind: None,
            code: None,
        }),
        _ => None,
    }
}

/// Whether a server's error says the prompt does not fit. Matches OpenAI's
/// `context_length_exceeded` code and the wording of OpenAI, vLLM, SGLang,
/// Anthropic and LiteLLM.
fn is_context_length(error: &ApiError) -> bool {
    const CODES: [&str; 2] = ["context_length_exceeded", "string_above_max_length"];
    const PHRASES: [&str; 9] = [
        "maximum context length",
        "context length",
        "context_length_exceeded",
        "context window",
        "prompt is too long",
        "exceed context limit",
        "longer than the maximum model length",
        "longer than the model's context length",
        "too many input tokens",
    ];
    if error
        .code
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|c| CODES.contains(&c))
    {
        return true;
    }
    let message = error.message.to_ascii_lowercase();
    PHRASES.iter().any(|p| message.contains(p))
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds. HTTP dates are
/// not understood: the backoff schedule applies then.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// Whether `url` points at this machine (127.0.0.0/8, ::1, localhost).
fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Splits a server-sent event stream into the `data` of each event
/// (several `data:` lines of one event are joined with `\n`; `event:`,
/// `id:`, `retry:` and comment lines are dropped: both APIs repeat the event
/// name inside the data).
#[derive(Default)]
pub(crate) struct SseDecoder {
    pending: Vec<u8>,
    data: Option<String>,
}

impl SseDecoder {
    /// Feeds bytes; returns the data of every event they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + offset;
            let line = String::from_utf8_lossy(&self.pending[start..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.is_empty() {
                events.extend(self.data.take());
            } else if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
            start = end + 1;
        }
        self.pending.drain(..start);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks_and_lines() {
        let mut decoder = SseDecoder::default();
        assert!(decoder.push(b"event: a\r\ndata: {\"x\":").is_empty());
        assert_eq!(
            decoder.push(b"1}\r\n\r\n: comment\n\ndata: a\ndata: b\n\n"),
            vec!["{\"x\":1}".to_owned(), "a\nb".to_owned()]
        );
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.remove("retry-after-ms");
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        for url in [
            "http://127.0.0.1:8000/v1",
            "http://localhost/v1",
            "http://[::1]:9/x",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://api.openai.com/v1",
            "http://10.0.0.1/v1",
            "not a url",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn context_length_wordings() {
        let probe = |message: &str| {
            is_context_length(&ApiError {
                message: message.to_owned(),
                kind: None,
                code: None,
            })
        };
        assert!(probe(
            "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens"
        ));
        assert!(probe("prompt is too long: 201000 tokens > 200000 maximum"));
        assert!(probe(
            "The decoder prompt (length 40000) is longer than the maximum model length of 32768."
        ));
        assert!(probe(
            "input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000"
        ));
        assert!(!probe("Invalid value for temperature"));
    }
}
