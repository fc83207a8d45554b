//! Which parts of an agent's patch may reach the reward.
//!
//! The reward runs the hidden tests on a fresh copy of the task's repository
//! with only the agent's patch applied. A patch could still fake a pass by
//! editing what decides the verdict rather than the code under test, so before
//! it is applied [`guard`] drops whole file diffs that touch:
//!
//! - **paths outside the repository** (absolute, or with a `..` component);
//! - **the hidden tests**: files of the task's test patch or shipped test
//!   files, the files its FAIL_TO_PASS / PASS_TO_PASS ids name, R2E-Gym's
//!   `r2e_tests/` and `run_tests.sh`;
//! - **the environment**: `.venv/` (where R2E-Gym images keep the task's
//!   Python), bytecode and `__pycache__`;
//! - **test hooks**: `conftest.py`, `sitecustomize.py`, `usercustomize.py`,
//!   `*.pth`, and the files that configure pytest (`pytest.ini`, `tox.ini`,
//!   `setup.cfg`, `pyproject.toml`);
//! - **test files** by R2E-Gym's path rule ([`crate::parsed_commit::is_test_path`]).
//!
//! Test hooks and test files stay when the task's gold patch edits the same
//! path (a fix may live in `django/test/`), so the gold patch always passes
//! through whole. What is left out is reported, never silently lost.

use crate::Task;
use std::collections::HashSet;

/// Why a file of a patch was left out of the reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// An absolute path or one with a `..` component.
    OutsideRepository,
    /// A file the hidden tests consist of or run.
    HiddenTest,
    /// The task's Python environment or bytecode.
    Environment,
    /// A file that can change how tests are collected or reported.
    TestHook,
    /// A test file by R2E-Gym's path rule.
    TestFile,
}

impl Exclusion {
    /// A short phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Exclusion::OutsideRepository => "outside the repository",
            Exclusion::HiddenTest => "a hidden test",
            Exclusion::Environment => "the Python environment",
            Exclusion::TestHook => "a test hook or test configuration",
            Exclusion::TestFile => "a test file",
        }
    }
}

/// One file diff left out of the reward.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Excluded {
    /// The path the diff names (the new path for renames).
    pub path: String,
    /// Why it was left out.
    pub reason: Exclusion,
}

/// An agent's patch with the parts that may not reach the reward removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardedPatch {
    /// The file diffs that stay, in their original order and bytes.
    pub patch: String,
    /// The file diffs left out.
    pub excluded: Vec<Excluded>,
}

/// Applies the rules of this module to `patch` (a `git diff` output) for `task`.
pub fn guard(patch: &str, task: &Task) -> GuardedPatch {
    let rules = Rules::for_task(task);
    let mut out = GuardedPatch::default();
    for chunk in file_chunks(patch) {
        let paths = chunk_paths(chunk);
        match paths
            .iter()
            .find_map(|p| rules.exclusion(p).map(|r| (p, r)))
        {
            Some((path, reason)) => out.excluded.push(Excluded {
                path: path.clone(),
                reason,
            }),
            None => out.patch.push_str(chunk),
        }
    }
    out
}

/// The paths a task protects, computed once per patch.
struct Rules {
    hidden: HashSet<String>,
    gold: HashSet<String>,
}

impl Rules {
    fn for_task(task: &Task) -> Self {
        let mut hidden: HashSet<String> = task.test_files.iter().map(|f| f.path.clone()).collect();
        hidden.extend(patch_paths(&task.test_patch));
        for id in task.fail_to_pass.iter().chain(&task.pass_to_pass) {
            // pytest ids: `path/to/test_x.py::Class::test`.
            if let Some((file, _)) = id.split_once("::")
                && file.ends_with(".py")
            {
                hidden.insert(file.to_string());
            }
        }
        Rules {
            hidden,
            gold: patch_paths(&task.gold_patch).into_iter().collect(),
        }
    }

    fn exclusion(&self, path: &str) -> Option<Exclusion> {
        let parts: Vec<&str> = path.split('/').collect();
        if path.starts_with('/') || parts.contains(&"..") {
            return Some(Exclusion::OutsideRepository);
        }
        let name = parts.last().copied().unwrap_or(path);
        if self.hidden.contains(path)
            || parts.first() == Some(&"r2e_tests")
            || path == "run_tests.sh"
        {
            return Some(Exclusion::HiddenTest);
        }
        if parts.iter().any(|p| matches!(*p, ".venv" | "__pycache__"))
            || name.ends_with(".pyc")
            || name.ends_with(".pyo")
        {
            return Some(Exclusion::Environment);
        }
        if self.gold.contains(path) {
            return None;
        }
        if matches!(
            name,
            "conftest.py"
                | "sitecustomize.py"
                | "usercustomize.py"
                | "pytest.ini"
                | "tox.ini"
                | "setup.cfg"
                | "pyproject.toml"
        ) || name.ends_with(".pth")
        {
            return Some(Exclusion::TestHook);
        }
        crate::parsed_commit::is_test_path(path).then_some(Exclusion::TestFile)
    }
}

