//! The `r2e-gym` filter preset against R2E-Gym's own definition: crafted
//! commits in a real git repository, one per rule and per known difference
//! between R2E-Gym and r2e's broader `r2e` preset, including pull requests
//! merged with merge commits.
//!
//! Each commit's expected stage was checked against R2E-Gym's code. When
//! python3 (with pydantic) and R2E-Gym's sources are here, the test also runs
//! R2E-Gym's miner classes and heuristics on the same repository
//! (`tests/r2egym_oracle.py`) and requires the same verdict for every
//! commit: set `R2E_GYM_SRC` to the directory holding R2E-Gym's `r2egym`
//! package (its `src/`), and `R2E_GYM_HEURISTICS` to the directory of its
//! `commit_data_heuristics.py` (its `repo_analysis/`).

mod common;

use common::Repo;
use r2e_gen::filter::{FilterConfig, Preset, filter_jsonl};
use std::collections::BTreeMap;
use std::path::Path;

const CALC: &str = r#"import os
from math import sqrt


def parse(text):
    return int(text)


def helper(x):
    return x + 1


def root(x):
    return sqrt(x)


class Stats:
    def __init__(self, values):
        self.values = list(values)

    def mean(self):
        return sum(self.values) / len(self.values)

    def spread(self):
        return max(self.values) - min(self.values)
"#;

const TESTS: &str = r#"from pkg.calc import parse, helper, root, Stats


def test_parse():
    assert parse("1") == 1


def test_uses_helper():
    assert helper(1) == 2


class TestStats:
    def test_mean(self):
        assert Stats([1, 3]).mean() == 2

    def test_spread(self):
        assert Stats([1, 3]).spread() == 2
"#;

/// Replaces `from` (which must be there) in the file at `rel`.
fn edit(r: &Repo, rel: &str, from: &str, to: &str) {
    let path = r.dir.path().join(rel);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{rel} lacks {from:?}");
    r.write(rel, text.replacen(from, to, 1));
}

