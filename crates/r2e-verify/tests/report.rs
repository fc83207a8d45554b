//! The report over trajectories and scores files, its SVG and PNG plots,
//! and the judge's training-data export.

use r2e_core::trajectory::{ExitReason, Trajectory, Usage};
use r2e_verify::export::{ExportFormat, write_examples};
use r2e_verify::metrics::Bootstrap;
use r2e_verify::prompt::PromptConfig;
use r2e_verify::report::{self, ReportConfig};
use r2e_verify::{Score, score};
use std::collections::{BTreeMap, HashMap};

fn trajectory(task_id: &str, rollout: u32, reward: Option<f64>) -> Trajectory {
    Trajectory {
        task_id: task_id.into(),
        model: "m".into(),
        agent: "edit".into(),
        rollout,
        action_format: String::new(),
        steps: Vec::new(),
        patch: format!("+patch {rollout}\n"),
        reward,
        reward_status: None,
        reward_report: None,
        exit_reason: ExitReason::Submitted,
        error: None,
        usage: Usage::default(),
        cost_usd: 0.0,
        started_at: 0.0,
        duration_secs: 0.0,
        messages: vec![serde_json::json!({"role": "user", "content": "fix it"})],
        tools: Vec::new(),
    }
}

/// Task a: rewards 1 0 1 0 with judge scores 0.9 0.8 0.3 0.2 (hand-computed
/// exec-free best@k: 1/2, 2/3, 3/4, 1); task b: rewards 0 0 with any score.
fn fixture() -> (Vec<Trajectory>, BTreeMap<(String, u32), Score>) {
    let rewards = [1.0, 0.0, 1.0, 0.0];
    let free = [0.9, 0.8, 0.3, 0.2];
    let mut trajectories = Vec::new();
    let mut scores = BTreeMap::new();
    for (i, (&r, &s)) in rewards.iter().zip(&free).enumerate() {
        trajectories.push(trajectory("a", i as u32, Some(r)));
        let mut row = Score::new("a", i as u32);
        row.exec_free = Some(s);
        scores.insert(row.key(), row);
    }
    for i in 0..2 {
        trajectories.push(trajectory("b", i, Some(0.0)));
        let mut row = Score::new("b", i);
        row.exec_free = Some(0.5);
        scores.insert(row.key(), row);
    }
    (trajectories, scores)
}

#[test]
fn the_report_averages_exact_per_task_values_over_tasks() {
    let (trajectories, scores) = fixture();
    let (tasks, notes) = report::collect(&trajectories, &scores);
    assert!(notes.is_empty(), "{notes:?}");
    let config = ReportConfig {
        bootstrap: Bootstrap {
            resamples: 200,
            ..Bootstrap::default()
        },
        ..ReportConfig::default()
    };
    let r = report::build(&tasks, &config).expect("report");
    assert_eq!(
        (r.tasks, r.candidates, r.resolved, r.max_k, r.min_k),
        (2, 6, 2, 4, 2)
    );
    let names: Vec<&str> = r.curves.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["pass@k", "random", "exec-free"],
        "no execution-based scores: no hybrid"
    );
    let at = |name: &str, k: usize| {
        r.curves
            .iter()
            .find(|c| c.name == name)
            .expect("curve")
            .points[k - 1]
            .mean
    };
    // Task b contributes 0 everywhere; task a's values are halved.
    let expect = [(1, 0.5), (2, 2.0 / 3.0), (3, 0.75), (4, 1.0)];
    for (k, a) in expect {
        assert!((at("exec-free", k) - a / 2.0).abs() < 1e-12, "k={k}");
        assert!((at("random", k) - 0.25).abs() < 1e-12, "k={k}");
    }
    assert!((at("pass@k", 2) - (5.0 / 6.0) / 2.0).abs() < 1e-12);
    let p = r.curves[2].points[1];
    assert!(p.lo <= p.mean && p.mean <= p.hi, "{p:?}");
    // Only task a has both kinds: its best correct (0.9) beats its best incorrect (0.8).
    let v = &r.verifiers[0];
    assert_eq!((v.verifier.as_str(), v.scored), ("exec-free", 6));
    assert_eq!(
        (v.distinguishability.tasks, v.distinguishability.separated),
        (1, 1)
    );
}

