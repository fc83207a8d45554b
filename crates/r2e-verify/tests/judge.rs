//! The execution-free judge end to end against a scripted OpenAI-compatible
//! server on 127.0.0.1: P(YES) from chosen logprobs, samples, concurrency,
//! missing and malformed logprobs, resuming scores.jsonl, and prompt fitting.

use r2e_core::trajectory::{Action, ExitReason, Step, Trajectory, Usage};
use r2e_llm::testing::{Reply, ScriptedServer, Turn, token};
use r2e_verify::judge::{JudgeConfig, JudgeEvent, judge_all};
use r2e_verify::prompt::{self, Budget, PromptConfig};
use r2e_verify::{Score, VerifyError, score};
use std::collections::HashMap;
use std::path::Path;

fn trajectory(task_id: &str, rollout: u32, steps: usize, observation_len: usize) -> Trajectory {
    Trajectory {
        task_id: task_id.into(),
        model: "agent-model".into(),
        agent: "edit".into(),
        rollout,
        action_format: String::new(),
        steps: (0..steps)
            .map(|i| Step {
                thought: format!("thought number {i}"),
                action: Action {
                    tool: "execute_bash".into(),
                    args: serde_json::json!({"command": format!("command-{i}")})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                },
                observation: format!("obs{i}:") + &"x".repeat(observation_len),
                llm_secs: 0.0,
                env_secs: 0.0,
                usage: Usage::default(),
            })
            .collect(),
        patch: format!("diff --git a/f.py b/f.py\n+fix {task_id} {rollout}\n"),
        reward: Some(if rollout.is_multiple_of(2) { 1.0 } else { 0.0 }),
        reward_status: None,
        reward_report: None,
        exit_reason: ExitReason::Submitted,
        error: None,
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at: 0.0,
        duration_secs: 1.0,
        messages: Vec::new(),
        tools: Vec::new(),
    }
}

fn issues(ids: &[&str]) -> HashMap<String, String> {
    ids.iter()
        .map(|id| {
            (
                (*id).to_owned(),
                format!("Issue of {id}: the parser crashes"),
            )
        })
        .collect()
}

/// A one-token answer with P(YES) = yes / (yes + no).
fn answer(sampled: &str, yes: f64, no: f64) -> Turn {
    let lp = |p: f64| p.ln();
    let sampled_lp = if sampled == "YES" { lp(yes) } else { lp(no) };
    Turn::text(sampled).with_logprobs(vec![token(
        sampled,
        sampled_lp,
        &[("YES", lp(yes)), ("NO", lp(no)), ("Maybe", lp(0.05))],
    )])
}

fn config(server: &ScriptedServer) -> (JudgeConfig, std::sync::Arc<dyn r2e_llm::Client>) {
    let client = server.openai_client().expect("client");
    let mut config = JudgeConfig::new("judge-model");
    config.workers = 1;
    (config, std::sync::Arc::new(client))
}

async fn run(
    client: &dyn r2e_llm::Client,
    trajectories: &[Trajectory],
    issues: &HashMap<String, String>,
    config: &JudgeConfig,
    out: &Path,
) -> (
    Result<r2e_verify::judge::JudgeSummary, VerifyError>,
    Vec<String>,
) {
    let mut events = Vec::new();
    let result = judge_all(client, trajectories, issues, config, out, &mut |e| {
        events.push(match e {
            JudgeEvent::Start { todo, done } => format!("start {todo} {done}"),
            JudgeEvent::Scored(s) => format!("scored {} {}", s.task_id, s.rollout),
            JudgeEvent::Failed(s) => format!("failed {} {}", s.task_id, s.rollout),
            _ => "other".into(),
        });
    })
    .await;
    (result, events)
}

#[tokio::test]
async fn p_yes_comes_from_the_answer_tokens_logprobs() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(answer("YES", 0.7, 0.2));
    server.push(answer("NO", 0.1, 0.8));
    let (config, client) = config(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let trajs = vec![trajectory("t1", 0, 3, 10), trajectory("t1", 1, 3, 10)];
    let (result, events) = run(client.as_ref(), &trajs, &issues(&["t1"]), &config, &out).await;
    let summary = result.expect("judged");
    assert_eq!((summary.scored, summary.failed, summary.skipped), (2, 0, 0));
    assert_eq!(events, ["start 2 0", "scored t1 0", "scored t1 1"]);
    let rows = score::read_file(&out).expect("scores");
    assert!(
        (rows[0].exec_free.expect("score") - 0.7 / 0.9).abs() < 1e-9,
        "{rows:?}"
    );
    assert!(
        (rows[1].exec_free.expect("score") - 0.1 / 0.9).abs() < 1e-9,
        "{rows:?}"
    );
    assert_eq!(rows[0].judge_model.as_deref(), Some("judge-model"));
    assert_eq!(rows[0].judge_cut_chars, Some(0));

    // The request asked for logprobs and carried the issue, trajectory and patch.
    let body = server.requests()[0].json();
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 20);
    assert_eq!(body["temperature"], 0.0);
    let user = body["messages"][1]["content"]
        .as_str()
        .expect("user message");
    assert!(user.contains("Issue of t1: the parser crashes"), "{user}");
    assert!(
        user.contains("command-2") && user.contains("obs2:"),
        "{user}"
    );
    assert!(user.contains("+fix t1 0"), "{user}");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.contains("YES"))
    );
}

