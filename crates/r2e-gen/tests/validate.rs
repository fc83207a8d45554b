//! Stage 4 in Docker on the test history: the bug fix with a test and the
//! feature with a test are kept with the right FAIL_TO_PASS / PASS_TO_PASS,
//! every other commit is dropped for its own reason, a flaky test is left out,
//! the task images hold the repository at the base commit, and a rerun resumes.

mod common;

use common::{history, pytest_image};
use r2e_gen::validate::{Outcome, ValidateOptions, ValidatedCommit, validate_jsonl, write_tasks};
use std::collections::HashMap;
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn keeps_fixes_with_tests_and_drops_the_rest() {
    let mut h = history();
    // A change whose new test already passes on the old code.
    let calc = std::fs::read_to_string(h.repo.path().join("pkg/calc.py")).expect("calc");
    let tests = std::fs::read_to_string(h.repo.path().join("tests/test_calc.py")).expect("tests");
    h.repo.write(
        "pkg/calc.py",
        calc.replace("return sum(self.values)\n", "return sum(self.values, 0)\n"),
    );
    let tests = format!("{tests}\n\ndef test_total():\n    assert Stats([1, 2]).total() == 3\n");
    h.repo.write("tests/test_calc.py", &tests);
    let passes_already = h.repo.commit("Total starts at 0");
    // A fix whose tests include one that flips on every run.
    let calc = std::fs::read_to_string(h.repo.path().join("pkg/calc.py")).expect("calc");
    h.repo.write(
        "pkg/calc.py",
        calc.replace(
            "def add(a, b):\n",
            "def add(a, b):\n    if b is None:\n        return a\n",
        ),
    );
    let tests = format!(
        "{tests}\n\ndef test_add_none():\n    assert add(1, None) == 1\n\n\n\
         def test_flaky():\n    import os\n    p = '/tmp/r2e_flaky'\n    \
         n = int(open(p).read()) + 1 if os.path.exists(p) else 1\n    \
         open(p, 'w').write(str(n))\n    assert n % 2 == 0\n"
    );
    h.repo.write("tests/test_calc.py", &tests);
    let flaky_fix = h.repo.commit("Let add take None");

    // A clone of a hosted repository: its tasks carry the origin's owner/name.
    h.repo
        .git(&["remote", "add", "origin", "git@github.com:ada/calc.git"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let provider = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc".into()),
        workers: 2,
        ..Default::default()
    };
    let out = dir.path().join("validated.jsonl");
    let summary = validate_jsonl(
        &provider,
        &h.repo.path(),
        &commits,
        &out,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("validate");
    let rows: Vec<ValidatedCommit> = r2e_core::jsonl::read(&out).expect("rows");
    let by_hash: HashMap<&str, &ValidatedCommit> =
        rows.iter().map(|r| (r.hash.as_str(), r)).collect();
    let label = |h: &str| by_hash[h].reason_label().to_string();
    assert_eq!(
        label(&h.fix_with_test),
        "valid",
        "{:?}",
        by_hash[h.fix_with_test.as_str()]
    );
    assert_eq!(
        label(&h.feature),
        "valid",
        "{:?}",
        by_hash[h.feature.as_str()]
    );
    assert_eq!(
        label(&flaky_fix),
        "valid",
        "{:?}",
        by_hash[flaky_fix.as_str()]
    );
    assert_eq!(label(&passes_already), "no_fail_to_pass");
    for c in [
        &h.fix_without_test,
        &h.docs,
        &h.refactor,
        &h.comment_only,
        &h.misc,
    ] {
        assert_eq!(label(c), "no_test_patch", "{c}");
    }
    assert_eq!(label(&h.root), "not_analysed");
    // Mined against its first parent, the merge is the feature branch's
    // change: a valid task of its own, as R2E-Gym would mine it.
    assert_eq!(label(&h.merge), "valid", "{:?}", by_hash[h.merge.as_str()]);
    assert_eq!(summary.valid, 4);
    assert_eq!(summary.input, 11);

    let t = |n: &str| format!("tests/test_calc.py::{n}");
    let fix = by_hash[h.fix_with_test.as_str()];
    assert_eq!(fix.fail_to_pass, [t("test_div_by_zero")]);
    assert_eq!(fix.pass_to_pass, [t("test_add"), t("test_div")]);
    assert_eq!(fix.expected_statuses[&t("test_div_by_zero")], "PASSED");
    assert_eq!(fix.old_statuses[&t("test_div_by_zero")], "FAILED");
    assert_eq!(fix.log_parser, "pytest");
    assert_eq!(
        fix.test_cmd,
        "python3 -m pytest -rA -p no:cacheprovider tests/test_calc.py"
    );
    assert!(fix.old_log.contains("ZeroDivisionError"), "{}", fix.old_log);
    assert!(fix.new_log.contains("3 passed"), "{}", fix.new_log);
    // A reject says what its logs say, on the reason's line.
    let reason = by_hash[passes_already.as_str()]
        .reason
        .as_deref()
        .unwrap_or("");
    assert!(!reason.contains('\n'), "{reason}");
    let feature = by_hash[h.feature.as_str()];
    assert_eq!(feature.fail_to_pass, [t("test_count")]);
    assert_eq!(feature.pass_to_pass.len(), 3);
    let flaky = by_hash[flaky_fix.as_str()];
    assert_eq!(flaky.fail_to_pass, [t("test_add_none")]);
    assert_eq!(flaky.flaky, [t("test_flaky")]);
    assert!(!flaky.pass_to_pass.contains(&t("test_flaky")));

    // The task image holds the repository at the parent, without later refs.
    assert_eq!(
        fix.image,
        format!("r2e-gen/calc:{}", &h.fix_with_test[..12])
    );
    let probe = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "sh", &fix.image, "-c"])
        .arg("cd /testbed && git rev-parse HEAD && git status --porcelain && git log --all --format=%H")
        .output()
        .expect("docker run");
    let text = String::from_utf8_lossy(&probe.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(h.root.as_str()), "{text}");
    assert!(!text.contains(&h.fix_with_test), "{text}");

    // Tasks.
    let tasks_path = dir.path().join("tasks.jsonl");
    assert_eq!(write_tasks(&out, &tasks_path).expect("tasks"), 4);
    let tasks = r2e_core::dataset::load(&tasks_path, &Default::default())
        .expect("load")
        .tasks;
    let task = tasks
        .iter()
        .find(|t| t.task_id == format!("calc__{}", &h.fix_with_test[..12]))
        .expect("fix task");
    assert_eq!(task.base_commit, h.root);
    assert_eq!(task.repo, "ada/calc");
    assert_eq!(task.source.key(), "swe_gen");
    assert_eq!(task.source.grading(), r2e_core::Grading::SweBench);
    assert_eq!(task.extra["generator"], "r2e-gen");
    assert_eq!(task.extra["log_parser"], "pytest");
    assert_eq!(task.fail_to_pass, fix.fail_to_pass);
    assert!(task.problem_statement.is_empty());

    // A rerun has nothing left to do.
    let again = validate_jsonl(
        &provider,
        &h.repo.path(),
        &commits,
        &out,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("validate again");
    assert_eq!(again.already_done, 11);
    assert_eq!(again.valid, 4);
    assert_eq!(
        r2e_core::jsonl::read::<ValidatedCommit>(&out)
            .expect("rows")
            .len(),
        11
    );
    assert!(rows.iter().all(|r| r.outcome != Outcome::Error), "{rows:?}");
}

/// A repository that cannot be bundled whole (an object of another branch is
/// missing, as in partial clones and damaged snapshots) is copied shallow,
/// only the commits validation checks out, and validates the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_repository_with_missing_objects_is_copied_shallow() {
    let mut h = history();
    h.repo.git(&["checkout", "-q", "-b", "side"]);
    h.repo.write("big.bin", "a large file the snapshot lost\n");
    h.repo.commit("Add a large file");
    let blob = h.repo.git(&["rev-parse", "side:big.bin"]);
    let blob = blob.trim();
    h.repo.git(&["checkout", "-q", "main"]);
    let loose = h
        .repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&loose).expect("remove the blob");
    let bundle = Command::new("git")
        .current_dir(h.repo.path())
        .args(["bundle", "create", "/dev/null", "--all"])
        .output()
        .expect("git");
    assert!(
        !bundle.status.success(),
        "the repository must not bundle whole"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc-shallow".into()),
        ..Default::default()
    };
    let (summary, rows) = common::validate_all(&h.repo.path(), &commits, dir.path(), &opts).await;
    // The fix, the feature and the merge that brings the feature in.
    assert_eq!(summary.valid, 3, "{summary:?}");
    let fix = rows
        .iter()
        .find(|r| r.hash == h.fix_with_test)
        .expect("fix row");
    assert_eq!(fix.outcome, Outcome::Valid, "{fix:?}");
}

