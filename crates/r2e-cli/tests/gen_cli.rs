//! SWE-Gen as a user runs it, in Docker: `r2e gen mine`, `filter`, `validate`
//! and `issue` (scripted model) on a real test history; every emitted task is
//! resolved by its gold patch under `r2e eval` and solved by the oracle agent
//! under `r2e run`.

#[path = "../../r2e-gen/tests/common/mod.rs"]
mod common;

use common::pytest_image;

use r2e_llm::testing::{ScriptedServer, Turn};
use std::path::Path;
use tokio::process::Command;

fn r2e(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_r2e"));
    c.current_dir(dir);
    c
}

async fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().await.expect("r2e runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}

/// The directory `r2e gen run` gives a repository: its directory name.
fn repo_dir_name(h: &common::History) -> String {
    h.repo
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

const ISSUE: &str = "Calculator gives wrong results for some inputs\n\n\
                     Using the calculator on edge cases does not behave as documented.";

#[tokio::test(flavor = "multi_thread")]
async fn mine_filter_validate_issue_then_eval_and_oracle() {
    let h = common::history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let repo = h.repo.path();
    // Merge commits left out here (`gen run` below mines them).
    ok(r2e(dir)
        .args(["gen", "mine", "--no-merges", "--repo"])
        .arg(&repo)
        .args(["--out", "commits.jsonl"]))
    .await;
    // R2E-Gym's selection (the default) keeps only the fix with its test: the
    // feature adds a method, which no test can match as a modified entity.
    let text = ok(r2e(dir).args([
        "gen",
        "filter",
        "--commits",
        "commits.jsonl",
        "--out",
        "candidates_gym.jsonl",
    ]))
    .await;
    assert!(text.contains("kept 1 of 9 commits"), "{text}");
    assert!(text.contains("rule set r2e-gym"), "{text}");
    let bad = r2e(dir)
        .args(["gen", "filter", "--preset", "swe-smith", "--print-config"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("the rule sets are r2e-gym, r2e"),
        "{bad:?}"
    );
    // r2e's broader rules keep the feature too.
    let text = ok(r2e(dir).args([
        "gen",
        "filter",
        "--preset",
        "r2e",
        "--commits",
        "commits.jsonl",
        "--out",
        "candidates.jsonl",
    ]))
    .await;
    assert!(text.contains("kept 2 of 9 commits"), "{text}");
    let validate = || {
        let mut c = r2e(dir);
        c.args(["gen", "validate", "--repo"])
            .arg(&repo)
            .args(["--candidates", "candidates.jsonl", "--out", "gen"])
            .args([
                "--image",
                &pytest_image(),
                "--name",
                "calc-cli",
                "--workers",
                "2",
            ]);
        c
    };
    let text = ok(&mut validate()).await;
    assert!(
        text.contains("funnel: 2 candidates → 2 validated"),
        "{text}"
    );
    // stderr is not a terminal here: plain progress lines instead of a bar.
    assert!(
        text.contains("  1/2 (50%), ETA") && text.contains("  2/2 (100%)"),
        "{text}"
    );
    let text = ok(&mut validate()).await;
    assert!(text.contains("(0 this run, 2 earlier)"), "{text}");

    let server = ScriptedServer::start().await.expect("server");
    server.push(Turn::text(ISSUE));
    server.push(Turn::text(ISSUE));
    let text = ok(r2e(dir)
        .args([
            "gen",
            "issue",
            "--tasks",
            "gen/tasks.jsonl",
            "--model",
            "scripted",
        ])
        .args(["--base-url", &server.openai_base_url()])
        .args(["--out", "tasks_with_issues.jsonl"])
        .env("R2E_API_KEY", "k"))
    .await;
    assert!(
        text.contains("2 tasks → 2 with issue text, 0 failed"),
        "{text}"
    );
    let tasks = r2e_core::dataset::load(&dir.join("tasks_with_issues.jsonl"), &Default::default())
        .expect("tasks")
        .tasks;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.problem_statement == ISSUE));

    let text = ok(r2e(dir).args([
        "eval",
        "--dataset",
        "tasks_with_issues.jsonl",
        "--predictions",
        "gold",
        "--run-id",
        "x",
        "--workers",
        "2",
    ]))
    .await;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gold.x.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["resolved_instances"], 2, "{summary}\n{text}");

    ok(r2e(dir).args([
        "run",
        "--agent",
        "oracle",
        "--dataset",
        "tasks_with_issues.jsonl",
        "--out",
        "t.jsonl",
    ]))
    .await;
    let trajs = r2e_core::trajectory::read_file(&dir.join("t.jsonl")).expect("trajectories");
    assert_eq!(trajs.len(), 2);
    assert!(trajs.iter().all(|t| t.reward == Some(1.0)), "{trajs:?}");
}

