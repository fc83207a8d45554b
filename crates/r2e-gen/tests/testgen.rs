//! Stage 5 in Docker on the test history, with the scripted model server: a
//! bug fix without tests gets a generated module; a module that passes on the
//! old code is sent back with the reason and the statuses, the corrected one
//! is valid and becomes a task that resolves; a rerun asks nothing; replies
//! without a usable module, or a failing server, give error rows while the
//! other commits of the run go on. Also: the new-file diffs apply with git.

mod common;

use common::{History, Repo, history, pytest_image};
use r2e_gen::filter::{FilterConfig, Preset, filter_jsonl};
use r2e_gen::testgen::{
    TestGenOptions, TestGenRecord, new_file_patch, output_paths, run_stage, select_commits,
};
use r2e_gen::validate::{Outcome, ValidateOptions, ValidatedCommit};
use r2e_llm::testing::{RecordedRequest, Reply, ScriptedServer, Turn};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Mines `h` and filters it, keeping the rejected list.
fn mine_and_filter(h: &History, dir: &Path) -> (PathBuf, PathBuf) {
    let commits = dir.join("commits.jsonl");
    common::mine_all(&h.repo.path(), &commits);
    let rejected = dir.join("rejected.jsonl");
    filter_jsonl(
        &commits,
        &dir.join("candidates.jsonl"),
        Some(&rejected),
        // r2e's rules: the feature and its merge are kept, not sent to testgen.
        &FilterConfig::for_preset(Preset::R2e),
    )
    .expect("filter");
    (commits, rejected)
}

