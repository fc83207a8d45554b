//! Full episodes of the edit agent on a real task in Docker, driven by a
//! scripted OpenAI-compatible server on 127.0.0.1 (real HTTP, real JSON,
//! tool calls): a scripted fix earns reward 1, a wrong one 0, a reply without
//! a call gets the nudge, an endless one stops at the step limit, in both
//! action formats; server errors, hangs and context-length errors.

use r2e_agent::action::CONTINUE_MSG;
use r2e_agent::{ActionFormat, AgentConfig, EditAgent, Limits};
use r2e_core::{ExitReason, Task, Trajectory};
use r2e_env::{EnvOptions, RepoEnv};
use r2e_llm::testing::{Reply, ScriptedServer, Turn};
use r2e_llm::{Client, RetryPolicy, RetryingClient};
use r2e_sandbox::docker::DockerProvider;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const FIX_OLD: &str = "def add(a, b):\n    return a - b";
const FIX_NEW: &str = "def add(a, b):\n    return a + b";
const WRONG_NEW: &str = "def add(a, b):\n    return a * b";

async fn add_task(p: &DockerProvider) -> Task {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let tasks = r2e_eval::demo::build(p, &image).await.unwrap();
    tasks
        .into_iter()
        .find(|t| t.task_id.ends_with("calc-add"))
        .unwrap()
}

/// Runs one episode of `agent` on the `add` demo task.
async fn episode(agent: &EditAgent) -> (Task, Trajectory) {
    let p = DockerProvider::connect().await.expect("a Docker daemon");
    let task = add_task(&p).await;
    let env = RepoEnv::reset(Arc::new(p.clone()), task.clone(), EnvOptions::default())
        .await
        .unwrap();
    let traj = agent.run(&env, 0).await;
    env.close().await.unwrap();
    (task, traj)
}

fn client(server: &ScriptedServer) -> Arc<dyn Client> {
    Arc::new(server.openai_client().unwrap())
}

fn call(name: &str, args: Value) -> Turn {
    Turn::tool_call(name, args.to_string())
}

