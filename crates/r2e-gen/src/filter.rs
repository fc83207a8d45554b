//! Stage 2: keep the commits that look like small, testable bug fixes.
//!
//! The rules are R2E-Gym's commit heuristics (`commit_data_heuristics.py` and
//! the `RepoAnalysisLoadArgs` defaults, with the bug-edit, test-entity and
//! test-match filters switched on as its environment-generation guide runs
//! them), each named, switchable and with its numbers in [`FilterConfig`].
//! Rules run in the order of [`RULES`]; a commit is counted against the first
//! rule it fails, which gives the funnel.
//!
//! Two rule sets ([`Preset`]):
//! - `r2e-gym` (the default) reproduces R2E-Gym's candidate selection: it
//!   reads the change as R2E-Gym's miner records it ([`crate::gym`]: top-level
//!   entities touched by a changed line, imports and statements included), uses
//!   R2E-Gym's test-file rule (no `conftest.py`) and its extension split (on
//!   the whole path), matches tests by the raw text `name(`, and drops what
//!   R2E-Gym's miner does not store (renamed files, files that are not text,
//!   paths git quotes, Python files CPython 3 rejects).
//! - `r2e` is broader: "edited" entities are those whose code changed beyond
//!   comments, docstrings and whitespace (R2E-Gym counts every entity a changed
//!   line falls in); `bug_edit.min_edited = 1` drops commits that only add
//!   entities; `code_change` also counts module-level code; tests match by
//!   the names they call, and `test_match.file_names` also accepts
//!   `test_foo.py` for an edited `foo.py`.

use crate::classify::{extension, is_r2egym_test_path};
use crate::error::{Error, Result};
use crate::jsonl;
use crate::model::{
    EntityKind, FileChange, FileKind, FileStatus, GymChanges, GymKind, GymStatus, MinedCommit,
};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The rules in the order they run, with a one-line description each.
pub const RULES: &[(&str, &str)] = &[
    (
        "analysed",
        "mined: not a root commit (nor a merge under --no-merges), and readable",
    ),
    (
        "stored",
        "R2E-Gym's miner keeps it: no renamed file, all text, Python 3 parses",
    ),
    ("has_non_test_change", "edits at least one non-test line"),
    ("non_test_files", "fewer non-test files than the limit"),
    (
        "non_test_edited_lines",
        "fewer edited non-test lines than the limit",
    ),
    ("patch_chars", "patch shorter than the limit"),
    (
        "file_types",
        "only allowed file types, with Python among them",
    ),
    (
        "code_change",
        "a non-test Python change beyond comments and docstrings",
    ),
    (
        "bug_edit",
        "entity counts of a bug fix (added, edited, deleted, statements)",
    ),
    (
        "test_entity_edit",
        "adds or edits a test function, class or method",
    ),
    (
        "test_match",
        "an edited test relates to an edited source entity or file",
    ),
];

/// A named rule set (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Preset {
    /// R2E-Gym's candidate selection, exactly.
    #[default]
    #[serde(rename = "r2e-gym")]
    R2eGym,
    /// r2e's broader rules.
    #[serde(rename = "r2e")]
    R2e,
}

impl Preset {
    /// The presets' names, for messages.
    pub const NAMES: &str = "r2e-gym, r2e";

    /// Its name, as configs and `--preset` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::R2eGym => "r2e-gym",
            Preset::R2e => "r2e",
        }
    }

    /// The preset called `name`.
    pub fn parse(name: &str) -> Option<Preset> {
        [Preset::R2eGym, Preset::R2e]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// All filter rules and their parameters. Every field has its preset's
/// default (R2E-Gym's numbers), so a config file only names what it changes.
/// Unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Which rule set the rules follow.
    pub preset: Preset,
    /// The commit is one R2E-Gym's miner stores (`r2e-gym` only).
    pub stored: Toggle,
    /// At least one non-test file, hunk and edited line.
    pub has_non_test_change: Toggle,
    /// Fewer than `less_than` non-test files (R2E-Gym: 5).
    pub non_test_files: Limit,
    /// Fewer than `less_than` added + removed non-test lines (R2E-Gym: 200).
    pub non_test_edited_lines: Limit,
    /// Patch shorter than `less_than` characters (R2E-Gym: 10,000, Python files only).
    pub patch_chars: PatchChars,
    /// Only files with allowed extensions, and at least one `.py`.
    pub file_types: FileTypes,
    /// Some non-test `.py` file changes code, not only comments or docstrings.
    pub code_change: Toggle,
    /// Entity limits of a bug fix, over non-test files.
    pub bug_edit: BugEdit,
    /// Some test entity is added or edited.
    pub test_entity_edit: Toggle,
    /// Some edited test relates to an edited source entity or file.
    pub test_match: TestMatch,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self::for_preset(Preset::default())
    }
}

