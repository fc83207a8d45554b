//! Stage 1 on a real repository built with git: rows, entities, kinds, patches
//! that `git apply` takes, skip reasons, resume after a torn write.

mod common;

use common::{History, git, git_cmd, history};
use r2e_gen::mine::{MineOptions, mine_to_jsonl};
use r2e_gen::{EntityKind, FileKind, FileStatus, MinedCommit, SkipReason, jsonl};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

struct Mined {
    h: History,
    rows: HashMap<String, MinedCommit>,
    _out: tempfile::TempDir,
}

fn mined() -> &'static Mined {
    static M: OnceLock<Mined> = OnceLock::new();
    M.get_or_init(|| {
        let h = history();
        let out = tempfile::tempdir().expect("tempdir");
        let file = out.path().join("commits.jsonl");
        let opts = MineOptions {
            workers: 2,
            ..Default::default()
        };
        let summary = mine_to_jsonl(&h.repo.path(), &file, &opts, &mut |_| {}).expect("mine");
        assert_eq!(summary.total, 9);
        assert_eq!(summary.mined, 9);
        let rows: Vec<MinedCommit> = jsonl::read_rows(&file).expect("rows");
        let rows = rows.into_iter().map(|r| (r.hash.clone(), r)).collect();
        Mined { h, rows, _out: out }
    })
}

fn row(hash: &str) -> &'static MinedCommit {
    &mined().rows[hash]
}

fn names(v: &[r2e_gen::Entity]) -> Vec<&str> {
    v.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn the_root_is_skipped_and_a_merge_is_mined_against_its_first_parent() {
    let m = mined();
    assert_eq!(row(&m.h.root).skipped, Some(SkipReason::Root));
    assert_eq!(row(&m.h.root).parent, None);
    // As R2E-Gym mines it (`git diff C^ C`): the merged branch's whole change.
    let merge = row(&m.h.merge);
    assert!(merge.merge && merge.skipped.is_none(), "{merge:?}");
    assert_eq!(merge.parent.as_deref(), Some(m.h.misc.as_str()));
    let feature = row(&m.h.feature);
    assert!(!feature.merge);
    assert_eq!(merge.gold_patch, feature.gold_patch);
    assert_eq!(merge.test_patch, feature.test_patch);
}

#[test]
fn merges_are_skipped_when_asked() {
    let h = history();
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("commits.jsonl");
    let opts = MineOptions {
        skip_merges: true,
        ..Default::default()
    };
    mine_to_jsonl(&h.repo.path(), &file, &opts, &mut |_| {}).expect("mine");
    let rows: Vec<MinedCommit> = jsonl::read_rows(&file).expect("rows");
    let merge = rows.iter().find(|r| r.hash == h.merge).expect("merge row");
    assert_eq!(merge.skipped, Some(SkipReason::Merge { parents: 2 }));
    assert!(merge.files.is_empty() && !merge.merge);
}

#[test]
fn bug_fix_with_test() {
    let m = mined();
    let r = row(&m.h.fix_with_test);
    assert_eq!(r.subject, "Fix div by zero");
    assert_eq!(
        r.message,
        "Fix div by zero\n\nRaise ValueError instead of ZeroDivisionError."
    );
    assert_eq!(r.parent.as_deref(), Some(m.h.root.as_str()));
    assert_eq!(r.author, "Ada Tester");
    assert_eq!(r.author_time, 1_700_007_200);
    assert_eq!(r.author_date, "2023-11-15T01:13:20+01:00");
    assert!(r.skipped.is_none());
    assert_eq!(r.files.len(), 2);
    let calc = r
        .files
        .iter()
        .find(|f| f.path == "pkg/calc.py")
        .expect("calc");
    assert_eq!(
        (calc.kind, calc.status, calc.added, calc.removed),
        (FileKind::Source, FileStatus::Modified, 2, 0)
    );
    let py = calc.python.as_ref().expect("python");
    assert_eq!(names(&py.edited), ["div"]);
    assert!(py.added.is_empty() && py.deleted.is_empty());
    assert_eq!(py.edited[0].kind, EntityKind::Function);
    assert!(py.code_changed);
    let test = r
        .files
        .iter()
        .find(|f| f.path == "tests/test_calc.py")
        .expect("test");
    assert_eq!(test.kind, FileKind::Test);
    let tpy = test.python.as_ref().expect("python");
    assert_eq!(names(&tpy.added), ["test_div_by_zero"]);
    assert_eq!(tpy.added[0].calls, ["div", "raises"]);
    assert_eq!((r.added, r.removed), (calc.added + test.added, 0));
    assert!(r.gold_patch.contains("pkg/calc.py") && !r.gold_patch.contains("tests/"));
    assert!(
        r.test_patch
            .starts_with("diff --git a/tests/test_calc.py b/tests/test_calc.py\n")
    );
}

#[test]
fn patches_match_git_diff() {
    let m = mined();
    let r = row(&m.h.fix_with_test);
    let dir = m.h.repo.path();
    let gold = git(
        &dir,
        &["diff", &m.h.root, &m.h.fix_with_test, "--", "pkg/calc.py"],
    );
    let test = git(
        &dir,
        &[
            "diff",
            &m.h.root,
            &m.h.fix_with_test,
            "--",
            "tests/test_calc.py",
        ],
    );
    assert_eq!(r.gold_patch, gold);
    assert_eq!(r.test_patch, test);
}

#[test]
fn fix_without_test_edits_method_and_class() {
    let m = mined();
    let r = row(&m.h.fix_without_test);
    assert!(r.test_patch.is_empty());
    let py = r.files[0].python.as_ref().expect("python");
    assert_eq!(names(&py.edited), ["Stats", "Stats.mean"]);
    assert_eq!(py.edited[1].kind, EntityKind::Method);
}

#[test]
fn docs_only_commit() {
    let m = mined();
    let r = row(&m.h.docs);
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].kind, FileKind::Docs);
    assert!(r.files[0].python.is_none());
    assert_eq!((r.added, r.removed), (5, 1));
}

