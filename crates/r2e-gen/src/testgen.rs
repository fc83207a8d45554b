//! Stage 5, `testgen`: for bug fixes that came without usable tests, a model
//! writes a test module against the change, and the module goes through the
//! same validation as mined tests ([`crate::validate`]).
//!
//! The commits are those the filter rejected only for their tests
//! ([`select_commits`]; by default the rules `test_entity_edit`, no test
//! edits, and `test_match`, tests that do not exercise the change: such
//! commits passed every earlier rule). Per commit:
//!
//! ```text
//! prompt (prompts/tests_system.md, tests_user.md): repository, commit message,
//!   gold patch (capped), edited definitions, test framework (the workspace's
//!   runner), the module's path and test command
//!   → reply: one Python module in a fenced code block
//!   → checked: a code block, parses (tree-sitter-python, no ERROR/MISSING
//!     node), defines a test function          ── else: feedback, next attempt
//!   → test patch adding the module as a new file; the commit's own test edits
//!     dropped → validate_commit (old code fails, new code passes, twice)
//!   → Valid: done                              ── else: reason, old/new
//!     statuses and the end of the old-code log (prompts/tests_retry.md) →
//!     next attempt, up to `attempts`
//! ```
//!
//! **Where the module goes.** `DIR/test_r2e_gen_SHORT.py` (SHORT: 12 hex
//! digits of the commit), where DIR is the directory of the first test module
//! the commit itself touched, else the directory most test modules of the
//! mined rows live in ([`Selection::test_dir`]), else `tests`.
//!
//! **Output.** The final [`ValidatedCommit`] of each commit is appended to a
//! resumable JSONL file (`tests_validated.jsonl`; a rerun skips commits
//! already in it, error rows included: remove a row to retry it), with
//! [`ValidatedCommit::generated_tests`] set when its test patch is the
//! model's, so its task carries `extra.tests_generated = true`. A
//! [`TestGenRecord`] per commit (every attempt's reason and module) goes to
//! [`attempts_path`]. A model that errors, or answers without a usable module
//! on every attempt, gives an [`Outcome::Error`] row whose reason starts with
//! a label (`llm_error`, `no_code_block`, `empty_module`, `syntax_error`,
//! `no_tests`); the other commits go on.

use crate::error::Result;
use crate::model::{EntityKind, FileChange, FileKind, FileStatus, MinedCommit};
use crate::udiff::quote_path;
use crate::validate::{
    Engines, Outcome, Runner, ValidateOptions, ValidatedCommit, Workspace, Workspaces, docker_name,
    origin_name, repo_name, validate_commit, write_tasks,
};
use futures_util::StreamExt;
use r2e_core::jsonl::JsonlWriter;
use r2e_llm::{ChatRequest, Client, Message};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The system prompt.
pub const SYSTEM_PROMPT: &str = include_str!("../prompts/tests_system.md");
/// The user prompt; `{{repo}}`, `{{message}}`, `{{gold_patch}}`,
/// `{{entities}}`, `{{framework}}`, `{{test_path}}` and `{{test_cmd}}` are
/// filled in.
pub const USER_PROMPT: &str = include_str!("../prompts/tests_user.md");
/// The follow-up after an unusable module; `{{reason}}` and `{{details}}`
/// are filled in.
pub const RETRY_PROMPT: &str = include_str!("../prompts/tests_retry.md");

/// The filter rules whose rejected commits get generated tests by default.
pub const DEFAULT_RULES: &[&str] = &["test_entity_edit", "test_match"];
/// Directory of generated modules when nothing shows where tests live.
pub const DEFAULT_TEST_DIR: &str = "tests";
/// Reason labels of attempts that produced no usable module (the final row is
/// an [`Outcome::Error`] when the last attempt ended so).
pub const MODULE_FAILURES: &[&str] = &[
    "llm_error",
    "no_code_block",
    "empty_module",
    "syntax_error",
    "no_tests",
];

/// Characters of the gold patch shown to the model.
const MAX_PATCH: usize = 12_000;
/// Characters of the commit message shown to the model.
const MAX_MESSAGE: usize = 2_000;
/// Characters of the old-code log sent back (its end).
const MAX_LOG: usize = 3_000;
/// Test statuses listed per side in feedback.
const MAX_STATUSES: usize = 40;