impl FilterConfig {
    /// The settings of a preset.
    pub fn for_preset(preset: Preset) -> Self {
        let gym = preset == Preset::R2eGym;
        Self {
            preset,
            stored: Toggle { enabled: gym },
            has_non_test_change: Toggle { enabled: true },
            non_test_files: Limit {
                enabled: true,
                less_than: 5,
            },
            non_test_edited_lines: Limit {
                enabled: true,
                less_than: 200,
            },
            patch_chars: PatchChars::default(),
            file_types: FileTypes::default(),
            code_change: Toggle { enabled: true },
            bug_edit: BugEdit {
                min_edited: if gym { 0 } else { 1 },
                ..BugEdit::default()
            },
            test_entity_edit: Toggle { enabled: true },
            test_match: TestMatch {
                file_names: !gym,
                ..TestMatch::default()
            },
        }
    }
}

/// A rule without parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    /// Whether the rule runs.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// A "fewer than" rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// Whether the rule runs.
    pub enabled: bool,
    /// The count must be strictly below this.
    pub less_than: u64,
}

impl Default for Limit {
    fn default() -> Self {
        Self {
            enabled: true,
            less_than: u64::MAX,
        }
    }
}

/// The patch-length rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PatchChars {
    /// Whether the rule runs.
    pub enabled: bool,
    /// Characters of patch (gold and test together) must be strictly below this.
    pub less_than: u64,
    /// Count only `.py` files' parts of the patch, as R2E-Gym does.
    pub python_only: bool,
}

impl Default for PatchChars {
    fn default() -> Self {
        Self {
            enabled: true,
            less_than: 10_000,
            python_only: true,
        }
    }
}

/// The file-type rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileTypes {
    /// Whether the rule runs.
    pub enabled: bool,
    /// Allowed extensions (text after the last `.`; the whole name when there is
    /// none, e.g. `Makefile`). R2E-Gym's list by default.
    pub allowed_extensions: Vec<String>,
    /// At least one changed file must be `.py`.
    pub require_python: bool,
}

impl Default for FileTypes {
    fn default() -> Self {
        let allowed = [
            "py",
            "rst",
            "yml",
            "toml",
            "sh",
            "md",
            "txt",
            "test",
            "gitignore",
            "feature",
            "removal",
            "bugfix",
            "cfg",
            "misc",
            "doc",
            "dat",
            "ini",
            "Makefile",
            "pip",
            "treerc",
            "xml",
            "pylintrc",
            "html",
            "in",
            "css",
        ];
        Self {
            enabled: true,
            allowed_extensions: allowed.iter().map(|s| s.to_string()).collect(),
            require_python: true,
        }
    }
}

/// Entity limits of a bug fix, counted over non-test files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BugEdit {
    /// Whether the rule runs.
    pub enabled: bool,
    /// At most this many deleted entities (R2E-Gym: 0).
    pub max_deleted: u32,
    /// At most this many added entities (R2E-Gym: 1).
    pub max_added: u32,
    /// At most this many added + edited + deleted entities (R2E-Gym: 4; a
    /// class counts as well as its edited method).
    pub max_touched: u32,
    /// At least this many edited (pre-existing, code-changed) entities: 1 drops
    /// commits that only add code.
    pub min_edited: u32,
    /// At most this many top-level statements on changed lines (R2E-Gym: 6).
    pub max_statements: u32,
}

impl Default for BugEdit {
    fn default() -> Self {
        Self {
            enabled: true,
            max_deleted: 0,
            max_added: 1,
            max_touched: 4,
            min_edited: 1,
            max_statements: 6,
        }
    }
}