fn options(name: &str) -> TestGenOptions {
    TestGenOptions {
        model: "scripted".into(),
        workers: 2,
        attempts: 3,
        validate: ValidateOptions {
            image: pytest_image(),
            repo_name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn reply_with(module: &str) -> String {
    format!("Here is the test module.\n\n```python\n{module}```\n\nIt checks the fix.")
}

/// The content of message `i` of a recorded chat request.
fn message(req: &RecordedRequest, i: usize) -> String {
    req.json()["messages"][i]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

const PASSES_ON_OLD: &str = "from pkg.calc import Stats


def test_mean():
    assert Stats([1, 2, 3]).mean() == 2
";

const CATCHES_THE_BUG: &str = "from pkg.calc import Stats


def test_mean():
    assert Stats([1, 2, 3]).mean() == 2


def test_mean_of_empty_stats():
    assert Stats([]).mean() == 0.0
";

/// Runs `script` in a container of `image` (no network), returning (exit code, output).
fn in_image(image: &str, script: &str) -> (i32, String) {
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "--entrypoint", "sh"])
        .arg(image)
        .args(["-c", script])
        .output()
        .expect("docker run");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A shell command writing `text` to `path` (base64, so any bytes survive).
fn write_file_cmd(path: &str, text: &str) -> String {
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("base64 output");
    format!(
        "echo {} | base64 -d > {path}",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_tests_are_fed_back_validated_and_resumed() {
    let h = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let (commits, rejected) = mine_and_filter(&h, dir.path());
    let rules: Vec<String> = vec!["test_entity_edit".into(), "test_match".into()];
    let selection = select_commits(&commits, &rejected, &rules).expect("select");
    let selected: Vec<&str> = selection.commits.iter().map(|c| c.hash.as_str()).collect();
    assert_eq!(selected, [h.fix_without_test.as_str()]);
    assert_eq!(selection.test_dir.as_deref(), Some("tests"));

    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text(reply_with(PASSES_ON_OLD)));
    server.push(Turn::text(reply_with(CATCHES_THE_BUG)));
    let client = server.openai_client().expect("client");
    let provider = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let opts = options("calc-testgen");
    let out = dir.path().join("out");
    let summary = run_stage(
        &client,
        &provider,
        &h.repo.path(),
        &commits,
        &rejected,
        &out,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("testgen");
    let paths = output_paths(&out);
    let rows: Vec<ValidatedCommit> = r2e_core::jsonl::read(&paths.validated).expect("rows");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let short = &h.fix_without_test[..12];
    let file = format!("tests/test_r2e_gen_{short}.py");
    assert_eq!(row.outcome, Outcome::Valid, "{row:?}");
    assert_eq!(
        row.fail_to_pass,
        [format!("{file}::test_mean_of_empty_stats")]
    );
    assert_eq!(row.pass_to_pass, [format!("{file}::test_mean")]);
    assert!(row.generated_tests);
    assert_eq!(
        row.test_patch,
        new_file_patch(&file, CATCHES_THE_BUG),
        "the test patch adds the module as a new file"
    );
    assert_eq!(
        (summary.input, summary.valid, summary.tasks, summary.replies),
        (1, 1, 1, 2)
    );
    assert_eq!(summary.by_reason.get("valid"), Some(&1));

    // The prompt, and the feedback after the first module.
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let prompt = message(&requests[0], 1);
    assert!(prompt.contains("`Stats.mean` (method, edited)"), "{prompt}");
    assert!(prompt.contains("+        if not self.values:"), "{prompt}");
    assert!(prompt.contains(&file), "{prompt}");
    assert!(prompt.contains("pytest"), "{prompt}");
    insta::assert_snapshot!("first_prompt", prompt.replace(short, "SHORT"));
    let second = requests[1].json();
    assert_eq!(second["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        message(&requests[1], 2),
        reply_with(PASSES_ON_OLD),
        "the model's answer is in the history"
    );
    let feedback = message(&requests[1], 3);
    assert!(feedback.contains("no_fail_to_pass"), "{feedback}");
    assert!(
        feedback.contains("passed before the change already"),
        "{feedback}"
    );
    assert!(
        feedback.contains(&format!("- {file}::test_mean: PASSED")),
        "{feedback}"
    );
    assert!(
        feedback.contains("1 passed"),
        "the old-code log: {feedback}"
    );

    // The attempts.
    let records: Vec<TestGenRecord> = r2e_core::jsonl::read(&paths.attempts).expect("records");
    assert_eq!(records.len(), 1);
    let reasons: Vec<Option<&str>> = records[0]
        .attempts
        .iter()
        .map(|a| a.reason.as_deref())
        .collect();
    assert_eq!(reasons, [Some("no_fail_to_pass"), None]);
    assert_eq!(
        records[0].attempts[0].module.as_deref(),
        Some(PASSES_ON_OLD)
    );

    // The task: generated tests, F2P, and it resolves in its image.
    let tasks = r2e_core::dataset::load(&paths.tasks, &Default::default())
        .expect("tasks")
        .tasks;
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task.task_id, format!("calc-testgen__{short}"));
    assert_eq!(task.base_commit, h.fix_without_test_parent());
    assert_eq!(task.test_patch, row.test_patch);
    assert_eq!(task.fail_to_pass, row.fail_to_pass);
    assert_eq!(task.extra["tests_generated"], true);
    assert_eq!(task.image, format!("r2e-gen/calc-testgen:{short}"));
    let test_cmd = task.extra["test_cmd"].as_str().expect("test_cmd");
    let script = format!(
        "cd /testbed && {} && {} && git apply /tmp/t.patch && ({test_cmd}; echo OLD=$?) \
         && git apply /tmp/g.patch && {test_cmd}",
        write_file_cmd("/tmp/t.patch", &task.test_patch),
        write_file_cmd("/tmp/g.patch", &task.gold_patch),
    );
    let (code, log) = in_image(&task.image, &script);
    assert!(log.contains("OLD=1"), "fails before the fix: {log}");
    assert_eq!(code, 0, "passes after the fix: {log}");
    assert!(log.contains("2 passed"), "{log}");

    // A rerun asks nothing.
    let again = run_stage(
        &client,
        &provider,
        &h.repo.path(),
        &commits,
        &rejected,
        &out,
        &opts,
        &mut |_| {},
    )
    .await
    .expect("again");
    assert_eq!(server.request_count(), 2);
    assert_eq!(
        (again.already_done, again.valid, again.tasks, again.replies),
        (1, 1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_replies_and_model_errors_do_not_stop_the_run() {
    let mut h = history();
    let calc = std::fs::read_to_string(h.repo.path().join("pkg/calc.py")).expect("calc");
    let calc = calc.replace(
        "    def total(self):\n        return sum(self.values)\n",
        "    def total(self):\n        return sum(v for v in self.values if v is not None)\n",
    );
    h.repo.write("pkg/calc.py", &calc);
    let skip_none = h.repo.commit("Skip None in Stats.total");
    let calc = calc.replace(
        "self.values = list(values)",
        "self.values = list(values or [])",
    );
    h.repo.write("pkg/calc.py", &calc);
    let accept_none = h.repo.commit("Accept None in Stats()");

    let dir = tempfile::tempdir().expect("tempdir");
    let (commits, rejected) = mine_and_filter(&h, dir.path());
    let server = ScriptedServer::start().await.expect("server");
    // By commit (its prompt names the edited method) and by turn (messages so far).
    server.set_responder(|req| {
        let prompt = message(req, 1);
        let turns = req.json()["messages"].as_array().map_or(0, Vec::len);
        if prompt.contains("`Stats.total` (method, edited)") {
            Turn::text(reply_with(
                "from pkg.calc import Stats\n\n\ndef test_total_skips_none():\n    \
                 assert Stats([1, None, 2]).total() == 3\n",
            ))
            .into()
        } else if prompt.contains("`Stats.__init__` (method, edited)") {
            Reply::status(500, "the model server fell over")
        } else if turns == 4 {
            Turn::text("```python\nfrom pkg.calc import Stats\n\ndef test_mean(:\n    pass\n```")
                .into()
        } else {
            Turn::text("The test should check that the mean of no values is 0.").into()
        }
    });
    let client = server.openai_client().expect("client");
    let provider = r2e_sandbox::docker::DockerProvider::connect()
        .await
        .expect("docker");
    let opts = options("calc-testgen-bad");
    let out = dir.path().join("out");
    let mut done = 0;
    let summary = run_stage(
        &client,
        &provider,
        &h.repo.path(),
        &commits,
        &rejected,
        &out,
        &opts,
        &mut |e| {
            if let r2e_gen::testgen::TestGenEvent::Done { .. } = e {
                done += 1;
            }
        },
    )
    .await
    .expect("testgen");
    assert_eq!(done, 3);
    let paths = output_paths(&out);
    let rows: Vec<ValidatedCommit> = r2e_core::jsonl::read(&paths.validated).expect("rows");
    let row = |hash: &str| {
        rows.iter()
            .find(|r| r.hash == hash)
            .unwrap_or_else(|| panic!("no row for {hash}: {rows:?}"))
    };
    let good = row(&skip_none);
    assert_eq!(good.outcome, Outcome::Valid, "{good:?}");
    assert_eq!(
        good.fail_to_pass,
        [format!(
            "tests/test_r2e_gen_{}.py::test_total_skips_none",
            &skip_none[..12]
        )]
    );
    let garbage = row(&h.fix_without_test);
    assert_eq!(garbage.outcome, Outcome::Error);
    let reason = garbage.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("no_code_block:") && reason.ends_with("(attempt 3 of 3)"),
        "{reason}"
    );
    assert!(!garbage.generated_tests);
    let failed = row(&accept_none);
    assert_eq!(failed.outcome, Outcome::Error);
    let reason = failed.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("llm_error:") && reason.contains("the model server fell over"),
        "{reason}"
    );
    assert_eq!(
        (summary.valid, summary.tasks, summary.replies),
        (1, 1, 1 + 3)
    );
    assert_eq!(summary.by_reason.get("no_code_block"), Some(&1));
    assert_eq!(summary.by_reason.get("llm_error"), Some(&1));

    // Each bad reply was sent back with what was wrong with it.
    let records: Vec<TestGenRecord> = r2e_core::jsonl::read(&paths.attempts).expect("records");
    let record = records
        .iter()
        .find(|r| r.hash == h.fix_without_test)
        .expect("record");
    let labels: Vec<&str> = record
        .attempts
        .iter()
        .map(|a| {
            a.reason
                .as_deref()
                .and_then(|r| r.split(':').next())
                .unwrap_or("valid")
        })
        .collect();
    assert_eq!(labels, ["no_code_block", "syntax_error", "no_code_block"]);
    let mean_requests: Vec<RecordedRequest> = server
        .requests()
        .into_iter()
        .filter(|r| message(r, 1).contains("`Stats.mean` (method, edited)"))
        .collect();
    assert_eq!(mean_requests.len(), 3);
    assert!(message(&mean_requests[1], 3).contains("no_code_block"));
    let syntax = message(&mean_requests[2], 5);
    assert!(
        syntax.contains("does not parse as Python") && syntax.contains("line 3"),
        "{syntax}"
    );
    // The tasks file holds the one valid commit.
    let tasks = r2e_core::dataset::load(&paths.tasks, &Default::default())
        .expect("tasks")
        .tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].extra["commit"], skip_none.as_str());
}

/// The new-file diff applies with `git apply` and yields the content exactly.
#[test]
fn new_file_patches_apply_with_git() {
    let cases = [
        ("tests/test_a.py", "def test_a():\n    assert 1\n"),
        (
            "tests/deep/dir/test_b.py",
            "x = 1\n\n\ndef test_b():\n    pass",
        ),
        ("test_c.py", "one line, no newline"),
        ("test_d.py", "\n\n\n"),
        ("tests/test_ünï.py", "s = 'é'\n"),
        ("tests/test_empty.py", ""),
    ];
    for (path, content) in cases {
        let mut repo = Repo::new();
        repo.write("README.md", "x\n");
        repo.commit("init");
        let patch_file = repo.dir.path().join("gen.patch");
        std::fs::write(&patch_file, new_file_patch(path, content)).expect("patch");
        let check = common::git_cmd(repo.dir.path())
            .args(["apply", "--check", "gen.patch"])
            .output()
            .expect("git apply");
        assert!(
            check.status.success(),
            "{path}: {}\n{}",
            String::from_utf8_lossy(&check.stderr),
            new_file_patch(path, content)
        );
        repo.git(&["apply", "gen.patch"]);
        let written = std::fs::read_to_string(repo.dir.path().join(path)).expect("applied file");
        assert_eq!(written, content, "{path}");
    }
}

/// Selection takes the commits rejected by the rules named, and the test
/// directory from every mined row.
#[test]
fn selection_reads_the_rejected_rules() {
    let h = history();
    let dir = tempfile::tempdir().expect("tempdir");
    let (commits, rejected) = mine_and_filter(&h, dir.path());
    let all: Vec<String> = r2e_gen::filter::RULES
        .iter()
        .map(|(r, _)| r.to_string())
        .collect();
    let everything = select_commits(&commits, &rejected, &all).expect("select");
    assert!(everything.commits.len() > 1);
    assert!(everything.commits.iter().all(|c| c.hash != h.fix_with_test));
    let none = select_commits(&commits, &rejected, &[]).expect("select");
    assert!(none.commits.is_empty());
    assert_eq!(none.test_dir.as_deref(), Some("tests"));
}

impl HistoryExt for History {
    fn fix_without_test_parent(&self) -> String {
        self.repo
            .git(&["rev-parse", &format!("{}^", self.fix_without_test)])
            .trim()
            .to_string()
    }
}

trait HistoryExt {
    fn fix_without_test_parent(&self) -> String;
}