/// Settings of [`generate_tests_jsonl`] and [`run_stage`].
#[derive(Debug, Clone)]
pub struct TestGenOptions {
    /// Model name sent to the server.
    pub model: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Commits worked on at the same time.
    pub workers: usize,
    /// Modules asked for per commit, the first included (at least 1).
    pub attempts: usize,
    /// Filter rules whose rejected commits are selected ([`run_stage`]).
    pub rules: Vec<String>,
    /// Take at most this many selected commits, newest first ([`run_stage`]).
    pub max: Option<usize>,
    /// Directory of generated modules for commits that show none of their
    /// own; `None`: [`Selection::test_dir`] in [`run_stage`], else
    /// [`DEFAULT_TEST_DIR`].
    pub test_dir: Option<String>,
    /// How modules are validated: image, repository name, test timeout,
    /// task images, environments (`workers` is not used here).
    pub validate: ValidateOptions,
}

impl Default for TestGenOptions {
    fn default() -> Self {
        TestGenOptions {
            model: String::new(),
            temperature: 0.7,
            workers: 2,
            attempts: 3,
            rules: DEFAULT_RULES.iter().map(|r| r.to_string()).collect(),
            max: None,
            test_dir: None,
            validate: ValidateOptions::default(),
        }
    }
}

/// One model answer and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestGenAttempt {
    /// Why the module was not kept; `None` for the valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The module taken from the reply, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// Every attempt for one commit: a row of [`attempts_path`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestGenRecord {
    /// Full hex id of the commit.
    pub hash: String,
    /// Repository name.
    pub repo: String,
    /// Where the module was put (relative to the repository root).
    pub test_path: String,
    /// The final outcome (the row of the validated file).
    pub outcome: Outcome,
    /// The final reason, when not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The attempts in order.
    #[serde(default)]
    pub attempts: Vec<TestGenAttempt>,
}

/// Progress of [`generate_tests_jsonl`].
#[derive(Debug, Clone)]
pub enum TestGenEvent {
    /// The repository image is being built (once per image).
    Preparing,
    /// How many commits will be worked on.
    Planned {
        /// Commits given.
        total: usize,
        /// Of those, already in the output.
        already_done: usize,
    },
    /// One commit finished.
    Done {
        /// Its final row.
        row: Box<ValidatedCommit>,
        /// Model answers it took (0 when rejected without asking).
        attempts: usize,
    },
}

/// Counts of a test-generation run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestGenSummary {
    /// Commits given (after selection and `max`).
    pub input: usize,
    /// Already in the output from an earlier run.
    pub already_done: usize,
    /// Rows by label ([`row_label`]), this run and earlier runs together.
    pub by_reason: BTreeMap<String, usize>,
    /// Valid rows in the output.
    pub valid: usize,
    /// Model answers received in this run.
    pub replies: usize,
    /// Tasks written ([`run_stage`] only).
    pub tasks: usize,
}

/// The commits to write tests for, and where the repository's tests live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Mined rows of the selected commits, in the order of the commits file.
    pub commits: Vec<MinedCommit>,
    /// The directory holding most test modules (`test_*.py`, `*_test.py`)
    /// over all mined rows; `Some("")` for the repository root, `None` when
    /// no row shows a test module.
    pub test_dir: Option<String>,
}

/// The output files of [`run_stage`] under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestGenPaths {
    /// `tests_validated.jsonl`: one [`ValidatedCommit`] per commit, resumable.
    pub validated: PathBuf,
    /// `tests_tasks.jsonl`: the valid rows as r2e tasks.
    pub tasks: PathBuf,
    /// `tests_validated.attempts.jsonl`: one [`TestGenRecord`] per commit.
    pub attempts: PathBuf,
}

/// The output files under `dir`.
pub fn output_paths(dir: &Path) -> TestGenPaths {
    let validated = dir.join("tests_validated.jsonl");
    TestGenPaths {
        attempts: attempts_path(&validated),
        tasks: dir.join("tests_tasks.jsonl"),
        validated,
    }
}

/// The attempts file next to `out`: `NAME.attempts.jsonl` for `NAME.jsonl`.
/// When a run was killed between the two appends a commit may have several
/// records; the last one is current.
pub fn attempts_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tests_validated".into());
    out.with_file_name(format!("{stem}.attempts.jsonl"))
}

/// The label of a row for tables: the module-failure label of an error row
/// whose model gave no usable module ([`MODULE_FAILURES`]), else
/// [`ValidatedCommit::reason_label`].
pub fn row_label(row: &ValidatedCommit) -> String {
    if row.outcome == Outcome::Error
        && let Some(label) = row.reason.as_deref().and_then(|r| {
            MODULE_FAILURES
                .iter()
                .find(|l| r.starts_with(&format!("{l}:")))
        })
    {
        return label.to_string();
    }
    row.reason_label().to_string()
}

