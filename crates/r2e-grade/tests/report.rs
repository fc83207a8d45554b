//! SWE-bench verdicts: the log gate, F2P/P2P lists, resolution and the
//! `report.json` text, under both rule generations.

mod common;

use r2e_core::row::{ConvertOptions, task_from_value};
use r2e_grade::{
    EvalType, GradeOptions, Graded, Parser, Resolution, Rules, grade_task,
    swebench::{self, GradeSettings, Instance, SweBenchGrade},
};
use serde_json::json;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const FLASK_F2P: &[&str] = &["tests/test_blueprints.py::test_empty_name_not_allowed"];
const FLASK_P2P: &[&str] = &[
    "tests/test_blueprints.py::test_blueprint_specific_error_handling",
    "tests/test_blueprints.py::test_blueprint_url_defaults",
    "tests/test_blueprints.py::test_dotted_name_not_allowed",
];

/// Grades `log` as a pass_and_fail instance `inst` with the given lists.
fn grade(log: &str, parser: Parser, f2p: &[&str], p2p: &[&str], rules: Rules) -> SweBenchGrade {
    grade_with(
        log,
        parser,
        f2p,
        p2p,
        EvalType::PassAndFail,
        settings(rules),
    )
}

fn settings(rules: Rules) -> GradeSettings {
    GradeSettings {
        rules,
        whole_log_fallback: false,
        patch_is_none: false,
    }
}

fn grade_with(
    log: &str,
    parser: Parser,
    f2p: &[&str],
    p2p: &[&str],
    eval_type: EvalType,
    settings: GradeSettings,
) -> SweBenchGrade {
    let (f2p, p2p) = (strings(f2p), strings(p2p));
    let instance = Instance {
        instance_id: "inst",
        fail_to_pass: &f2p,
        pass_to_pass: &p2p,
        parser,
        eval_type,
    };
    swebench::grade(&instance, log, settings)
}

/// (success, failure) lists of F2P and P2P.
fn lists(g: &SweBenchGrade) -> [(Vec<String>, Vec<String>); 2] {
    let t = g.report.entry.tests_status.as_ref().expect("graded");
    [
        (
            t.fail_to_pass.success.clone(),
            t.fail_to_pass.failure.clone(),
        ),
        (
            t.pass_to_pass.success.clone(),
            t.pass_to_pass.failure.clone(),
        ),
    ]
}

#[test]
fn resolved_report_is_written_like_the_harness() {
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        FLASK_F2P,
        FLASK_P2P,
        Rules::V4,
    );
    assert_eq!(g.resolution, Some(Resolution::Full));
    insta::assert_snapshot!("flask_resolved_v4", g.report.to_json());
}

#[test]
fn v5_reports_carry_infra_failure() {
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        FLASK_F2P,
        FLASK_P2P,
        Rules::V5,
    );
    insta::assert_snapshot!("flask_resolved_v5", g.report.to_json());
}

#[test]
fn a_failing_p2p_test_means_not_resolved() {
    let mut p2p = FLASK_P2P.to_vec();
    p2p.push("tests/test_blueprints.py::test_unique_blueprint_names");
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        FLASK_F2P,
        &p2p,
        Rules::V4,
    );
    assert_eq!(g.resolution, Some(Resolution::No));
    assert!(!g.report.entry.resolved);
    let [_, (ok, failed)] = lists(&g);
    assert_eq!(ok.len(), 3);
    assert_eq!(
        failed,
        ["tests/test_blueprints.py::test_unique_blueprint_names"]
    );
}

#[test]
fn some_f2p_passing_is_partial() {
    let f2p = [
        "tests/test_blueprints.py::test_empty_name_not_allowed",
        "tests/test_blueprints.py::test_unique_blueprint_names",
    ];
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        &f2p,
        FLASK_P2P,
        Rules::V4,
    );
    assert_eq!(g.resolution, Some(Resolution::Partial));
    assert!(!g.report.entry.resolved);
}

