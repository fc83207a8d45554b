//! [`RetryingClient`]: retries a [`Client`] on errors that another attempt
//! may cure ([`LlmError::is_retryable`]: HTTP 408/409/425/429/5xx, timeouts,
//! connection failures), with exponential backoff and jitter, honouring the
//! server's `Retry-After`, for a bounded number of attempts.
//!
//! The wait before attempt `n + 1` is the server's `Retry-After` /
//! `retry-after-ms` when given (capped at [`RetryPolicy::max_retry_after`]),
//! else `min(initial_backoff · multiplier^(n-1), max_backoff)` shortened by a
//! random fraction of up to [`RetryPolicy::jitter`], so that many workers hit
//! by one rate limit do not come back in lockstep.

use crate::Client;
use crate::error::LlmError;
use crate::types::{ChatRequest, ChatResponse, Delta, OnDelta};
use async_trait::async_trait;
use std::time::Duration;

/// When and how often to retry.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub initial_backoff: Duration,
    /// The longest computed wait.
    pub max_backoff: Duration,
    /// Factor between successive waits.
    pub multiplier: f64,
    /// Up to this fraction of each computed wait is taken off at random (0–1).
    pub jitter: f64,
    /// The longest `Retry-After` honoured; longer requests are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, waits of about 1 s, 2 s, 4 s, 8 s, 16 s (at most 60 s),
    /// half of each jittered; `Retry-After` honoured up to 5 minutes.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.5,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after failed attempt `attempt` (1-based) with `error`.
    pub fn delay(&self, attempt: u32, error: &LlmError) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait.min(self.max_retry_after);
        }
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let backoff = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        let backoff = backoff.min(self.max_backoff.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * fastrand::f64();
        Duration::from_secs_f64((backoff * (1.0 - jitter)).max(0.0))
    }
}

/// A [`Client`] that retries its inner client (see the module docs).
///
/// A streaming caller receives [`Delta::Retry`] before each new attempt:
/// whatever pieces it got from the failed attempt are void.
pub struct RetryingClient<C> {
    inner: C,
    policy: RetryPolicy,
}

impl<C: Client> RetryingClient<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

#[async_trait]
impl<C: Client> Client for RetryingClient<C> {
    async fn chat_streaming(
        &self,
        req: &ChatRequest,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatResponse, LlmError> {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.inner.chat_streaming(req, on_delta).await {
                Ok(mut response) => {
                    response.attempts = attempt;
                    return Ok(response);
                }
                Err(error) if error.is_retryable() && attempt < max_attempts => {
                    let delay = self.policy.delay(attempt, &error);
                    tracing::warn!(model = %req.model, attempt, ?delay, %error, "LLM call failed; retrying");
                    on_delta(Delta::Retry {
                        attempt,
                        error: &error,
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) if error.is_retryable() && max_attempts > 1 => {
                    return Err(LlmError::RetriesExhausted {
                        attempts: attempt,
                        last: Box::new(error),
                    });
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(retry_after: Option<Duration>) -> LlmError {
        LlmError::Http {
            provider: "openai",
            url: "http://x".into(),
            status: 503,
            message: "busy".into(),
            retry_after,
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_downwards() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        for (attempt, full) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (30, 5.0)] {
            let wait = policy.delay(attempt, &server_error(None)).as_secs_f64();
            assert!(
                wait <= full && wait >= full / 2.0,
                "attempt {attempt}: {wait}"
            );
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let wait = |secs| policy.delay(1, &server_error(Some(Duration::from_secs(secs))));
        assert_eq!(wait(3), Duration::from_secs(3));
        assert_eq!(wait(3600), Duration::from_secs(10));
    }
}