/// Whether `path` names a module a runner runs (`test_*.py`, `*_test.py`).
fn is_test_module(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
}

/// The directory of a path (`""` for a file at the root).
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Test modules of a commit's files that exist after it.
fn test_module_files(c: &MinedCommit) -> impl Iterator<Item = &FileChange> {
    c.files.iter().filter(|f| {
        f.kind == FileKind::Test
            && f.status != FileStatus::Deleted
            && f.omitted.is_none()
            && is_test_module(&f.path)
    })
}

/// Reads the commits (`commits.jsonl` of `r2e gen mine`) whose first failing
/// filter rule (`rejected.jsonl` of `r2e gen filter --rejected`) is one of
/// `rules`, and the directory most of the mined rows' test modules are in.
pub fn select_commits(commits: &Path, rejected: &Path, rules: &[String]) -> Result<Selection> {
    #[derive(Deserialize)]
    struct Rejected {
        hash: String,
        rule: String,
    }
    let wanted: BTreeSet<String> = crate::jsonl::read_rows::<Rejected>(rejected)?
        .into_iter()
        .filter(|r| rules.contains(&r.rule))
        .map(|r| r.hash)
        .collect();
    let mut selection = Selection::default();
    let mut dirs: BTreeMap<String, usize> = BTreeMap::new();
    crate::jsonl::for_each_row(commits, |c: MinedCommit| {
        for f in test_module_files(&c) {
            *dirs.entry(dir_of(&f.path).to_string()).or_default() += 1;
        }
        if wanted.contains(&c.hash) {
            selection.commits.push(c);
        }
        Ok(())
    })?;
    // Most modules first; the first directory in name order among ties.
    selection.test_dir = dirs
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(d, _)| d);
    Ok(selection)
}

/// The first 12 hex digits of a commit id.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Where the generated module of `c` goes: `DIR/test_r2e_gen_SHORT.py`, DIR
/// being the directory of the first test module `c` touches, else
/// `fallback_dir` (`""`: the repository root).
pub fn test_path(c: &MinedCommit, fallback_dir: &str) -> String {
    let mut own: Vec<&str> = test_module_files(c).map(|f| f.path.as_str()).collect();
    own.sort();
    let dir = own.first().map_or(fallback_dir, |p| dir_of(p));
    let dir = dir.trim_matches('/');
    let file = format!("test_r2e_gen_{}.py", short(&c.hash));
    if dir.is_empty() {
        file
    } else {
        format!("{dir}/{file}")
    }
}

/// A `git apply`-able diff that adds `content` as the new regular file
/// `path`: `new file mode 100644`, `--- /dev/null`, one hunk of every line,
/// and git's marker when the last line has no newline. An empty `content`
/// gives the header alone (git's form of a new empty file).
pub fn new_file_patch(path: &str, content: &str) -> String {
    let b = quote_path("b/", path);
    let mut s = format!(
        "diff --git {} {b}\nnew file mode 100644\n",
        quote_path("a/", path)
    );
    if content.is_empty() {
        return s;
    }
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    s.push_str(&format!("--- /dev/null\n+++ {b}\n"));
    if lines.len() == 1 {
        s.push_str("@@ -0,0 +1 @@\n");
    } else {
        s.push_str(&format!("@@ -0,0 +1,{} @@\n", lines.len()));
    }
    for line in lines {
        s.push('+');
        s.push_str(line);
        if !line.ends_with('\n') {
            s.push_str("\n\\ No newline at end of file\n");
        }
    }
    s
}

/// `c` with its test edits dropped and no test patch.
fn without_tests(c: &MinedCommit) -> MinedCommit {
    let mut out = c.clone();
    out.files.retain(|f| f.kind != FileKind::Test);
    out.test_patch.clear();
    out
}

/// `c` with its own test edits dropped and `module` added as the new test
/// file `path`: the test patch adds it, and a [`FileChange`] of kind test,
/// status added, lists it, so validation runs it.
pub fn with_generated_tests(c: &MinedCommit, path: &str, module: &str) -> MinedCommit {
    let mut out = c.clone();
    out.files.retain(|f| f.kind != FileKind::Test);
    out.test_patch = new_file_patch(path, module);
    let lines = u32::try_from(module.split_inclusive('\n').count()).unwrap_or(u32::MAX);
    out.files.push(FileChange {
        path: path.to_string(),
        old_path: None,
        status: FileStatus::Added,
        kind: FileKind::Test,
        added: lines,
        removed: 0,
        hunks: u32::from(lines > 0),
        patch_chars: u32::try_from(out.test_patch.len()).unwrap_or(u32::MAX),
        omitted: None,
        python: None,
    });
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    out.added = out.files.iter().map(|f| f.added).sum();
    out.removed = out.files.iter().map(|f| f.removed).sum();
    out
}