#[test]
fn execution_based_scores_add_the_exec_based_and_hybrid_curves() {
    let (trajectories, mut scores) = fixture();
    for (i, (rate, passed)) in [(1.0, 2), (1.0, 3), (0.5, 1), (0.0, 0)].iter().enumerate() {
        let row = scores.get_mut(&("a".to_owned(), i as u32)).expect("row");
        row.regression_pass_rate = Some(*rate);
        row.generated_tests_passed = Some(*passed);
        row.generated_tests_total = Some(3);
    }
    let (tasks, _) = report::collect(&trajectories, &scores);
    let r = report::build(&tasks, &ReportConfig::default()).expect("report");
    let names: Vec<&str> = r.curves.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["pass@k", "random", "exec-free", "exec-based", "hybrid"]
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("2 of 6 candidates have no regression")),
        "{:?}",
        r.notes
    );
    let verifiers: Vec<&str> = r.verifiers.iter().map(|v| v.verifier.as_str()).collect();
    assert_eq!(
        verifiers,
        ["exec-free", "exec-based", "regression", "generated-tests"]
    );
}

#[test]
fn the_report_writes_json_svg_and_a_png_that_decodes() {
    let (trajectories, scores) = fixture();
    let (tasks, _) = report::collect(&trajectories, &scores);
    let r = report::build(&tasks, &ReportConfig::default()).expect("report");
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = r.write_files(&dir.path().join("out")).expect("files");
    assert_eq!(paths.len(), 3);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&paths[0]).expect("json")).expect("valid json");
    assert_eq!(json["tasks"], 2);

    let svg = std::fs::read_to_string(dir.path().join("out/best_at_k.svg")).expect("svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for name in [
        "pass@k (oracle)",
        "exec-free",
        "random",
        "k (agent rollouts)",
    ] {
        assert!(svg.contains(name), "{name} missing from the SVG");
    }
    assert!(svg.matches("<polyline").count() >= 3);

    let png = std::fs::read(dir.path().join("out/best_at_k.png")).expect("png");
    // Kept to look at: target/verify-plots/best_at_k.png.
    let keep = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/verify-plots");
    std::fs::create_dir_all(&keep).expect("target dir");
    std::fs::write(keep.join("best_at_k.png"), &png).expect("keep the png");
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a PNG that decodes");
    let scale = r2e_verify::plot::PNG_SCALE;
    assert_eq!(
        (pixmap.width(), pixmap.height()),
        (
            r2e_verify::plot::WIDTH * scale,
            r2e_verify::plot::HEIGHT * scale
        )
    );
    let ink = Ink::new(&pixmap, f64::from(scale));
    assert!(
        ink.count(0.0, 0.0, 960.0, 600.0, |p| p[0] > 180
            && p[1] < 80
            && p[2] < 80)
            > 100,
        "no red line"
    );
    // Text is drawn where the SVG puts each label, with a real font:
    // anti-aliased edges (grey pixels) around dark strokes.
    for (label, vertical) in [
        ("Best@k over 2 tasks", false),
        ("k (agent rollouts)", false),
        ("% resolved", true),
        ("exec-free", false),
    ] {
        let (x, y, size) = text_position(&svg, label);
        let half = label.len() as f64 * size * 0.4;
        let (x0, y0, x1, y1) = match (vertical, label.starts_with("exec")) {
            (true, _) => (x - size, y - half, x + 2.0, y + half),
            // The legend's labels start at x.
            (false, true) => (x, y - size, x + 2.0 * half, y + 2.0),
            (false, false) => (x - half, y - size, x + half, y + 2.0),
        };
        let dark = ink.count(x0, y0, x1, y1, |p| p.iter().all(|&c| c < 90));
        let grey = ink.count(x0, y0, x1, y1, |p| {
            p.iter().all(|&c| (110..200).contains(&c))
        });
        assert!(
            dark > 20 * label.len(),
            "{label}: {dark} dark pixels at ({x}, {y})"
        );
        assert!(
            grey > 5,
            "{label}: no anti-aliased edges ({grey}): not a real font"
        );
    }
    // The margin left of the title holds no ink.
    let (_, title_y, size) = text_position(&svg, "Best@k over 2 tasks");
    assert_eq!(
        ink.count(0.0, title_y - size, 70.0, title_y + 2.0, |p| p
            .iter()
            .any(|&c| c < 250)),
        0,
        "ink in the empty top-left corner"
    );
}

/// `(x, y, font-size)` of the SVG `<text>` element whose content is `label`.
fn text_position(svg: &str, label: &str) -> (f64, f64, f64) {
    let line = svg
        .lines()
        .find(|l| l.starts_with("<text") && l.ends_with(&format!(">{label}</text>")))
        .unwrap_or_else(|| panic!("no <text> {label} in the SVG"));
    let attr = |name: &str| -> f64 {
        let at = line.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        line[at..at + line[at..].find('"').expect("quote")]
            .parse()
            .expect(name)
    };
    (attr("x"), attr("y"), attr("font-size"))
}

/// Counts pixels of a rendered PNG in a box given in SVG units.
struct Ink<'a> {
    pixmap: &'a resvg::tiny_skia::Pixmap,
    scale: f64,
}

impl<'a> Ink<'a> {
    fn new(pixmap: &'a resvg::tiny_skia::Pixmap, scale: f64) -> Self {
        Self { pixmap, scale }
    }

