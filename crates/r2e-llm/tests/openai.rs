//! The OpenAI-compatible client against the scripted server: the exact
//! requests sent, replies, tool calls, logprobs and `p_yes`, streaming.

use r2e_llm::testing::{Reply, ScriptedServer, Turn, token};
use r2e_llm::{
    ChatRequest, Client, Delta, FinishReason, LlmError, Message, OpenAiClient, ToolCall,
    ToolChoice, ToolSpec, p_yes, p_yes_at,
};
use serde_json::json;

fn tools() -> Vec<ToolSpec> {
    let schemas = json!([{
        "type": "function",
        "function": {
            "name": "execute_bash",
            "description": "Run a command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
        },
    }]);
    ToolSpec::list_from_json(&schemas).expect("schemas")
}

#[tokio::test]
async fn plain_reply_and_the_exact_request() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("Hello there").with_usage(12, 3));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new(
        "Qwen/Qwen3-8B",
        vec![Message::system("Be brief."), Message::user("Hi")],
    )
    .temperature(0.25)
    .top_p(0.9)
    .max_tokens(64)
    .stop(vec!["</answer>".into()])
    .seed(7)
    .extra("repetition_penalty", json!(1.05));
    let reply = client.chat(&req).await.expect("reply");

    assert_eq!(reply.content, "Hello there");
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert_eq!(reply.model, "Qwen/Qwen3-8B");
    assert_eq!(
        (
            reply.usage.prompt_tokens,
            reply.usage.completion_tokens,
            reply.usage.total_tokens
        ),
        (12, 3, 15)
    );
    assert_eq!(reply.cost_usd, None, "a local model has no price");
    assert!(reply.tool_calls.is_empty() && reply.logprobs.is_none() && !reply.cached);
    assert_eq!(reply.raw["object"], "chat.completion");
    assert_eq!(reply.attempts, 1);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(sent.header("authorization"), Some("Bearer test-key"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.json(),
        json!({
            "model": "Qwen/Qwen3-8B",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "temperature": 0.25,
            "top_p": 0.9,
            "max_tokens": 64,
            "stop": ["</answer>"],
            "seed": 7,
            "repetition_penalty": 1.05,
        })
    );
}