/// One fenced block of a reply.
struct Block {
    lang: String,
    body: String,
}

/// The fenced code blocks of `text` (``` or ~~~, three or more); a block left
/// open runs to the end of the text.
fn fenced_blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        let fence = if t.starts_with("```") {
            '`'
        } else if t.starts_with("~~~") {
            '~'
        } else {
            i += 1;
            continue;
        };
        let n = t.chars().take_while(|&ch| ch == fence).count();
        let lang = t[n..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let indent = line.len() - t.len();
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() {
            let u = lines[i].trim();
            if u.len() >= n && u.chars().all(|ch| ch == fence) {
                i += 1;
                break;
            }
            let l = lines[i];
            let strip = l
                .char_indices()
                .take(indent)
                .take_while(|(_, ch)| *ch == ' ')
                .count();
            body.push(&l[strip..]);
            i += 1;
        }
        blocks.push(Block {
            lang,
            body: body.join("\n"),
        });
    }
    blocks
}

/// The test module in a reply: among the fenced blocks marked `python`
/// (`py`, `python3`), then the unmarked ones, the first that has a `def
/// test`, else the first; checked with [`check_module`]. `Err(reason)` (starting with a label of
/// [`MODULE_FAILURES`]) when there is none or it is unusable.
pub fn extract_module(reply: &str) -> std::result::Result<String, String> {
    let text = reply.replace("\r\n", "\n");
    let blocks = fenced_blocks(&text);
    let candidates: Vec<&Block> = blocks
        .iter()
        .filter(|b| matches!(b.lang.as_str(), "python" | "py" | "python3"))
        .chain(blocks.iter().filter(|b| b.lang.is_empty()))
        .collect();
    let block = candidates
        .iter()
        .find(|b| b.body.contains("def test"))
        .or_else(|| candidates.first())
        .ok_or_else(|| {
            "no_code_block: the reply has no fenced ```python code block holding the test module"
                .to_string()
        })?;
    let module = block.body.trim_matches('\n');
    if module.trim().is_empty() {
        return Err("empty_module: the code block is empty".into());
    }
    let module = format!("{module}\n");
    check_module(&module)?;
    Ok(module)
}

/// Checks that `src` parses as Python (tree-sitter-python: no ERROR or
/// MISSING node) and defines a test function (`def test...`, at any depth).
/// `Err(reason)` says what is wrong and where.
pub fn check_module(src: &str) -> std::result::Result<(), String> {
    let lang: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&lang)
        .map_err(|e| format!("syntax_error: the Python grammar could not be loaded ({e})"))?;
    let tree = parser
        .parse(src, None)
        .ok_or_else(|| "syntax_error: the module could not be parsed".to_string())?;
    let root = tree.root_node();
    let mut tests = 0usize;
    let mut first_error: Option<tree_sitter::Node> = None;
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let earlier = first_error.is_none_or(|e| node.start_byte() < e.start_byte());
            if earlier {
                first_error = Some(node);
            }
            continue;
        }
        if node.kind() == "function_definition"
            && node
                .child_by_field_name("name")
                .and_then(|n| n.utf8_text(src.as_bytes()).ok())
                .is_some_and(|name| name.starts_with("test"))
        {
            tests += 1;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    if let Some(e) = first_error.filter(|_| root.has_error()) {
        let row = e.start_position().row;
        let line = src.lines().nth(row).unwrap_or("").trim();
        let line: String = line.chars().take(100).collect();
        let what = if e.is_missing() {
            format!("missing `{}`", e.kind())
        } else {
            "invalid syntax".to_string()
        };
        return Err(format!(
            "syntax_error: the module does not parse as Python ({what} at line {}: `{line}`)",
            row + 1
        ));
    }
    if tests == 0 {
        return Err(
            "no_tests: the module defines no test function (a `def test_...` the runner collects)"
                .into(),
        );
    }
    Ok(())
}

fn head(s: &str, n: usize) -> (&str, bool) {
    let mut end = s.len().min(n);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], end < s.len())
}