#[test]
fn refactor_adds_entities_in_new_files() {
    let m = mined();
    let r = row(&m.h.refactor);
    assert_eq!(r.files.len(), 6);
    assert_eq!(
        r.files
            .iter()
            .filter(|f| f.status == FileStatus::Added)
            .count(),
        5
    );
    let calc = r
        .files
        .iter()
        .find(|f| f.path == "pkg/calc.py")
        .expect("calc");
    let py = calc.python.as_ref().expect("python");
    assert_eq!(
        names(&py.added),
        ["use_op0", "use_op1", "use_op2", "use_op3", "use_op4"]
    );
    let ops0 = r
        .files
        .iter()
        .find(|f| f.path == "pkg/ops0.py")
        .expect("ops0");
    assert_eq!(names(&ops0.python.as_ref().expect("py").added), ["op0"]);
}

#[test]
fn comment_only_change_is_not_an_edit() {
    let m = mined();
    let r = row(&m.h.comment_only);
    let py = r.files[0].python.as_ref().expect("python");
    assert!(py.edited.is_empty(), "{py:?}");
    assert!(py.added.is_empty() && py.deleted.is_empty());
    assert!(!py.code_changed);
    assert!(r.files[0].added > 0);
}

#[test]
fn misc_commit_renames_deletes_binary_and_modes() {
    let m = mined();
    let r = row(&m.h.misc);
    let by_path: HashMap<&str, &r2e_gen::FileChange> =
        r.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let renamed = by_path["pkg/old_legacy.py"];
    assert_eq!(renamed.status, FileStatus::Renamed);
    assert_eq!(renamed.old_path.as_deref(), Some("pkg/legacy.py"));
    assert_eq!(
        names(&renamed.python.as_ref().expect("py").edited),
        ["old_helper"]
    );
    assert_eq!(by_path["pkg/obsolete.py"].status, FileStatus::Deleted);
    assert_eq!(by_path["pkg/data.bin"].omitted.as_deref(), Some("binary"));
    assert_eq!(by_path["scripts/run.sh"].status, FileStatus::Modified);
    assert!(r.gold_patch.contains("old mode 100644\nnew mode 100755\n"));
    assert!(
        r.gold_patch
            .contains("rename from pkg/legacy.py\nrename to pkg/old_legacy.py\n")
    );
    assert!(r.gold_patch.contains("\\ No newline at end of file\n"));
    assert_eq!(by_path["pkg/new module.py"].status, FileStatus::Added);
}