#[test]
fn missing_tests_fail() {
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        &["tests/test_x.py::test_gone"],
        &[],
        Rules::V4,
    );
    assert_eq!(lists(&g)[0].1, ["tests/test_x.py::test_gone"]);
    assert_eq!(g.resolution, Some(Resolution::No));
}

#[test]
fn empty_lists_are_resolved() {
    let g = grade(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        &[],
        &[],
        Rules::V4,
    );
    assert_eq!(g.resolution, Some(Resolution::Full));
}

#[test]
fn failure_markers_mean_patch_not_applied() {
    let log = common::log("eval_flask.txt");
    for marker in swebench::FAILURE_MARKERS {
        let bad = log.replacen(
            "+ python -m pip install",
            &format!("{marker}\n+ python -m pip install"),
            1,
        );
        let g = grade(&bad, Parser::Pytest, FLASK_F2P, FLASK_P2P, Rules::V4);
        assert!(!g.report.entry.patch_successfully_applied, "{marker}");
        assert!(g.report.entry.tests_status.is_none());
        assert!(g.statuses.is_empty());
    }
    let bad = log.replacen("Applied patch", ">>>>> Patch Apply Failed", 1);
    let g = grade(&bad, Parser::Pytest, FLASK_F2P, FLASK_P2P, Rules::V4);
    insta::assert_snapshot!("patch_apply_failed_v4", g.report.to_json());
}

#[test]
fn missing_end_marker_means_patch_not_applied() {
    let log = common::log("eval_flask.txt").replace("+ : '>>>>> End Test Output'", "");
    let g = grade(&log, Parser::Pytest, FLASK_F2P, FLASK_P2P, Rules::V4);
    assert!(!g.report.entry.patch_successfully_applied);
    assert_eq!(g.resolution, None);
}

#[test]
fn only_the_text_between_the_markers_is_parsed() {
    let log = format!(
        "PASSED tests/test_blueprints.py::test_outside\n{}",
        common::log("eval_flask.txt")
    );
    let g = grade(
        &log,
        Parser::Pytest,
        &["tests/test_blueprints.py::test_outside"],
        &[],
        Rules::V4,
    );
    assert_eq!(lists(&g)[0].1, ["tests/test_blueprints.py::test_outside"]);
}

#[test]
fn patch_none_is_reported_without_grading() {
    let g = grade_with(
        &common::log("eval_flask.txt"),
        Parser::Pytest,
        FLASK_F2P,
        FLASK_P2P,
        EvalType::PassAndFail,
        GradeSettings {
            patch_is_none: true,
            ..settings(Rules::V4)
        },
    );
    insta::assert_snapshot!("patch_none_v4", g.report.to_json());
}

/// A log whose test output is the given lines, between the markers.
fn eval_log(body: &str) -> String {
    format!(
        "+ cd /testbed\n+ : '>>>>> Start Test Output'\n+ pytest -rA t.py\n{body}\n+ : '>>>>> End Test Output'\n"
    )
}

#[test]
fn skipped_tests_grade_differently_per_generation() {
    let log = eval_log("SKIPPED t.py::test_f2p\nSKIPPED t.py::test_p2p");
    let f2p = ["t.py::test_f2p"];
    let p2p = ["t.py::test_p2p"];
    // 4.x: a skipped test is in neither list, so nothing counts against the patch.
    let v4 = grade(&log, Parser::Pytest, &f2p, &p2p, Rules::V4);
    assert_eq!(lists(&v4), [(vec![], vec![]), (vec![], vec![])]);
    assert_eq!(v4.resolution, Some(Resolution::Full));
    // 5.x: a skipped F2P test fails; a skipped P2P test is "maintained".
    let v5 = grade(&log, Parser::Pytest, &f2p, &p2p, Rules::V5);
    assert_eq!(
        lists(&v5),
        [(vec![], strings(&f2p)), (strings(&p2p), vec![])]
    );
    assert_eq!(v5.resolution, Some(Resolution::No));
}

