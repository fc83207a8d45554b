//! Every LLM path of r2e against a real OpenAI-compatible server: llama.cpp
//! (llama-cpp-python) serving SmolLM2-135M-Instruct on the CPU, as
//! `.ci/real-llm` starts it. The edit agent in both action formats on a demo
//! task in Docker, native tool calls through llama.cpp's
//! `chatml-function-calling` format, the judge's P(YES) from logprobs, and
//! SWE-Gen's issue back-translation and test generation — each checked for
//! well-formed results, token counts and timings, never for quality (the
//! model is far too small to solve anything).
//!
//! The suite runs only where `R2E_REAL_LLM_URL` names such a server (its
//! `/v1` base URL); elsewhere every test prints one line saying it was
//! skipped and why, and passes. `R2E_REAL_LLM_MODEL` (default `smollm2`)
//! names the model served with the `chatml` format, `R2E_REAL_LLM_TOOLS_MODEL`
//! (default `smollm2-tools`) the same file served with
//! `chatml-function-calling`.

#[path = "../../r2e-gen/tests/common/mod.rs"]
mod common;

use r2e_agent::action::CONTINUE_MSG;
use r2e_core::{ExitReason, RewardStatus, Trajectory};
use r2e_llm::{ChatRequest, ChatResponse, Client, LlmConfig, Message, Provider, ToolChoice};
use r2e_llm::{FinishReason, ToolSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::process::Command;

/// Most tokens per reply in these tests: enough for a tool call, few enough
/// that a model that rambles to its context limit still answers in seconds.
const REPLY_TOKENS: u32 = 256;

/// The server under test.
struct Real {
    /// Its `/v1` base URL.
    url: String,
    /// The model served with plain chatml (text, logprobs).
    model: String,
    /// The model served with chatml-function-calling (native tool calls).
    tools_model: String,
}

/// The server, or `None` after printing why `test` is skipped.
fn real(test: &str) -> Option<Real> {
    let var = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let url = var("R2E_REAL_LLM_URL", "");
    if url.is_empty() {
        println!(
            "skipped {test}: R2E_REAL_LLM_URL is not set (.ci/real-llm starts a llama.cpp server and sets it)"
        );
        return None;
    }
    Some(Real {
        url,
        model: var("R2E_REAL_LLM_MODEL", "smollm2"),
        tools_model: var("R2E_REAL_LLM_TOOLS_MODEL", "smollm2-tools"),
    })
}

impl Real {
    fn client(&self) -> Arc<dyn Client> {
        LlmConfig::new(Provider::OpenAi)
            .base_url(&self.url)
            .build()
            .expect("client")
    }
}

fn r2e(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_r2e"));
    c.current_dir(dir);
    c
}

/// Runs `cmd`, fails with its output unless it succeeds, returns the output.
async fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().await.expect("r2e runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}

/// The demo tasks (`r2e dataset demo`), only the first one kept.
async fn demo_task(dir: &Path) -> PathBuf {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    ok(r2e(dir).args([
        "dataset",
        "demo",
        "--base-image",
        &image,
        "--out",
        "demo.jsonl",
    ]))
    .await;
    let path = dir.join("demo.jsonl");
    let first = std::fs::read_to_string(&path)
        .expect("demo dataset")
        .lines()
        .next()
        .expect("a demo task")
        .to_string();
    std::fs::write(&path, format!("{first}\n")).expect("write");
    path
}

/// Checks what every real reply must have: usage that adds up, a finish
/// reason, a measured latency.
fn check_reply(what: &str, reply: &ChatResponse) {
    let u = reply.usage;
    assert!(
        u.prompt_tokens > 0 && u.completion_tokens > 0,
        "{what}: usage {u:?}"
    );
    assert_eq!(
        u.total_tokens,
        u.prompt_tokens + u.completion_tokens,
        "{what}"
    );
    assert!(
        matches!(
            reply.finish_reason,
            FinishReason::Stop | FinishReason::Length | FinishReason::ToolCalls
        ),
        "{what}: finish reason {:?}",
        reply.finish_reason
    );
    assert!(reply.latency_ms > 0, "{what}: latency {}", reply.latency_ms);
}

/// The replies a `--cache-mode record` run stored under `dir`, each checked
/// with [`check_reply`].
fn recorded_replies(what: &str, dir: &Path) -> Vec<ChatResponse> {
    let mut replies = Vec::new();
    for shard in std::fs::read_dir(dir).expect("cache dir").flatten() {
        for entry in std::fs::read_dir(shard.path())
            .expect("cache shard")
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).expect("cache entry");
            let value: Value = serde_json::from_str(&text).expect("cache entry JSON");
            let reply: ChatResponse =
                serde_json::from_value(value["response"].clone()).expect("a recorded reply");
            check_reply(what, &reply);
            replies.push(reply);
        }
    }
    assert!(!replies.is_empty(), "{what}: nothing was recorded");
    replies
}