/// `r2e gen run`: every stage for each repository of a list, environments
/// built from the repository's metadata (stage 3, uv from PyPI) instead of a
/// ready-made image, one funnel table, one dataset; a rerun resumes every
/// stage and gives the same result.
#[tokio::test(flavor = "multi_thread")]
async fn gen_run_chains_the_stages_for_a_list_of_repositories() {
    let h = common::history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let list = dir.join("repos.txt");
    std::fs::write(
        &list,
        format!("# test repositories\n{}\n", h.repo.path().display()),
    )
    .unwrap();
    let run = || {
        let mut c = r2e(dir);
        c.args(["gen", "run", "--repos"])
            .arg(&list)
            .args(["--out", "out", "--workers", "2"]);
        c
    };
    let first = ok(&mut run()).await;
    let tasks = r2e_core::dataset::load(&dir.join("out/tasks.jsonl"), &Default::default())
        .unwrap()
        .tasks;
    assert!(!tasks.is_empty(), "{first}");
    assert!(
        first.contains(&format!("{} tasks from 1 repositories", tasks.len())),
        "{first}"
    );
    assert!(first.contains("no --model"), "{first}");
    assert!(first.contains("env built"), "{first}");
    let envs: Vec<r2e_gen::env::EnvRow> =
        r2e_core::jsonl::read(&dir.join(format!("out/{}/envs.jsonl", repo_dir_name(&h)))).unwrap();
    let built: Vec<_> = envs
        .iter()
        .filter(|r| r.outcome == r2e_gen::env::EnvOutcome::Built)
        .collect();
    assert!(built.len() >= tasks.len(), "{envs:#?}");
    assert!(
        tasks.iter().all(|t| t.image.starts_with("r2e-gen/")),
        "{tasks:?}"
    );
    // The same dataset in Parquet.
    let parquet = r2e_core::dataset::load(&dir.join("out/tasks.parquet"), &Default::default())
        .unwrap()
        .tasks;
    assert_eq!(parquet.len(), tasks.len());
    // The last stage proved every task sound.
    let checks = std::fs::read_to_string(dir.join("out/check.jsonl")).expect("check.jsonl");
    assert_eq!(checks.lines().count(), tasks.len(), "{first}");
    assert!(
        checks.lines().all(|l| l.contains("\"verdict\":\"ok\"")),
        "{checks}"
    );
    let sound = r2e_core::dataset::load(&dir.join("out/tasks_checked.jsonl"), &Default::default())
        .unwrap()
        .tasks;
    assert_eq!(sound.len(), tasks.len());
    // Tasks whose images sit on a built environment resolve with their gold patch.
    let text = ok(r2e(dir).args([
        "eval",
        "--dataset",
        "out/tasks.jsonl",
        "--predictions",
        "gold",
        "--run-id",
        "env",
    ]))
    .await;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gold.env.json")).expect("summary"))
            .expect("json");
    assert_eq!(
        summary["resolved_instances"],
        tasks.len(),
        "{summary}\n{text}"
    );
    let second = ok(&mut run()).await;
    assert!(second.contains("already"), "{second}");
    let again = r2e_core::dataset::load(&dir.join("out/tasks.jsonl"), &Default::default())
        .unwrap()
        .tasks;
    assert_eq!(again.len(), tasks.len());

    // `r2e gen images`: the run's environment layers and task images, by
    // kind; task images removed first, then the rest.
    let name = tasks[0].image["r2e-gen/".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let listed = ok(r2e(dir).args(["gen", "images", "--repo", &name])).await;
    assert!(
        listed.contains("┆ env ") && listed.contains("┆ task "),
        "{listed}"
    );
    for t in &tasks {
        assert!(listed.contains(&t.image), "{} missing:\n{listed}", t.image);
    }
    for e in &built {
        assert!(listed.contains(&e.image), "{listed}");
    }
    let removed = ok(r2e(dir).args([
        "gen", "images", "--repo", &name, "--kind", "task", "--remove",
    ]))
    .await;
    assert!(
        removed.contains(&format!("removed {} images", tasks.len())),
        "{removed}"
    );
    let docker = r2e_sandbox::docker::connect().await.expect("docker");
    for t in &tasks {
        assert!(docker.inspect_image(&t.image).await.is_err(), "{}", t.image);
    }
    for e in &built {
        assert!(docker.inspect_image(&e.image).await.is_ok(), "{}", e.image);
    }
    ok(r2e(dir).args(["gen", "images", "--repo", &name, "--remove"])).await;
    let none = ok(r2e(dir).args(["gen", "images", "--repo", &name])).await;
    assert!(
        none.contains(&format!("no SWE-Gen images of {name}")),
        "{none}"
    );
    let bad = r2e(dir)
        .args(["gen", "images", "--kind", "bogus"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("use env, workspace or task"),
        "{bad:?}"
    );
}

/// `r2e gen run --model`: stage 5 writes a test for the fix that came without
/// one (its environment built first), and stage 6 writes the issue text of
/// every task, mined tests or generated; one dataset holds them all.
#[tokio::test(flavor = "multi_thread")]
async fn gen_run_with_a_model_adds_generated_tests_and_issue_texts() {
    let h = common::history();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let list = dir.join("repos.txt");
    std::fs::write(&list, format!("{}\n", h.repo.path().display())).unwrap();
    let server = ScriptedServer::start().await.expect("server");
    server.set_responder(|req| {
        let system = req.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if system.starts_with("You write regression tests") {
            Turn::text(
                "```python\nfrom pkg.calc import Stats\n\n\ndef test_mean_of_empty_stats():\n    \
                 assert Stats([]).mean() == 0.0\n```",
            )
            .into()
        } else {
            Turn::text(ISSUE).into()
        }
    });
    let text = ok(r2e(dir)
        .args(["gen", "run", "--repos"])
        .arg(&list)
        .args(["--out", "out", "--model", "scripted", "--preset", "r2e"])
        .args(["--base-url", &server.openai_base_url()]))
    .await;
    let tasks = r2e_core::dataset::load(&dir.join("out/tasks.jsonl"), &Default::default())
        .unwrap()
        .tasks;
    let generated: Vec<_> = tasks
        .iter()
        .filter(|t| t.extra.get("tests_generated") == Some(&serde_json::Value::Bool(true)))
        .collect();
    assert_eq!(generated.len(), 1, "{text}");
    assert_eq!(
        generated[0].base_commit,
        h.repo
            .git(&["rev-parse", &format!("{}^", h.fix_without_test)])
            .trim()
    );
    // The fix, the feature, the merge bringing the feature in, the generated one.
    assert_eq!(tasks.len(), 4, "{text}");
    assert!(
        tasks.iter().all(|t| t.problem_statement == ISSUE),
        "{tasks:?}"
    );
    assert!(text.contains("generated tests"), "{text}");
}
