//! `r2e serve` as a process: a server SIGKILLed with live environments
//! leaves containers that the next start removes; SIGTERM finishes and
//! removes every sandbox; a non-loopback bind without a token is refused.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn r2e() -> Command {
    Command::new(env!("CARGO_BIN_EXE_r2e"))
}

/// Starts `r2e serve` on a free port and waits until it answers.
async fn start() -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let child = r2e()
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{url}/v1/health")).await.is_err() {
        assert!(Instant::now() < deadline, "r2e serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, url)
}

fn containers_of(pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.r2e.owner-pid={pid}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

async fn create(url: &str, row: &Value) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{url}/v1/envs"))
        .json(&json!({ "task": row }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["env_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

async fn gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !containers_of(pid).is_empty() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_server_leaves_nothing_after_a_restart_and_sigterm_cleans_up() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("demo.jsonl");
    let made = r2e()
        .args(["dataset", "demo", "--base-image", &image, "--out"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(made.status.success());
    let row: Value = serde_json::from_str(
        std::fs::read_to_string(&dataset)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();

    let (mut first, url) = start().await;
    create(&url, &row).await;
    create(&url, &row).await;
    assert_eq!(containers_of(first.id()).len(), 2);
    first.kill().unwrap();
    first.wait().unwrap();
    // Whatever the killed server's sandboxes did on their own, the next
    // start removes what is left.
    let (mut second, url) = start().await;
    assert!(
        gone(first.id(), Duration::from_secs(15)).await,
        "orphans removed"
    );

    create(&url, &row).await;
    assert_eq!(containers_of(second.id()).len(), 1);
    let term = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = second.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(second.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("removed 1 environment"), "{err}");
    assert!(gone(second.id(), Duration::from_secs(15)).await);
}

#[test]
fn a_public_bind_without_a_token_is_refused() {
    let out = r2e()
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("R2E_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a token") && err.contains("--token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn r2e_run_drives_a_remote_fleet() {
    let image = std::env::var("R2E_TEST_IMAGE").unwrap_or_else(|_| "r2e/base:bookworm".into());
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("demo.jsonl");
    let made = r2e()
        .args(["dataset", "demo", "--base-image", &image, "--out"])
        .arg(&dataset)
        .output()
        .unwrap();
    assert!(made.status.success());
    let (mut server, url) = start().await;
    let out = dir.path().join("runs.jsonl");
    let run = r2e()
        .args([
            "run",
            "--agent",
            "oracle",
            "--k",
            "2",
            "--workers",
            "3",
            "--server",
            &url,
        ])
        .arg("--dataset")
        .arg(&dataset)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let trajs: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trajs.len(), 6);
    for t in &trajs {
        assert_eq!(
            (t["reward"].clone(), t["reward_status"].clone()),
            (json!(1.0), json!("resolved")),
            "{t}"
        );
        // The hidden tests' report crossed HTTP into the trajectory.
        let task = t["task_id"].as_str().unwrap();
        assert_eq!(t["reward_report"][task]["resolved"], json!(true), "{t}");
    }
    // The server removed each environment when its episode closed it.
    let health: Value = reqwest::get(format!("{url}/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["active"], 0);
    assert!(
        containers_of(server.id()).len() <= 1,
        "at most a reward sandbox being removed"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