/// The crafted history: commit id → (name, R2E-Gym's stage, `r2e` preset's
/// first failing rule or `kept`).
fn crafted() -> (
    Repo,
    Vec<(String, &'static str, &'static str, &'static str)>,
) {
    let mut r = Repo::new();
    let mut rows = Vec::new();
    let mut add = |id: String, name, gym, ours| rows.push((id, name, gym, ours));
    r.write("pkg/__init__.py", "");
    r.write("pkg/calc.py", CALC);
    r.write("pkg/legacy.py", "def old(x):\n    return x\n");
    r.write("tests/test_calc.py", TESTS);
    r.write("docs.v2/Makefile", "all:\n\techo docs\n");
    r.write("data/table.dat", "a b\n1 2\n");
    add(r.commit("Initial"), "root", "not_stored", "analysed");

    // A fix and a test whose name contains the fixed function's.
    edit(
        &r,
        "pkg/calc.py",
        "return int(text)",
        "return int(text.strip())",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "assert parse(\"1\") == 1",
        "assert parse(\" 1\") == 1",
    );
    add(r.commit("Fix parse"), "name_match", "kept", "kept");

    // The test mentions `root(` only in a comment: raw text matches, calls do not.
    edit(&r, "pkg/calc.py", "return sqrt(x)", "return sqrt(abs(x))");
    r.write(
        "tests/test_calc.py",
        format!(
            "{}\n\ndef test_negative():\n    # like root(-4)\n    assert abs(-4) == 4\n",
            read(&r, "tests/test_calc.py")
        ),
    );
    add(r.commit("Fix root"), "comment_call", "kept", "kept");

    // A test that called `helper(` before the commit and does not after: the
    // old text is what R2E-Gym searches.
    edit(&r, "pkg/calc.py", "return x + 1", "return x + 2");
    edit(
        &r,
        "tests/test_calc.py",
        "assert helper(1) == 2",
        "assert 1 + 2 == 3",
    );
    add(r.commit("Change helper"), "old_text_call", "kept", "kept");

    // A method fix; the test class's other method calls it (a test method's
    // text is its whole class).
    edit(
        &r,
        "pkg/calc.py",
        "return max(self.values) - min(self.values)",
        "return max(self.values) - min(self.values) if self.values else 0",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "def test_mean(self):\n        assert",
        "def test_mean(self):\n        # empty\n        assert",
    );
    add(
        r.commit("Fix spread"),
        "class_text_call",
        "kept",
        "test_entity_edit",
    );

    // Only a decorator changes: the line is in no R2E-Gym entity.
    edit(
        &r,
        "pkg/calc.py",
        "def helper(x):",
        "@staticmethod\ndef helper(x):",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "def test_parse():",
        "def test_parse():\n    assert helper",
    );
    add(
        r.commit("Decorate helper"),
        "decorator_only",
        "non_docstring",
        "kept",
    );

    // A fix that adds a function and an `import`: two added entities for
    // R2E-Gym, one for r2e.
    edit(&r, "pkg/calc.py", "import os\n", "import os\nimport sys\n");
    edit(
        &r,
        "pkg/calc.py",
        "def helper(x):",
        "def newer(x):\n    return sys.maxsize\n\n\ndef helper(x):",
    );
    edit(
        &r,
        "pkg/calc.py",
        "return int(text.strip())",
        "return int(text.strip() or 0)",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "assert parse(\" 1\") == 1",
        "assert parse(\"\") == 0",
    );
    add(r.commit("Parse empty"), "import_added", "bug_edit", "kept");

    // Seven module-level statements change in the test file: R2E-Gym counts
    // statements of test files too.
    let consts: String = (0..7).map(|i| format!("C{i} = {i}\n")).collect();
    r.write(
        "tests/test_calc.py",
        format!("{consts}{}", read(&r, "tests/test_calc.py")),
    );
    edit(
        &r,
        "pkg/calc.py",
        "return int(text.strip() or 0)",
        "return int(text.strip() or '0')",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "assert parse(\"\") == 0",
        "assert parse(\"\") == 0 == C0",
    );
    add(
        r.commit("Parse constants"),
        "test_statements",
        "bug_edit",
        "kept",
    );

    // Comment lines in five other functions: touched for R2E-Gym, not edited
    // for r2e.
    for f in ["helper", "root", "newer"] {
        edit(
            &r,
            "pkg/calc.py",
            &format!("def {f}(x):\n"),
            &format!("def {f}(x):\n    # note\n"),
        );
    }
    edit(
        &r,
        "pkg/calc.py",
        "def __init__(self, values):\n",
        "def __init__(self, values):\n        # note\n",
    );
    edit(
        &r,
        "pkg/calc.py",
        "return int(text.strip() or '0')",
        "return int(text.strip() or '00')",
    );
    edit(&r, "tests/test_calc.py", "== 0 == C0", "== 0 == C1");
    add(r.commit("Notes"), "comment_touched", "bug_edit", "kept");

    // conftest.py is a source file for R2E-Gym: no test entity here.
    r.write(
        "tests/conftest.py",
        "import pytest\n\n\n@pytest.fixture\ndef parse_fixture():\n    return 1\n",
    );
    r.commit("Add conftest");
    r.write("conftest.py", "def pytest_parse_hook():\n    return 1\n");
    edit(&r, "pkg/legacy.py", "return x", "return x or 0");
    add(
        r.commit("Legacy fix with a root conftest"),
        "conftest",
        "test_entity_edit",
        "test_match",
    );

    // A renamed file: R2E-Gym's diff parser does not take renames.
    r.git(&["mv", "pkg/legacy.py", "pkg/older.py"]);
    edit(
        &r,
        "pkg/calc.py",
        "return int(text.strip() or '00')",
        "return int(text.strip() or '000')",
    );
    edit(&r, "tests/test_calc.py", "== 0 == C1", "== 0 == C2");
    add(
        r.commit("Rename legacy, fix parse"),
        "rename",
        "not_stored",
        "kept",
    );

    // Python 2 syntax in a changed file: CPython 3 cannot parse it.
    r.write("tests/test_py2.py", "def test_old():\n    print 'x'\n");
    edit(&r, "pkg/calc.py", "or '000')", "or '0000')");
    edit(&r, "tests/test_calc.py", "== 0 == C2", "== 0 == C3");
    add(r.commit("Python 2 test"), "python2", "not_stored", "kept");
    r.git(&["rm", "-q", "tests/test_py2.py"]);
    r.commit("Drop the Python 2 test");

    // The extension split on the whole path: `docs.v2/Makefile` is `v2/Makefile`.
    r.write("docs.v2/Makefile", "all:\n\techo docs v2\n");
    edit(&r, "pkg/calc.py", "or '0000')", "or '00000')");
    edit(&r, "tests/test_calc.py", "== 0 == C3", "== 0 == C4");
    add(r.commit("Docs and parse"), "dotted_dir", "python", "kept");

    // A data file that is not UTF-8.
    r.write("data/table.dat", [0xffu8, 0xfe, b'a', b'\n']);
    edit(&r, "pkg/calc.py", "or '00000')", "or '000000')");
    edit(&r, "tests/test_calc.py", "== 0 == C4", "== 0 == C5");
    add(r.commit("Latin data"), "not_utf8", "not_stored", "kept");

    // A test named for an issue.
    r.git(&["mv", "pkg/older.py", "pkg/legacy.py"]);
    r.write(
        "tests/test_legacy.py",
        "def test_issue_12():\n    assert True\n",
    );
    r.commit("Move legacy back");
    edit(&r, "pkg/legacy.py", "return x or 0", "return x or 1");
    edit(&r, "tests/test_legacy.py", "assert True", "assert 1");
    add(r.commit("Issue 12"), "issue_name", "kept", "kept");

    // Only a docstring and a comment.
    edit(
        &r,
        "pkg/calc.py",
        "def root(x):\n",
        "def root(x):\n    \"\"\"Square root.\"\"\"\n",
    );
    edit(&r, "tests/test_calc.py", "== 0 == C5", "== 0 == C6");
    add(
        r.commit("Document root"),
        "docstring_only",
        "non_docstring",
        "code_change",
    );

    // A pull request merged with a merge commit: its two commits fail alone,
    // the merge (diffed against its first parent) is the whole request.
    r.git(&["checkout", "-q", "-b", "pr"]);
    edit(
        &r,
        "pkg/calc.py",
        "return sum(self.values) / len(self.values)",
        "return sum(self.values) / max(len(self.values), 1)",
    );
    add(
        r.commit("Fix mean of nothing"),
        "pr_fix",
        "test_entity_edit",
        "test_entity_edit",
    );
    edit(
        &r,
        "tests/test_calc.py",
        "def test_mean(self):\n",
        "def test_mean_empty(self):\n        assert Stats([]).mean() == 0\n\n    def test_mean(self):\n",
    );
    add(
        r.commit("Test mean of nothing"),
        "pr_test",
        "small",
        "has_non_test_change",
    );
    r.git(&["checkout", "-q", "main"]);
    add(
        r.merge("pr", "Merge pull request #3 from pr"),
        "pr_merge",
        "kept",
        "kept",
    );
    (r, rows)
}

fn read(r: &Repo, rel: &str) -> String {
    std::fs::read_to_string(r.dir.path().join(rel)).expect("read")
}

/// R2E-Gym's stage for an r2e rule.
fn gym_stage(rule: &str) -> &'static str {
    match rule {
        "analysed" | "stored" => "not_stored",
        "has_non_test_change" | "non_test_files" | "non_test_edited_lines" | "patch_chars" => {
            "small"
        }
        "file_types" => "python",
        "code_change" => "non_docstring",
        "bug_edit" => "bug_edit",
        "test_entity_edit" => "test_entity_edit",
        "test_match" => "test_match",
        other => panic!("unknown rule {other}"),
    }
}