/// Splits a `git diff` output into its file diffs (each from its `diff --git`
/// line to the next); text before the first one is dropped.
pub fn file_chunks(patch: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in patch.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| &patch[s..starts.get(i + 1).copied().unwrap_or(patch.len())])
        .collect()
}

/// Every repository path a patch touches (old and new sides).
pub fn patch_paths(patch: &str) -> Vec<String> {
    file_chunks(patch)
        .into_iter()
        .flat_map(chunk_paths)
        .collect()
}

/// The paths one file diff names: from `---`/`+++`, `rename`/`copy` lines and
/// the `diff --git` header (the only place binary and mode-only diffs name them).
fn chunk_paths(chunk: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut push = |p: String| {
        if !paths.contains(&p) {
            paths.push(p);
        }
    };
    let mut lines = chunk.lines();
    if let Some(header) = lines.next().and_then(|l| l.strip_prefix("diff --git ")) {
        for p in header_paths(header) {
            push(p);
        }
    }
    for line in lines {
        if line.starts_with("@@") {
            break;
        }
        let named = ["--- a/", "+++ b/"]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
            .or_else(|| {
                ["rename from ", "rename to ", "copy from ", "copy to "]
                    .iter()
                    .find_map(|prefix| line.strip_prefix(prefix))
            });
        if let Some(p) = named {
            push(unquote(p.trim_end_matches('\t')));
        } else if let Some(p) = ["--- \"a/", "+++ \"b/"]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
        {
            push(unquote(&format!("\"{p}")));
        }
    }
    paths
}

/// The two paths of a `diff --git a/X b/Y` header without their prefixes.
fn header_paths(header: &str) -> Vec<String> {
    if header.starts_with('"') {
        // Quoted: `"a/x" "b/y"` or `"a/x" b/y`.
        let (first, rest) = split_quoted(header);
        let second = rest.trim_start();
        let second = if second.starts_with('"') {
            split_quoted(second).0
        } else {
            second.to_string()
        };
        return [first, second]
            .into_iter()
            .filter_map(|p| strip_side(&p))
            .collect();
    }
    // Unquoted and not a rename: `a/P b/P`, so P is half of what is left.
    if header.len() >= 5 && header.len() % 2 == 1 {
        let n = (header.len() - 5) / 2;
        if header.is_char_boundary(2 + n)
            && header.starts_with("a/")
            && header[2 + n..].starts_with(" b/")
            && header[2..2 + n] == header[5 + n..]
        {
            return vec![header[2..2 + n].to_string()];
        }
    }
    // A rename with unquoted paths: the `rename` lines name both.
    header
        .split_once(" b/")
        .and_then(|(a, b)| Some(vec![a.strip_prefix("a/")?.to_string(), b.to_string()]))
        .unwrap_or_default()
}

fn strip_side(p: &str) -> Option<String> {
    p.strip_prefix("a/")
        .or_else(|| p.strip_prefix("b/"))
        .map(str::to_string)
}

/// Splits a leading C-quoted string off `s`: (its unquoted text, the rest).
fn split_quoted(s: &str) -> (String, &str) {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return (unquote(&s[..=i]), &s[i + 1..]),
            _ => i += 1,
        }
    }
    (unquote(s), "")
}