/// How an edited test may relate to the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestMatch {
    /// Whether the rule runs.
    pub enabled: bool,
    /// A test entity whose name contains `issue` matches (R2E-Gym).
    pub issue_names: bool,
    /// A test entity whose name contains an edited non-class entity's name
    /// matches (R2E-Gym).
    pub entity_names: bool,
    /// A test entity that calls an edited non-class entity matches (R2E-Gym's
    /// `name(` in the test's source).
    pub calls: bool,
    /// A changed test file `test_foo.py`/`foo_test.py` matches an edited `foo.py`.
    pub file_names: bool,
}

impl Default for TestMatch {
    fn default() -> Self {
        Self {
            enabled: true,
            issue_names: true,
            entity_names: true,
            calls: true,
            file_names: true,
        }
    }
}

impl FilterConfig {
    /// Loads a JSON config file: its `preset` (or `preset` when given, which
    /// wins) gives the defaults, the file's other keys change them.
    pub fn load(path: &Path, preset: Option<Preset>) -> Result<Self> {
        let err = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut given: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let preset = match (preset, given.get("preset")) {
            (Some(p), _) => p,
            (None, None) => Preset::default(),
            (None, Some(v)) => serde_json::from_value(v.clone()).map_err(|_| {
                err(format!(
                    "unknown preset {v}; the presets are {}",
                    Preset::NAMES
                ))
            })?,
        };
        if let Some(obj) = given.as_object_mut() {
            obj.remove("preset");
        }
        let mut merged =
            serde_json::to_value(Self::for_preset(preset)).map_err(|e| err(e.to_string()))?;
        merge(&mut merged, given);
        serde_json::from_value(merged).map_err(|e| err(e.to_string()))
    }

