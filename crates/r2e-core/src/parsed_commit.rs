//! R2E-Gym's `ParsedCommit` (the `parsed_commit_content` column), read-only.
//!
//! R2E-Gym stores each commit as a JSON dump of its pydantic `ParsedCommit`
//! (`r2egym.commit_models.diff_classes`): a list of `file_diffs`, each with a
//! header naming the file, an optional `index` line, `---`/`+++` file names and
//! hunks of typed lines. Only the parts needed to rebuild unified diffs are
//! modelled here; everything else in the JSON is ignored.

use serde::Deserialize;
use std::fmt::Write as _;

/// A commit as R2E-Gym parsed it.
#[derive(Debug, Clone, Deserialize)]
pub struct ParsedCommit {
    /// One entry per file the commit touches.
    pub file_diffs: Vec<FileDiff>,
    /// The parent commit (the buggy state the task starts from).
    #[serde(default)]
    pub old_commit_hash: Option<String>,
    /// The commit itself (the fixed state).
    #[serde(default)]
    pub new_commit_hash: Option<String>,
}

/// The changes to one file.
#[derive(Debug, Clone, Deserialize)]
pub struct FileDiff {
    /// The `diff --git` header.
    pub header: FileDiffHeader,
    /// The `index <old>..<new> <mode>` line, if the diff had one.
    #[serde(default)]
    pub index_line: Option<IndexLine>,
    /// Whether git reported the file as binary (no hunks then).
    #[serde(default)]
    pub is_binary_file: bool,
    /// The `--- ` file name, with its `a/` prefix or `/dev/null`.
    #[serde(default)]
    pub minus_file: Option<FileInfo>,
    /// The `+++ ` file name, with its `b/` prefix or `/dev/null`.
    #[serde(default)]
    pub plus_file: Option<FileInfo>,
    /// The hunks, in file order.
    #[serde(default)]
    pub hunks: Vec<Hunk>,
}

/// `diff --git a/<path> b/<path>` plus the optional extended header line.
#[derive(Debug, Clone, Deserialize)]
pub struct FileDiffHeader {
    /// The file the header names.
    pub file: FileInfo,
    /// An extended header such as `new file mode 100644`.
    #[serde(default)]
    pub misc_line: Option<String>,
}

/// A file name as it appears in the diff.
#[derive(Debug, Clone, Deserialize)]
pub struct FileInfo {
    /// The path (repository-relative in headers; prefixed in `---`/`+++` lines).
    pub path: String,
}

/// `index <old>..<new>[ <mode>]`.
#[derive(Debug, Clone, Deserialize)]
pub struct IndexLine {
    /// Blob id before.
    pub old_commit_hash: String,
    /// Blob id after.
    pub new_commit_hash: String,
    /// File mode, empty when the line had none.
    #[serde(default)]
    pub mode: String,
}

/// One `@@` hunk.
#[derive(Debug, Clone, Deserialize)]
pub struct Hunk {
    /// The `@@ -a,b +c,d @@ section` line.
    pub descriptor: HunkDescriptor,
    /// The hunk's lines.
    pub line_group: LineGroup,
}

/// The ranges and section heading of a hunk.
#[derive(Debug, Clone, Deserialize)]
pub struct HunkDescriptor {
    /// Lines in the old file.
    pub old_range: Range,
    /// Lines in the new file.
    pub new_range: Range,
    /// The function context git prints after the second `@@`.
    #[serde(default)]
    pub section: String,
}

/// `start[,length]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    /// First line.
    pub start: u64,
    /// Line count, absent when git omitted it (a count of one).
    #[serde(default)]
    pub length: Option<u64>,
}

/// The lines of a hunk, in order.
#[derive(Debug, Clone, Deserialize)]
pub struct LineGroup {
    /// Every line, typed.
    pub all_lines: Vec<Line>,
}

/// One line of a hunk, without its leading marker.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    /// The text after the marker.
    pub content: String,
    /// What the marker was.
    #[serde(rename = "type")]
    pub kind: LineKind,
}

/// The marker of a hunk line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// ` ` unchanged.
    Context,
    /// `+` added.
    Added,
    /// `-` deleted.
    Deleted,
    /// `\` a note such as "No newline at end of file".
    Note,
}

impl LineKind {
    fn marker(self) -> char {
        match self {
            LineKind::Context => ' ',
            LineKind::Added => '+',
            LineKind::Deleted => '-',
            LineKind::Note => '\\',
        }
    }
}

/// R2E-Gym's test-file rule (`FileDiff.is_test_file`): a `*_test.py` file, a file
/// whose name starts with `test_`, or anything under a `tests`, `Tests`, `test` or
/// `Test` directory.
pub fn is_test_path(path: &str) -> bool {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    path.ends_with("_test.py")
        || file_name.starts_with("test_")
        || path
            .split('/')
            .any(|part| matches!(part, "tests" | "Tests" | "test" | "Test"))
}

impl FileDiff {
    /// The repository-relative path the header names.
    pub fn path(&self) -> &str {
        &self.header.file.path
    }

    /// Whether R2E-Gym counts this file as a test file (see [`is_test_path`]).
    pub fn is_test_file(&self) -> bool {
        is_test_path(self.path())
    }

    /// Appends this file's unified diff to `out`, in the layout git prints.
    pub fn render_into(&self, out: &mut String) {
        let path = self.path();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "diff --git a/{path} b/{path}");
        if let Some(misc) = &self.header.misc_line {
            let _ = writeln!(out, "{misc}");
        }
        if let Some(index) = &self.index_line {
            let _ = write!(
                out,
                "index {}..{}",
                index.old_commit_hash, index.new_commit_hash
            );
            if !index.mode.is_empty() {
                let _ = write!(out, " {}", index.mode);
            }
            out.push('\n');
        }
        if let (Some(minus), Some(plus)) = (&self.minus_file, &self.plus_file) {
            let _ = writeln!(out, "--- {}\n+++ {}", minus.path, plus.path);
        }
        for hunk in &self.hunks {
            let d = &hunk.descriptor;
            let _ = write!(out, "@@ -{} +{} @@", d.old_range, d.new_range);
            if !d.section.is_empty() {
                let _ = write!(out, " {}", d.section);
            }
            out.push('\n');
            for line in &hunk.line_group.all_lines {
                out.push(line.kind.marker());
                out.push_str(&line.content);
                out.push('\n');
            }
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.length {
            Some(length) => write!(f, "{},{}", self.start, length),
            None => write!(f, "{}", self.start),
        }
    }
}

impl ParsedCommit {
    /// The unified diff of the non-test files: the reference fix.
    ///
    /// Binary files are left out (their diffs carry no content to apply), as are
    /// test files, which R2E-Gym hides from the agent and grades separately.
    pub fn gold_patch(&self) -> String {
        let mut out = String::new();
        for diff in &self.file_diffs {
            if !diff.is_binary_file && !diff.is_test_file() {
                diff.render_into(&mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::is_test_path;

    #[test]
    fn test_paths_follow_r2e_gym() {
        for path in [
            "tests/test_web.py",
            "aiohttp/test/helpers.py",
            "pkg/Tests/x.py",
            "test_top.py",
            "pkg/test_mod.py",
            "pkg/mod_test.py",
        ] {
            assert!(is_test_path(path), "{path}");
        }
        for path in [
            "aiohttp/web.py",
            "testing/util.py",
            "pkg/contest.py",
            "CHANGES.rst",
        ] {
            assert!(!is_test_path(path), "{path}");
        }
    }
}