#[test]
fn v5_prefix_matches_truncated_parametrised_ids() {
    let log = eval_log(
        "PASSED t.py::test_u[a + b-a + b]\nPASSED t.py::test_u[a and b-a and b]\nFAILED t.py::test_v[x y] - e\nPASSED t.py::test_v[x z]",
    );
    let f2p = ["t.py::test_u[a", "t.py::test_v[x"];
    // All ids starting "t.py::test_u[a" pass; "t.py::test_v[x" matches a pass and a fail.
    let v5 = grade(&log, Parser::PytestV2, &f2p, &[], Rules::V5);
    assert_eq!(
        lists(&v5)[0],
        (strings(&["t.py::test_u[a"]), strings(&["t.py::test_v[x"]))
    );
    // 4.x's pytest_v2 records "t.py::test_u[a" itself (first token only).
    let v4 = grade(&log, Parser::PytestV2, &f2p, &[], Rules::V4);
    assert_eq!(lists(&v4)[0].0, strings(&f2p));
}

#[test]
fn v5_rejects_logs_whose_exit_code_contradicts_them() {
    let spoofed = format!(
        "{}>>>>> Test Exit Code: 1\n",
        eval_log("PASSED t.py::test_a")
    );
    let g = grade(&spoofed, Parser::Pytest, &["t.py::test_a"], &[], Rules::V5);
    assert!(!g.report.entry.patch_successfully_applied);
    // 4.x ignores the exit code.
    let g = grade(&spoofed, Parser::Pytest, &["t.py::test_a"], &[], Rules::V4);
    assert!(g.report.entry.resolved);
    // A non-zero exit with a recorded failure is consistent.
    let honest = format!(
        "{}>>>>> Test Exit Code: 1\n",
        eval_log("PASSED t.py::test_a\nFAILED t.py::test_b")
    );
    let g = grade(&honest, Parser::Pytest, &["t.py::test_a"], &[], Rules::V5);
    assert!(g.report.entry.resolved);
}

#[test]
fn v5_falls_back_to_the_whole_log_and_rejects_empty_runs() {
    // Results printed outside the markers (stderr ordering).
    let log = format!("{}PASSED t.py::test_a\n", eval_log("collected 1 item"));
    let v4 = grade(&log, Parser::Pytest, &["t.py::test_a"], &[], Rules::V4);
    assert_eq!(v4.resolution, Some(Resolution::No));
    let v5 = grade(&log, Parser::Pytest, &["t.py::test_a"], &[], Rules::V5);
    assert_eq!(v5.resolution, Some(Resolution::Full));
    // 4.0.5/4.1.0's fallback, on request.
    let fallback = grade_with(
        &log,
        Parser::Pytest,
        &["t.py::test_a"],
        &[],
        EvalType::PassAndFail,
        GradeSettings {
            whole_log_fallback: true,
            ..settings(Rules::V4)
        },
    );
    assert_eq!(fallback.resolution, Some(Resolution::Full));

    // Nothing parsed anywhere and no sign a suite ran: not applied, with a reason.
    let empty = eval_log("collected 0 items\nno tests ran in 0.01s");
    let v5 = grade(&empty, Parser::Pytest, &["t.py::test_a"], &[], Rules::V5);
    insta::assert_snapshot!("empty_run_v5", v5.report.to_json());
    let v4 = grade(&empty, Parser::Pytest, &["t.py::test_a"], &[], Rules::V4);
    assert!(v4.report.entry.patch_successfully_applied);
}

#[test]
fn fail_only_fails_only_recorded_failures() {
    let log = eval_log("FAILED t.py::test_a\nERROR t.py::test_b\nPASSED t.py::test_c");
    let g = grade_with(
        &log,
        Parser::Pytest,
        &["t.py::test_a", "t.py::test_b", "t.py::test_missing"],
        &[],
        EvalType::FailOnly,
        settings(Rules::V5),
    );
    assert_eq!(
        lists(&g)[0],
        (
            strings(&["t.py::test_b", "t.py::test_missing"]),
            strings(&["t.py::test_a"])
        )
    );
}