/// pytest 4 and later refuse to run with a `[pytest]` section in `setup.cfg`
/// (15 marshmallow commits of 2014–2015): such commits run with the
/// configuration files left out, and their tasks carry that command.
#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_pytest_section_in_setup_cfg_is_left_out() {
    let mut h = history();
    h.repo.write("setup.cfg", "[pytest]\naddopts = -q\n");
    h.repo.commit("Configure pytest the old way");
    let calc = std::fs::read_to_string(h.repo.path().join("pkg/calc.py")).expect("calc");
    let tests = std::fs::read_to_string(h.repo.path().join("tests/test_calc.py")).expect("tests");
    h.repo.write(
        "pkg/calc.py",
        calc.replace(
            "def add(a, b):\n",
            "def add(a, b):\n    if b is None:\n        return a\n",
        ),
    );
    h.repo.write(
        "tests/test_calc.py",
        format!("{tests}\n\ndef test_add_none():\n    assert add(1, None) == 1\n"),
    );
    let fix = h.repo.commit("Let add take None");

    let dir = tempfile::tempdir().expect("tempdir");
    let commits = dir.path().join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc-legacycfg".into()),
        ..Default::default()
    };
    let (_, rows) = common::validate_all(&h.repo.path(), &commits, dir.path(), &opts).await;
    let row = rows.iter().find(|r| r.hash == fix).expect("fix row");
    assert_eq!(row.outcome, Outcome::Valid, "{row:#?}");
    assert_eq!(row.fail_to_pass, ["tests/test_calc.py::test_add_none"]);
    assert!(row.test_cmd.contains(" -c /dev/null "), "{}", row.test_cmd);
    // Commits before the section run with the plain command.
    let before = rows
        .iter()
        .find(|r| r.hash == h.fix_with_test)
        .expect("earlier fix");
    assert!(
        !before.test_cmd.contains("/dev/null"),
        "{}",
        before.test_cmd
    );
}

