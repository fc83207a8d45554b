//! Failures against the scripted server: rate limits, server errors, hangs,
//! garbage, dropped connections, cut streams, context-length errors.

mod common;

use common::{ask, fast_retry, openai_options};
use r2e_llm::testing::{Reply, ScriptedServer, Turn};
use r2e_llm::{
    AnthropicClient, Client, ClientOptions, Delta, LlmConfig, LlmError, OpenAiClient, Provider,
    RetryPolicy, RetryingClient,
};
use std::time::{Duration, Instant};

fn retrying(
    server: &ScriptedServer,
    attempts: u32,
    timeout: Duration,
) -> RetryingClient<OpenAiClient> {
    let client = OpenAiClient::new(openai_options(server, timeout)).expect("client");
    RetryingClient::new(client, fast_retry(attempts))
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::rate_limited(1));
    server.push(Turn::text("finally"));
    let client = retrying(&server, 3, Duration::from_secs(10));
    let mut retries = Vec::new();
    let started = Instant::now();
    let reply = client
        .chat_streaming(&ask("m", "hi"), &mut |delta| {
            if let Delta::Retry {
                attempt,
                error,
                delay,
                ..
            } = delta
            {
                retries.push((attempt, error.status(), delay));
            }
        })
        .await
        .expect("reply after one retry");
    assert_eq!(reply.content, "finally");
    assert_eq!(reply.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(retries, vec![(1, Some(429), Duration::from_secs(1))]);
    assert_eq!(server.request_count(), 2);
    assert_eq!(
        server.requests()[0].json(),
        server.requests()[1].json(),
        "the same request again"
    );
}

#[tokio::test]
async fn server_errors_exhaust_the_attempts() {
    let server = ScriptedServer::start().await.expect("server");
    for _ in 0..3 {
        server.push(Reply::status(
            500,
            "The server had an error while processing your request.",
        ));
    }
    server.push(Turn::text("never reached"));
    let error = retrying(&server, 3, Duration::from_secs(10))
        .chat(&ask("m", "hi"))
        .await
        .expect_err("three 500s");
    let LlmError::RetriesExhausted { attempts, last } = &error else {
        panic!("not RetriesExhausted: {error}");
    };
    assert_eq!(*attempts, 3);
    assert_eq!(last.status(), Some(500));
    let text = error.to_string();
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert!(
        text.contains("HTTP 500") && text.contains("had an error while processing"),
        "{text}"
    );
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.remaining(), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::status(400, "Invalid value for 'temperature'"));
    let error = retrying(&server, 5, Duration::from_secs(10))
        .chat(&ask("m", "hi"))
        .await
        .expect_err("400");
    assert!(
        matches!(error, LlmError::Http { status: 400, .. }),
        "{error}"
    );
    assert!(!error.is_context_length());
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_retry_succeeds() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::Hang);
    server.push(Reply::Delayed(
        Duration::from_millis(50),
        Box::new(Turn::text("awake").into()),
    ));
    let started = Instant::now();
    let reply = retrying(&server, 2, Duration::from_millis(400))
        .chat(&ask("m", "hi"))
        .await
        .expect("second attempt");
    assert_eq!(reply.content, "awake");
    assert_eq!(reply.attempts, 2);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );

    server.push(Reply::Hang);
    let client =
        OpenAiClient::new(openai_options(&server, Duration::from_millis(300))).expect("client");
    let error = client.chat(&ask("m", "hi")).await.expect_err("timeout");
    assert!(matches!(error, LlmError::Timeout { .. }), "{error}");
    assert!(error.is_retryable());
    assert!(
        error.to_string().contains("timed out after 0.3s"),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_is_a_clear_final_error() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::garbage());
    server.push(Reply::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: br#"{"object": "list", "data": []}"#.to_vec(),
    });
    let client = retrying(&server, 3, Duration::from_secs(10));
    let error = client.chat(&ask("m", "hi")).await.expect_err("garbage");
    let LlmError::BadResponse {
        message, snippet, ..
    } = &error
    else {
        panic!("not BadResponse: {error}");
    };
    assert!(message.contains("invalid JSON"), "{message}");
    assert!(snippet.starts_with("<html>"), "{snippet}");
    assert_eq!(server.request_count(), 1, "not retried");

    let error = client.chat(&ask("m", "hi")).await.expect_err("no choices");
    assert!(error.to_string().contains("no choices[0]"), "{error}");
}

#[tokio::test]
async fn an_error_inside_a_200_body_is_an_error() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: br#"{"object": "error", "message": "model overloaded", "type": "ServiceUnavailableError", "code": 503}"#
            .to_vec(),
    });
    let client =
        OpenAiClient::new(openai_options(&server, Duration::from_secs(10))).expect("client");
    let error = client.chat(&ask("m", "hi")).await.expect_err("error body");
    assert_eq!(error.status(), Some(503));
    assert!(error.is_retryable());
}

#[tokio::test]
async fn dropped_connections_and_cut_streams_are_retried() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::Disconnect);
    server.push(Reply::CutStream {
        turn: Turn::text("a long reply that breaks off"),
        events: 3,
    });
    server.push(Turn::text("complete"));
    let client = retrying(&server, 3, Duration::from_secs(10));
    let mut seen = String::new();
    let mut errors = Vec::new();
    let reply = client
        .chat_streaming(&ask("m", "hi").stream(true), &mut |delta| match delta {
            Delta::Text(t) => seen.push_str(t),
            Delta::Retry { error, .. } => {
                errors.push(error.to_string());
                seen.clear();
            }
            _ => {}
        })
        .await
        .expect("third attempt");
    assert_eq!(reply.content, "complete");
    assert_eq!(seen, "complete");
    assert_eq!(reply.attempts, 3);
    assert_eq!(errors.len(), 2);
    assert!(
        errors[1].contains("ended before the reply was complete"),
        "{}",
        errors[1]
    );
}

#[tokio::test]
async fn context_length_is_typed_for_both_providers() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Reply::ContextLength);
    server.push(Reply::ContextLength);
    let openai = retrying(&server, 5, Duration::from_secs(10));
    let error = openai
        .chat(&ask("Qwen/Qwen3-8B", "a very long prompt"))
        .await
        .expect_err("too long");
    assert!(error.is_context_length(), "{error}");
    let LlmError::ContextLength { model, message, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(model, "Qwen/Qwen3-8B");
    assert!(
        message.contains("maximum context length is 8192"),
        "{message}"
    );
    assert!(error.to_string().contains("--max-model-len"));

    let anthropic = AnthropicClient::new(ClientOptions {
        base_url: Some(server.url()),
        api_key: Some("k".into()),
        ..ClientOptions::default()
    })
    .expect("client");
    let error = RetryingClient::new(anthropic, fast_retry(5))
        .chat(&ask("claude-sonnet-4", "long"))
        .await
        .expect_err("too long");
    assert!(error.is_context_length(), "{error}");
    assert_eq!(server.request_count(), 2, "never retried");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = LlmConfig::new(Provider::OpenAi)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry(RetryPolicy::none())
        .build()
        .expect("client");
    let error = client.chat(&ask("m", "hi")).await.expect_err("refused");
    assert!(matches!(error, LlmError::Connect { .. }), "{error}");
    assert!(
        error.to_string().contains("is the server running"),
        "{error}"
    );
}