/// The definitions a commit's non-test Python files edit, add and delete, one
/// Markdown list item each.
fn entity_list(c: &MinedCommit) -> String {
    let kind = |k: EntityKind| match k {
        EntityKind::Function => "function",
        EntityKind::Class => "class",
        EntityKind::Method => "method",
    };
    let mut items = Vec::new();
    for f in c.files.iter().filter(|f| f.kind != FileKind::Test) {
        let Some(py) = &f.python else { continue };
        for (what, list) in [
            ("edited", &py.edited),
            ("added", &py.added),
            ("deleted", &py.deleted),
        ] {
            for e in list {
                items.push(format!(
                    "- `{}` ({}, {what}) in `{}`",
                    e.name,
                    kind(e.kind),
                    f.path
                ));
            }
        }
    }
    if items.is_empty() {
        return "- (none found; module-level code changed, see the change)".into();
    }
    items.join("\n")
}

/// How the prompt names a runner.
fn framework(runner: Runner) -> &'static str {
    match runner {
        Runner::Pytest => {
            "pytest. Write plain `def test_...():` functions with `assert`; pytest's helpers \
             (`pytest.raises`, `tmp_path`, `monkeypatch`, parametrize) are available."
        }
        Runner::Unittest => {
            "unittest (pytest is not installed). Write `unittest.TestCase` classes with \
             `test_...` methods, using only the standard library."
        }
    }
}

/// The user prompt for commit `c` of repository `repo`, whose module goes to
/// `test_path` and runs with `runner`.
pub fn user_prompt(c: &MinedCommit, repo: &str, runner: Runner, test_path: &str) -> String {
    let (patch, cut) = head(&c.gold_patch, MAX_PATCH);
    let patch = if cut {
        format!("{patch}\n[... the rest of the change is left out ...]")
    } else {
        patch.trim_end().to_string()
    };
    let message = if c.message.trim().is_empty() {
        c.subject.trim()
    } else {
        c.message.trim()
    };
    let (message, _) = head(message, MAX_MESSAGE);
    USER_PROMPT
        .replace("{{repo}}", repo)
        .replace("{{message}}", message.trim())
        .replace("{{gold_patch}}", &patch)
        .replace("{{entities}}", &entity_list(c))
        .replace("{{framework}}", framework(runner))
        .replace("{{test_path}}", test_path)
        .replace("{{test_cmd}}", &runner.command(&[test_path.to_string()]))
}

/// What a validation reason means for the author of the module.
fn explain(reason: &str) -> Option<&'static str> {
    let label = reason.split([':', ' ']).next().unwrap_or(reason);
    Some(match label {
        "no_fail_to_pass" => {
            "no test failed on the code before the change and passed after it: the tests \
             passed before the change already, or failed on both sides, so they do not \
             check what the change fixes"
        }
        "breaks_passing" => "a test that passed before the change fails after it",
        "test_sets_differ" => {
            "the runs before and after the change collected different tests (a test or \
             the module errors at import or collection on one side)"
        }
        "no_test_results" => {
            "no test result could be read from the run after the change (the module may \
             fail to import, or collect no tests)"
        }
        "test_patch_does_not_apply" => "the module could not be added to the repository",
        _ => return None,
    })
}

fn status_lines(statuses: &BTreeMap<String, String>) -> String {
    if statuses.is_empty() {
        return "(none)".into();
    }
    let mut lines: Vec<String> = statuses
        .iter()
        .take(MAX_STATUSES)
        .map(|(id, s)| format!("- {id}: {s}"))
        .collect();
    if statuses.len() > MAX_STATUSES {
        lines.push(format!("- ... {} more", statuses.len() - MAX_STATUSES));
    }
    lines.join("\n")
}

/// The follow-up after an unusable module: `reason`, and for a module that
/// ran, its statuses on both sides and the end of the old-code log.
pub fn retry_prompt(reason: &str, row: Option<&ValidatedCommit>) -> String {
    let reason = match explain(reason) {
        Some(why) => format!("{reason} ({why})"),
        None => reason.to_string(),
    };
    let details = match row {
        None => String::new(),
        Some(row) => {
            let new = if row.expected_statuses.is_empty() {
                "(not recorded)".to_string()
            } else {
                status_lines(&row.expected_statuses)
            };
            let log = crate::text::tail(&row.old_log, MAX_LOG).trim();
            format!(
                "Test statuses on the code before the change:\n{}\n\n\
                 Test statuses on the code after the change:\n{new}\n\n\
                 The end of the test output on the code before the change:\n\n```\n{}\n```\n\n",
                status_lines(&row.old_statuses),
                if log.is_empty() { "(no output)" } else { log }
            )
        }
    };
    RETRY_PROMPT
        .replace("{{reason}}", &reason)
        .replace("{{details}}", &details)
}