    /// The first rule `c` fails, or `None` when it passes all enabled rules.
    pub fn first_failure(&self, c: &MinedCommit) -> Option<&'static str> {
        if c.skipped.is_some() {
            return Some("analysed");
        }
        let gym = self.preset == Preset::R2eGym;
        if self.stored.enabled && !stored_by_r2e_gym(c) {
            return Some("stored");
        }
        let is_test = |f: &FileChange| {
            if gym {
                is_r2egym_test_path(&f.path)
            } else {
                f.kind == FileKind::Test
            }
        };
        let non_test = || c.files.iter().filter(|f| !is_test(f));
        if self.has_non_test_change.enabled {
            let lines: u32 = non_test().map(|f| f.edited_lines()).sum();
            let hunks: u32 = c.files.iter().map(|f| f.hunks).sum();
            if non_test().next().is_none() || hunks == 0 || lines == 0 {
                return Some("has_non_test_change");
            }
        }
        if self.non_test_files.enabled && non_test().count() as u64 >= self.non_test_files.less_than
        {
            return Some("non_test_files");
        }
        if self.non_test_edited_lines.enabled
            && non_test().map(|f| u64::from(f.edited_lines())).sum::<u64>()
                >= self.non_test_edited_lines.less_than
        {
            return Some("non_test_edited_lines");
        }
        if self.patch_chars.enabled {
            let mut chars: u64 = c
                .files
                .iter()
                .filter(|f| !self.patch_chars.python_only || f.is_python())
                .map(|f| u64::from(f.patch_chars))
                .sum();
            // R2E-Gym's diff parser reads the empty line after the patch's
            // final newline as a context line of the last hunk.
            if gym
                && let Some(last) = c.files.last()
                && last.hunks > 0
                && (last.is_python() || !self.patch_chars.python_only)
            {
                chars += 2;
            }
            if chars >= self.patch_chars.less_than {
                return Some("patch_chars");
            }
        }
        if self.file_types.enabled {
            let ext = |p: &str| -> String {
                if gym {
                    p.rsplit('.').next().unwrap_or(p).to_string()
                } else {
                    extension(p).to_string()
                }
            };
            let allowed = |p: &str| self.file_types.allowed_extensions.contains(&ext(p));
            let all_allowed = c
                .files
                .iter()
                .all(|f| allowed(&f.path) && f.old_path.as_deref().is_none_or(allowed));
            let has_py = c.files.iter().any(|f| {
                if gym {
                    ext(&f.path) == "py"
                } else {
                    f.is_python()
                }
            });
            if !all_allowed || (self.file_types.require_python && !has_py) {
                return Some("file_types");
            }
        }
        if gym {
            self.gym_rules(c, &is_test)
        } else {
            self.r2e_rules(c)
        }
    }

    /// The entity rules of the `r2e` preset.
    fn r2e_rules(&self, c: &MinedCommit) -> Option<&'static str> {
        let non_test = || c.files.iter().filter(|f| f.kind != FileKind::Test);
        let tests = || c.files.iter().filter(|f| f.kind == FileKind::Test);
        let py_non_test = || non_test().filter_map(|f| f.python.as_ref());
        if self.code_change.enabled && !py_non_test().any(|p| p.code_changed || !p.added.is_empty())
        {
            return Some("code_change");
        }
        if self.bug_edit.enabled {
            let (mut added, mut edited, mut deleted, mut stmts) = (0u32, 0u32, 0u32, 0u32);
            for p in py_non_test() {
                added += p.added.len() as u32;
                edited += p.edited.len() as u32;
                deleted += p.deleted.len() as u32;
                stmts += p.statements;
            }
            if self.bug_edit.fails(added, edited, deleted, stmts) {
                return Some("bug_edit");
            }
        }
        let test_entities = || {
            tests()
                .filter_map(|f| f.python.as_ref())
                .flat_map(|p| p.added.iter().chain(p.edited.iter()))
        };
        if self.test_entity_edit.enabled && test_entities().next().is_none() {
            return Some("test_entity_edit");
        }
        if self.test_match.enabled && !self.test_matches(c) {
            return Some("test_match");
        }
        None
    }

    /// The entity rules of the `r2e-gym` preset, on R2E-Gym's view of each
    /// Python file (`bugedit_type_commit`, `has_test_entity_edit`,
    /// `has_testmatch_edit` of `commit_data_heuristics.py`).
    fn gym_rules(
        &self,
        c: &MinedCommit,
        is_test: &dyn Fn(&FileChange) -> bool,
    ) -> Option<&'static str> {
        let gym = |test: bool| {
            c.files
                .iter()
                .filter(move |f| is_test(f) == test)
                .filter_map(|f| f.python.as_ref()?.gym.as_ref())
        };
        if self.code_change.enabled
            && !gym(false).any(|g| {
                g.code_changed
                    || g.statement_added
                    || g.entities.iter().any(|e| e.status == GymStatus::Added)
            })
        {
            return Some("code_change");
        }
        if self.bug_edit.enabled {
            let count = |s: GymStatus| -> u32 {
                gym(false)
                    .map(|g| g.entities.iter().filter(|e| e.status == s).count() as u32)
                    .sum()
            };
            let stmts: u32 = gym(false).chain(gym(true)).map(|g| g.statements).sum();
            let (added, edited, deleted) = (
                count(GymStatus::Added),
                count(GymStatus::Modified),
                count(GymStatus::Deleted),
            );
            if self.bug_edit.fails(added, edited, deleted, stmts) {
                return Some("bug_edit");
            }
        }
        // Test entities: modified or added in test files, with their texts.
        let tests: Vec<(&GymChanges, &crate::model::GymEntity)> = gym(true)
            .flat_map(|g| {
                g.entities
                    .iter()
                    .filter(|e| e.status != GymStatus::Deleted)
                    .map(move |e| (g, e))
            })
            .collect();
        if self.test_entity_edit.enabled && tests.is_empty() {
            return Some("test_entity_edit");
        }
        if self.test_match.enabled {
            let m = &self.test_match;
            let issue = m.issue_names && tests.iter().any(|(_, e)| e.name.contains("issue"));
            let sources: Vec<&str> = gym(false)
                .flat_map(|g| g.entities.iter())
                .filter(|e| e.status == GymStatus::Modified && e.kind != GymKind::Class)
                .map(|e| e.short_name())
                .collect();
            let named = |name: &str| {
                (m.entity_names && tests.iter().any(|(_, t)| t.short_name().contains(name)))
                    || (m.calls
                        && tests.iter().any(|(g, t)| {
                            t.text
                                .and_then(|i| g.texts.get(i as usize))
                                .is_some_and(|words| words.iter().any(|w| w.ends_with(name)))
                        }))
            };
            let matched = issue
                || sources.iter().any(|n| named(n))
                || (m.file_names && self.file_names_match(c));
            if !matched {
                return Some("test_match");
            }
        }
        None
    }

    fn test_matches(&self, c: &MinedCommit) -> bool {
        let m = &self.test_match;
        let test_entities: Vec<_> = c
            .files
            .iter()
            .filter(|f| f.kind == FileKind::Test)
            .filter_map(|f| f.python.as_ref())
            .flat_map(|p| p.added.iter().chain(p.edited.iter()))
            .collect();
        if m.issue_names && test_entities.iter().any(|e| e.name.contains("issue")) {
            return true;
        }
        let source_names: Vec<&str> = c
            .files
            .iter()
            .filter(|f| f.kind != FileKind::Test)
            .filter_map(|f| f.python.as_ref())
            .flat_map(|p| p.edited.iter())
            .filter(|e| e.kind != EntityKind::Class)
            .map(|e| e.short_name())
            .collect();
        for name in &source_names {
            if m.entity_names && test_entities.iter().any(|t| t.short_name().contains(name)) {
                return true;
            }
            if m.calls
                && test_entities
                    .iter()
                    .any(|t| t.calls.iter().any(|c| c == name))
            {
                return true;
            }
        }
        m.file_names && self.file_names_match(c)
    }

    /// A changed test file `test_foo.py`/`foo_test.py` for a code-changed
    /// `foo.py`.
    fn file_names_match(&self, c: &MinedCommit) -> bool {
        let stem = |p: &str| -> String {
            let name = p.rsplit('/').next().unwrap_or(p);
            name.strip_suffix(".py").unwrap_or(name).to_string()
        };
        let sources: Vec<String> = c
            .files
            .iter()
            .filter(|f| f.kind != FileKind::Test && f.is_python())
            .filter(|f| f.python.as_ref().is_some_and(|p| p.code_changed))
            .map(|f| stem(&f.path))
            .collect();
        let touched_test_files = c
            .files
            .iter()
            .filter(|f| f.kind == FileKind::Test && f.is_python() && f.edited_lines() > 0)
            .map(|f| stem(&f.path));
        for t in touched_test_files {
            let t = t
                .strip_prefix("test_")
                .or_else(|| t.strip_suffix("_test"))
                .unwrap_or(&t);
            if sources.iter().any(|s| s == t) {
                return true;
            }
        }
        false
    }
}