/// Commit id → first failing rule (or `kept`) under `preset`.
fn verdicts(repo: &Path, dir: &Path, preset: Preset) -> BTreeMap<String, String> {
    let commits = dir.join("commits.jsonl");
    if !commits.exists() {
        common::mine_all(repo, &commits);
    }
    let out = dir.join("kept.jsonl");
    let rejected = dir.join("rejected.jsonl");
    filter_jsonl(
        &commits,
        &out,
        Some(&rejected),
        &FilterConfig::for_preset(preset),
    )
    .expect("filter");
    let mut v = BTreeMap::new();
    for line in std::fs::read_to_string(&out).expect("kept").lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("row");
        v.insert(
            row["hash"].as_str().expect("hash").to_string(),
            "kept".to_string(),
        );
    }
    for line in std::fs::read_to_string(&rejected)
        .expect("rejected")
        .lines()
    {
        let row: serde_json::Value = serde_json::from_str(line).expect("row");
        v.insert(
            row["hash"].as_str().expect("hash").to_string(),
            row["rule"].as_str().expect("rule").to_string(),
        );
    }
    v
}

/// R2E-Gym's verdicts from its own code, or `None` (with the reason) when it
/// cannot run here.
fn oracle(repo: &Path) -> Result<BTreeMap<String, String>, String> {
    let src = std::env::var("R2E_GYM_SRC").map_err(|_| "R2E_GYM_SRC is not set".to_string())?;
    if !Path::new(&src)
        .join("r2egym/commit_models/entity_utils.py")
        .exists()
    {
        return Err(format!("{src} has no r2egym/commit_models"));
    }
    // R2E-Gym's `repo_analysis` folder (its commit_data_heuristics.py).
    let heuristics = std::env::var("R2E_GYM_HEURISTICS")
        .map_err(|_| "R2E_GYM_HEURISTICS is not set".to_string())?;
    if !Path::new(&heuristics)
        .join("commit_data_heuristics.py")
        .exists()
    {
        return Err(format!("{heuristics} has no commit_data_heuristics.py"));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/r2egym_oracle.py");
    let run = std::process::Command::new("python3")
        .args([script, &src, &heuristics, &repo.to_string_lossy()])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        return Err(format!(
            "the oracle did not answer: {}",
            String::from_utf8_lossy(&run.stderr)
        ));
    };
    serde_json::from_str(line).map_err(|e| e.to_string())
}