#[tokio::test]
async fn samples_are_averaged_and_workers_run_concurrently() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(answer("YES", 0.6, 0.4));
    server.push(answer("NO", 0.2, 0.8));
    let (mut config, client) = config(&server);
    config.samples = 2;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let (result, _) = run(
        client.as_ref(),
        &[trajectory("t", 0, 1, 5)],
        &issues(&["t"]),
        &config,
        &out,
    )
    .await;
    result.expect("judged");
    let rows = score::read_file(&out).expect("scores");
    assert!(
        (rows[0].exec_free.expect("score") - 0.4).abs() < 1e-9,
        "{rows:?}"
    );
    assert_eq!(rows[0].exec_free_samples.len(), 2);
    let requests = server.requests();
    assert_eq!(
        requests[0].json()["temperature"],
        1.0,
        "several samples sample"
    );
    assert_ne!(requests[0].json()["seed"], requests[1].json()["seed"]);

    // Four candidates, three in flight, replies slowed down: all scored.
    let server = ScriptedServer::start().await.expect("server");
    for _ in 0..4 {
        server.push(Reply::Delayed(
            std::time::Duration::from_millis(150),
            Box::new(answer("YES", 0.5, 0.5).into()),
        ));
    }
    let (mut config, client) = self::config(&server);
    config.workers = 3;
    let out = dir.path().join("parallel.jsonl");
    let trajs: Vec<Trajectory> = (0..4).map(|r| trajectory("t", r, 1, 5)).collect();
    let started = std::time::Instant::now();
    let (result, _) = run(client.as_ref(), &trajs, &issues(&["t"]), &config, &out).await;
    assert_eq!(result.expect("judged").scored, 4);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(score::read_file(&out).expect("scores").len(), 4);
}

#[tokio::test]
async fn a_server_without_logprobs_stops_the_run_with_a_clear_error() {
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("YES"));
    let (config, client) = config(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let (result, _) = run(
        client.as_ref(),
        &[trajectory("t", 0, 1, 5)],
        &issues(&["t"]),
        &config,
        &out,
    )
    .await;
    let error = result.expect_err("no logprobs");
    let text = error.to_string();
    assert!(matches!(error, VerifyError::Judge { .. }), "{error:?}");
    assert!(
        text.contains("no logprobs") && text.contains("task t rollout 0"),
        "{text}"
    );
    assert!(score::read_file(&out).expect("scores").is_empty());
}

#[tokio::test]
async fn malformed_logprobs_are_errors() {
    // Logprobs with neither label: that candidate fails, the run goes on.
    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text("Perhaps").with_logprobs(vec![token(
        "Perhaps",
        -0.1,
        &[("Perhaps", -0.1), ("Maybe", -2.0)],
    )]));
    server.push(answer("YES", 0.9, 0.1));
    let (config, client) = config(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let trajs = vec![trajectory("t", 0, 1, 5), trajectory("t", 1, 1, 5)];
    let (result, events) = run(client.as_ref(), &trajs, &issues(&["t"]), &config, &out).await;
    let summary = result.expect("the run goes on");
    assert_eq!((summary.scored, summary.failed), (1, 1));
    assert_eq!(events[1], "failed t 0");
    let rows = score::read_file(&out).expect("scores");
    assert!(rows[0].exec_free.is_none());
    let error = rows[0].error.as_deref().expect("error recorded");
    assert!(error.contains("neither \"YES\" nor \"NO\""), "{error}");

    // A logprob entry without a number: the server is broken, the run stops.
    let server = ScriptedServer::start().await.expect("server");
    let body = serde_json::json!({
        "id": "x", "model": "judge-model", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "YES"},
            "logprobs": {"content": [{"token": "YES", "logprob": "high", "top_logprobs": []}]}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    });
    server.push(Reply::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: body.to_string().into_bytes(),
    });
    let (config, client) = self::config(&server);
    let out = dir.path().join("broken.jsonl");
    let (result, _) = run(client.as_ref(), &trajs[..1], &issues(&["t"]), &config, &out).await;
    let text = result.expect_err("malformed").to_string();
    assert!(text.contains("has no number"), "{text}");
}

