//! r2e-llm: chat clients for coding agents and verifiers.
//!
//! One provider-neutral API ([`ChatRequest`] → [`ChatResponse`] through the
//! async [`Client`] trait) over two wire protocols:
//!
//! * [`OpenAiClient`] — OpenAI chat completions, and every server that speaks
//!   it (vLLM, SGLang, LiteLLM, OpenRouter; any `--base-url`);
//! * [`AnthropicClient`] — the Anthropic Messages API.
//!
//! Both do native tool calls, temperature / top_p / max tokens / stop /
//! seed, streaming (server-sent events, assembled into the same
//! [`ChatResponse`]), token usage and cost ([`PriceTable`]); the OpenAI client
//! also per-token logprobs with top alternatives ([`p_yes`] turns them into a
//! verifier score). Two wrappers add [`RetryingClient`] (backoff with jitter,
//! `Retry-After`, bounded attempts) and [`CachingClient`] (record/replay keyed
//! by a canonical hash of the request). [`LlmConfig::build`] stacks all three.
//!
//! ```no_run
//! # async fn demo() -> Result<(), r2e_llm::LlmError> {
//! use r2e_llm::{ChatRequest, Client, LlmConfig, Message, Provider};
//! let client = LlmConfig::new(Provider::OpenAi).base_url("http://127.0.0.1:8000/v1").build()?;
//! let reply = client
//!     .chat(&ChatRequest::new("Qwen/Qwen3-8B", vec![Message::user("Say hi")]).temperature(0.0))
//!     .await?;
//! println!("{} ({} tokens)", reply.content, reply.usage.total_tokens);
//! # Ok(()) }
//! ```
//!
//! Errors are [`LlmError`]s that say what failed, the HTTP status and the
//! server's message, and what to do; a conversation that outgrew the context
//! window is [`LlmError::ContextLength`] ([`LlmError::is_context_length`]), for
//! the agent to end the episode with a reason rather than crash.
//!
//! With the `testing` feature, [`testing::ScriptedServer`] serves scripted
//! replies in both protocols on 127.0.0.1 for tests of this crate and its users.

#![warn(missing_docs)]

mod anthropic;
mod cache;
mod error;
mod http;
mod logprobs;
mod openai;
mod price;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

pub use anthropic::{ANTHROPIC_VERSION, AnthropicClient, DEFAULT_MAX_TOKENS};
pub use cache::{CacheMode, CachingClient, ResponseCache, canonical_request, request_key};
pub use error::LlmError;
pub use logprobs::{p_yes, p_yes_at};
pub use openai::OpenAiClient;
pub use price::{Price, PriceTable};
pub use retry::{RetryPolicy, RetryingClient};
pub use types::{
    ChatRequest, ChatResponse, Delta, FinishReason, Message, OnDelta, Role, TokenLogprob, ToolCall,
    ToolChoice, ToolSpec, TopLogprob, Usage,
};

use async_trait::async_trait;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The provider name of [`OpenAiClient`] in errors.
const OPENAI: &str = "openai";
/// The provider name of [`AnthropicClient`] in errors.
const ANTHROPIC: &str = "anthropic";

/// The API-key variable of a provider, for error hints.
fn provider_key_var(provider: &str) -> &'static str {
    if provider == ANTHROPIC {
        "ANTHROPIC_API_KEY"
    } else {
        "OPENAI_API_KEY"
    }
}

/// A chat model behind some API.
///
/// Implementations: [`OpenAiClient`], [`AnthropicClient`], the wrappers
/// [`RetryingClient`] and [`CachingClient`], and `Arc`/`Box` of any of them
/// (so `Arc<dyn Client>` is a client).
#[async_trait]
pub trait Client: Send + Sync {
    /// One completion: the reply to `req`.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.chat_streaming(req, &mut |_| {}).await
    }

    /// One completion, with its pieces passed to `on_delta` as they arrive:
    /// as they stream in when [`ChatRequest::stream`] is set, else all at
    /// once when the reply is complete. The returned reply is the same either way.
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError>;
}

#[async_trait]
impl<C: Client + ?Sized> Client for Arc<C> {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        (**self).chat_streaming(req, on_delta).await
    }
}

#[async_trait]
impl<C: Client + ?Sized> Client for Box<C> {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        (**self).chat_streaming(req, on_delta).await
    }
}

/// Connection settings of [`OpenAiClient`] and [`AnthropicClient`].
#[derive(Clone)]
pub struct ClientOptions {
    /// The API's base URL; `None`: the provider's `*_BASE_URL` variable, else its public API.
    pub base_url: Option<String>,
    /// The API key; `None`: the provider's `*_API_KEY` variable.
    pub api_key: Option<String>,
    /// The most one HTTP exchange may take, streamed body included (default 10 minutes).
    pub timeout: Duration,
    /// The most connecting may take (default 10 seconds).
    pub connect_timeout: Duration,
    /// Extra headers sent with every request (organisation ids, proxies' auth, …).
    pub headers: Vec<(String, String)>,
    /// Prices for [`ChatResponse::cost_usd`] (default [`PriceTable::builtin`]).
    pub prices: Arc<PriceTable>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            headers: Vec::new(),
            prices: Arc::new(PriceTable::builtin()),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// The base URL without a trailing `/`.
    fn resolve_base_url(&self, env_var: &str, default: &str) -> String {
        let url = self
            .base_url
            .clone()
            .or_else(|| std::env::var(env_var).ok().filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| default.to_owned());
        url.trim().trim_end_matches('/').to_owned()
    }