#[test]
fn each_rule_as_r2e_gym_defines_it() {
    let (repo, rows) = crafted();
    let dir = tempfile::tempdir().expect("tempdir");
    let gym = verdicts(&repo.path(), dir.path(), Preset::R2eGym);
    let ours = verdicts(&repo.path(), dir.path(), Preset::R2e);
    let mut mismatches = Vec::new();
    for (id, name, want_gym, want_ours) in &rows {
        let got = gym.get(id).map(String::as_str).unwrap_or("missing");
        let got_stage = if got == "kept" {
            "kept"
        } else {
            gym_stage(got)
        };
        if got_stage != *want_gym {
            mismatches.push(format!(
                "{name}: r2e-gym preset {got} ({got_stage}), R2E-Gym {want_gym}"
            ));
        }
        let got = ours.get(id).map(String::as_str).unwrap_or("missing");
        if got != *want_ours {
            mismatches.push(format!("{name}: r2e preset {got}, expected {want_ours}"));
        }
    }
    match oracle(&repo.path()) {
        Ok(oracle) => {
            for (id, stage) in &oracle {
                let got = gym.get(id).map(String::as_str).unwrap_or("missing");
                let got = if got == "kept" {
                    "kept"
                } else {
                    gym_stage(got)
                };
                if got != stage {
                    let name = rows
                        .iter()
                        .find(|r| &r.0 == id)
                        .map_or(id.as_str(), |r| r.1);
                    mismatches.push(format!(
                        "{name}: R2E-Gym's code says {stage}, the preset {got}"
                    ));
                }
            }
            assert_eq!(oracle.len(), gym.len(), "every commit judged by both");
            let kept = oracle.values().filter(|s| *s == "kept").count();
            eprintln!(
                "R2E-Gym's own code judged {} commits ({kept} kept)",
                oracle.len()
            );
        }
        Err(why) => {
            eprintln!("R2E-Gym's own code not run ({why}); checked the recorded verdicts only")
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