/// Asks the model for tests of `c` and validates them in `ws`, feeding every
/// unusable module back, up to [`TestGenOptions::attempts`] answers. Never
/// fails: model and sandbox errors become [`Outcome::Error`] rows. Returns the
/// final row and the record of the attempts.
pub async fn generate_for_commit(
    client: &dyn Client,
    engines: Engines<'_>,
    ws: &Workspace,
    c: &MinedCommit,
    name: &str,
    test_path: &str,
    opts: &TestGenOptions,
) -> (ValidatedCommit, TestGenRecord) {
    let bare = without_tests(c);
    let mut messages = vec![
        Message::system(SYSTEM_PROMPT),
        Message::user(user_prompt(c, name, ws.runner, test_path)),
    ];
    let total = opts.attempts.max(1);
    let mut attempts: Vec<TestGenAttempt> = Vec::new();
    let mut row = ValidatedCommit::new(&bare, name);
    for n in 1..=total {
        let req =
            ChatRequest::new(opts.model.clone(), messages.clone()).temperature(opts.temperature);
        let reply = match client.chat(&req).await {
            Ok(reply) => reply.content,
            Err(e) => {
                let reason = format!("llm_error: {e}");
                attempts.push(TestGenAttempt {
                    reason: Some(reason.clone()),
                    module: None,
                });
                row = ValidatedCommit::new(&bare, name);
                row.outcome = Outcome::Error;
                row.reason = Some(reason);
                break;
            }
        };
        messages.push(Message::assistant(reply.clone()));
        let module = match extract_module(&reply) {
            Ok(module) => module,
            Err(reason) => {
                attempts.push(TestGenAttempt {
                    reason: Some(reason.clone()),
                    module: None,
                });
                messages.push(Message::user(retry_prompt(&reason, None)));
                row = ValidatedCommit::new(&bare, name);
                row.outcome = Outcome::Error;
                row.reason = Some(format!("{reason} (attempt {n} of {total})"));
                continue;
            }
        };
        let candidate = with_generated_tests(c, test_path, &module);
        row = validate_commit(engines, ws, &candidate, name, &opts.validate).await;
        row.generated_tests = true;
        attempts.push(TestGenAttempt {
            reason: row.reason.clone().filter(|_| row.outcome != Outcome::Valid),
            module: Some(module),
        });
        match row.outcome {
            Outcome::Valid => break,
            // The sandbox failed, not the model: asking again does not help.
            Outcome::Error => break,
            Outcome::Rejected => {
                let reason = row.reason.clone().unwrap_or_else(|| "rejected".into());
                messages.push(Message::user(retry_prompt(&reason, Some(&row))));
                row.reason = Some(format!("{reason} (attempt {n} of {total})"));
            }
        }
    }
    let record = TestGenRecord {
        hash: c.hash.clone(),
        repo: name.to_string(),
        test_path: test_path.to_string(),
        outcome: row.outcome,
        reason: row.reason.clone(),
        attempts,
    };
    (row, record)
}

