//! `r2e run` as a user runs it against an OpenAI-compatible server (here a
//! scripted one on 127.0.0.1): K rollouts of the demo tasks in parallel, the
//! trajectories on disk, a rerun that resumes (asks the model nothing), and
//! `r2e export sft` on the result — in both action formats.

use r2e_agent::ActionFormat;
use r2e_llm::testing::ScriptedServer;
use std::path::{Path, PathBuf};
use tokio::process::Command;

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

async fn demo_dataset(dir: &Path) -> PathBuf {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let dataset = dir.join("demo.jsonl");
    let made = r2e()
        .args(["dataset", "demo", "--base-image", &image, "--out"])
        .arg(&dataset)
        .output()
        .await
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    dataset
}

async fn run(
    dataset: &Path,
    out: &Path,
    server: &ScriptedServer,
    format: &str,
) -> (String, String) {
    let o = r2e()
        .args([
            "run",
            "--model",
            "scripted",
            "--base-url",
            &server.openai_base_url(),
        ])
        .args([
            "--k",
            "2",
            "--workers",
            "3",
            "--pool",
            "1",
            "--action-format",
            format,
        ])
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .env("R2E_API_KEY", "k")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

async fn rollouts_resume_and_export(format: ActionFormat, name: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = demo_dataset(tmp.path()).await;
    let server = ScriptedServer::start().await.unwrap();
    server.set_responder(r2e_agent::testing::demo_solver(format));
    let out = tmp.path().join("runs/traj.jsonl");
    let (stdout, _) = run(&dataset, &out, &server, name).await;
    assert!(stdout.contains("6 (100.0%)"), "{stdout}");
    let trajs = r2e_core::trajectory::read_file(&out).unwrap();
    assert_eq!(trajs.len(), 6);
    assert!(
        trajs
            .iter()
            .all(|t| t.reward == Some(1.0) && t.steps.len() == 4),
        "{trajs:?}"
    );
    assert!(
        trajs
            .iter()
            .all(|t| t.action_format == name && t.model == "scripted")
    );
    let mut keys: Vec<_> = trajs
        .iter()
        .map(|t| (t.task_id.clone(), t.rollout))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6);
    let asked = server.request_count();
    assert_eq!(asked, 24);

    // A rerun finds every episode done and asks the model nothing.
    let (_, stderr) = run(&dataset, &out, &server, name).await;
    assert!(
        stderr.contains("6 of 6 episodes are already in"),
        "{stderr}"
    );
    assert_eq!(server.request_count(), asked);
    assert_eq!(r2e_core::trajectory::read_file(&out).unwrap().len(), 6);

    // Fine-tuning data from the trajectories.
    for (fmt, key) in [("openai", "messages"), ("sharegpt", "conversations")] {
        let sft = tmp.path().join(format!("sft-{fmt}.jsonl"));
        let o = r2e()
            .args([
                "export",
                "sft",
                "--only-resolved",
                "--format",
                fmt,
                "--trajectories",
            ])
            .arg(&out)
            .arg("--out")
            .arg(&sft)
            .output()
            .await
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&sft)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 6);
        assert!(
            rows.iter()
                .all(|r| r[key].as_array().is_some_and(|m| m.len() >= 8))
        );
        if format == ActionFormat::Xml && fmt == "openai" {
            let assistant = &rows[0]["messages"][2]["content"];
            assert!(
                assistant
                    .as_str()
                    .unwrap()
                    .contains("<function=file_editor>"),
                "{assistant}"
            );
            assert!(rows[0].get("tools").is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn native_rollouts_resume_and_export() {
    rollouts_resume_and_export(ActionFormat::Native, "native").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn xml_rollouts_resume_and_export() {
    rollouts_resume_and_export(ActionFormat::Xml, "xml").await;
}

/// Ctrl-C in the middle of `r2e run` keeps every finished trajectory, leaves no
/// sandbox behind, exits 130, and the same command then finishes the rest.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_keeps_finished_episodes_and_the_rerun_completes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = demo_dataset(tmp.path()).await;
    let server = ScriptedServer::start().await.unwrap();
    let solver = r2e_agent::testing::demo_solver(ActionFormat::Native);
    server.set_responder(move |req| {
        r2e_llm::testing::Reply::Delayed(
            std::time::Duration::from_millis(400),
            Box::new(solver(req)),
        )
    });
    let out = tmp.path().join("traj.jsonl");
    let child = r2e()
        .args([
            "run",
            "--model",
            "scripted",
            "--base-url",
            &server.openai_base_url(),
            "--k",
            "2",
        ])
        .arg("--dataset")
        .arg(&dataset)
        .arg("--out")
        .arg(&out)
        .env("R2E_API_KEY", "k")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let t = std::time::Instant::now();
    while std::fs::read_to_string(&out).map_or(0, |s| s.lines().count()) < 1 {
        assert!(t.elapsed().as_secs() < 120, "no episode finished");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let o = child.wait_with_output().await.unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Sandboxes r2e was still starting go with its attach connection, a
    // moment after it exits (AutoRemove).
    let filter = format!("label=dev.r2e.owner-pid={pid}");
    let t = std::time::Instant::now();
    loop {
        let ps = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
            .unwrap();
        if ps.stdout.is_empty() {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 20,
            "sandboxes left after Ctrl-C: {}",
            String::from_utf8_lossy(&ps.stdout)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let kept = r2e_core::trajectory::read_file(&out).unwrap();
    assert!((1..6).contains(&kept.len()), "{}", kept.len());
    assert!(kept.iter().all(|t| t.reward == Some(1.0)));

    let (_, stderr) = run(&dataset, &out, &server, "native").await;
    assert!(
        stderr.contains(&format!("{} of 6 episodes are already in", kept.len())),
        "{stderr}"
    );
    assert_eq!(r2e_core::trajectory::read_file(&out).unwrap().len(), 6);
}

/// The trajectory of an agent that fakes the test runner instead of fixing
/// the bug: its only action writes a `python3` that prints passes.
fn fake_python_trajectory(task_id: &str) -> String {
    let fake = "#!/bin/sh\nfor t in test_mul test_sub; do echo \"$t (tests.test_mul.MulTest.$t) ... ok\"; done\necho OK\n";
    let cmd = format!(
        "mkdir -p /root/.venv/bin && printf '%s' '{fake}' > /root/.venv/bin/python3 && chmod +x /root/.venv/bin/python3"
    );
    serde_json::json!({
        "task_id": task_id, "model": "m", "agent": "a", "rollout": 0,
        "steps": [
            {"thought": "", "action": {"tool": "execute_bash", "args": {"cmd": cmd}},
             "observation": "", "llm_secs": 0.0, "env_secs": 0.0},
            {"thought": "", "action": {"tool": "finish", "args": {}},
             "observation": "", "llm_secs": 0.0, "env_secs": 0.0}
        ],
        "patch": "", "reward": null, "exit_reason": "submitted",
        "started_at": 0.0, "duration_secs": 0.0
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_faked_test_runner_earns_nothing_unless_the_reward_runs_in_the_agents_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = demo_dataset(dir.path()).await;
    let task_id = "r2e-demo__calc-mul";
    let replay = dir.path().join("fake.jsonl");
    std::fs::write(&replay, fake_python_trajectory(task_id) + "\n").unwrap();
    let mut rewards = Vec::new();
    for (name, reward_in) in [("fresh", None), ("same", Some("same"))] {
        let out = dir.path().join(format!("{name}.jsonl"));
        let mut cmd = r2e();
        cmd.args(["run", "--agent", "replay", "--instance-ids", task_id])
            .arg("--replay")
            .arg(&replay)
            .arg("--dataset")
            .arg(&dataset)
            .arg("--out")
            .arg(&out);
        if let Some(r) = reward_in {
            cmd.args(["--reward-in", r]);
        }
        let o = cmd.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains("resolved (of graded)"), "{stdout}");
        let line = std::fs::read_to_string(&out).unwrap();
        let t: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(t["patch"], "", "the fake lives outside the repository");
        rewards.push((t["reward"].clone(), t["reward_status"].clone()));
    }
    assert_eq!(
        rewards,
        [
            (serde_json::json!(0.0), serde_json::json!("unresolved")),
            (serde_json::json!(1.0), serde_json::json!("resolved")),
        ],
        "by default the fake earns nothing; --reward-in same (R2E-Gym's way) is fooled"
    );
}