impl BugEdit {
    /// Whether entity counts break the limits (R2E-Gym also needs one
    /// touched entity).
    fn fails(&self, added: u32, edited: u32, deleted: u32, statements: u32) -> bool {
        deleted > self.max_deleted
            || added > self.max_added
            || added + edited + deleted > self.max_touched
            || edited < self.min_edited
            || added + edited + deleted == 0
            || statements > self.max_statements
    }
}

/// Whether R2E-Gym's miner stores the commit (`store_repo_commits.py`): it
/// drops renames, files whose text is not UTF-8 (or binary), paths git
/// quotes (its diff parser does not read them back), and Python files
/// CPython 3 cannot parse.
fn stored_by_r2e_gym(c: &MinedCommit) -> bool {
    c.files.iter().all(|f| {
        f.status != FileStatus::Renamed
            && !matches!(f.omitted.as_deref(), Some("binary" | "not_utf8"))
            && crate::udiff::quote_path("", &f.path) == f.path
            && !f
                .python
                .as_ref()
                .and_then(|p| p.gym.as_ref())
                .is_some_and(|g| g.syntax_error)
    })
}

/// Whether a row lacks R2E-Gym's view of a Python file (mined by an older
/// r2e).
fn lacks_gym(c: &MinedCommit) -> bool {
    c.files
        .iter()
        .any(|f| f.python.as_ref().is_some_and(|p| p.gym.is_none()))
}

/// Puts `from`'s keys into `into`, objects key by key.
fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// How many commits each rule removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    /// Rows read.
    pub input: usize,
    /// `(rule, removed)` in rule order, disabled rules included with 0.
    pub removed: Vec<(String, usize)>,
    /// Rows kept.
    pub kept: usize,
    /// Of the kept rows, merge commits (mined against their first parent).
    #[serde(default)]
    pub kept_merges: usize,
}

impl Funnel {
    fn new() -> Self {
        Self {
            removed: RULES.iter().map(|(r, _)| (r.to_string(), 0)).collect(),
            ..Default::default()
        }
    }

    /// Commits removed by `rule` (0 for unknown names).
    pub fn removed_by(&self, rule: &str) -> usize {
        self.removed
            .iter()
            .find(|(r, _)| r == rule)
            .map_or(0, |(_, n)| *n)
    }

