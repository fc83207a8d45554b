//! `r2e view` in a real headless Chromium: the page loads a trajectories
//! file made here, filters by status, opens one trajectory (its steps and
//! the patch as a coloured diff), and shows two rollouts side by side.
//! Screenshots go to `target/view-screenshots/` to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!("this test drives a real browser: install Debian's chromium (apt-get install chromium)");
}

fn trajectory(task: &str, rollout: u32, status: &str, reward: Option<f64>) -> serde_json::Value {
    let patch = format!(
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-    return a + b {rollout}\n+    return a * b {rollout}\n"
    );
    serde_json::json!({
        "task_id": task, "model": "m", "agent": "edit", "rollout": rollout,
        "steps": [
            {"thought": format!("Look at the file, rollout {rollout}."), "action": {"tool": "file_editor", "args": {"command": "view", "path": "/testbed/calc.py"}},
             "observation": "Here's the result of running `cat -n`:\n     1 def mul(a, b):", "llm_secs": 0.5, "env_secs": 0.01,
             "usage": {"prompt_tokens": 100, "completion_tokens": 20}},
            {"thought": "Needle-in-a-haystack thought", "action": {"tool": "execute_bash", "args": {"cmd": "python -m pytest"}},
             "observation": (0..100).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n"), "llm_secs": 0.4, "env_secs": 1.2}
        ],
        "patch": patch, "reward": reward, "reward_status": status, "exit_reason": "submitted",
        "usage": {"prompt_tokens": 200, "completion_tokens": 40}, "cost_usd": 0.01,
        "started_at": 0.0, "duration_secs": 3.5
    })
}

fn start(file: &Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_r2e"))
        .arg("view")
        .arg(file)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "r2e view did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, url)
}

/// The DOM after the page's scripts ran, and a screenshot of it.
fn render(url: &str, shot: &Path, profile: &Path) -> String {
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
        "--window-size=1400,1000",
    ];
    let data_dir = format!("--user-data-dir={}", profile.display());
    let dom = Command::new(chromium())
        .args(common)
        .arg(&data_dir)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot_ok = Command::new(chromium())
        .args(common)
        .arg(&data_dir)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(shot_ok.status.success());
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// Table rows rendered (the script's own template text does not count).
fn rows(dom: &str) -> usize {
    dom.match_indices("<tr data-idx=\"")
        .filter(|(i, m)| dom[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        .count()
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/view-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_viewer_lists_filters_opens_and_compares_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("runs.jsonl");
    let mut lines = String::new();
    for (i, (status, reward)) in [
        ("resolved", Some(1.0)),
        ("unresolved", Some(0.0)),
        ("infra_error", None),
        ("resolved", Some(1.0)),
    ]
    .into_iter()
    .enumerate()
    {
        let task = if i < 3 {
            "demo__calc-mul"
        } else {
            "demo__calc-add"
        };
        lines += &trajectory(task, i as u32, status, reward).to_string();
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();
    let (mut server, url) = start(&file);
    let profile = tmp.path().join("chromium");
    let out = shots();

    let dom = render(&format!("{url}/view#/"), &out.join("list.png"), &profile);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script finished: {dom}"
    );
    assert_eq!(rows(&dom), 4, "{dom}");
    assert!(
        dom.contains("4 trajectories") && dom.contains("resolved 66.7% of graded"),
        "{dom}"
    );

    let dom = render(
        &format!("{url}/view#/?status=resolved"),
        &out.join("filtered.png"),
        &profile,
    );
    assert_eq!(rows(&dom), 2, "{dom}");
    let dom = render(
        &format!("{url}/view#/?q=needle-in-a-haystack&task=add"),
        &out.join("search.png"),
        &profile,
    );
    assert_eq!(rows(&dom), 1, "{dom}");

    let dom = render(
        &format!("{url}/view#/t/1/s/1"),
        &out.join("trajectory.png"),
        &profile,
    );
    assert!(dom.contains("demo__calc-mul · rollout 1"), "{dom}");
    assert!(dom.contains("Look at the file, rollout 1."));
    assert!(
        dom.contains("class=\"step target\""),
        "the linked step is marked: {dom}"
    );
    assert!(
        dom.contains("100 lines (show all)"),
        "long observations are folded"
    );
    assert!(
        dom.contains("<span class=\"del\">-    return a + b 1</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<span class=\"add\">+    return a * b 1</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("rollout 0 · resolved"),
        "other rollouts are offered"
    );

    let dom = render(
        &format!("{url}/view#/cmp/0/2"),
        &out.join("compare.png"),
        &profile,
    );
    assert!(dom.contains("two rollouts side by side"), "{dom}");
    assert!(
        dom.contains("#0 · rollout 0") && dom.contains("#2 · rollout 2"),
        "{dom}"
    );
    assert!(dom.contains("data-status=\"infra_error\""));
    server.kill().unwrap();
    server.wait().unwrap();
}
