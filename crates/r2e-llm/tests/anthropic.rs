//! The Anthropic client against the scripted server: headers, message
//! conversion, `tool_use` blocks, streaming, usage with prompt caching.

use r2e_llm::testing::{ScriptedServer, Turn};
use r2e_llm::{
    AnthropicClient, ChatRequest, Client, ClientOptions, Delta, FinishReason, LlmError, Message,
    ToolCall, ToolChoice, ToolSpec,
};
use serde_json::json;

fn editor() -> ToolSpec {
    ToolSpec::new(
        "file_editor",
        "View and edit files",
        json!({"type": "object", "properties": {"command": {"type": "string"}, "path": {"type": "string"}}}),
    )
}

#[tokio::test]
async fn plain_reply_headers_and_body() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("Hi!").with_usage(20, 2));
    let client = server.anthropic_client().expect("client");
    let req = ChatRequest::new(
        "claude-sonnet-4-20250514",
        vec![
            Message::system("You are terse."),
            Message::system("Answer in English."),
            Message::user("Hello"),
        ],
    )
    .temperature(0.5)
    .stop(vec!["STOP".into()])
    .seed(3);
    let reply = client.chat(&req).await.expect("reply");

    assert_eq!(reply.content, "Hi!");
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert_eq!(reply.id.as_deref(), Some("msg_scripted"));
    assert_eq!(
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (20, 2)
    );
    let cost = reply.cost_usd.expect("claude-sonnet-4 has a price");
    assert!((cost - (20.0 * 3.0 + 2.0 * 15.0) / 1e6).abs() < 1e-15);

    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("test-key"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.json(),
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 4096,
            "system": "You are terse.\n\nAnswer in English.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
            "temperature": 0.5,
            "stop_sequences": ["STOP"],
        })
    );
}

#[tokio::test]
async fn tool_use_blocks_and_tool_results() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(
        Turn::text("Viewing both.")
            .with_tool_call("file_editor", r#"{"command": "view", "path": "/a.py"}"#)
            .with_tool_call("file_editor", r#"{"command": "view", "path": "/b.py"}"#),
    );
    server.push(Turn::text("Both are fine."));
    let client = server.anthropic_client().expect("client");
    let mut req = ChatRequest::new(
        "claude-3-5-haiku-latest",
        vec![Message::user("Check a.py and b.py")],
    )
    .tools(vec![editor()])
    .tool_choice(ToolChoice::Required)
    .max_tokens(1000);
    let first = client.chat(&req).await.expect("first");

    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.content, "Viewing both.");
    assert_eq!(first.tool_calls[0].id, "toolu_1");
    assert_eq!(first.tool_calls[0].name, "file_editor");
    let args = first.tool_calls[1].parse_arguments().expect("arguments");
    assert_eq!(args["path"], "/b.py");

    req.messages.push(first.to_message());
    req.messages.push(Message::tool("toolu_1", "print('a')"));
    req.messages.push(Message::tool("toolu_2", ""));
    req.messages.push(Message::user("Anything else?"));
    client.chat(&req).await.expect("second");

    let bodies: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies[0]["tools"],
        json!([{"name": "file_editor", "description": "View and edit files", "input_schema": editor().parameters}])
    );
    assert_eq!(bodies[0]["tool_choice"], json!({"type": "any"}));
    assert_eq!(
        bodies[1]["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Check a.py and b.py"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Viewing both."},
                {"type": "tool_use", "id": "toolu_1", "name": "file_editor", "input": {"command": "view", "path": "/a.py"}},
                {"type": "tool_use", "id": "toolu_2", "name": "file_editor", "input": {"command": "view", "path": "/b.py"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "print('a')"},
                {"type": "tool_result", "tool_use_id": "toolu_2"},
                {"type": "text", "text": "Anything else?"},
            ]},
        ])
    );
}