/// Undoes git's C-style quoting of a path (`"a/x\tb"`); unquoted paths pass
/// through. Octal escapes are UTF-8 bytes.
fn unquote(p: &str) -> String {
    let Some(inner) = p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) else {
        return p.to_string();
    };
    let mut out = Vec::with_capacity(inner.len());
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let c = bytes[i + 1];
        i += 2;
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b'0'..=b'3'
                if i + 1 < bytes.len()
                    && bytes[i..i + 2].iter().all(|b| (b'0'..=b'7').contains(b)) =>
            {
                let value = (c - b'0') * 64 + (bytes[i] - b'0') * 8 + (bytes[i + 1] - b'0');
                i += 2;
                value
            }
            other => other,
        });
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    strip_side(&text).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceFormat;

    fn task() -> Task {
        serde_json::from_value(serde_json::json!({
            "task_id": "t", "source": "swe_bench", "repo": "o/r", "base_commit": "abc",
            "image": "i", "problem_statement": "p",
            "gold_patch": file_diff("django/test/utils.py"),
            "test_patch": file_diff("tests/test_hidden.py"),
            "fail_to_pass": ["pkg/checks/test_f2p.py::test_x"],
            "pass_to_pass": ["test (module.Case)"],
        }))
        .unwrap()
    }

    fn file_diff(path: &str) -> String {
        format!(
            "diff --git a/{path} b/{path}\nindex 1..2 100644\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
        )
    }

    fn new_file(path: &str) -> String {
        format!(
            "diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0..2\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+b\n"
        )
    }

    fn excluded(patch: &str) -> Vec<(String, Exclusion)> {
        let g = guard(patch, &task());
        g.excluded.into_iter().map(|e| (e.path, e.reason)).collect()
    }

    #[test]
    fn source_changes_pass_through_byte_for_byte() {
        let patch = format!("{}{}", file_diff("pkg/core.py"), new_file("pkg/new.py"));
        let g = guard(&patch, &task());
        assert_eq!(g.patch, patch);
        assert!(g.excluded.is_empty());
        assert_eq!(task().source, SourceFormat::SweBench);
    }

    #[test]
    fn hidden_tests_hooks_and_test_files_are_left_out() {
        let patch = [
            file_diff("tests/test_hidden.py"),
            file_diff("pkg/checks/test_f2p.py"),
            new_file("conftest.py"),
            new_file("src/sitecustomize.py"),
            new_file("zz.pth"),
            file_diff("setup.cfg"),
            new_file(".venv/bin/python3"),
            new_file("r2e_tests/test_1.py"),
            file_diff("tests/helpers.py"),
            file_diff("pkg/core.py"),
        ]
        .concat();
        let g = guard(&patch, &task());
        assert_eq!(g.patch, file_diff("pkg/core.py"));
        assert_eq!(
            excluded(&patch),
            vec![
                ("tests/test_hidden.py".into(), Exclusion::HiddenTest),
                ("pkg/checks/test_f2p.py".into(), Exclusion::HiddenTest),
                ("conftest.py".into(), Exclusion::TestHook),
                ("src/sitecustomize.py".into(), Exclusion::TestHook),
                ("zz.pth".into(), Exclusion::TestHook),
                ("setup.cfg".into(), Exclusion::TestHook),
                (".venv/bin/python3".into(), Exclusion::Environment),
                ("r2e_tests/test_1.py".into(), Exclusion::HiddenTest),
                ("tests/helpers.py".into(), Exclusion::TestFile),
            ]
        );
    }

    #[test]
    fn a_path_the_gold_patch_edits_stays_even_under_a_test_directory() {
        let patch = file_diff("django/test/utils.py");
        assert_eq!(guard(&patch, &task()).patch, patch);
    }

    #[test]
    fn deletions_renames_binaries_and_quoted_paths_are_recognised() {
        let deletion = "diff --git a/tests/test_hidden.py b/tests/test_hidden.py\ndeleted file mode 100644\nindex 1..0\n--- a/tests/test_hidden.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n";
        let rename = "diff --git a/pkg/a.py b/tests/test_b.py\nsimilarity index 100%\nrename from pkg/a.py\nrename to tests/test_b.py\n";
        let binary = "diff --git a/conftest.py b/conftest.py\nnew file mode 100644\nindex 0..1\nGIT binary patch\nliteral 1\nIcmZpX00001\n\nliteral 0\nHcmV?d00001\n\n";
        let quoted = "diff --git \"a/tests/t\\303\\251st.py\" \"b/tests/t\\303\\251st.py\"\nnew file mode 100644\n--- /dev/null\n+++ \"b/tests/t\\303\\251st.py\"\n@@ -0,0 +1 @@\n+x\n";
        let outside = "diff --git a/../etc/passwd b/../etc/passwd\n--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n";
        let patch = [deletion, rename, binary, quoted, outside].concat();
        let g = guard(&patch, &task());
        assert_eq!(g.patch, "");
        assert_eq!(
            excluded(&patch),
            vec![
                ("tests/test_hidden.py".into(), Exclusion::HiddenTest),
                ("tests/test_b.py".into(), Exclusion::TestFile),
                ("conftest.py".into(), Exclusion::TestHook),
                ("tests/tést.py".into(), Exclusion::TestFile),
                ("../etc/passwd".into(), Exclusion::OutsideRepository),
            ]
        );
    }

    #[test]
    fn header_paths_with_spaces_are_split_at_their_middle() {
        assert_eq!(header_paths("a/x b/y.py b/x b/y.py"), vec!["x b/y.py"]);
        assert_eq!(
            patch_paths(&file_diff("dir with space/f.py")),
            vec!["dir with space/f.py"]
        );
    }
}