/// Applies gold and test patches on a checkout of the parent; the result must be
/// the commit's tree except for files left out of the patch (binary ones).
fn check_applies(repo: &Path, r: &MinedCommit) {
    let parent = r.parent.as_deref().expect("parent");
    let work = tempfile::tempdir().expect("tempdir");
    let wt = work.path().join("wt");
    git(
        repo,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            wt.to_str().expect("utf8"),
            parent,
        ],
    );
    for (name, patch) in [("gold", &r.gold_patch), ("test", &r.test_patch)] {
        if patch.is_empty() {
            continue;
        }
        let p = work.path().join(format!("{name}.diff"));
        std::fs::write(&p, patch).expect("write patch");
        let out = git_cmd(&wt)
            .args(["apply", "--index", p.to_str().expect("utf8")])
            .output()
            .expect("git apply");
        assert!(
            out.status.success(),
            "{name} patch of {} does not apply: {}\n{patch}",
            r.subject,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let diff = git(&wt, &["diff", "--cached", "--name-only", &r.hash]);
    let mut differing: Vec<&str> = diff.lines().collect();
    differing.sort();
    let mut omitted: Vec<&str> = r
        .files
        .iter()
        .filter(|f| f.omitted.is_some())
        .map(|f| f.path.as_str())
        .collect();
    omitted.sort();
    assert_eq!(
        differing, omitted,
        "tree after applying {}'s patches differs",
        r.subject
    );
    git(
        repo,
        &["worktree", "remove", "--force", wt.to_str().expect("utf8")],
    );
}

#[test]
fn gold_and_test_patches_apply_on_parent() {
    let m = mined();
    let dir = m.h.repo.path();
    for r in m.rows.values().filter(|r| r.skipped.is_none()) {
        check_applies(&dir, r);
    }
}

#[test]
fn resume_drops_torn_line_and_skips_done_commits() {
    let h = history();
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("c.jsonl");
    let opts = MineOptions {
        workers: 2,
        max_commits: Some(4),
        ..Default::default()
    };
    let s1 = mine_to_jsonl(&h.repo.path(), &file, &opts, &mut |_| {}).expect("mine");
    assert_eq!((s1.total, s1.mined), (4, 4));
    // Simulate a kill in the middle of writing the fourth row.
    let text = std::fs::read_to_string(&file).expect("read");
    let cut = text.trim_end().rfind('\n').expect("3 lines") + 1 + 40;
    std::fs::write(&file, &text[..cut]).expect("truncate");
    let opts = MineOptions {
        workers: 2,
        ..Default::default()
    };
    let mut planned = None;
    let s2 = mine_to_jsonl(&h.repo.path(), &file, &opts, &mut |e| {
        if let r2e_gen::MineEvent::Planned {
            total,
            already_done,
        } = e
        {
            planned = Some((total, already_done));
        }
    })
    .expect("resume");
    assert_eq!(planned, Some((9, 3)));
    assert_eq!(s2.mined, 6);
    let rows: Vec<MinedCommit> = jsonl::read_rows(&file).expect("rows");
    assert_eq!(rows.len(), 9);
    let unique: std::collections::HashSet<_> = rows.iter().map(|r| &r.hash).collect();
    assert_eq!(unique.len(), 9);
    // A third run has nothing to do.
    let s3 = mine_to_jsonl(&h.repo.path(), &file, &opts, &mut |_| {}).expect("again");
    assert_eq!((s3.already_done, s3.mined), (9, 0));
}

#[test]
fn not_a_repository_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = mine_to_jsonl(
        dir.path(),
        &dir.path().join("o.jsonl"),
        &MineOptions::default(),
        &mut |_| {},
    )
    .expect_err("not a repo");
    let msg = err.to_string();
    assert!(msg.contains("is not a git repository"), "{msg}");
    let err = r2e_gen::mine::resolve_repo("/no/such/dir", dir.path()).expect_err("missing");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn clone_from_file_url() {
    let m = mined();
    let cache = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", m.h.repo.path().display());
    let path = r2e_gen::mine::resolve_repo(&url, cache.path()).expect("clone");
    assert!(path.starts_with(cache.path()));
    let out = cache.path().join("c.jsonl");
    let s = mine_to_jsonl(&path, &out, &MineOptions::default(), &mut |_| {}).expect("mine clone");
    assert_eq!(s.total, 9);
    // Reused on the second call.
    assert_eq!(
        r2e_gen::mine::resolve_repo(&url, cache.path()).expect("reuse"),
        path
    );
}

#[test]
fn snapshot_of_a_mined_row() {
    let m = mined();
    insta::assert_json_snapshot!("fix_with_test_row", row(&m.h.fix_with_test));
}