    fn count(&self, x0: f64, y0: f64, x1: f64, y1: f64, test: impl Fn([u8; 3]) -> bool) -> usize {
        let px = |v: f64, max: u32| ((v * self.scale).max(0.0) as u32).min(max);
        let (w, h) = (self.pixmap.width(), self.pixmap.height());
        let mut n = 0;
        for y in px(y0, h)..px(y1, h) {
            for x in px(x0, w)..px(x1, w) {
                let p = self.pixmap.pixel(x, y).expect("in bounds").demultiply();
                n += usize::from(test([p.red(), p.green(), p.blue()]));
            }
        }
        n
    }
}

#[test]
fn scores_files_merge_with_later_fields_winning_and_errors_never_erasing_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (
        dir.path().join("judge.jsonl"),
        dir.path().join("tests.jsonl"),
    );
    std::fs::write(
        &first,
        "{\"task_id\":\"a\",\"rollout\":0,\"exec_free\":0.4}\n{\"task_id\":\"a\",\"rollout\":0,\"error\":\"x\"}\n",
    )
    .expect("write");
    std::fs::write(
        &second,
        "{\"task_id\":\"a\",\"rollout\":0,\"regression_pass_rate\":0.5,\"generated_tests_passed\":2,\"generated_tests_total\":4}\n",
    )
    .expect("write");
    let merged = score::read_all(&[first.clone(), second]).expect("merge");
    let row = &merged[&("a".to_owned(), 0)];
    assert_eq!(row.exec_free, Some(0.4));
    assert_eq!(row.error, None);
    assert_eq!(
        (row.regression_pass_rate, row.generated_tests_passed),
        (Some(0.5), Some(2))
    );
    std::fs::write(&first, "{\"task_id\":\"a\"}\nnot json\n").expect("write");
    let error = score::read_file(&first).expect_err("bad line").to_string();
    assert!(error.contains("line 1"), "{error}");
}

#[test]
fn an_empty_report_says_what_to_pass() {
    let error = report::build(&[], &ReportConfig::default())
        .expect_err("empty")
        .to_string();
    assert!(error.contains("--trajectories"), "{error}");
}

#[test]
fn verifier_examples_carry_the_judge_prompt_and_the_label_from_the_reward() {
    let trajectories = vec![
        trajectory("a", 0, Some(1.0)),
        trajectory("a", 1, Some(0.0)),
        trajectory("a", 2, None),
    ];
    let issues: HashMap<String, String> = [("a".to_owned(), "The issue".to_owned())].into();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("data.jsonl");
    let summary = write_examples(
        &trajectories,
        &issues,
        &PromptConfig::default(),
        ExportFormat::OpenAi,
        &out,
    )
    .expect("export");
    assert_eq!((summary.yes, summary.no, summary.unrewarded), (1, 1, 1));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    let messages = lines[0]["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[1]["content"]
            .as_str()
            .is_some_and(|c| c.contains("The issue") && c.contains("+patch 0"))
    );
    assert_eq!(
        messages[2],
        serde_json::json!({"role": "assistant", "content": "YES"})
    );
    assert_eq!(lines[1]["messages"][2]["content"], "NO");

    write_examples(
        &trajectories,
        &issues,
        &PromptConfig::default(),
        ExportFormat::ShareGpt,
        &out,
    )
    .expect("export");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .expect("read")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("json");
    let turns = first["conversations"].as_array().expect("conversations");
    let froms: Vec<&str> = turns.iter().filter_map(|t| t["from"].as_str()).collect();
    assert_eq!(froms, ["human", "gpt"]);
    assert_eq!(turns[1]["value"], "YES");
    assert!(first["system"].as_str().is_some_and(|s| !s.is_empty()));

    let missing: HashMap<String, String> = HashMap::new();
    let error = write_examples(
        &trajectories,
        &missing,
        &PromptConfig::default(),
        ExportFormat::OpenAi,
        &out,
    )
    .expect_err("no issue")
    .to_string();
    assert!(error.contains("not in the dataset"), "{error}");
}

#[test]
fn infra_error_rollouts_are_left_out_of_every_metric_and_counted() {
    let (mut trajectories, scores) = fixture();
    let clean = report::collect(&trajectories, &scores).0;
    // A fifth rollout of task a that never got a verdict.
    let mut broken = trajectory("a", 4, None);
    broken.exit_reason = ExitReason::Error;
    broken.reward_status = Some(r2e_core::RewardStatus::InfraError);
    trajectories.push(broken);
    let (tasks, notes) = report::collect(&trajectories, &scores);
    assert_eq!(tasks, clean, "the infra error is not a candidate");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("1 rollouts ended in an infrastructure error")),
        "{notes:?}"
    );
}