#[test]
fn python_universal_newlines_apply_to_log_files() {
    // Python reads the log in text mode: a lone \r ends a line too.
    let log = eval_log("progress 10%\rPASSED t.py::test_a\rprogress 100%");
    let g = grade(&log, Parser::Pytest, &["t.py::test_a"], &[], Rules::V4);
    assert_eq!(g.resolution, Some(Resolution::Full));
}

fn swebench_row(extra: serde_json::Value) -> r2e_core::Task {
    let mut row = json!({
        "repo": "pallets/flask",
        "instance_id": "pallets__flask-5014",
        "base_commit": "7ee9ceb71e868944a46e1ff00b506772a53a4f1d",
        "patch": "",
        "test_patch": "",
        "problem_statement": "Require a non-empty name for Blueprints",
        "hints_text": "",
        "created_at": "2023-03-04T18:36:21Z",
        "version": "2.3",
        "FAIL_TO_PASS": serde_json::to_string(FLASK_F2P).unwrap(),
        "PASS_TO_PASS": serde_json::to_string(FLASK_P2P).unwrap(),
        "environment_setup_commit": "182ce3dd15dfa3537391c3efaf9c3ff407d134d4"
    });
    row.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    task_from_value(&row, &ConvertOptions::default()).expect("valid row")
}

#[test]
fn grade_task_picks_parser_and_rules_from_the_row() {
    let log = common::log("eval_flask.txt");
    let old = grade_task(&swebench_row(json!({})), &log, &GradeOptions::default()).unwrap();
    let Graded::SweBench(old) = old else {
        panic!("SWE-bench row")
    };
    assert_eq!(
        old.report.entry.infra_failure, None,
        "4.x rows get 4.x rules"
    );
    assert!(old.report.entry.resolved);

    // A 5.x row names its parser and eval type; the rules follow.
    let new_row =
        swebench_row(json!({"log_parser": "parse_log_pytest", "eval_type": "pass_and_fail"}));
    let Graded::SweBench(new) = grade_task(&new_row, &log, &GradeOptions::default()).unwrap()
    else {
        panic!("SWE-bench row")
    };
    assert_eq!(new.report.entry.infra_failure, Some(false));

    // Overrides win.
    let forced = GradeOptions {
        rules: Some(Rules::V4),
        parser: Some(Parser::Django),
        ..GradeOptions::default()
    };
    let g = grade_task(&new_row, &log, &forced).unwrap();
    assert!(!g.resolved(), "the django parser finds no pytest results");
}

#[test]
fn unknown_repositories_and_parsers_are_errors() {
    let mut task = swebench_row(json!({}));
    task.repo = "example/unknown".into();
    let err = grade_task(&task, "", &GradeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--parser"), "{err}");
    let js = swebench_row(json!({"log_parser": "parse_log_jest"}));
    assert!(grade_task(&js, "", &GradeOptions::default()).is_err());
}

#[test]
fn swe_gen_tasks_grade_as_swe_bench_rows() {
    let log = common::log("eval_flask.txt");
    let row = swebench_row(json!({"log_parser": "parse_log_pytest"}));
    let mut gen_row = row.clone();
    gen_row.source = r2e_core::SourceFormat::SweGen;
    let fail = log.replace(
        "PASSED tests/test_blueprints.py::test_empty_name_not_allowed",
        "FAILED tests/test_blueprints.py::test_empty_name_not_allowed",
    );
    assert_ne!(fail, log);
    for log in [&log, &fail] {
        let (Graded::SweBench(want), Graded::SweBench(got)) = (
            grade_task(&row, log, &GradeOptions::default()).unwrap(),
            grade_task(&gen_row, log, &GradeOptions::default()).unwrap(),
        ) else {
            panic!("both graded as SWE-bench rows")
        };
        assert_eq!(got.report.to_json(), want.report.to_json());
        assert_eq!(got.statuses, want.statuses);
    }
}
