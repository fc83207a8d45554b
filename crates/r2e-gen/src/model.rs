//! The row types of stage 1 (`mine`): one [`MinedCommit`] per commit, written as
//! one JSON object per line. Later stages read these rows, so field names are a
//! contract: add fields with `#[serde(default)]`, never rename them.

use serde::{Deserialize, Serialize};

/// One commit as mined from the history: metadata, per-file diff statistics, the
/// patch split into gold (non-test) and test parts, and the Python entities it
/// touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinedCommit {
    /// Full hex id of the commit.
    pub hash: String,
    /// Full hex id of the (first) parent; `None` for root commits.
    #[serde(default)]
    pub parent: Option<String>,
    /// Author name.
    #[serde(default)]
    pub author: String,
    /// Author date as seconds since the Unix epoch.
    pub author_time: i64,
    /// Author date as RFC 3339 with the author's UTC offset.
    pub author_date: String,
    /// Committer date as seconds since the Unix epoch (what `--exclude-newer` style
    /// pins should use: the commit existed from then on).
    #[serde(default)]
    pub commit_time: i64,
    /// First line of the message.
    pub subject: String,
    /// Full commit message.
    pub message: String,
    /// A merge commit, mined (as R2E-Gym mines it) with its diff against its
    /// first parent: on projects that merge pull requests, the whole
    /// request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// Why the commit was not analysed (merge, root, unreadable objects); `None`
    /// for analysed commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
    /// One entry per changed file, in tree order.
    #[serde(default)]
    pub files: Vec<FileChange>,
    /// Lines added over all files (binary files count 0).
    #[serde(default)]
    pub added: u32,
    /// Lines removed over all files (binary files count 0).
    #[serde(default)]
    pub removed: u32,
    /// The non-test part of the change (source, docs, other) as a `git apply`-able
    /// unified diff against `parent`.
    #[serde(default)]
    pub gold_patch: String,
    /// The test part of the change as a `git apply`-able unified diff against `parent`.
    #[serde(default)]
    pub test_patch: String,
}

impl MinedCommit {
    /// A row for commit `hash` with nothing filled in yet (the miner fills it).
    pub fn empty(hash: impl Into<String>) -> Self {
        MinedCommit {
            hash: hash.into(),
            parent: None,
            author: String::new(),
            author_time: 0,
            author_date: rfc3339(0, 0),
            commit_time: 0,
            subject: String::new(),
            message: String::new(),
            merge: false,
            skipped: None,
            files: Vec::new(),
            added: 0,
            removed: 0,
            gold_patch: String::new(),
            test_patch: String::new(),
        }
    }
}

/// Why a commit was recorded without analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// A merge commit: its change is not one edit against one parent.
    Merge {
        /// Number of parents.
        parents: usize,
    },
    /// The first commit of a history: there is no parent to diff against.
    Root,
    /// Objects of the commit could not be read or decoded.
    Error {
        /// What went wrong.
        message: String,
    },
}

impl SkipReason {
    /// A short, stable label (`merge`, `root`, `error`) for funnels and logs.
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::Merge { .. } => "merge",
            SkipReason::Root => "root",
            SkipReason::Error { .. } => "error",
        }
    }
}

/// What role a file plays in the repository, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Program code that is not a test.
    Source,
    /// Tests and their data (R2E-Gym's path rules plus `conftest.py`).
    Test,
    /// Documentation: `.md`, `.rst`, `.txt`, or under a `docs/`/`doc/` directory.
    Docs,
    /// Anything else: configuration, data, build files, ...
    Other,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// New in this commit.
    Added,
    /// Present before and after.
    Modified,
    /// Removed in this commit.
    Deleted,
    /// Moved from [`FileChange::old_path`], possibly with edits.
    Renamed,
}

/// One changed file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path after the commit (before it, for deletions).
    pub path: String,
    /// Path before the commit, for renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// Added, modified, deleted or renamed.
    pub status: FileStatus,
    /// Source, test, docs or other, from the path.
    pub kind: FileKind,
    /// Lines added.
    pub added: u32,
    /// Lines removed.
    pub removed: u32,
    /// Number of hunks in the unified diff (3 lines of context).
    #[serde(default)]
    pub hunks: u32,
    /// Characters of this file's part of the patch.
    #[serde(default)]
    pub patch_chars: u32,
    /// Set when the file is not in the patch text: `binary` (NUL bytes),
    /// `not_utf8`, or `submodule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
    /// Python entities touched, for `.py` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PyChanges>,
}

impl FileChange {
    /// Lines added plus lines removed.
    pub fn edited_lines(&self) -> u32 {
        self.added + self.removed
    }

    /// Whether the path ends with `.py`.
    pub fn is_python(&self) -> bool {
        self.path.ends_with(".py")
    }
}

