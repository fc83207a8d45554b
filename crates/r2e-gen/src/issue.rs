//! Stage 6, `issue`: back-translation. A model writes the issue text of a
//! validated task from its gold patch, the source of its failing tests and
//! their output on the old code, without revealing the fix or naming the tests.
//!
//! The prompt lives in template files (`prompts/issue_system.md`,
//! `prompts/issue_user.md`, `prompts/issue_retry.md`, compiled in). A reply is
//! checked ([`check_reply`]): one that names a test (function or file) or
//! copies a line of the gold patch is sent back once with the problem stated;
//! a second bad reply is recorded as an error and the task left out.

use crate::error::{Error, Result};
use crate::text::tail;
use futures_util::StreamExt;
use r2e_core::Task;
use r2e_core::jsonl::JsonlWriter;
use r2e_llm::{ChatRequest, Client, Message};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The system prompt.
pub const SYSTEM_PROMPT: &str = include_str!("../prompts/issue_system.md");
/// The user prompt; `{{repo}}`, `{{gold_patch}}`, `{{test_source}}` and
/// `{{failure_output}}` are filled in.
pub const USER_PROMPT: &str = include_str!("../prompts/issue_user.md");
/// The follow-up after a rejected reply; `{{problem}}` is filled in.
pub const RETRY_PROMPT: &str = include_str!("../prompts/issue_retry.md");

/// Characters of the gold patch shown to the model.
const MAX_PATCH: usize = 12_000;
/// Characters of the failure output shown to the model (its end).
const MAX_FAILURE: usize = 4_000;
/// Patch lines shorter than this (trimmed) may appear in a reply.
const MIN_LEAK_LINE: usize = 16;

/// Settings of [`issue_jsonl`].
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Model name sent to the server.
    pub model: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Tasks written at the same time.
    pub workers: usize,
}

impl Default for IssueOptions {
    fn default() -> Self {
        IssueOptions {
            model: String::new(),
            temperature: 0.7,
            workers: 4,
        }
    }
}

/// A task the model gave no usable issue text for: a row of the errors file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueFailure {
    /// The task.
    pub task_id: String,
    /// What went wrong (the last rejection, or the client's error).
    pub error: String,
}

/// Counts of an [`issue_jsonl`] run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueSummary {
    /// Tasks read.
    pub input: usize,
    /// Already written (or failed) by an earlier run.
    pub already_done: usize,
    /// Tasks with an issue text in the output (all runs).
    pub written: usize,
    /// Tasks recorded as failures (all runs).
    pub failed: usize,
}

/// Progress of [`issue_jsonl`].
#[derive(Debug, Clone)]
pub enum IssueEvent {
    /// How many tasks will be sent to the model.
    Planned {
        /// Tasks in the input.
        total: usize,
        /// Of those, already done.
        already_done: usize,
    },
    /// One task finished: its id and the error, if it failed.
    Done {
        /// The task.
        task_id: String,
        /// Why it failed, if it did.
        error: Option<String>,
    },
}

/// The errors file next to `out`: `NAME.errors.jsonl` for `NAME.jsonl`.
pub fn errors_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "issues".into());
    out.with_file_name(format!("{stem}.errors.jsonl"))
}

/// The function name of a test id: `a.py::Cls::test_x[1]` → `test_x`,
/// `test_x (mod.Cls.test_x)` → `test_x`.
fn test_function(id: &str) -> &str {
    let id = id.split_whitespace().next().unwrap_or(id);
    let id = id.rsplit("::").next().unwrap_or(id);
    let id = id.split('[').next().unwrap_or(id);
    id.rsplit('.').next().unwrap_or(id)
}

/// The names a reply must not contain: test functions and test file names.
fn forbidden_names(task: &Task) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for id in task.fail_to_pass.iter().chain(&task.pass_to_pass) {
        let f = test_function(id);
        if !f.is_empty() {
            names.insert(f.to_string());
        }
    }
    for line in task.test_patch.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            let file = path.rsplit('/').next().unwrap_or(path);
            names.insert(file.to_string());
        }
    }
    names
}

/// Added and removed lines of the gold patch long enough to count as a leak.
fn patch_lines(patch: &str) -> Vec<&str> {
    patch
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix('+').or_else(|| l.strip_prefix('-')))
        .map(str::trim)
        .filter(|l| l.len() >= MIN_LEAK_LINE && l.chars().any(char::is_alphabetic))
        .collect()
}

/// Checks a reply: `Err(problem)` when it is empty, names a test or a test
/// file, or copies a line of the gold patch.
pub fn check_reply(task: &Task, reply: &str) -> std::result::Result<(), String> {
    if reply.trim().is_empty() {
        return Err("the reply is empty".into());
    }
    if let Some(name) = forbidden_names(task)
        .into_iter()
        .find(|n| reply.contains(n.as_str()))
    {
        return Err(format!("it names the test `{name}`"));
    }
    if let Some(line) = patch_lines(&task.gold_patch)
        .into_iter()
        .find(|l| reply.contains(l))
    {
        return Err(format!("it copies a line of the fix (`{line}`)"));
    }
    Ok(())
}