#[tokio::test]
async fn a_rerun_skips_scored_candidates_and_retries_failed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let mut scored = Score::new("t", 0);
    scored.exec_free = Some(0.25);
    let mut failed = Score::new("t", 1);
    failed.error = Some("neither label".into());
    let mut text = String::new();
    for row in [&scored, &failed] {
        text.push_str(&serde_json::to_string(row).expect("json"));
        text.push('\n');
    }
    text.push_str("{\"task_id\": \"t\", \"roll"); // torn by a killed run
    std::fs::write(&out, text).expect("write");

    let server = ScriptedServer::start().await.expect("server");
    server.push(answer("YES", 0.5, 0.5));
    server.push(answer("YES", 0.5, 0.5));
    let (config, client) = config(&server);
    let trajs: Vec<Trajectory> = (0..3).map(|r| trajectory("t", r, 1, 5)).collect();
    let (result, events) = run(client.as_ref(), &trajs, &issues(&["t"]), &config, &out).await;
    let summary = result.expect("judged");
    assert_eq!((summary.skipped, summary.scored), (1, 2));
    assert_eq!(events[0], "start 2 1");
    assert_eq!(server.request_count(), 2);
    let merged = score::read_all(std::slice::from_ref(&out)).expect("scores");
    assert_eq!(merged.len(), 3);
    assert_eq!(merged[&("t".to_owned(), 0)].exec_free, Some(0.25));
    let retried = &merged[&("t".to_owned(), 1)];
    assert_eq!(
        (retried.exec_free, retried.error.as_deref()),
        (Some(0.5), None)
    );

    // Everything scored: nothing is asked.
    let (result, _) = run(client.as_ref(), &trajs, &issues(&["t"]), &config, &out).await;
    assert_eq!(result.expect("nothing to do").skipped, 3);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_task_missing_from_the_dataset_is_an_error_before_any_request() {
    let server = ScriptedServer::start().await.expect("server");
    let (config, client) = config(&server);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("scores.jsonl");
    let (result, _) = run(
        client.as_ref(),
        &[trajectory("other", 0, 1, 5)],
        &issues(&["t"]),
        &config,
        &out,
    )
    .await;
    let text = result.expect_err("missing").to_string();
    assert!(
        text.contains("other") && text.contains("not in the dataset"),
        "{text}"
    );
    assert_eq!(server.request_count(), 0);
}

#[test]
fn long_trajectories_keep_issue_patch_start_and_end_and_drop_middle_observations_first() {
    let t = trajectory("t", 0, 40, 2_000);
    let issue = "Issue text that must stay whole.";
    let mut config = PromptConfig {
        budget: Budget::Chars(30_000),
        ..PromptConfig::default()
    };
    let p = prompt::build(&config, issue, &t);
    let total = p.system.chars().count() + p.user.chars().count();
    assert!(total <= 30_000, "{total}");
    assert!(p.cut_chars > 0);
    assert!(p.user.contains(issue) && p.user.contains("+fix t 0"));
    // Start and end whole, the middle's output replaced by notes.
    assert!(
        p.user.contains("obs0:xxx") && p.user.contains("obs39:xxx"),
        "ends kept"
    );
    assert!(!p.user.contains("obs20:"), "middle observation dropped");
    assert!(
        p.user.contains("thought number 20"),
        "middle actions kept while they fit"
    );
    assert!(p.user.contains("left out to fit the judge's budget"));

    // Tighter: whole middle turns go, with one note per gap.
    config.budget = Budget::Tokens {
        tokens: 1_500,
        chars_per_token: 3.0,
    };
    let p = prompt::build(&config, issue, &t);
    let total = p.system.chars().count() + p.user.chars().count();
    assert!(total <= 4_500, "{total}");
    assert!(p.user.contains(issue) && p.user.contains("+fix t 0"));
    assert!(
        p.user.contains("[step 1]") && p.user.contains("[step 40 observation]"),
        "{}",
        p.user
    );
    assert!(
        p.user.contains("turn(s)") && !p.user.contains("thought number 20"),
        "{}",
        p.user
    );

    // Unlimited: nothing cut.
    config.budget = Budget::Unlimited;
    let p = prompt::build(&config, issue, &t);
    assert_eq!(p.cut_chars, 0);
    assert!(p.user.contains("obs20:"));
}

#[test]
fn chat_messages_are_preferred_to_steps_and_system_messages_left_out() {
    let mut t = trajectory("t", 0, 2, 5);
    t.messages = vec![
        serde_json::json!({"role": "system", "content": "TOOL MANUAL"}),
        serde_json::json!({"role": "user", "content": "fix the parser"}),
        serde_json::json!({"role": "assistant", "content": "looking", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"term\": \"parse\"}"}}]}),
        serde_json::json!({"role": "tool", "tool_call_id": "c1", "content": "parser.py:10"}),
    ];
    let p = prompt::build(&PromptConfig::default(), "issue", &t);
    assert!(!p.user.contains("TOOL MANUAL"));
    assert!(
        p.user.contains("[tool call] search {\"term\": \"parse\"}"),
        "{}",
        p.user
    );
    assert!(p.user.contains("[tool output]\nparser.py:10"), "{}", p.user);
    assert!(
        !p.user.contains("thought number"),
        "steps not used when messages exist"
    );
    // Templates: own wording, unknown placeholders refused.
    let custom = PromptConfig::default()
        .with_templates("Judge.", "{{issue}} / {{ patch }} / {{trajectory}}")
        .expect("valid");
    let p = prompt::build(&custom, "ISSUE", &t);
    assert!(p.user.starts_with("ISSUE / diff --git"), "{}", p.user);
    let error = PromptConfig::default()
        .with_templates("x", "{{ diff }}")
        .expect_err("unknown placeholder")
        .to_string();
    assert!(error.contains("unknown placeholder"), "{error}");
}