/// Writes tests for each of `commits` (mined rows of the repository at
/// `repo`; see [`select_commits`]), appending the final [`ValidatedCommit`]
/// of each to `out` and its [`TestGenRecord`] to [`attempts_path`]`(out)`.
/// Commits already in `out` are skipped. Errors only when a file cannot be
/// read or written or an image cannot be prepared. `engines`: a
/// `DockerProvider` for everything on one engine, or [`Engines`] to run the
/// tests elsewhere.
pub async fn generate_tests_jsonl<'a>(
    client: &dyn Client,
    engines: impl Into<Engines<'a>>,
    repo: &Path,
    commits: &[MinedCommit],
    out: &Path,
    opts: &TestGenOptions,
    on_event: &mut (dyn FnMut(TestGenEvent) + Send),
) -> Result<TestGenSummary> {
    let engines = engines.into();
    let (mut writer, done) = JsonlWriter::<ValidatedCommit>::open(out)?;
    let (mut records, _) = JsonlWriter::<TestGenRecord>::open(&attempts_path(out))?;
    let mut summary = TestGenSummary {
        input: commits.len(),
        ..Default::default()
    };
    let done_hashes: BTreeSet<&str> = done.iter().map(|r| r.hash.as_str()).collect();
    for r in &done {
        *summary.by_reason.entry(row_label(r)).or_default() += 1;
    }
    let mut seen = BTreeSet::new();
    let todo: Vec<&MinedCommit> = commits
        .iter()
        .filter(|c| !done_hashes.contains(c.hash.as_str()) && seen.insert(c.hash.as_str()))
        .collect();
    summary.already_done = commits.len() - todo.len();
    let name = opts
        .validate
        .repo_name
        .as_deref()
        .map(docker_name)
        .unwrap_or_else(|| repo_name(repo));
    let fallback = opts.test_dir.as_deref().unwrap_or(DEFAULT_TEST_DIR);
    let mut workspaces = Workspaces::new(engines.docker, repo, &name, &opts.validate)
        .with_commits(todo.iter().copied());
    type Planned<'c> = (
        &'c MinedCommit,
        String,
        std::result::Result<Workspace, String>,
    );
    let mut plan: Vec<Planned> = Vec::new();
    for c in todo {
        let path = test_path(c, fallback);
        // A stand-in module, so that the static checks see a test to run.
        let probe = with_generated_tests(c, &path, "def test_placeholder():\n    pass\n");
        if workspaces.needs_preparing(&probe) {
            on_event(TestGenEvent::Preparing);
        }
        let ws = workspaces.for_commit(&probe).await?;
        plan.push((c, path, ws));
    }
    on_event(TestGenEvent::Planned {
        total: commits.len(),
        already_done: summary.already_done,
    });
    let name = name.as_str();
    let mut stream = futures_util::stream::iter(plan)
        .map(|(c, path, ws)| async move {
            match ws {
                Ok(ws) => generate_for_commit(client, engines, &ws, c, name, &path, opts).await,
                Err(why) => {
                    let row = ValidatedCommit::new(&without_tests(c), name).reject(why);
                    let record = TestGenRecord {
                        hash: c.hash.clone(),
                        repo: name.to_string(),
                        test_path: path,
                        outcome: row.outcome,
                        reason: row.reason.clone(),
                        attempts: Vec::new(),
                    };
                    (row, record)
                }
            }
        })
        .buffer_unordered(opts.workers.max(1));
    let origin = origin_name(repo);
    while let Some((mut row, record)) = stream.next().await {
        row.origin = origin.clone();
        records.append(&record)?;
        writer.append(&row)?;
        summary.replies += record
            .attempts
            .iter()
            .filter(|a| {
                !a.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("llm_error:"))
            })
            .count();
        *summary.by_reason.entry(row_label(&row)).or_default() += 1;
        on_event(TestGenEvent::Done {
            row: Box::new(row),
            attempts: record.attempts.len(),
        });
    }
    drop(stream);
    let all: Vec<ValidatedCommit> = r2e_core::jsonl::read(out)?;
    summary.valid = all.iter().filter(|r| r.outcome == Outcome::Valid).count();
    Ok(summary)
}

/// The commits [`run_stage`] works on: [`select_commits`] by `opts.rules`,
/// at most `opts.max` of them. (`r2e gen run` builds their environments
/// before stage 5 runs.)
pub fn selected(commits: &Path, rejected: &Path, opts: &TestGenOptions) -> Result<Selection> {
    let mut selection = select_commits(commits, rejected, &opts.rules)?;
    if let Some(max) = opts.max {
        selection.commits.truncate(max);
    }
    Ok(selection)
}

