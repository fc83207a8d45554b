//! Helpers shared by the integration tests.

use r2e_llm::testing::ScriptedServer;
use r2e_llm::{ChatRequest, ClientOptions, Message, RetryPolicy};
use std::time::Duration;

/// A one-message request for `model`.
pub fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest::new(model, vec![Message::user(text)])
}

/// Retries with millisecond backoff, so tests stay fast.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

/// Options for `server`'s OpenAI endpoint with key `test-key` and `timeout`.
pub fn openai_options(server: &ScriptedServer, timeout: Duration) -> ClientOptions {
    ClientOptions {
        base_url: Some(server.openai_base_url()),
        api_key: Some("test-key".into()),
        timeout,
        ..ClientOptions::default()
    }
}
