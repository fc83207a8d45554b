//! Record/replay against the scripted server, and cost accounting over an
//! episode.

mod common;

use common::{ask, fast_retry, openai_options};
use r2e_llm::testing::{ScriptedServer, Turn};
use r2e_llm::{
    CacheMode, CachingClient, ChatRequest, Client, LlmConfig, LlmError, OpenAiClient, Price,
    PriceTable, Provider, ResponseCache, Usage, request_key,
};
use std::sync::Arc;
use std::time::Duration;

fn cached_client(
    server: &ScriptedServer,
    dir: &std::path::Path,
    mode: CacheMode,
) -> CachingClient<OpenAiClient> {
    let client =
        OpenAiClient::new(openai_options(server, Duration::from_secs(10))).expect("client");
    CachingClient::new(client, ResponseCache::new(dir), mode)
}

#[tokio::test]
async fn record_then_replay_without_the_server() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(
        Turn::text("recorded")
            .with_tool_call("finish", "{}")
            .with_usage(50, 5),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let req = ask("gpt-4o", "hi").temperature(0.0).cache_salt("run-1");

    let recorded = cached_client(&server, dir.path(), CacheMode::Record)
        .chat(&req)
        .await
        .expect("record");
    assert!(!recorded.cached);
    let file = ResponseCache::new(dir.path()).path(&request_key(&req));
    assert!(
        file.starts_with(dir.path().join(&request_key(&req)[..2])),
        "{}",
        file.display()
    );
    let entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("entry")).expect("json");
    assert_eq!(entry["key"], request_key(&req));
    assert_eq!(entry["request"]["messages"][0]["content"], "hi");
    assert_eq!(entry["request"]["cache_salt"], "run-1");
    assert_eq!(entry["response"]["content"], "recorded");

    // Replay: the server is gone, the reply is the same.
    let url = server.openai_base_url();
    drop(server);
    let replayer = LlmConfig::new(Provider::OpenAi)
        .base_url(url)
        .retry(fast_retry(1))
        .cache(dir.path(), CacheMode::Replay)
        .build()
        .expect("client");
    let replayed = replayer
        .chat(&req.clone().stream(true))
        .await
        .expect("replay");
    assert!(replayed.cached);
    assert_eq!(
        serde_json::to_value(ReplyView::of(&replayed)).expect("json"),
        serde_json::to_value(ReplyView::of(&recorded)).expect("json")
    );

    // A changed request misses, and says why.
    let error = replayer
        .chat(&req.clone().temperature(0.2))
        .await
        .expect_err("miss");
    assert!(matches!(error, LlmError::CacheMiss { .. }), "{error}");
    assert!(
        error.to_string().contains("record it with cache mode"),
        "{error}"
    );
    let error = replayer
        .chat(&req.clone().cache_salt("run-2"))
        .await
        .expect_err("miss");
    assert!(matches!(error, LlmError::CacheMiss { .. }), "{error}");
}

/// What must be identical between a recorded and a replayed reply.
#[derive(serde::Serialize)]
struct ReplyView<'a> {
    content: &'a str,
    tool_calls: &'a [r2e_llm::ToolCall],
    finish_reason: &'a r2e_llm::FinishReason,
    usage: &'a Usage,
    cost_usd: Option<f64>,
    raw: &'a serde_json::Value,
}

impl<'a> ReplyView<'a> {
    fn of(reply: &'a r2e_llm::ChatResponse) -> Self {
        Self {
            content: &reply.content,
            tool_calls: &reply.tool_calls,
            finish_reason: &reply.finish_reason,
            usage: &reply.usage,
            cost_usd: reply.cost_usd,
            raw: &reply.raw,
        }
    }
}

#[tokio::test]
async fn read_write_asks_only_for_what_is_missing() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("one"));
    server.push(Turn::text("two"));
    let dir = tempfile::tempdir().expect("tempdir");
    let client = cached_client(&server, dir.path(), CacheMode::ReadWrite);
    assert_eq!(
        client.chat(&ask("m", "first")).await.expect("1").content,
        "one"
    );
    assert_eq!(
        client.chat(&ask("m", "first")).await.expect("2").content,
        "one"
    );
    assert_eq!(
        client.chat(&ask("m", "second")).await.expect("3").content,
        "two"
    );
    assert_eq!(server.request_count(), 2);

    // Record mode asks again and overwrites.
    server.push(Turn::text("uno"));
    let recorder = cached_client(&server, dir.path(), CacheMode::Record);
    assert_eq!(
        recorder.chat(&ask("m", "first")).await.expect("4").content,
        "uno"
    );
    assert_eq!(
        client.chat(&ask("m", "first")).await.expect("5").content,
        "uno"
    );
    assert_eq!(server.request_count(), 3);

    // Off neither reads nor writes.
    server.push(Turn::text("fresh"));
    let off = cached_client(&server, dir.path(), CacheMode::Off);
    assert_eq!(
        off.chat(&ask("m", "first")).await.expect("6").content,
        "fresh"
    );
    assert_eq!(
        client.chat(&ask("m", "first")).await.expect("7").content,
        "uno"
    );
}

#[tokio::test]
async fn an_unreadable_entry_is_a_cache_error() {
    let server = ScriptedServer::start().await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let req = ask("m", "hi");
    let file = ResponseCache::new(dir.path()).path(&request_key(&req));
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, "{truncated").expect("write");
    let error = cached_client(&server, dir.path(), CacheMode::Replay)
        .chat(&req)
        .await
        .expect_err("corrupt");
    assert!(matches!(error, LlmError::Cache { .. }), "{error}");
    assert!(error.to_string().contains("delete it"), "{error}");
}

#[tokio::test]
async fn cost_per_call_and_per_episode_with_an_overridden_table() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("a").with_usage(1_000, 100));
    server.push(Turn::text("b").with_usage(2_000, 300));
    server.push(Turn::text("c").with_usage(10, 10));

    let mut prices = PriceTable::builtin();
    prices.insert("my-finetune", Price::new(1.0, 2.0));
    prices
        .merge_json(r#"{"gpt-4o": {"input": 5.0, "output": 20.0}}"#)
        .expect("prices");
    let options = r2e_llm::ClientOptions {
        prices: Arc::new(prices),
        ..openai_options(&server, Duration::from_secs(10))
    };
    let client = OpenAiClient::new(options).expect("client");

    let mut total = Usage::default();
    let mut cost = 0.0;
    for req in [
        ask("my-finetune-v2", "a"),
        ChatRequest::new("gpt-4o-2024-11-20", vec![]),
    ] {
        let reply = client.chat(&req).await.expect("reply");
        total += reply.usage;
        cost += reply.cost_usd.expect("priced");
    }
    assert_eq!(
        (
            total.prompt_tokens,
            total.completion_tokens,
            total.total_tokens
        ),
        (3_000, 400, 3_400)
    );
    let expected = (1_000.0 * 1.0 + 100.0 * 2.0 + 2_000.0 * 5.0 + 300.0 * 20.0) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");

    let reply = client
        .chat(&ask("unknown-model", "c"))
        .await
        .expect("reply");
    assert_eq!(reply.cost_usd, None);
}
