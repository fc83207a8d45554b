//! A scripted "model" for tests and benchmarks: answers an edit agent's
//! requests on the demo tasks (`r2e dataset demo`) the way a capable model
//! would — look at the module, fix the bug, run it, finish — in either action
//! format. Served by [`r2e_llm::testing::ScriptedServer`], so the agent talks
//! to it over real HTTP.

use crate::ActionFormat;
use r2e_llm::testing::{RecordedRequest, Reply, Turn};
use serde_json::{Value, json};

/// The reply to one request of an episode on a demo task: the next step of
/// view → fix → run → finish, chosen from the conversation so far (many
/// episodes can share one server).
pub fn demo_solver(format: ActionFormat) -> impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static {
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
            (0, _) => ("file_editor", json!({"command": "view", "path": "/testbed/calc.py"})),
            (1, Some((old, new))) => (
                "file_editor",
                json!({"command": "str_replace", "path": "/testbed/calc.py", "old_str": old, "new_str": new}),
            ),
            (2, _) => ("execute_bash", json!({"cmd": "cd /testbed && python3 -m unittest discover -q 2>&1 | tail -3"})),
            _ => ("finish", json!({})),
        };
        let thought = format!("Step {}: {tool}.", done + 1);
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
}
