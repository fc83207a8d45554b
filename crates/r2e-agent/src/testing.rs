//! A scripted "model" for tests and benchmarks: answers an edit agent's
//! requests on the demo tasks (`r2e dataset demo`) the way a capable model
//! would — look at the module, fix the bug, run it, finish — in either action
//! format; and a scripted testing agent that writes a reproduction test. Served by [`r2e_llm::testing::ScriptedServer`], so the agent talks
//! to it over real HTTP.

use crate::ActionFormat;
use r2e_llm::testing::{RecordedRequest, Reply, Turn};
use serde_json::{Value, json};

/// The reply to one request of an episode on a demo task: the next step of
/// view → fix → run → finish, chosen from the conversation so far (many
/// episodes can share one server).
pub fn demo_solver(
    format: ActionFormat,
) -> impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static {
    move |request| {
        let body = request.json();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let issue = messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let done = messages.iter().filter(|m| m["role"] == "assistant").count();
        let (tool, args): (&str, Value) = match (done, r2e_eval::demo::fix_for(issue)) {
            (_, None) => ("finish", json!({})),
            (0, _) => (
                "file_editor",
                json!({"command": "view", "path": "/testbed/calc.py"}),
            ),
            (1, Some((old, new))) => (
                "file_editor",
                json!({"command": "str_replace", "path": "/testbed/calc.py", "old_str": old, "new_str": new}),
            ),
            (2, _) => (
                "execute_bash",
                json!({"cmd": "cd /testbed && python3 -m unittest discover -q 2>&1 | tail -3"}),
            ),
            _ => ("finish", json!({})),
        };
        reply(
            format,
            &format!("Step {}: {tool}.", done + 1),
            tool,
            &args,
            done,
        )
    }
}

/// A scripted testing agent for the demo tasks: writes a unittest file that
/// checks the behaviour the issue asks for at the path the prompt names
/// (`… at /testbed/<file> …`), runs it, and finishes.
pub fn demo_test_writer(
    format: ActionFormat,
) -> impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static {
    move |request| {
        let body = request.json();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let prompt = messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        let done = messages.iter().filter(|m| m["role"] == "assistant").count();
        let file = prompt
            .split_whitespace()
            .find(|w| w.starts_with("/testbed/test_") && w.ends_with(".py"))
            .unwrap_or("/testbed/test_issue.py")
            .to_string();
        let check = [
            ("calc.add", "add(2, 3), 5"),
            ("calc.mul", "mul(3, 4), 12"),
            ("calc.mean", "mean([1, 2]), 1.5"),
        ]
        .iter()
        .find(|(f, _)| prompt.contains(f))
        .map(|(f, c)| (f.trim_start_matches("calc."), *c));
        let (tool, args): (&str, Value) = match (done, check) {
            (0, Some((func, check))) => (
                "file_editor",
                json!({"command": "create", "path": file, "file_text": format!(
                    "import unittest\n\nfrom calc import {func}\n\n\nclass IssueTest(unittest.TestCase):\n    def test_issue(self):\n        self.assertEqual({check})\n\n    def test_callable(self):\n        self.assertTrue(callable({func}))\n"
                )}),
            ),
            (1, Some(_)) => (
                "execute_bash",
                json!({"cmd": format!("cd /testbed && python3 -m unittest -v {} 2>&1 | tail -5", file.trim_start_matches("/testbed/").trim_end_matches(".py"))}),
            ),
            _ => ("finish", json!({})),
        };
        reply(
            format,
            &format!("Writing the reproduction test, step {}.", done + 1),
            tool,
            &args,
            done,
        )
    }
}

/// A model turn calling `tool` in `format`.
fn reply(format: ActionFormat, thought: &str, tool: &str, args: &Value, done: usize) -> Reply {
    let turn = match format {
        ActionFormat::Native => Turn::tool_call(tool, args.to_string()).with_text(thought),
        ActionFormat::Xml => {
            let mut text = format!("{thought}\n\n<function={tool}>\n");
            for (k, v) in args.as_object().into_iter().flatten() {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                text.push_str(&format!("<parameter={k}>{v}</parameter>\n"));
            }
            Turn::text(text + "</function>")
        }
    };
    Reply::Turn(turn.with_usage(1_000 + 500 * done as u64, 50))
}