#[tokio::test]
async fn streaming_text_thinking_and_tool_use() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(
        Turn::text("Running the tests.")
            .with_reasoning("Probably an off-by-one.")
            .with_tool_call(
                "file_editor",
                r#"{"command": "view", "path": "/testbed/x.py"}"#,
            )
            .with_usage(300, 40),
    );
    let client = server.anthropic_client().expect("client");
    let req = ChatRequest::new("claude-sonnet-4-5", vec![Message::user("fix")])
        .tools(vec![editor()])
        .stream(true);
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_pieces = 0;
    let reply = client
        .chat_streaming(&req, &mut |delta| match delta {
            Delta::Text(t) => text.push_str(t),
            Delta::Reasoning(t) => reasoning.push_str(t),
            Delta::ToolCall { .. } => tool_pieces += 1,
            _ => {}
        })
        .await
        .expect("reply");

    assert_eq!(reply.content, "Running the tests.");
    assert_eq!(text, reply.content);
    assert_eq!(reply.reasoning.as_deref(), Some("Probably an off-by-one."));
    assert_eq!(reasoning, "Probably an off-by-one.");
    assert_eq!(
        reply.tool_calls,
        vec![ToolCall::new(
            "toolu_1",
            "file_editor",
            r#"{"command": "view", "path": "/testbed/x.py"}"#
        )]
    );
    assert!(tool_pieces > 2, "{tool_pieces}");
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (300, 40)
    );
    assert_eq!(server.requests()[0].json()["stream"], true);
}

#[tokio::test]
async fn malformed_streamed_tool_input_is_reported_on_parse() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::tool_call(
        "file_editor",
        r#"{"command": "view", "path": "#,
    ));
    server.push(Turn::tool_call("file_editor", ""));
    let client = server.anthropic_client().expect("client");
    let req = ChatRequest::new("claude-sonnet-4", vec![Message::user("go")]).stream(true);
    let reply = client.chat(&req).await.expect("reply");
    assert_eq!(
        reply.tool_calls[0].arguments,
        r#"{"command": "view", "path": "#
    );
    assert!(matches!(
        reply.tool_calls[0].parse_arguments(),
        Err(LlmError::ToolArguments { .. })
    ));
    // No input at all is the empty object.
    let reply = client.chat(&req).await.expect("reply");
    assert_eq!(reply.tool_calls[0].arguments, "{}");
}

#[tokio::test]
async fn prompt_caching_usage_and_logprobs_refusal() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(r2e_llm::testing::Reply::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "cached"}],
            "stop_reason": "max_tokens", "stop_sequence": null,
            "usage": {"input_tokens": 100, "cache_read_input_tokens": 5000, "cache_creation_input_tokens": 200, "output_tokens": 50},
        })
        .to_string()
        .into_bytes(),
    });
    let client = server
        .anthropic_client()
        .expect("client")
        .with_prompt_caching(true);
    let req = ChatRequest::new(
        "claude-sonnet-4-5",
        vec![
            Message::system("sys"),
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
        ],
    );
    let reply = client.chat(&req).await.expect("reply");
    assert_eq!(reply.finish_reason, FinishReason::Length);
    assert_eq!(reply.usage.prompt_tokens, 5300);
    assert_eq!(
        (
            reply.usage.cache_read_tokens,
            reply.usage.cache_write_tokens
        ),
        (5000, 200)
    );
    let expected = (100.0 * 3.0 + 5000.0 * 0.3 + 200.0 * 3.75 + 50.0 * 15.0) / 1e6;
    assert!((reply.cost_usd.expect("priced") - expected).abs() < 1e-12);

    let sent = server.requests()[0].json();
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(
        sent["messages"][2]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert!(
        sent["messages"][0]["content"][0]
            .get("cache_control")
            .is_none()
    );

    let error = client
        .chat(&req.clone().logprobs(5))
        .await
        .expect_err("Anthropic has no logprobs");
    assert!(matches!(error, LlmError::Unsupported { .. }), "{error}");
    assert_eq!(server.request_count(), 1, "refused before sending");
}

#[tokio::test]
async fn base_url_with_v1_and_missing_key() {
    let server = ScriptedServer::start().await.expect("server");
    let options = ClientOptions {
        base_url: Some(format!("{}/v1", server.url())),
        api_key: Some(String::new()),
        ..ClientOptions::default()
    };
    let client = AnthropicClient::new(options).expect("a local server needs no key");
    assert_eq!(client.url(), format!("{}/v1/messages", server.url()));

    let options = ClientOptions {
        base_url: Some("https://api.anthropic.com".into()),
        api_key: Some(String::new()),
        ..ClientOptions::default()
    };
    let error = AnthropicClient::new(options).err().expect("missing key");
    assert!(error.to_string().contains("ANTHROPIC_API_KEY"), "{error}");
}