/// One `r2e run` episode of `model` on the first demo task in `format`,
/// with at most 3 steps; returns its trajectory after the checks every
/// episode must pass.
async fn episode(real: &Real, model: &str, format: &str) -> Trajectory {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    demo_task(dir).await;
    let started = Instant::now();
    let text = ok(r2e(dir)
        .args(["run", "--dataset", "demo.jsonl", "--out", "traj.jsonl"])
        .args(["--model", model, "--base-url", &real.url])
        .args(["--action-format", format])
        .args(["--max-steps", "2", "--max-steps-absolute", "3"])
        .args(["--max-reply-tokens", &REPLY_TOKENS.to_string()]))
    .await;
    let wall = started.elapsed().as_secs_f64();
    let trajs = r2e_core::trajectory::read_file(&dir.join("traj.jsonl")).expect("trajectories");
    assert_eq!(trajs.len(), 1, "{text}");
    let t = trajs.into_iter().next().expect("one");
    let context = format!("{text}\n{t:#?}");
    assert_eq!(t.model, model);
    assert_eq!(t.action_format, format);
    assert!(t.error.is_none(), "{context}");
    assert!(
        matches!(t.exit_reason, ExitReason::MaxSteps | ExitReason::Submitted),
        "{context}"
    );
    assert!(
        matches!(
            t.reward_status,
            Some(RewardStatus::Resolved | RewardStatus::Unresolved)
        ),
        "the hidden tests must have graded the episode: {context}"
    );
    assert!((1..=3).contains(&t.steps.len()), "{context}");
    // System and instance prompt, then an assistant turn and an observation per step.
    assert_eq!(t.messages.len(), 2 + 2 * t.steps.len(), "{context}");
    let mut last_prompt = 0;
    for (i, s) in t.steps.iter().enumerate() {
        let u = s.usage;
        assert!(
            u.prompt_tokens > last_prompt,
            "step {i}: the prompt must grow with the conversation: {context}"
        );
        last_prompt = u.prompt_tokens;
        assert!(
            (1..=u64::from(REPLY_TOKENS)).contains(&u.completion_tokens),
            "step {i}: {u:?}"
        );
        assert!(s.llm_secs > 0.0 && s.env_secs >= 0.0, "step {i}: {context}");
        if s.action.tool.is_empty() {
            assert_eq!(s.observation, CONTINUE_MSG, "step {i}");
        } else {
            let known = ["file_editor", "search", "execute_bash", "finish", "submit"];
            assert!(
                known.contains(&s.action.tool.as_str()),
                "step {i}: unknown tool {:?}",
                s.action.tool
            );
            assert!(!s.observation.is_empty(), "step {i}");
        }
    }
    let prompt: u64 = t.steps.iter().map(|s| s.usage.prompt_tokens).sum();
    let completion: u64 = t.steps.iter().map(|s| s.usage.completion_tokens).sum();
    assert_eq!(
        (t.usage.prompt_tokens, t.usage.completion_tokens),
        (prompt, completion)
    );
    let llm: f64 = t.steps.iter().map(|s| s.llm_secs).sum();
    assert!(
        t.duration_secs >= llm && t.duration_secs <= wall,
        "{context}"
    );
    println!(
        "{format} episode: {} steps ({} with a tool call), {prompt} prompt + {completion} completion tokens, \
         model {llm:.1}s, episode {:.1}s, command {wall:.1}s, exit {:?}, reward {:?}",
        t.steps.len(),
        t.steps.iter().filter(|s| !s.action.tool.is_empty()).count(),
        t.duration_secs,
        t.exit_reason,
        t.reward
    );
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_agent_xml_episode() {
    let Some(real) = real("edit_agent_xml_episode") else {
        return;
    };
    episode(&real, &real.model, "xml").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_agent_native_episode() {
    let Some(real) = real("edit_agent_native_episode") else {
        return;
    };
    let t = episode(&real, &real.tools_model, "native").await;
    // Native episodes keep the tool schemas and answer tool calls with tool messages.
    assert!(!t.tools.is_empty());
    for (i, s) in t.steps.iter().enumerate() {
        let observation = &t.messages[3 + 2 * i];
        let role = if s.action.tool.is_empty() {
            "user"
        } else {
            "tool"
        };
        assert_eq!(observation["role"], role, "step {i}: {observation}");
    }
}

/// A tool call forced by `tool_choice` comes back as a well-formed call of
/// that tool, with JSON arguments an agent can run.
#[tokio::test(flavor = "multi_thread")]
async fn native_tool_call_is_well_formed() {
    let Some(real) = real("native_tool_call_is_well_formed") else {
        return;
    };
    let tools = ToolSpec::list_from_json(&r2e_tools::tools()).expect("tool schemas");
    let request = ChatRequest::new(
        &real.tools_model,
        vec![
            Message::system("You are a coding agent working in /testbed."),
            Message::user("List the files of the repository."),
        ],
    )
    .tools(tools)
    .tool_choice(ToolChoice::Tool("execute_bash".into()))
    .temperature(0.0)
    .max_tokens(REPLY_TOKENS);
    let reply = real.client().chat(&request).await.expect("reply");
    check_reply("forced tool call", &reply);
    assert_eq!(reply.tool_calls.len(), 1, "{reply:#?}");
    let call = &reply.tool_calls[0];
    assert_eq!(call.name, "execute_bash", "{reply:#?}");
    assert!(!call.id.is_empty());
    let args = call.parse_arguments().expect("JSON arguments");
    assert!(args.get("cmd").is_some_and(Value::is_string), "{call:?}");
    let action = r2e_agent::action::from_tool_call(&call.name, &call.arguments);
    assert_eq!(action.tool, "execute_bash");
    println!(
        "forced tool call: execute_bash {} in {} ms, {} + {} tokens",
        call.arguments, reply.latency_ms, reply.usage.prompt_tokens, reply.usage.completion_tokens
    );
}

/// `r2e verify judge` scores an oracle trajectory with P(YES) from the
/// judge's logprobs; the logprobs themselves are one entry per generated
/// token with up to 20 sorted alternatives.
#[tokio::test(flavor = "multi_thread")]
async fn judge_p_yes_from_logprobs() {
    let Some(real) = real("judge_p_yes_from_logprobs") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    demo_task(dir).await;
    ok(r2e(dir).args([
        "run",
        "--agent",
        "oracle",
        "--dataset",
        "demo.jsonl",
        "--out",
        "traj.jsonl",
    ]))
    .await;
    let started = Instant::now();
    let text = ok(r2e(dir)
        .args(["verify", "judge", "--trajectories", "traj.jsonl"])
        .args(["--dataset", "demo.jsonl", "--out", "scores.jsonl"])
        .args(["--model", &real.model, "--base-url", &real.url]))
    .await;
    let wall = started.elapsed().as_secs_f64();
    let scores: Vec<Value> = std::fs::read_to_string(dir.join("scores.jsonl"))
        .expect("scores")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a score row"))
        .collect();
    assert_eq!(scores.len(), 1, "{text}");
    let row = &scores[0];
    assert_eq!(row["judge_model"], real.model.as_str(), "{row}");
    let p = row["exec_free"].as_f64();
    // A model this small may answer neither YES nor NO: that is a row with
    // the reason, never a crash or a made-up score.
    match p {
        Some(p) => assert!((0.0..=1.0).contains(&p), "{row}"),
        None => assert!(
            row["error"]
                .as_str()
                .is_some_and(|e| e.contains("YES") && e.contains("NO")),
            "{row}"
        ),
    }

    // The same prompt through the library: the logprobs as the server sent them.
    let trajs = r2e_core::trajectory::read_file(&dir.join("traj.jsonl")).expect("trajectories");
    let tasks = r2e_core::dataset::load(&dir.join("demo.jsonl"), &Default::default())
        .expect("tasks")
        .tasks;
    let prompt = r2e_verify::prompt::build(
        &r2e_verify::prompt::PromptConfig::default(),
        &tasks[0].problem_statement,
        &trajs[0],
    );
    let request = ChatRequest::new(&real.model, prompt.messages())
        .temperature(0.0)
        .max_tokens(16)
        .logprobs(20);
    let reply = real.client().chat(&request).await.expect("reply");
    check_reply("judge", &reply);
    let logprobs = reply.logprobs.as_deref().expect("logprobs");
    assert_eq!(
        logprobs.len() as u64,
        reply.usage.completion_tokens,
        "one logprob entry per generated token"
    );
    for entry in logprobs {
        assert!(entry.logprob <= 0.0, "{entry:?}");
        assert!(
            (1..=20).contains(&entry.top_logprobs.len()),
            "{} alternatives",
            entry.top_logprobs.len()
        );
        assert!(
            entry
                .top_logprobs
                .windows(2)
                .all(|w| w[0].logprob >= w[1].logprob),
            "alternatives sorted by probability: {entry:?}"
        );
    }
    let text_of_tokens: String = logprobs.iter().map(|e| e.token.as_str()).collect();
    assert_eq!(text_of_tokens.trim(), reply.content.trim());
    println!(
        "judge: P(YES) {p:?} in {wall:.1}s (command); library reply {:?}, {} + {} tokens in {} ms",
        reply.content, reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.latency_ms
    );
}

/// `r2e gen issue` (SWE-Gen's back-translation) on a demo task: the task
/// ends up with an issue text or as a failure with its reason, and every
/// model call has token counts and a latency.
#[tokio::test(flavor = "multi_thread")]
async fn generated_issue_text() {
    let Some(real) = real("generated_issue_text") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    demo_task(dir).await;
    let started = Instant::now();
    let text = ok(r2e(dir)
        .args([
            "gen",
            "issue",
            "--tasks",
            "demo.jsonl",
            "--out",
            "issues.jsonl",
        ])
        .args(["--model", &real.model, "--base-url", &real.url])
        .args(["--cache-dir", "cache", "--cache-mode", "record"]))
    .await;
    let wall = started.elapsed().as_secs_f64();
    let written = r2e_core::dataset::load(&dir.join("issues.jsonl"), &Default::default())
        .expect("tasks")
        .tasks;
    let failed: Vec<r2e_gen::issue::IssueFailure> =
        r2e_core::jsonl::read(&dir.join("issues.errors.jsonl")).expect("errors file");
    assert_eq!(written.len() + failed.len(), 1, "{text}");
    let task = r2e_core::dataset::load(&dir.join("demo.jsonl"), &Default::default())
        .expect("demo")
        .tasks
        .remove(0);
    for t in &written {
        assert_eq!(t.task_id, task.task_id);
        assert!(!t.problem_statement.trim().is_empty());
        assert_ne!(t.problem_statement, task.problem_statement);
        assert_eq!(
            r2e_gen::issue::check_reply(&task, &t.problem_statement),
            Ok(())
        );
    }
    for f in &failed {
        assert!(f.error.starts_with("rejected twice: "), "{f:?}");
    }
    let replies = recorded_replies("issue", &dir.join("cache"));
    assert!(
        (1..=2).contains(&replies.len()),
        "one reply, or two after a rejection"
    );
    println!(
        "issue text: {} in {wall:.1}s, {} calls, {} completion tokens",
        if written.is_empty() {
            "rejected"
        } else {
            "written"
        },
        replies.len(),
        replies
            .iter()
            .map(|r| r.usage.completion_tokens)
            .sum::<u64>()
    );
}

/// `r2e gen tests` (SWE-Gen's stage 5) on the fix without tests of a small
/// history: the model's module is recorded, and is either validated in
/// Docker or rejected with one of the stage's reasons.
#[tokio::test(flavor = "multi_thread")]
async fn generated_test_file() {
    let Some(real) = real("generated_test_file") else {
        return;
    };
    let h = common::history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let repo = h.repo.path();
    ok(r2e(dir)
        .args(["gen", "mine", "--no-merges", "--repo"])
        .arg(&repo)
        .args(["--out", "commits.jsonl"]))
    .await;
    ok(r2e(dir).args([
        "gen",
        "filter",
        "--commits",
        "commits.jsonl",
        "--out",
        "candidates.jsonl",
        "--rejected",
        "rejected.jsonl",
    ]))
    .await;
    let started = Instant::now();
    let text = ok(r2e(dir)
        .args(["gen", "tests", "--repo"])
        .arg(&repo)
        .args(["--commits", "commits.jsonl", "--rejected", "rejected.jsonl"])
        .args(["--out", "gen", "--image", &common::pytest_image()])
        .args(["--attempts", "1", "--max", "1", "--name", "calc-real"])
        .args(["--model", &real.model, "--base-url", &real.url])
        .args(["--cache-dir", "cache", "--cache-mode", "record"]))
    .await;
    let wall = started.elapsed().as_secs_f64();
    let records: Vec<r2e_gen::testgen::TestGenRecord> =
        r2e_core::jsonl::read(&dir.join("gen/tests_validated.attempts.jsonl"))
            .expect("attempts file");
    assert_eq!(records.len(), 1, "{text}");
    let record = &records[0];
    assert_eq!(record.attempts.len(), 1, "{record:?}");
    let attempt = &record.attempts[0];
    match &attempt.module {
        // A module that parses and defines a test went through validation.
        Some(module) => assert_eq!(r2e_gen::testgen::check_module(module), Ok(())),
        None => {
            let reason = attempt.reason.as_deref().unwrap_or_default();
            assert!(
                r2e_gen::testgen::MODULE_FAILURES
                    .iter()
                    .any(|label| reason.starts_with(&format!("{label}:"))),
                "{reason}"
            );
        }
    }
    let replies = recorded_replies("test generation", &dir.join("cache"));
    assert_eq!(replies.len(), 1);
    println!(
        "generated test file: {:?} ({}) in {wall:.1}s, {} + {} tokens",
        record.outcome,
        attempt.reason.as_deref().unwrap_or("valid"),
        replies[0].usage.prompt_tokens,
        replies[0].usage.completion_tokens
    );
}