/// The Python entities of one file that the commit added, edited or deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PyChanges {
    /// Entities present only after the commit (lines refer to the new file).
    #[serde(default)]
    pub added: Vec<Entity>,
    /// Entities present on both sides whose code changed once comments and
    /// docstrings are stripped and whitespace is normalised (new-file lines).
    #[serde(default)]
    pub edited: Vec<Entity>,
    /// Entities present only before the commit (lines refer to the old file).
    #[serde(default)]
    pub deleted: Vec<Entity>,
    /// Distinct top-level statements (not defs, classes or imports) on changed
    /// lines, old and new side together: R2E-Gym's "statement entities".
    #[serde(default)]
    pub statements: u32,
    /// Whether the module's code changed at all beyond comments, docstrings and
    /// whitespace.
    #[serde(default)]
    pub code_changed: bool,
    /// Whether tree-sitter found syntax errors on either side (entities are then
    /// best effort).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parse_error: bool,
    /// The same change as R2E-Gym's miner sees it (the `r2e-gym` filter
    /// preset reads this); `None` in rows mined before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gym: Option<GymChanges>,
}

/// One Python file's change as R2E-Gym's miner records it
/// (`commit_to_ast.py`): the top-level entities that hold a changed line of a
/// hunk, on either side, each counted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GymChanges {
    /// Touched functions, classes, methods and imports, in the order R2E-Gym
    /// first meets them.
    #[serde(default)]
    pub entities: Vec<GymEntity>,
    /// Distinct touched top-level statements (by text), `from` imports
    /// included.
    #[serde(default)]
    pub statements: u32,
    /// Whether a touched statement's text is new (R2E-Gym: an added entity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub statement_added: bool,
    /// Whether a modified top-level function or class changed beyond comments
    /// and docstrings (R2E-Gym compares `ast.unparse` without docstrings; r2e's
    /// token normalisation stands in for it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code_changed: bool,
    /// Whether CPython 3 would reject either side (tree-sitter errors, Python 2
    /// syntax, a byte-order mark): R2E-Gym's miner drops such commits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub syntax_error: bool,
    /// Test files only: for each distinct entity text, the words written right
    /// before a `(` in it (`name(` is in the text exactly when one of them ends
    /// with `name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<Vec<String>>,
}

/// An entity of [`GymChanges`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GymEntity {
    /// Function, class, method or import.
    pub kind: GymKind,
    /// `func`, `Class`, `Class.method`, or an import's first dotted name.
    pub name: String,
    /// Modified, added or deleted.
    pub status: GymStatus,
    /// Index into [`GymChanges::texts`] (test files): the entity's source as
    /// R2E-Gym keeps it (a method's is its whole class; a modified entity's is
    /// the old side's when the first hunk touching it removes one of its lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<u32>,
}

impl GymEntity {
    /// The last component of the name, as R2E-Gym matches it.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// R2E-Gym's entity types, statements aside (they are only counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GymKind {
    /// A module-level `def`.
    Function,
    /// A module-level `class` (nested classes are part of it).
    Class,
    /// A `def` directly in a module-level class.
    Method,
    /// An `import` statement (not `from ... import`, which is a statement).
    Import,
}

/// How R2E-Gym classes a touched entity: by name for definitions, by text
/// for imports and statements, against the other side's entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GymStatus {
    /// On both sides.
    Modified,
    /// Only after the commit.
    Added,
    /// Only before it.
    Deleted,
}

/// What sort of Python definition an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A module-level `def`.
    Function,
    /// A `class`, at module level or nested in a class.
    Class,
    /// A `def` directly in a class body.
    Method,
}

/// A Python definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Qualified name: `func`, `Class`, `Class.method`, `Outer.Inner.method`.
    pub name: String,
    /// Function, class or method.
    pub kind: EntityKind,
    /// First line (1-based, decorators included).
    pub start_line: u32,
    /// Last line (1-based, inclusive).
    pub end_line: u32,
    /// For entities in test files: the names this entity calls (`f` for `f(...)`
    /// and `x.f(...)`), sorted and deduplicated, for the test-to-change match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
}

impl Entity {
    /// The last component of the qualified name (`method` for `Class.method`).
    pub fn short_name(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }
}

/// Formats seconds since the epoch with a UTC offset (seconds east) as RFC 3339,
/// e.g. `2024-03-01T12:00:00+01:00`.
pub fn rfc3339(seconds: i64, offset: i32) -> String {
    let local = seconds + i64::from(offset);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{sign}{:02}:{:02}",
        off / 3600,
        (off % 3600) / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_offsets() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_709_294_400, 3600), "2024-03-01T13:00:00+01:00");
        assert_eq!(
            rfc3339(1_709_294_400, -5 * 3600 - 1800),
            "2024-03-01T06:30:00-05:30"
        );
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00+00:00");
    }
}