    /// Rows of a funnel table: rule, description, removed, remaining after it.
    pub fn table_rows(&self) -> Vec<(String, String, usize, usize)> {
        let mut left = self.input;
        self.removed
            .iter()
            .map(|(rule, n)| {
                left -= n;
                let desc = RULES.iter().find(|(r, _)| r == rule).map_or("", |(_, d)| d);
                (rule.clone(), desc.to_string(), *n, left)
            })
            .collect()
    }
}

impl std::fmt::Display for Funnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<24}{:>10}{:>10}", "rule", "removed", "left")?;
        writeln!(f, "{:<24}{:>10}{:>10}", "(input)", "", self.input)?;
        for (rule, _, n, left) in self.table_rows() {
            writeln!(f, "{rule:<24}{n:>10}{left:>10}")?;
        }
        Ok(())
    }
}

/// Filters `input` (mined rows) into `out` (kept rows, rewritten whole), and
/// optionally writes `{"hash", "rule"}` for each removed commit to `rejected`.
pub fn filter_jsonl(
    input: &Path,
    out: &Path,
    rejected: Option<&Path>,
    config: &FilterConfig,
) -> Result<Funnel> {
    let create = |p: &Path| -> Result<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)> {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = p.with_extension("jsonl.partial");
        let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok((tmp, std::io::BufWriter::new(f)))
    };
    let (out_tmp, mut kept) = create(out)?;
    let mut rej = rejected.map(create).transpose()?;
    let mut funnel = Funnel::new();
    jsonl::for_each_row(input, |row: MinedCommit| {
        funnel.input += 1;
        if config.preset == Preset::R2eGym && lacks_gym(&row) {
            return Err(Error::BadRow {
                path: input.to_path_buf(),
                line: funnel.input,
                message: "mined by an older r2e, without R2E-Gym's view of its Python files; \
                          mine again into a new file, or filter with --preset r2e"
                    .into(),
            });
        }
        match config.first_failure(&row) {
            None => {
                funnel.kept += 1;
                funnel.kept_merges += usize::from(row.merge);
                serde_json::to_writer(&mut kept, &row)
                    .map_err(std::io::Error::other)
                    .and_then(|()| kept.write_all(b"\n"))
                    .map_err(|e| Error::io(out, e))?;
            }
            Some(rule) => {
                if let Some(slot) = funnel.removed.iter_mut().find(|(r, _)| r == rule) {
                    slot.1 += 1;
                }
                if let Some((tmp, w)) = rej.as_mut() {
                    let reason = row.skipped.as_ref().map(|s| s.label());
                    let line =
                        serde_json::json!({ "hash": row.hash, "rule": rule, "skipped": reason });
                    writeln!(w, "{line}").map_err(|e| Error::io(&*tmp, e))?;
                }
            }
        }
        Ok(())
    })?;
    kept.flush().map_err(|e| Error::io(&out_tmp, e))?;
    drop(kept);
    std::fs::rename(&out_tmp, out).map_err(|e| Error::io(out, e))?;
    if let (Some((tmp, mut w)), Some(dest)) = (rej, rejected) {
        w.flush().map_err(|e| Error::io(&tmp, e))?;
        drop(w);
        std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
    }
    Ok(funnel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entity, FileChange, FileStatus, PyChanges};

    fn ent(name: &str, kind: EntityKind, calls: &[&str]) -> Entity {
        Entity {
            name: name.into(),
            kind,
            start_line: 1,
            end_line: 2,
            calls: calls.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn file(path: &str, kind: FileKind, py: PyChanges) -> FileChange {
        FileChange {
            path: path.into(),
            old_path: None,
            status: FileStatus::Modified,
            kind,
            added: 2,
            removed: 1,
            hunks: 1,
            patch_chars: 300,
            omitted: None,
            python: Some(py),
        }
    }

    fn commit(src: PyChanges, test: PyChanges) -> MinedCommit {
        MinedCommit {
            hash: "h".into(),
            parent: Some("p".into()),
            author: String::new(),
            author_time: 0,
            author_date: String::new(),
            commit_time: 0,
            subject: String::new(),
            message: String::new(),
            merge: false,
            skipped: None,
            files: vec![
                file("pkg/parse.py", FileKind::Source, src),
                file("tests/test_other.py", FileKind::Test, test),
            ],
            added: 4,
            removed: 2,
            gold_patch: String::new(),
            test_patch: String::new(),
        }
    }

    fn src(edited: Vec<Entity>, added: Vec<Entity>, deleted: Vec<Entity>) -> PyChanges {
        PyChanges {
            edited,
            added,
            deleted,
            code_changed: true,
            ..Default::default()
        }
    }

    fn test(added: Vec<Entity>) -> PyChanges {
        PyChanges {
            added,
            code_changed: true,
            ..Default::default()
        }
    }

    #[test]
    fn bug_edit_limits() {
        let cfg = FilterConfig::for_preset(Preset::R2e);
        let f = |s: PyChanges| {
            cfg.first_failure(&commit(
                s,
                test(vec![ent("test_parse_x", EntityKind::Function, &[])]),
            ))
        };
        let e = |n: &str| ent(n, EntityKind::Function, &[]);
        assert_eq!(f(src(vec![e("parse")], vec![], vec![])), None);
        assert_eq!(
            f(src(vec![], vec![e("parse")], vec![])),
            Some("bug_edit"),
            "only additions"
        );
        assert_eq!(
            f(src(vec![e("parse")], vec![], vec![e("gone")])),
            Some("bug_edit"),
            "deletion"
        );
        assert_eq!(
            f(src(vec![e("parse")], vec![e("a"), e("b")], vec![])),
            Some("bug_edit"),
            "two added"
        );
        let many = vec![e("parse"), e("a"), e("b"), e("c"), e("d")];
        assert_eq!(
            f(src(many, vec![], vec![])),
            Some("bug_edit"),
            "five touched"
        );
        let mut s = src(vec![e("parse")], vec![], vec![]);
        s.statements = 7;
        assert_eq!(f(s), Some("bug_edit"), "statements");
    }

    #[test]
    fn test_match_ways() {
        let mut cfg = FilterConfig::for_preset(Preset::R2e);
        cfg.test_match.file_names = false;
        let s = || {
            src(
                vec![ent("Parser.parse", EntityKind::Method, &[])],
                vec![],
                vec![],
            )
        };
        let t = |name: &str, calls: &[&str]| test(vec![ent(name, EntityKind::Function, calls)]);
        assert_eq!(
            cfg.first_failure(&commit(s(), t("test_parse_dates", &[]))),
            None,
            "name contains"
        );
        assert_eq!(
            cfg.first_failure(&commit(s(), t("test_dates", &["parse"]))),
            None,
            "calls"
        );
        assert_eq!(
            cfg.first_failure(&commit(s(), t("test_issue_123", &[]))),
            None,
            "issue"
        );
        assert_eq!(
            cfg.first_failure(&commit(s(), t("test_dates", &["other"]))),
            Some("test_match")
        );
        // Classes do not count for the name match.
        let class_only = src(vec![ent("parse", EntityKind::Class, &[])], vec![], vec![]);
        assert_eq!(
            cfg.first_failure(&commit(class_only, t("test_parse", &[]))),
            Some("test_match")
        );
        // Same-stem test file.
        cfg.test_match.file_names = true;
        let mut c = commit(s(), t("test_dates", &[]));
        c.files[1].path = "tests/test_parse.py".into();
        assert_eq!(cfg.first_failure(&c), None);
    }

    #[test]
    fn size_rules() {
        let cfg = FilterConfig::for_preset(Preset::R2e);
        let ok = || {
            commit(
                src(
                    vec![ent("parse", EntityKind::Function, &[])],
                    vec![],
                    vec![],
                ),
                test(vec![ent("test_parse", EntityKind::Function, &[])]),
            )
        };
        let mut c = ok();
        c.files[0].added = 150;
        c.files[0].removed = 50;
        assert_eq!(cfg.first_failure(&c), Some("non_test_edited_lines"));
        let mut c = ok();
        c.files[1].patch_chars = 9_800;
        assert_eq!(cfg.first_failure(&c), Some("patch_chars"));
        let mut c = ok();
        c.files
            .push(file("setup.json", FileKind::Other, PyChanges::default()));
        assert_eq!(cfg.first_failure(&c), Some("file_types"));
        let mut c = ok();
        c.skipped = Some(crate::model::SkipReason::Root);
        assert_eq!(cfg.first_failure(&c), Some("analysed"));
    }
}
