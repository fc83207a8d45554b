//! The model options shared by commands that call an LLM (`r2e run`,
//! `r2e quickstart --model`): which server, which model, retries and the
//! record/replay cache.

use clap::Args;
use r2e_llm::{CacheMode, Client, LlmConfig, Provider};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to reach the model.
#[derive(Debug, Clone, Args)]
pub struct LlmArgs {
    /// Model name as the server knows it (e.g. gpt-4o, claude-sonnet-4-5,
    /// R2E-Gym/R2EGym-32B-Agent on a vLLM server).
    #[arg(long)]
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible server (vLLM, SGLang, …), e.g.
    /// http://127.0.0.1:8000/v1. Default: the provider's public API
    /// (or $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Wire protocol: openai (also vLLM, SGLang) or anthropic.
    #[arg(long, default_value = "openai")]
    pub provider: Provider,
    /// API key (default: $OPENAI_API_KEY or $ANTHROPIC_API_KEY; local servers need none).
    #[arg(long, env = "R2E_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seconds one model call may take before it is retried.
    #[arg(long, default_value_t = 600, value_parser = super::positive::<u64>)]
    pub llm_timeout: u64,
    /// Record model replies here, keyed by request, so that reruns are
    /// deterministic and free (see --cache-mode).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// off, record, replay (never call the server) or read-write.
    #[arg(long, default_value = "read-write")]
    pub cache_mode: CacheMode,
}

impl LlmArgs {
    /// The model name and a client with retries (and the cache when asked).
    pub fn client(&self) -> anyhow::Result<Option<(String, Arc<dyn Client>)>> {
        let Some(model) = &self.model else {
            return Ok(None);
        };
        let mut config =
            LlmConfig::new(self.provider).timeout(Duration::from_secs(self.llm_timeout));
        if let Some(url) = &self.base_url {
            config = config.base_url(url);
        }
        if let Some(key) = &self.api_key {
            config = config.api_key(key);
        }
        if let Some(dir) = &self.cache_dir {
            config = config.cache(dir, self.cache_mode);
        }
        Ok(Some((model.clone(), config.build()?)))
    }
}