    fn resolve_api_key(&self, env_var: &str) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| std::env::var(env_var).ok())
            .filter(|key| !key.trim().is_empty())
    }

    /// Base URL and key of a provider; a key is required only by its official
    /// endpoint (a local vLLM or SGLang server needs none).
    fn resolve_endpoint(
        &self,
        provider: &'static str,
        key_env: &'static str,
        url_env: &str,
        default_url: &str,
    ) -> Result<(String, Option<String>), LlmError> {
        let base_url = self.resolve_base_url(url_env, default_url);
        let api_key = self.resolve_api_key(key_env);
        if api_key.is_none() && base_url == default_url {
            return Err(LlmError::MissingApiKey {
                provider,
                env_var: key_env,
            });
        }
        Ok((base_url, api_key))
    }
}

/// Which wire protocol a [`LlmConfig`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI chat completions ([`OpenAiClient`]).
    OpenAi,
    /// Anthropic Messages ([`AnthropicClient`]).
    Anthropic,
}

impl FromStr for Provider {
    type Err = String;

    /// `openai` (also `vllm`, `sglang`, `openai-compatible`) or `anthropic`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "openai" | "vllm" | "sglang" | "openai-compatible" | "hosted_vllm" => Ok(Self::OpenAi),
            "anthropic" | "claude" => Ok(Self::Anthropic),
            other => Err(format!(
                "unknown provider {other:?}: use openai (also for vLLM/SGLang) or anthropic"
            )),
        }
    }
}

/// Everything needed to build the usual client stack: provider client,
/// retries, record/replay cache.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The wire protocol.
    pub provider: Provider,
    /// Connection settings.
    pub options: ClientOptions,
    /// Retries (default [`RetryPolicy::default`]).
    pub retry: RetryPolicy,
    /// The record/replay directory; required unless `cache_mode` is off.
    pub cache_dir: Option<PathBuf>,
    /// The record/replay mode.
    pub cache_mode: CacheMode,
    /// Anthropic only: see [`AnthropicClient::with_prompt_caching`].
    pub prompt_caching: bool,
}

impl LlmConfig {
    /// Defaults for `provider`: key and base URL from the environment,
    /// default retries, no cache.
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            options: ClientOptions::default(),
            retry: RetryPolicy::default(),
            cache_dir: None,
            cache_mode: CacheMode::Off,
            prompt_caching: false,
        }
    }

    /// Sets the base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.options.base_url = Some(url.into());
        self
    }

    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.options.api_key = Some(key.into());
        self
    }

    /// Sets the per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the record/replay cache.
    pub fn cache(mut self, dir: impl Into<PathBuf>, mode: CacheMode) -> Self {
        self.cache_dir = Some(dir.into());
        self.cache_mode = mode;
        self
    }

    /// `CachingClient(RetryingClient(provider client))`: a cache hit asks no
    /// server and waits for no retry.
    pub fn build(&self) -> Result<Arc<dyn Client>, LlmError> {
        let client: Box<dyn Client> = match self.provider {
            Provider::OpenAi => Box::new(OpenAiClient::new(self.options.clone())?),
            Provider::Anthropic => Box::new(
                AnthropicClient::new(self.options.clone())?
                    .with_prompt_caching(self.prompt_caching),
            ),
        };
        let client = RetryingClient::new(client, self.retry.clone());
        if self.cache_mode == CacheMode::Off {
            return Ok(Arc::new(client));
        }
        let Some(dir) = &self.cache_dir else {
            return Err(LlmError::InvalidRequest(format!(
                "cache mode {} needs a cache directory",
                self.cache_mode
            )));
        };
        Ok(Arc::new(CachingClient::new(
            client,
            ResponseCache::new(dir),
            self.cache_mode,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_and_caching_needs_a_directory() {
        assert_eq!("vLLM".parse::<Provider>(), Ok(Provider::OpenAi));
        assert_eq!("anthropic".parse::<Provider>(), Ok(Provider::Anthropic));
        assert!("gemini".parse::<Provider>().is_err());

        let mut config = LlmConfig::new(Provider::Anthropic).base_url("http://127.0.0.1:1");
        config.cache_mode = CacheMode::Replay;
        let error = config.build().err().expect("no cache directory");
        assert!(
            error.to_string().contains("needs a cache directory"),
            "{error}"
        );
        assert!(config.cache("/tmp/x", CacheMode::Replay).build().is_ok());
    }

    #[test]
    fn debug_output_hides_the_key() {
        let options = ClientOptions {
            api_key: Some("sk-secret".into()),
            ..ClientOptions::default()
        };
        let text = format!("{options:?}");
        assert!(
            !text.contains("sk-secret") && text.contains("<redacted>"),
            "{text}"
        );
    }
}