/// The source of the failing tests, from the test patch: each `def` of a
/// FAIL_TO_PASS test and its indented body; the whole test patch when none is
/// found.
pub fn failing_test_source(task: &Task) -> String {
    let names: BTreeSet<&str> = task.fail_to_pass.iter().map(|t| test_function(t)).collect();
    let lines: Vec<&str> = task.test_patch.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let body = |l: &str| -> Option<String> {
            if l.starts_with("+++") || l.starts_with("---") || l.starts_with("@@") {
                return None;
            }
            l.strip_prefix(['+', ' ']).map(str::to_string)
        };
        let Some(text) = body(lines[i]) else {
            i += 1;
            continue;
        };
        let trimmed = text.trim_start();
        let is_test = names.iter().any(|n| {
            trimmed.starts_with(&format!("def {n}("))
                || trimmed.starts_with(&format!("async def {n}("))
        });
        if !is_test {
            i += 1;
            continue;
        }
        let indent = text.len() - trimmed.len();
        out.push(text.clone());
        i += 1;
        while i < lines.len() {
            match body(lines[i]) {
                Some(t) if t.trim().is_empty() || t.len() - t.trim_start().len() > indent => {
                    out.push(t);
                    i += 1;
                }
                _ => break,
            }
        }
        out.push(String::new());
    }
    if out.is_empty() {
        return task.test_patch.clone();
    }
    out.join("\n").trim_end().to_string()
}

fn head(s: &str, n: usize) -> &str {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The user prompt for `task`.
pub fn user_prompt(task: &Task) -> String {
    let failure = task
        .extra
        .get("old_log")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    USER_PROMPT
        .replace("{{repo}}", &task.repo)
        .replace("{{gold_patch}}", head(&task.gold_patch, MAX_PATCH))
        .replace("{{test_source}}", &failing_test_source(task))
        .replace("{{failure_output}}", tail(failure, MAX_FAILURE).trim())
}

/// Asks the model for the issue text of `task`, sending a bad reply back
/// once. `Ok(Err(problem))` when the second reply is bad too.
pub async fn write_issue(
    client: &dyn Client,
    task: &Task,
    opts: &IssueOptions,
) -> Result<std::result::Result<String, String>> {
    let mut messages = vec![
        Message::system(SYSTEM_PROMPT),
        Message::user(user_prompt(task)),
    ];
    let mut problem = String::new();
    for _ in 0..2 {
        let req =
            ChatRequest::new(opts.model.clone(), messages.clone()).temperature(opts.temperature);
        let reply = client.chat(&req).await?;
        let text = reply.content.trim().to_string();
        match check_reply(task, &text) {
            Ok(()) => return Ok(Ok(text)),
            Err(p) => {
                messages.push(Message::assistant(text));
                messages.push(Message::user(RETRY_PROMPT.replace("{{problem}}", &p)));
                problem = p;
            }
        }
    }
    Ok(Err(format!("rejected twice: {problem}")))
}

/// Writes an issue text for every task of the dataset `tasks`, appending the
/// tasks with their `problem_statement` to `out` (JSONL) and failures to
/// [`errors_path`]`(out)`. Tasks already in either file are skipped.
pub async fn issue_jsonl(
    client: &dyn Client,
    tasks: &Path,
    out: &Path,
    opts: &IssueOptions,
    on_event: &mut (dyn FnMut(IssueEvent) + Send),
) -> Result<IssueSummary> {
    let is_jsonl = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    if !is_jsonl {
        return Err(Error::Config {
            path: out.to_path_buf(),
            message: "the issue stage writes JSONL (name the output *.jsonl); convert with \
                      `r2e dataset convert` afterwards"
                .into(),
        });
    }
    let input = r2e_core::dataset::load(tasks, &Default::default())?.tasks;
    let (mut writer, done) = JsonlWriter::<Task>::open(out)?;
    let (mut errors, failed) = JsonlWriter::<IssueFailure>::open(&errors_path(out))?;
    let done_ids: BTreeSet<String> = done
        .iter()
        .map(|t| t.task_id.clone())
        .chain(failed.iter().map(|f| f.task_id.clone()))
        .collect();
    let todo: Vec<&Task> = input
        .iter()
        .filter(|t| !done_ids.contains(&t.task_id))
        .collect();
    let mut summary = IssueSummary {
        input: input.len(),
        already_done: input.len() - todo.len(),
        written: done.len(),
        failed: failed.len(),
    };
    on_event(IssueEvent::Planned {
        total: input.len(),
        already_done: summary.already_done,
    });
    let mut stream = futures_util::stream::iter(todo)
        .map(|t| async move { (t, write_issue(client, t, opts).await) })
        .buffer_unordered(opts.workers.max(1));
    while let Some((task, result)) = stream.next().await {
        let error = match result {
            Ok(Ok(text)) => {
                let mut t = task.clone();
                t.problem_statement = text;
                writer.append(&t)?;
                summary.written += 1;
                None
            }
            Ok(Err(problem)) => Some(problem),
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = &error {
            errors.append(&IssueFailure {
                task_id: task.task_id.clone(),
                error: error.clone(),
            })?;
            summary.failed += 1;
        }
        on_event(IssueEvent::Done {
            task_id: task.task_id.clone(),
            error,
        });
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_are_found_in_both_formats() {
        assert_eq!(test_function("tests/test_a.py::test_x"), "test_x");
        assert_eq!(test_function("tests/test_a.py::C::test_x[1-2]"), "test_x");
        assert_eq!(test_function("test_x (tests.test_a.C.test_x)"), "test_x");
    }
}