/// A fix that adds a function its new test module imports: on the old code
/// the module fails to collect (one file-level ERROR), on the new code its
/// tests run. By default the module's tests are FAIL_TO_PASS; R2E-Gym's rule
/// (`reject_collection_errors`) rejects the candidate as test sets differ.
#[tokio::test(flavor = "multi_thread")]
async fn a_test_module_that_fails_to_collect_on_the_old_code() {
    let mut h = history();
    let calc = std::fs::read_to_string(h.repo.path().join("pkg/calc.py")).expect("calc");
    h.repo.write(
        "pkg/calc.py",
        format!("{calc}\n\ndef mul(a, b):\n    return a * b\n"),
    );
    h.repo.write(
        "tests/test_mul.py",
        "from pkg.calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n\n\n\
         def test_mul_zero():\n    assert mul(5, 0) == 0\n",
    );
    let fix = h.repo.commit("Add mul");

    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all.jsonl");
    common::mine_all(&h.repo.path(), &all);
    // Only this commit is validated.
    let commits = dir.path().join("commits.jsonl");
    let line = std::fs::read_to_string(&all)
        .expect("mined")
        .lines()
        .find(|l| l.contains(&fix))
        .expect("the commit is mined")
        .to_string();
    std::fs::write(&commits, line + "\n").expect("write");

    let opts = ValidateOptions {
        image: pytest_image(),
        repo_name: Some("calc-collect".into()),
        ..Default::default()
    };
    let default_dir = dir.path().join("default");
    std::fs::create_dir(&default_dir).expect("mkdir");
    let (_, rows) = common::validate_all(&h.repo.path(), &commits, &default_dir, &opts).await;
    let row = rows.iter().find(|r| r.hash == fix).expect("row");
    assert_eq!(row.outcome, Outcome::Valid, "{row:#?}");
    assert_eq!(
        row.fail_to_pass,
        [
            "tests/test_mul.py::test_mul",
            "tests/test_mul.py::test_mul_zero"
        ]
    );
    assert!(row.pass_to_pass.is_empty(), "{row:#?}");
    assert_eq!(row.old_statuses["tests/test_mul.py"], "ERROR", "{row:#?}");

    let strict = ValidateOptions {
        reject_collection_errors: true,
        build_images: false,
        ..opts
    };
    let strict_dir = dir.path().join("strict");
    std::fs::create_dir(&strict_dir).expect("mkdir");
    let (_, rows) = common::validate_all(&h.repo.path(), &commits, &strict_dir, &strict).await;
    let row = rows.iter().find(|r| r.hash == fix).expect("row");
    assert_eq!(row.reason_label(), "test_sets_differ", "{row:#?}");
}