#[tokio::test]
async fn tool_calls_round_trip_through_the_history() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(
        Turn::text("Let me look.")
            .with_tool_call("execute_bash", r#"{"cmd": "ls"}"#)
            .with_tool_call("execute_bash", r#"{"cmd": "pwd"}"#),
    );
    server.push(Turn::text("Done."));
    let client = server.openai_client().expect("client");
    let mut req = ChatRequest::new("gpt-4o", vec![Message::user("List files")])
        .tools(tools())
        .tool_choice(ToolChoice::Auto);
    let first = client.chat(&req).await.expect("first");

    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    assert_eq!(first.content, "Let me look.");
    assert_eq!(
        first.tool_calls,
        vec![
            ToolCall::new("call_1", "execute_bash", r#"{"cmd": "ls"}"#),
            ToolCall::new("call_2", "execute_bash", r#"{"cmd": "pwd"}"#),
        ]
    );
    let args = first.tool_calls[0].parse_arguments().expect("arguments");
    assert_eq!(args["cmd"], "ls");

    req.messages.push(first.to_message());
    req.messages.push(Message::tool("call_1", "a.py\nb.py"));
    req.messages.push(Message::tool("call_2", "/testbed"));
    let second = client.chat(&req).await.expect("second");
    assert_eq!(second.content, "Done.");

    let bodies: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies[0]["tools"],
        json!([{"type": "function", "function": {
            "name": "execute_bash",
            "description": "Run a command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
        }}])
    );
    assert_eq!(bodies[0]["tool_choice"], "auto");
    assert_eq!(
        bodies[1]["messages"],
        json!([
            {"role": "user", "content": "List files"},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "execute_bash", "arguments": "{\"cmd\": \"ls\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "execute_bash", "arguments": "{\"cmd\": \"pwd\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.py\nb.py"},
            {"role": "tool", "tool_call_id": "call_2", "content": "/testbed"},
        ])
    );
}

#[tokio::test]
async fn malformed_tool_arguments_are_kept_and_reported() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::tool_call("execute_bash", r#"{"cmd": "ls"#));
    server.push(Turn::tool_call("execute_bash", r#"["ls"]"#));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("m", vec![Message::user("go")]).tools(tools());

    let reply = client
        .chat(&req)
        .await
        .expect("a malformed call is still a reply");
    assert_eq!(reply.tool_calls[0].arguments, r#"{"cmd": "ls"#);
    let error = reply.tool_calls[0]
        .parse_arguments()
        .expect_err("malformed");
    assert!(matches!(error, LlmError::ToolArguments { .. }));
    let text = error.to_string();
    assert!(
        text.contains("execute_bash") && text.contains("invalid JSON"),
        "{text}"
    );

    let reply = client.chat(&req).await.expect("reply");
    let text = reply.tool_calls[0]
        .parse_arguments()
        .expect_err("not an object")
        .to_string();
    assert!(
        text.contains("expected a JSON object, got an array"),
        "{text}"
    );
}

#[tokio::test]
async fn logprobs_are_parsed_and_scored() {
    let server = ScriptedServer::start().await.expect("server");
    let answer = vec![
        token("<judgement>", -0.01, &[("<judgement>", -0.01), ("<", -5.0)]),
        token(
            "YES",
            -0.2231,
            &[("YES", -0.2231), ("NO", -1.6094), (" Yes", -4.0)],
        ),
        token(
            "</judgement>",
            -0.001,
            &[("</judgement>", -0.001), ("NO", -9.0)],
        ),
    ];
    server.push(Turn::text("<judgement>YES</judgement>").with_logprobs(answer.clone()));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("verifier", vec![Message::user("Is the patch right?")])
        .temperature(0.0)
        .logprobs(2);
    let reply = client.chat(&req).await.expect("reply");

    let sent = server.requests()[0].json();
    assert_eq!(
        (sent["logprobs"].clone(), sent["top_logprobs"].clone()),
        (json!(true), json!(2))
    );
    let logprobs = reply.logprobs.as_ref().expect("logprobs");
    assert_eq!(logprobs.len(), 3);
    assert_eq!(logprobs[1].token, "YES");
    assert_eq!(logprobs[1].top_logprobs.len(), 2, "cut to top_logprobs = 2");
    assert!((logprobs[1].logprob + 0.2231).abs() < 1e-12);

    // Position 1 is the last token that is itself a label; P(YES) = 0.8 / (0.8 + 0.2).
    let score = p_yes(&reply, "YES", "NO").expect("score");
    assert!((score - 0.8).abs() < 1e-3, "{score}");
    assert_eq!(p_yes_at(&reply, 1, "yes", "no").expect("score"), score);
}

#[tokio::test]
async fn p_yes_matches_case_and_spaces_and_falls_back_to_alternatives() {
    let server = ScriptedServer::start().await.expect("server");
    // One generated token that is neither label: read its alternatives.
    server.push(Turn::text("Maybe").with_logprobs(vec![token(
        "Maybe",
        -0.1,
        &[
            ("Maybe", -0.1),
            (" yes", -2.0),
            ("Yes", -2.0),
            (" NO", -3.0),
        ],
    )]));
    // Asked for logprobs, but the server returns none.
    server.push(Turn::text("YES"));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("verifier", vec![Message::user("?")]).logprobs(5);

    let reply = client.chat(&req).await.expect("reply");
    let (yes, no) = (2.0 * (-2.0f64).exp(), (-3.0f64).exp());
    let score = p_yes(&reply, "YES", "NO").expect("score");
    assert!((score - yes / (yes + no)).abs() < 1e-9, "{score}");

    let reply = client.chat(&req).await.expect("reply");
    let error = p_yes(&reply, "YES", "NO").expect_err("no logprobs");
    assert!(matches!(error, LlmError::NoLogprobs { .. }));
    assert!(error.to_string().contains("--max-logprobs"), "{error}");

    let mut unrelated = reply.clone();
    unrelated.logprobs = Some(vec![token("Hmm", -0.1, &[("Hmm", -0.1)])]);
    let error = p_yes(&unrelated, "YES", "NO").expect_err("no label");
    assert!(matches!(error, LlmError::NoAnswerToken { .. }), "{error}");
}

#[tokio::test]
async fn streaming_assembles_text_tool_calls_reasoning_and_usage() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(
        Turn::text("I will run the tests now.")
            .with_reasoning("The bug is in parse().")
            .with_tool_call(
                "execute_bash",
                r#"{"cmd": "pytest -x tests/test_parse.py"}"#,
            )
            .with_usage(100, 20),
    );
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("gpt-4o-mini", vec![Message::user("fix it")])
        .tools(tools())
        .stream(true);
    let mut text = String::new();
    let mut arguments = String::new();
    let mut pieces = 0;
    let reply = client
        .chat_streaming(&req, &mut |delta| {
            pieces += 1;
            match delta {
                Delta::Text(t) => text.push_str(t),
                Delta::ToolCall { arguments: a, .. } => arguments.push_str(a),
                _ => {}
            }
        })
        .await
        .expect("reply");

    assert_eq!(reply.content, "I will run the tests now.");
    assert_eq!(text, reply.content);
    assert!(pieces > 10, "streamed in pieces: {pieces}");
    assert_eq!(reply.reasoning.as_deref(), Some("The bug is in parse()."));
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].id, "call_1");
    assert_eq!(
        reply.tool_calls[0].arguments,
        r#"{"cmd": "pytest -x tests/test_parse.py"}"#
    );
    assert_eq!(arguments, reply.tool_calls[0].arguments);
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls);
    assert_eq!(reply.usage.total_tokens, 120);
    let cost = reply.cost_usd.expect("gpt-4o-mini has a price");
    assert!(
        (cost - (100.0 * 0.15 + 20.0 * 0.6) / 1e6).abs() < 1e-15,
        "{cost}"
    );
    assert!(reply.raw.as_array().is_some_and(|events| events.len() > 10));

    let sent = server.requests()[0].json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn streaming_logprobs_arrive_per_token() {
    let server = ScriptedServer::start().await.expect("server");
    let tokens = vec![
        token("NO", -0.5, &[("NO", -0.5), ("YES", -1.0)]),
        token(".", -0.01, &[(".", -0.01)]),
    ];
    server.push(Turn::text("NO.").with_logprobs(tokens));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("verifier", vec![Message::user("?")])
        .logprobs(3)
        .stream(true);
    let reply = client.chat(&req).await.expect("reply");
    assert_eq!(reply.content, "NO.");
    assert_eq!(reply.logprobs.as_ref().map(Vec::len), Some(2));
    let (yes, no) = ((-1.0f64).exp(), (-0.5f64).exp());
    let score = p_yes(&reply, "YES", "NO").expect("score");
    assert!((score - yes / (yes + no)).abs() < 1e-9);
}

/// llama.cpp's chatml-function-calling format reads a missing tool_choice as
/// `none` and hides the tools from the model: tools always go out with one.
#[tokio::test]
async fn tools_without_a_choice_are_sent_with_auto() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("ok"));
    server.push(Turn::text("ok"));
    let client = server.openai_client().expect("client");
    let with_tools = ChatRequest::new("smollm2", vec![Message::user("hi")]).tools(tools());
    client.chat(&with_tools).await.expect("reply");
    let without = ChatRequest::new("smollm2", vec![Message::user("hi")]);
    client.chat(&without).await.expect("reply");
    let bodies: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["tool_choice"], "auto");
    assert!(bodies[1].get("tool_choice").is_none(), "{}", bodies[1]);
    assert!(bodies[1].get("tools").is_none(), "{}", bodies[1]);
}

