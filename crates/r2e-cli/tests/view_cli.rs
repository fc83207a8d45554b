//! `r2e view` in a real headless Chromium: the page loads a trajectories
//! file made here, filters by status, opens one trajectory (its steps and
//! the patch as a coloured diff, the hidden tests' report as F2P/P2P or
//! R2E-Gym tables), shows two rollouts side by side, and shows the run's
//! summary with `verify report`'s best@k plot.
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

/// The hidden tests' report of each rollout: SWE-bench's `report.json` for
/// the first task (rollout 1 breaks a FAIL_TO_PASS and a PASS_TO_PASS test),
/// R2E-Gym's comparison for the second, none for the infrastructure error.
fn report(task: &str, rollout: u32) -> serde_json::Value {
    let (f2p, p2p) = (
        "tests/test_calc.py::test_mul",
        [
            "tests/test_calc.py::test_add",
            "tests/test_calc.py::test_sub",
        ],
    );
    let swebench = |resolved: bool, f2p_ok: bool, p2p_failing: &[&str]| {
        let p2p_ok: Vec<&str> = p2p
            .iter()
            .copied()
            .filter(|t| !p2p_failing.contains(t))
            .collect();
        serde_json::json!({task: {"patch_is_None": false, "patch_exists": true, "patch_successfully_applied": true,
            "resolved": resolved, "tests_status": {
                "FAIL_TO_PASS": {"success": if f2p_ok { vec![f2p] } else { vec![] }, "failure": if f2p_ok { vec![] } else { vec![f2p] }},
                "PASS_TO_PASS": {"success": p2p_ok, "failure": p2p_failing},
                "FAIL_TO_FAIL": {"success": [], "failure": []}, "PASS_TO_FAIL": {"success": [], "failure": []}}}})
    };
    match rollout {
        0 => {
            // Many passing PASS_TO_PASS tests: the page folds them.
            let mut r = swebench(true, true, &[]);
            let p2p = r[task]["tests_status"]["PASS_TO_PASS"]["success"]
                .as_array_mut()
                .unwrap();
            p2p.extend((0..45).map(|i| serde_json::json!(format!("tests/test_more.py::test_{i}"))));
            r
        }
        1 => swebench(false, false, &[p2p[1]]),
        3 => serde_json::json!({task: {"resolved": true, "reward": 1.0, "tests_status": {
            "matched": ["test_calc.py::test_add"], "mismatched": [], "missing": {}, "unexpected": {}}}}),
        _ => serde_json::Value::Null,
    }
}

