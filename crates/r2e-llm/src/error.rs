//! [`LlmError`]: what failed, the HTTP status and the server's own message,
//! and what to do about it.
//!
//! [`LlmError::is_retryable`] drives [`crate::RetryingClient`];
//! [`LlmError::is_context_length`] is what an agent turns into an exit reason.

use std::path::PathBuf;
use std::time::Duration;

/// Everything a chat call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// No API key was given for a provider that needs one.
    #[error("no API key for {provider}: set {env_var} or pass the key explicitly")]
    MissingApiKey {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The environment variable read.
        env_var: &'static str,
    },

    /// The server answered with an HTTP error status.
    #[error("{provider} request to {url} failed with HTTP {status}: {message}{}", status_hint(provider, *status))]
    Http {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's error message (or the start of its body).
        message: String,
        /// How long the server asked us to wait (`Retry-After`, `retry-after-ms`).
        retry_after: Option<Duration>,
    },

    /// The prompt (plus `max_tokens`) does not fit in the model's context window.
    #[error(
        "{provider}: the conversation does not fit in {model}'s context window: {message} \
         (end the episode, shorten the history or lower max_tokens; for vLLM, serve with a larger --max-model-len)"
    )]
    ContextLength {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The model requested.
        model: String,
        /// The server's message.
        message: String,
    },

    /// No complete answer within the client's timeout.
    #[error(
        "{provider} request to {url} timed out after {}s (the server is overloaded or hung; raise the timeout or check the server)",
        after.as_secs_f64()
    )]
    Timeout {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The URL requested.
        url: String,
        /// The timeout that ran out.
        after: Duration,
    },

    /// The server could not be reached.
    #[error(
        "cannot connect to {provider} at {url}: {message} (is the server running? check the base URL)"
    )]
    Connect {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The URL requested.
        url: String,
        /// The transport's message.
        message: String,
    },

    /// The connection failed after it was made (reset, closed mid-body or mid-stream).
    #[error("{provider} connection to {url} failed mid-request: {message}")]
    Transport {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The URL requested.
        url: String,
        /// What happened.
        message: String,
    },

    /// The server answered 2xx with something that is not the API's JSON.
    #[error(
        "{provider} at {url} returned a response that is not a valid chat completion: {message}; \
         the body starts with {snippet:?} (is the base URL pointing at the right API?)"
    )]
    BadResponse {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The URL requested.
        url: String,
        /// What was wrong.
        message: String,
        /// The first characters of the body.
        snippet: String,
    },

    /// Logprobs were needed but the server returned none.
    #[error(
        "the server returned no logprobs for {model}: ask with ChatRequest::logprobs(k), use an \
         OpenAI-compatible server that returns them (vLLM and SGLang do; start vLLM with \
         --max-logprobs >= k) or pick a model that supports logprobs (Anthropic models do not){}",
        if detail.is_empty() { String::new() } else { format!(" ({detail})") }
    )]
    NoLogprobs {
        /// The model that answered.
        model: String,
        /// What exactly was missing.
        detail: String,
    },

    /// Logprobs are there but neither answer label is among the tokens.
    #[error(
        "neither {yes:?} nor {no:?} is among the generated tokens or their top alternatives \
         (the reply was {text:?}): ask for more top_logprobs or make the prompt end the answer with one of them"
    )]
    NoAnswerToken {
        /// The label for yes.
        yes: String,
        /// The label for no.
        no: String,
        /// The reply text (shortened).
        text: String,
    },

    /// The request asks for something the provider cannot do.
    #[error("{provider} does not support {what}: {hint}")]
    Unsupported {
        /// `openai` or `anthropic`.
        provider: &'static str,
        /// The feature.
        what: String,
        /// What to do instead.
        hint: String,
    },

    /// The request itself is malformed (caught before sending).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A tool call's arguments are not a JSON object.
    #[error(
        "the arguments of tool call {name} ({id}) are not a valid JSON object: {message}; arguments were: {arguments}"
    )]
    ToolArguments {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// What is wrong.
        message: String,
        /// The arguments text as the model wrote it.
        arguments: String,
    },

    /// Every allowed attempt failed with a retryable error.
    #[error("gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<LlmError>,
    },

    /// Replay mode and the request was never recorded.
    #[error(
        "no recorded response for this request (key {key}) in {dir}: the request differs from the \
         recorded run (model, messages or parameters changed); record it with cache mode `record` or `read-write`"
    )]
    CacheMiss {
        /// The request's cache key.
        key: String,
        /// The cache directory.
        dir: PathBuf,
    },

    /// The cache could not be read or written.
    #[error("response cache {}: {message}", path.display())]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

fn status_hint(provider: &str, status: u16) -> String {
    let key_var = crate::provider_key_var(provider);
    match status {
        401 | 403 => format!(" (check the API key: {key_var})"),
        404 => " (check the base URL and the model name)".to_owned(),
        408 | 409 | 425 | 429 => {
            " (rate limited or busy: lower the number of parallel workers or wait)".to_owned()
        }
        500..=599 => " (server error)".to_owned(),
        _ => String::new(),
    }
}

impl LlmError {
    /// Whether another attempt may succeed: HTTP 408/409/425/429/5xx (incl.
    /// Anthropic's 529 "overloaded"), timeouts, connection and mid-request
    /// failures. Malformed bodies, context-length and client errors are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 408 | 409 | 425 | 429 | 500..=599),
            Self::Timeout { .. } | Self::Connect { .. } | Self::Transport { .. } => true,
            _ => false,
        }
    }

    /// Whether the conversation no longer fits the model's context window
    /// (also when wrapped in [`LlmError::RetriesExhausted`]).
    pub fn is_context_length(&self) -> bool {
        match self {
            Self::ContextLength { .. } => true,
            Self::RetriesExhausted { last, .. } => last.is_context_length(),
            _ => false,
        }
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            Self::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}