/// An assistant turn with only tool calls is sent with empty text, not null,
/// which llama.cpp's server refuses (HTTP 500, "Input should be a valid string").
#[tokio::test]
async fn a_turn_with_only_tool_calls_goes_out_with_empty_text() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("ok"));
    let client = server.openai_client().expect("client");
    let call = ToolCall::new("call_1", "execute_bash", r#"{"cmd": "ls"}"#);
    let req = ChatRequest::new(
        "smollm2",
        vec![
            Message::user("List files"),
            Message::assistant_with_tool_calls("", vec![call]),
            Message::tool("call_1", "a.py"),
        ],
    )
    .tools(tools());
    client.chat(&req).await.expect("reply");
    let sent = server.requests()[0].json();
    assert_eq!(sent["messages"][1]["content"], "", "{sent}");
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "call_1");
}

#[tokio::test]
async fn reasoning_models_get_max_completion_tokens_and_a_tool_choice() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("ok"));
    let client = server.openai_client().expect("client");
    let req = ChatRequest::new("o3-mini", vec![Message::user("hi")])
        .max_tokens(100)
        .tools(tools())
        .tool_choice(ToolChoice::Tool("execute_bash".into()));
    client.chat(&req).await.expect("reply");
    let sent = server.requests()[0].json();
    assert_eq!(sent["max_completion_tokens"], 100);
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "execute_bash"}})
    );
}

#[tokio::test]
async fn keys_and_base_urls() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("ok"));
    // A local server needs no key: no Authorization header is sent.
    let options = r2e_llm::ClientOptions {
        base_url: Some(format!("{}/", server.openai_base_url())),
        api_key: Some(String::new()),
        ..Default::default()
    };
    let client = OpenAiClient::new(options).expect("client");
    assert_eq!(
        client.url(),
        format!("{}/chat/completions", server.openai_base_url())
    );
    client
        .chat(&ChatRequest::new("m", vec![Message::user("hi")]))
        .await
        .expect("reply");
    assert_eq!(server.requests()[0].header("authorization"), None);

    // The public API does need one.
    let options = r2e_llm::ClientOptions {
        base_url: Some("https://api.openai.com/v1".into()),
        api_key: Some(" ".into()),
        ..Default::default()
    };
    let error = OpenAiClient::new(options).err().expect("missing key");
    assert!(error.to_string().contains("set OPENAI_API_KEY"), "{error}");

    // A scripted 401 names the key variable.
    server.push(Reply::status(401, "Incorrect API key provided"));
    let client = server.openai_client().expect("client");
    let error = client
        .chat(&ChatRequest::new("m", vec![]))
        .await
        .expect_err("401");
    let text = error.to_string();
    assert!(
        text.contains("HTTP 401")
            && text.contains("Incorrect API key")
            && text.contains("OPENAI_API_KEY"),
        "{text}"
    );
}