fn last_message(request: &Value) -> Value {
    request["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

fn xml(tool: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!("<function={tool}>\n");
    for (k, v) in params {
        s.push_str(&format!("<parameter={k}>{v}</parameter>\n"));
    }
    s + "</function>"
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scripted_native_fix_earns_reward_one() {
    let server = ScriptedServer::start().await.unwrap();
    server.push(
        call(
            "file_editor",
            json!({"command": "view", "path": "/testbed/calc.py"}),
        )
        .with_text("Let me read the module.")
        .with_usage(1000, 20),
    );
    server.push(call(
        "file_editor",
        json!({"command": "str_replace", "path": "/testbed/calc.py", "old_str": FIX_OLD, "new_str": FIX_NEW}),
    ));
    server.push(call("finish", json!({})));
    let agent = EditAgent::new(
        client(&server),
        "scripted-model",
        AgentConfig::edit(ActionFormat::Native),
    );
    let (task, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::Submitted, "{:?}", traj.error);
    assert_eq!(traj.reward, Some(1.0));
    assert_eq!(traj.patch, task.gold_patch);
    assert_eq!(traj.steps.len(), 3);
    assert_eq!(traj.steps[0].thought, "Let me read the module.");
    assert!(traj.steps[0].observation.starts_with("Execution output of [file_editor]:\nHere's the result of running `cat -n` on the file: /testbed/calc.py:\n"), "{}", traj.steps[0].observation);
    assert_eq!(traj.steps[2].observation, "<<< Finished >>>");
    assert_eq!(traj.steps[0].usage.prompt_tokens, 1000);
    let summed: u64 = traj.steps.iter().map(|s| s.usage.prompt_tokens).sum();
    assert_eq!(traj.usage.prompt_tokens, summed);

    let requests: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(requests.len(), 3);
    let first = &requests[0];
    assert_eq!(first["model"], "scripted-model");
    assert_eq!(first["temperature"], 0.0);
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["search", "file_editor", "execute_bash", "finish"]);
    assert_eq!(first["messages"][0]["role"], "system");
    let instance = first["messages"][1]["content"].as_str().unwrap();
    assert!(instance.contains(&task.problem_statement));
    assert!(instance.ends_with("\nSteps Remaining: 40"), "{instance}");
    // The observation goes back as the tool result, with the reminder.
    let second = last_message(&requests[1]);
    assert_eq!(second["role"], "tool");
    assert_eq!(
        second["tool_call_id"],
        requests[1]["messages"][2]["tool_calls"][0]["id"]
    );
    let content = second["content"].as_str().unwrap();
    assert!(content.starts_with("Execution output of [file_editor]:"));
    assert!(content.ends_with("\nSteps Remaining: 39"), "{content}");
    // The trajectory keeps the conversation and the schemas for SFT export.
    assert_eq!(traj.messages.len(), 8);
    assert_eq!(traj.tools.len(), 4);
    assert_eq!(traj.action_format, "native");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_fix_earns_zero_and_a_reply_without_a_call_gets_the_nudge() {
    let server = ScriptedServer::start().await.unwrap();
    server.push(Turn::text(
        "I believe the bug is in add. I will fix it now.",
    ));
    server.push(call(
        "file_editor",
        json!({"command": "str_replace", "path": "/testbed/calc.py", "old_str": FIX_OLD, "new_str": WRONG_NEW}),
    ));
    server.push(call("submit", json!({})));
    let agent = EditAgent::new(
        client(&server),
        "m",
        AgentConfig::edit(ActionFormat::Native),
    );
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::Submitted, "{:?}", traj.error);
    assert_eq!(traj.reward, Some(0.0));
    assert!(traj.patch.contains("+    return a * b"), "{}", traj.patch);
    assert_eq!(traj.steps[0].action.tool, "");
    assert_eq!(traj.steps[0].observation, CONTINUE_MSG);
    let requests = server.requests();
    let nudge = last_message(&requests[1].json());
    assert_eq!(nudge["role"], "user");
    assert_eq!(
        nudge["content"].as_str().unwrap(),
        format!("{CONTINUE_MSG}\nSteps Remaining: 39")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_xml_format_parses_function_blocks_and_sends_no_tools() {
    let server = ScriptedServer::start().await.unwrap();
    server.push(Turn::text(format!(
        "First, the code.\n\n{}",
        xml(
            "search",
            &[("search_term", "def add"), ("path", "/testbed")]
        )
    )));
    server.push(Turn::text("Hmm, let me think about it without acting."));
    server.push(Turn::text(format!(
        "Fix it.\n{}\ntrailing words",
        xml(
            "file_editor",
            &[
                ("command", "str_replace"),
                ("path", "/testbed/calc.py"),
                ("old_str", FIX_OLD),
                ("new_str", FIX_NEW)
            ]
        )
    )));
    server.push(Turn::text(xml("finish", &[])));
    let agent = EditAgent::new(client(&server), "m", AgentConfig::edit(ActionFormat::Xml));
    let (task, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::Submitted, "{:?}", traj.error);
    assert_eq!(traj.reward, Some(1.0));
    assert_eq!(traj.patch, task.gold_patch);
    assert!(
        traj.steps[0]
            .observation
            .starts_with("Execution output of [search]:\nFound "),
        "{}",
        traj.steps[0].observation
    );
    assert_eq!(traj.steps[1].observation, CONTINUE_MSG);
    let requests: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    assert!(requests.iter().all(|r| r.get("tools").is_none()));
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("<function=FUNCTION_NAME>"));
    // R2E-Gym writes the action back normalised after the thought.
    let assistant = &requests[1]["messages"][2];
    assert_eq!(
        assistant["content"],
        "First, the code.\n\n<function=search>\n  <parameter=search_term>def add</parameter>\n  <parameter=path>/testbed</parameter>\n</function>"
    );
    assert_eq!(requests[1]["messages"][3]["role"], "user");
    let nudge = last_message(&requests[2]);
    assert_eq!(
        nudge["content"].as_str().unwrap(),
        format!("{CONTINUE_MSG}\nSteps Remaining: 38")
    );
    assert_eq!(
        requests[2]["messages"][4]["content"],
        "Hmm, let me think about it without acting.\n\n<function=>\n</function>"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_agent_is_told_to_submit_and_stops_at_the_step_limit() {
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(|_| {
        Reply::Turn(Turn::tool_call(
            "execute_bash",
            json!({"cmd": "echo still looking"}).to_string(),
        ))
    });
    let limits = Limits {
        max_steps: 2,
        max_steps_absolute: 4,
        ..Limits::default()
    };
    let agent = EditAgent::new(
        client(&server),
        "m",
        AgentConfig::edit(ActionFormat::Native),
    )
    .with_limits(limits);
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::MaxSteps);
    assert_eq!(traj.steps.len(), 4);
    assert_eq!(traj.reward, Some(0.0));
    assert_eq!(
        traj.steps[0].observation,
        "Exit code: 0\nExecution output of [execute_bash]:\n[STDOUT]\n\nstill looking \n\n[STDERR]\n\n\n"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    let third = last_message(&requests[2].json());
    assert!(third["content"].as_str().unwrap().ends_with(
        "\nYou have reached the maximum number of steps. Please submit your answer NOW."
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_hangs_are_retried_and_context_overflow_ends_the_episode() {
    let server = ScriptedServer::start().await.unwrap();
    server.push(Reply::status(500, "upstream crashed"));
    server.push(Reply::Hang);
    server.push(call(
        "file_editor",
        json!({"command": "str_replace", "path": "/testbed/calc.py", "old_str": FIX_OLD, "new_str": FIX_NEW}),
    ));
    server.push(Reply::ContextLength);
    let mut options = r2e_llm::ClientOptions {
        base_url: Some(server.openai_base_url()),
        api_key: Some("k".into()),
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    options.connect_timeout = Duration::from_secs(2);
    let inner = r2e_llm::OpenAiClient::new(options).unwrap();
    let policy = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    let client: Arc<dyn Client> = Arc::new(RetryingClient::new(inner, policy));
    let agent = EditAgent::new(client, "m", AgentConfig::edit(ActionFormat::Native));
    let (task, traj) = episode(&agent).await;
    assert_eq!(
        traj.exit_reason,
        ExitReason::ContextLength,
        "{:?}",
        traj.error
    );
    assert_eq!(traj.steps.len(), 1);
    // The fix made before the overflow is kept and graded.
    assert_eq!(traj.patch, task.gold_patch);
    assert_eq!(traj.reward, Some(1.0));
    assert_eq!(server.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_keeps_failing_ends_the_episode_with_an_error_not_a_crash() {
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(|_| Reply::garbage());
    let agent = EditAgent::new(client(&server), "m", AgentConfig::edit(ActionFormat::Xml));
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::Error);
    let error = traj.error.unwrap();
    assert!(error.contains("the model call failed"), "{error}");
    assert!(traj.steps.is_empty());
    // A model that failed says nothing about the task: no reward, and a
    // status a trainer drops instead of learning a 0 from it.
    assert_eq!(traj.reward, None);
    assert_eq!(traj.reward_status, Some(r2e_core::RewardStatus::InfraError));
}

/// Each limit ends the episode with its own exit reason, and the work done
/// so far is still graded.
#[tokio::test(flavor = "multi_thread")]
async fn token_cost_and_time_limits_end_the_episode_with_their_reasons() {
    let view = || {
        call(
            "file_editor",
            json!({"command": "view", "path": "/testbed/calc.py"}),
        )
    };

    // A call whose prompt + completion reaches the context budget.
    let server = ScriptedServer::start().await.unwrap();
    server.push(view().with_usage(70_000, 100));
    let agent = EditAgent::new(
        client(&server),
        "m",
        AgentConfig::edit(ActionFormat::Native),
    );
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::TokenLimit);
    assert_eq!(traj.steps.len(), 1);
    assert_eq!(traj.reward, Some(0.0));

    // Tokens summed over the episode.
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(move |_| Reply::Turn(view().with_usage(400, 100)));
    let limits = Limits {
        max_total_tokens: Some(1_200),
        ..Limits::default()
    };
    let agent = EditAgent::new(
        client(&server),
        "m",
        AgentConfig::edit(ActionFormat::Native),
    )
    .with_limits(limits);
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::TokenLimit);
    assert_eq!(traj.steps.len(), 3);
    assert_eq!(
        traj.usage.prompt_tokens + traj.usage.completion_tokens,
        1_500
    );

    // Cost, from the client's price table ($10 / $30 per million tokens).
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(move |_| Reply::Turn(view().with_usage(10_000, 1_000)));
    let mut prices = r2e_llm::PriceTable::empty();
    prices.insert("priced", r2e_llm::Price::new(10.0, 30.0));
    let options = r2e_llm::ClientOptions {
        base_url: Some(server.openai_base_url()),
        api_key: Some("k".into()),
        prices: Arc::new(prices),
        ..Default::default()
    };
    let priced: Arc<dyn Client> = Arc::new(r2e_llm::OpenAiClient::new(options).unwrap());
    let limits = Limits {
        max_cost_usd: Some(0.25),
        ..Limits::default()
    };
    let agent = EditAgent::new(priced, "priced", AgentConfig::edit(ActionFormat::Native))
        .with_limits(limits);
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::CostLimit);
    assert_eq!(
        traj.steps.len(),
        2,
        "0.13 $ a step: the second step crosses 0.25 $"
    );
    assert!((traj.cost_usd - 0.26).abs() < 1e-9, "{}", traj.cost_usd);

    // Wall time: a model that answers too slowly.
    let server = ScriptedServer::start().await.unwrap();
    server.push(view());
    server.push(Reply::Delayed(
        Duration::from_secs(10),
        Box::new(Reply::Turn(view())),
    ));
    let limits = Limits {
        max_time: Duration::from_secs(2),
        ..Limits::default()
    };
    let agent = EditAgent::new(
        client(&server),
        "m",
        AgentConfig::edit(ActionFormat::Native),
    )
    .with_limits(limits);
    let t = std::time::Instant::now();
    let (_, traj) = episode(&agent).await;
    assert_eq!(traj.exit_reason, ExitReason::TimeLimit);
    assert_eq!(traj.steps.len(), 1);
    assert!(
        t.elapsed() < Duration::from_secs(9),
        "the limit cut the slow call short"
    );
}

/// A recorded episode replays through the same tools to the same end.
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_trajectory_reaches_the_same_patch_and_reward() {
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(r2e_agent::testing::demo_solver(ActionFormat::Xml));
    let agent = EditAgent::new(client(&server), "m", AgentConfig::edit(ActionFormat::Xml));
    let (task, recorded) = episode(&agent).await;
    assert_eq!(recorded.reward, Some(1.0));

    let p = DockerProvider::connect().await.unwrap();
    let env = RepoEnv::reset(Arc::new(p.clone()), task.clone(), EnvOptions::default())
        .await
        .unwrap();
    let replayed = r2e_agent::scripted::replay(&env, &recorded).await;
    env.close().await.unwrap();
    assert_eq!(replayed.agent, "replay");
    assert_eq!(replayed.exit_reason, ExitReason::Submitted);
    assert_eq!(replayed.patch, recorded.patch);
    assert_eq!(replayed.reward, Some(1.0));
    let obs = |t: &Trajectory| {
        t.steps
            .iter()
            .map(|s| s.observation.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(obs(&replayed), obs(&recorded));
}