/// The whole stage for one repository: [`select_commits`] by
/// [`TestGenOptions::rules`] (at most [`TestGenOptions::max`]), then
/// [`generate_tests_jsonl`] into [`output_paths`]`(dir)`, then the tasks of the
/// valid rows to `tests_tasks.jsonl` (rewritten whole). Resumable.
#[allow(clippy::too_many_arguments)]
pub async fn run_stage<'a>(
    client: &dyn Client,
    engines: impl Into<Engines<'a>>,
    repo: &Path,
    commits: &Path,
    rejected: &Path,
    dir: &Path,
    opts: &TestGenOptions,
    on_event: &mut (dyn FnMut(TestGenEvent) + Send),
) -> Result<TestGenSummary> {
    let selection = selected(commits, rejected, opts)?;
    let rows = selection.commits;
    let mut opts = opts.clone();
    if opts.test_dir.is_none() {
        opts.test_dir = selection.test_dir;
    }
    let paths = output_paths(dir);
    let mut summary = generate_tests_jsonl(
        client,
        engines,
        repo,
        &rows,
        &paths.validated,
        &opts,
        on_event,
    )
    .await?;
    summary.tasks = write_tasks(&paths.validated, &paths.tasks)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_header_counts_lines_and_marks_a_missing_newline() {
        let p = new_file_patch("tests/test_x.py", "a\nb\n");
        assert!(p.contains("new file mode 100644\n--- /dev/null\n+++ b/tests/test_x.py\n"));
        assert!(p.ends_with("@@ -0,0 +1,2 @@\n+a\n+b\n"), "{p}");
        let p = new_file_patch("t.py", "a");
        assert!(
            p.ends_with("@@ -0,0 +1 @@\n+a\n\\ No newline at end of file\n"),
            "{p}"
        );
        let p = new_file_patch("t.py", "a\nb");
        assert!(
            p.ends_with("@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n"),
            "{p}"
        );
    }

    #[test]
    fn modules_are_taken_from_code_blocks_and_checked() {
        let reply =
            "Here:\n\n```diff\n-x\n```\n\n```python\ndef test_a():\n    assert 1\n```\nDone.";
        assert_eq!(
            extract_module(reply).as_deref(),
            Ok("def test_a():\n    assert 1\n")
        );
        let unmarked = "```\nimport os\n\n\ndef test_b():\n    pass\n```";
        assert!(extract_module(unmarked).is_ok());
        let usage_first = "```python\n>>> f(1)\n```\n\n```python\ndef test_u():\n    pass\n```";
        assert_eq!(
            extract_module(usage_first).as_deref(),
            Ok("def test_u():\n    pass\n")
        );
        let indented = "1. The module:\n   ```py\n   def test_c():\n       pass\n   ```\n";
        assert_eq!(
            extract_module(indented).as_deref(),
            Ok("def test_c():\n    pass\n")
        );
        let crlf = "```python\r\ndef test_d():\r\n    pass\r\n```\r\n";
        assert_eq!(
            extract_module(crlf).as_deref(),
            Ok("def test_d():\n    pass\n")
        );
        let err = |r: &str| extract_module(r).unwrap_err();
        assert!(err("def test_a(): pass").starts_with("no_code_block:"));
        assert!(err("```python\n\n```").starts_with("empty_module:"));
        let bad = err("```python\nimport os\n\ndef test_a(:\n    assert 1\n```");
        assert!(
            bad.starts_with("syntax_error:") && bad.contains("line 3"),
            "{bad}"
        );
        assert!(err("```python\nx = 1\n```").starts_with("no_tests:"));
        let class = "```python\nimport unittest\n\nclass T(unittest.TestCase):\n    def test_e(self):\n        pass\n```";
        assert!(extract_module(class).is_ok());
    }

    #[test]
    fn test_paths_follow_the_commit_then_the_fallback() {
        let mut c = MinedCommit::empty("0123456789abcdef0123");
        assert_eq!(test_path(&c, "tests"), "tests/test_r2e_gen_0123456789ab.py");
        assert_eq!(test_path(&c, ""), "test_r2e_gen_0123456789ab.py");
        c.files.push(FileChange {
            path: "pkg/tests/unit/test_calc.py".into(),
            old_path: None,
            status: FileStatus::Modified,
            kind: FileKind::Test,
            added: 1,
            removed: 0,
            hunks: 1,
            patch_chars: 10,
            omitted: None,
            python: None,
        });
        assert_eq!(
            test_path(&c, "tests"),
            "pkg/tests/unit/test_r2e_gen_0123456789ab.py"
        );
        let g = with_generated_tests(&c, "tests/test_g.py", "def test_g():\n    pass\n");
        assert_eq!(g.files.len(), 1);
        assert_eq!(g.files[0].status, FileStatus::Added);
        assert_eq!(crate::validate::test_modules(&g), ["tests/test_g.py"]);
    }

    #[test]
    fn retry_prompts_explain_the_reason() {
        let p = retry_prompt("no_code_block: the reply has no fenced block", None);
        assert!(p.contains("no_code_block: the reply has no fenced block"));
        let mut row = ValidatedCommit::new(&MinedCommit::empty("ab"), "r");
        row.old_statuses
            .insert("t.py::test_a".into(), "PASSED".into());
        row.old_log = "1 passed".into();
        let p = retry_prompt("no_fail_to_pass", Some(&row));
        assert!(p.contains("passed before the change already"), "{p}");
        assert!(p.contains("- t.py::test_a: PASSED"), "{p}");
        assert!(p.contains("```\n1 passed\n```"), "{p}");
    }
}
