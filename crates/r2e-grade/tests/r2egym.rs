//! R2E-Gym rewards: parsed statuses against `expected_output_json`.

mod common;

use r2e_core::row::{ConvertOptions, task_from_value};
use r2e_grade::{GradeError, GradeOptions, Graded, grade_task};
use serde_json::{Value, json};

/// An R2E-Gym row for pandas with the given `expected_output_json` (encoded, as on the Hub).
fn row(expected: Value) -> r2e_core::Task {
    let row = json!({
        "repo_name": "pandas",
        "docker_image": "namanjain12/pandas_final:0a1b2c3d",
        "commit_hash": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        "problem_statement": "[ISSUE]\nloc with duplicate index returns wrong shape\n[/ISSUE]",
        "expected_output_json": expected.to_string(),
    });
    task_from_value(&row, &ConvertOptions::default()).expect("valid R2E-Gym row")
}

/// The statuses R2E-Gym recorded for `r2egym_pytest.txt` after the gold patch.
fn gold() -> Value {
    json!({
        "TestIndexing.test_loc_basic": "PASSED",
        "TestIndexing.test_iloc_basic": "PASSED",
        "test_module_level": "PASSED",
        "test_param[a-1]": "PASSED",
        "test_param[b - 2]": "PASSED",
        "TestIndexing.test_loc_with_duplicates": "FAILED",
    })
}

fn grade(expected: Value, log: &str) -> r2e_grade::r2egym::R2eGymGrade {
    match grade_task(&row(expected), log, &GradeOptions::default()).expect("gradable") {
        Graded::R2eGym(g) => g,
        Graded::SweBench(_) => panic!("an R2E-Gym row grades as R2E-Gym"),
    }
}

#[test]
fn identical_statuses_earn_the_reward_failures_included() {
    let g = grade(gold(), &common::log("r2egym_pytest.txt"));
    assert_eq!(g.reward(), 1.0);
    // `" - "` cuts names on both sides: "test_param[b - 2]" is compared as "test_param[b".
    assert!(g.comparison.matched.contains(&"test_param[b".to_owned()));
    insta::assert_snapshot!("r2egym_reward_1", g.to_json());
}

#[test]
fn a_status_difference_loses_the_reward() {
    let mut expected = gold();
    expected["TestIndexing.test_loc_with_duplicates"] = json!("PASSED");
    let g = grade(expected, &common::log("r2egym_pytest.txt"));
    assert_eq!(g.reward(), 0.0);
    insta::assert_snapshot!("r2egym_reward_0", g.to_json());
}

#[test]
fn missing_and_extra_tests_lose_the_reward() {
    let mut expected = gold();
    expected
        .as_object_mut()
        .unwrap()
        .remove("test_module_level");
    let g = grade(expected, &common::log("r2egym_pytest.txt"));
    assert_eq!(g.reward(), 0.0);
    assert_eq!(
        g.comparison
            .unexpected
            .get("test_module_level")
            .map(String::as_str),
        Some("PASSED")
    );

    let mut expected = gold();
    expected["TestNew.test_added"] = json!("PASSED");
    let g = grade(expected, &common::log("r2egym_pytest.txt"));
    assert_eq!(g.reward(), 0.0);
    assert_eq!(
        g.comparison
            .missing
            .get("TestNew.test_added")
            .map(String::as_str),
        Some("PASSED")
    );
}

#[test]
fn colour_codes_and_carriage_returns_are_cleaned_like_the_runtime() {
    let coloured = common::log("r2egym_pytest.txt")
        .replace("PASSED r2e_tests", "\x1b[32mPASSED\x1b[0m r2e_tests")
        .replace('\n', "\r\n");
    assert_eq!(grade(gold(), &coloured).reward(), 1.0);
    // Expected keys lose `\x1b[<n>m` codes too.
    let mut expected = gold();
    let obj = expected.as_object_mut().unwrap();
    let v = obj.remove("test_module_level").unwrap();
    obj.insert("\x1b[1mtest_module_level\x1b[0m".into(), v);
    assert_eq!(
        grade(expected, &common::log("r2egym_pytest.txt")).reward(),
        1.0
    );
}

#[test]
fn unittest_runner_output_is_graded() {
    let expected = json!({
        "HTTPHeadersTest.test_copy": "PASSED",
        "HTTPHeadersTest.test_optional_cr": "PASSED",
        "HTTPHeadersTest.test_pickle_roundtrip": "PASSED",
        "HTTPHeadersTest.test_setdefault": "PASSED",
        "URLTest.test_url_concat": "PASSED",
        "HTTPHeadersTest.test_multi_line": "FAILED",
        "URLTest.test_url_unescape": "PASSED",
        "HTTPHeadersTest.test_unicode": "ERROR",
    });
    let g = grade(expected.clone(), &common::log("r2egym_unittest.txt"));
    assert_eq!(g.reward(), 1.0);
    // The same tests all passing is a different outcome.
    let all_pass = common::log("r2egym_unittest.txt")
        .replace("FAILED test_1", "PASSED test_1")
        .replace("ERROR test_1", "PASSED test_1");
    assert_eq!(grade(expected, &all_pass).reward(), 0.0);
}

#[test]
fn a_log_without_a_summary_earns_nothing() {
    let g = grade(
        gold(),
        "Traceback (most recent call last):\nImportError: cannot import name 'x'\n",
    );
    assert_eq!(g.reward(), 0.0);
    assert_eq!(g.comparison.missing.len(), 6);
}

#[test]
fn rows_without_expected_output_cannot_be_graded() {
    let err = grade_task(&row(json!({})), "", &GradeOptions::default()).unwrap_err();
    assert!(matches!(err, GradeError::NoExpectedOutput(_)), "{err}");
}