fn trajectory(task: &str, rollout: u32, status: &str, reward: Option<f64>) -> serde_json::Value {
    let patch = format!(
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-    return a + b {rollout}\n+    return a * b {rollout}\n"
    );
    serde_json::json!({
        "task_id": task, "model": "m", "agent": "edit", "rollout": rollout,
        "steps": [
            {"thought": format!("Look at the file, rollout {rollout}. {}", if rollout == 1 { "Ünïcode GRÜßE" } else { "" }), "action": {"tool": "file_editor", "args": {"command": "view", "path": "/testbed/calc.py"}},
             "observation": "Here's the result of running `cat -n`:\n     1 def mul(a, b):", "llm_secs": 0.5, "env_secs": 0.01,
             "usage": {"prompt_tokens": 100, "completion_tokens": 20}},
            {"thought": "Needle-in-a-haystack thought", "action": {"tool": "execute_bash", "args": {"cmd": "python -m pytest"}},
             "observation": (0..100).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n"), "llm_secs": 0.4, "env_secs": 1.2}
        ],
        "patch": patch, "reward": reward, "reward_status": status, "reward_report": report(task, rollout),
        "exit_reason": "submitted",
        "usage": {"prompt_tokens": 200, "completion_tokens": 40}, "cost_usd": 0.01,
        "started_at": 0.0, "duration_secs": 3.5
    })
}

/// Starts `r2e ARGS… --bind 127.0.0.1:PORT` and waits for its port.
fn start(args: &[&std::ffi::OsStr]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_r2e"))
        .args(args)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "r2e {args:?} did not start");
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
    // `r2e verify report` on the same file: its best@k plot is shown under the table.
    let report = tmp.path().join("report");
    let made = Command::new(env!("CARGO_BIN_EXE_r2e"))
        .args(["verify", "report", "--resamples", "50", "--trajectories"])
        .arg(&file)
        .arg("--out-dir")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (mut server, url) = start(&[
        "view".as_ref(),
        file.as_ref(),
        "--report".as_ref(),
        report.as_ref(),
    ]);
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
    assert!(
        dom.contains("exit reasons: submitted <b>4</b>"),
        "the run's summary: {dom}"
    );
    assert!(
        dom.contains("<img class=\"plot\" src=\"/view/api/plot.svg\""),
        "the best@k plot: {dom}"
    );

    let dom = render(
        &format!("{url}/view#/?status=resolved"),
        &out.join("filtered.png"),
        &profile,
    );
    assert_eq!(rows(&dom), 2, "{dom}");
    let dom = render(
        &format!("{url}/view#/?q=NEEDLE-in-a-haystack&task=add"),
        &out.join("search.png"),
        &profile,
    );
    assert_eq!(rows(&dom), 1, "{dom}");
    // Case folding beyond ASCII: "grüße" finds "GRÜßE".
    let dom = render(
        &format!("{url}/view#/?q=gr%C3%BC%C3%9Fe"),
        &out.join("search_unicode.png"),
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

    // The hidden tests' report: F2P/P2P tables, failing tests first and marked.
    let dom = render(
        &format!("{url}/view#/t/1"),
        &out.join("report.png"),
        &profile,
    );
    for category in ["FAIL_TO_PASS", "PASS_TO_PASS"] {
        assert!(
            dom.contains(&format!("data-category=\"{category}\"")),
            "{category}: {dom}"
        );
    }
    assert!(
        dom.contains("FAIL_TO_PASS <span class=\"tally\">0 of 1 pass</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("PASS_TO_PASS <span class=\"tally\">1 of 2 pass</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<tr class=\"fail\" data-test=\"tests/test_calc.py::test_mul\">")
            && dom.contains("<tr class=\"fail\" data-test=\"tests/test_calc.py::test_sub\">")
            && dom.contains("<tr class=\"pass\" data-test=\"tests/test_calc.py::test_add\">"),
        "{dom}"
    );
    assert!(
        !dom.contains("data-category=\"FAIL_TO_FAIL\""),
        "empty categories are left out"
    );
    let dom = render(
        &format!("{url}/view#/t/3"),
        &out.join("report_r2egym.png"),
        &profile,
    );
    assert!(
        dom.contains("data-category=\"expected output (R2E-Gym)\"")
            && dom.contains("<tr class=\"pass\" data-test=\"test_calc.py::test_add\">"),
        "{dom}"
    );
    let dom = render(
        &format!("{url}/view#/t/2"),
        &out.join("report_none.png"),
        &profile,
    );
    assert!(dom.contains("no hidden-test report"), "{dom}");

    let dom = render(
        &format!("{url}/view#/cmp/0/2"),
        &out.join("compare.png"),
        &profile,
    );
    assert!(dom.contains("two rollouts side by side"), "{dom}");
    assert!(
        dom.contains("47 passing tests (show)"),
        "a long list of passing tests is folded: {dom}"
    );
    assert!(
        dom.contains("#0 · rollout 0") && dom.contains("#2 · rollout 2"),
        "{dom}"
    );
    assert!(dom.contains("data-status=\"infra_error\""));
    server.kill().unwrap();
    server.wait().unwrap();

    // The same page at /view of `r2e serve`, with the same plot, behind a
    // token: the browser passes it as `?token=`, and nothing shows without it.
    let (mut server, url) = start(&[
        "serve".as_ref(),
        "--token".as_ref(),
        "s3cret".as_ref(),
        "--view".as_ref(),
        file.as_ref(),
        "--view-report".as_ref(),
        report.as_ref(),
    ]);
    let denied = render(
        &format!("{url}/view#/"),
        &out.join("serve_denied.png"),
        &profile,
    );
    assert_eq!(rows(&denied), 0, "{denied}");
    let dom = render(
        &format!("{url}/view?token=s3cret#/"),
        &out.join("serve.png"),
        &profile,
    );
    assert_eq!(rows(&dom), 4, "{dom}");
    assert!(dom.contains("<img class=\"plot\""), "{dom}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_api_pages_through_the_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("runs.jsonl");
    let lines: String = (0..7)
        .map(|i| {
            let (status, reward) = if i % 2 == 0 {
                ("resolved", Some(1.0))
            } else {
                ("unresolved", Some(0.0))
            };
            format!(
                "{}\n",
                trajectory(&format!("demo__t{i}"), 0, status, reward)
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let (mut server, url) = start(&["view".as_ref(), file.as_ref()]);
    let page = |query: &'static str| {
        let url = format!("{url}/view/api/list?{query}");
        async move {
            let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            let ids: Vec<String> = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["task_id"].as_str().unwrap().to_string())
                .collect();
            (v["total"].as_u64().unwrap(), ids)
        }
    };
    let (total, ids) = page("status=resolved&limit=2&offset=1").await;
    assert_eq!(
        (total, ids),
        (4, vec!["demo__t2".into(), "demo__t4".into()])
    );
    let (total, ids) = page("status=resolved&limit=2&offset=3").await;
    assert_eq!((total, ids), (4, vec!["demo__t6".to_string()]));
    let (total, ids) = page("limit=3&offset=9").await;
    assert_eq!((total, ids.len()), (7, 0));
    let (total, ids) = page("q=needle-in-a-haystack&limit=1").await;
    assert_eq!((total, ids), (7, vec!["demo__t0".to_string()]));
    server.kill().unwrap();
    server.wait().unwrap();
}
