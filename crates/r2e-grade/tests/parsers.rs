//! Each parser on logs of the shape its test runner prints, with the exact
//! names and statuses (in recording order) that the reference parser records.

mod common;

use r2e_grade::{Parser, Rules, StatusMap, TestStatus};

/// What `parser` records from the log `name`, as `(name, status)` pairs in order.
fn parse(name: &str, parser: Parser, rules: Rules) -> Vec<(String, String)> {
    pairs(&parser.parse(&common::log(name), rules))
}

/// A status map as `(name, status)` pairs in recording order.
fn pairs(map: &StatusMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, s)| (k.to_owned(), s.as_str().to_owned()))
        .collect()
}

/// `(name, status)` pairs from string literals.
fn expect(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
        .collect()
}

#[test]
fn pytest_short_summary_under_v4() {
    let got = parse("pytest_ra.txt", Parser::Pytest, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            // Captured stdout starting with a status word counts too (status "PASSED:").
            ("3", "PASSED:"),
            ("tests/test_api.py::test_add", "PASSED"),
            ("tests/test_api.py::test_prints_something", "PASSED"),
            ("tests/test_api.py::TestClass::test_method", "PASSED"),
            // An id with spaces keeps its first token only.
            ("tests/test_params.py::test_expr[a", "PASSED"),
            (
                "tests/test_params.py::test_path[/tmp/data/file.txt]",
                "PASSED"
            ),
            // The `SKIPPED [1] file:line: reason` summary is recorded as "[1]" by 4.x.
            ("[1]", "SKIPPED"),
            ("tests/test_api.py::test_known_bug", "XFAIL"),
            ("tests/test_params.py::test_needs_db", "ERROR"),
            // An ERROR at collection names the module.
            ("tests/test_broken.py", "ERROR"),
            ("tests/test_api.py::test_divide_by_zero", "FAILED"),
            // " - " inside the id is removed with the message separator.
            ("tests/test_params.py::test_cmp[1", "FAILED"),
        ])
    );
}

#[test]
fn pytest_v5_drops_skip_summaries_only() {
    let v4 = parse("pytest_ra.txt", Parser::Pytest, Rules::V4);
    let v5 = parse("pytest_ra.txt", Parser::Pytest, Rules::V5);
    let without_summary: Vec<_> = v4.into_iter().filter(|(k, _)| k != "[1]").collect();
    assert_eq!(v5, without_summary);
}

#[test]
fn xpass_lines_are_not_recorded() {
    let map = Parser::Pytest.parse(&common::log("pytest_ra.txt"), Rules::V5);
    assert_eq!(map.get("tests/test_api.py::test_flaky"), None);
    assert_eq!(
        map.get("3"),
        Some(&TestStatus::Other("PASSED:".into())),
        "an unknown status word is kept verbatim"
    );
}

#[test]
fn pytest_v2_v5_keeps_ids_with_spaces() {
    let got = parse("pytest_ra.txt", Parser::PytestV2, Rules::V5);
    assert_eq!(
        got,
        expect(&[
            ("3 checks", "PASSED:"),
            ("tests/test_api.py::test_add", "PASSED"),
            ("tests/test_api.py::test_prints_something", "PASSED"),
            ("tests/test_api.py::TestClass::test_method", "PASSED"),
            ("tests/test_params.py::test_expr[a + b-expected0]", "PASSED"),
            (
                "tests/test_params.py::test_path[/tmp/data/file.txt]",
                "PASSED"
            ),
            // Only FAILED lines lose their message.
            (
                "tests/test_api.py::test_known_bug - reason: issue 123",
                "XFAIL"
            ),
            (
                "tests/test_params.py::test_needs_db - RuntimeError: no database",
                "ERROR"
            ),
            ("tests/test_broken.py", "ERROR"),
            ("tests/test_api.py::test_divide_by_zero", "FAILED"),
            ("tests/test_params.py::test_cmp[1", "FAILED"),
        ])
    );
}

#[test]
fn pytest_v2_strips_ansi_and_reads_verbose_lines_v4() {
    let got = parse("pytest_v2_ansi.txt", Parser::PytestV2, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            (
                "astropy/io/ascii/tests/test_qdp.py::test_get_tables_from_qdp_file",
                "PASSED"
            ),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_roundtrip[True]",
                "PASSED"
            ),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_read_example",
                "FAILED"
            ),
            // Verbose `name STATUS` with a space in the id first records status "/",
            // then the summary line overwrites it.
            ("astropy/io/ascii/tests/test_qdp.py::test_unit[m", "PASSED"),
            ("astropy/io/ascii/tests/test_qdp.py::test_slow", "SKIPPED"),
            ("[1]", "SKIPPED"),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_lowercase",
                "XFAIL"
            ),
        ])
    );
}

#[test]
fn pytest_v2_strips_ansi_and_reads_verbose_lines_v5() {
    let got = parse("pytest_v2_ansi.txt", Parser::PytestV2, Rules::V5);
    assert_eq!(
        got,
        expect(&[
            (
                "astropy/io/ascii/tests/test_qdp.py::test_get_tables_from_qdp_file",
                "PASSED"
            ),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_roundtrip[True]",
                "PASSED"
            ),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_read_example",
                "FAILED"
            ),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_unit[m / s]",
                "PASSED"
            ),
            ("astropy/io/ascii/tests/test_qdp.py::test_slow", "SKIPPED"),
            (
                "astropy/io/ascii/tests/test_qdp.py::test_lowercase - reason: not yet",
                "XFAIL"
            ),
        ])
    );
}

#[test]
fn pytest_options_shortens_absolute_paths() {
    let got = parse("requests_options.txt", Parser::PytestOptions, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            (
                "test_requests.py::RequestsTestCase::test_basic_building",
                "PASSED"
            ),
            ("test_requests.py::test_data_argument[/words]", "PASSED"),
            (
                "test_requests.py::test_url[http://example.com/path]",
                "PASSED"
            ),
            ("test_requests.py::test_glob[/tmp/*.txt]", "PASSED"),
            ("test_requests.py::test_unc[//server/share/file]", "PASSED"),
            // From the first `[` to the last `]`, shortened as one path.
            ("test_requests.py::test_multi[/c.json][1]", "FAILED"),
        ])
    );
}

#[test]
fn matplotlib_rewrites_mouse_buttons() {
    let got = parse("matplotlib.txt", Parser::Matplotlib, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            (
                "lib/matplotlib/tests/test_widgets.py::test_rectangle_drag[True-new_center0]",
                "PASSED"
            ),
            (
                "lib/matplotlib/tests/test_widgets.py::test_span_selector_press[1]",
                "PASSED"
            ),
            (
                "lib/matplotlib/tests/test_widgets.py::test_span_selector_press[3-x]",
                "PASSED"
            ),
            (
                "lib/matplotlib/tests/test_widgets.py::test_lasso[1]",
                "FAILED"
            ),
        ])
    );
    // The plain parser keeps the enum names.
    let plain = parse("matplotlib.txt", Parser::Pytest, Rules::V4);
    assert_eq!(
        plain[1].0,
        "lib/matplotlib/tests/test_widgets.py::test_span_selector_press[MouseButton.LEFT]"
    );
}

#[test]
fn seaborn_reads_failed_and_passed_only() {
    for rules in [Rules::V4, Rules::V5] {
        let got = parse("seaborn.txt", Parser::Seaborn, rules);
        assert_eq!(
            got,
            expect(&[
                // Verbose `name PASSED [ x%]` line.
                ("tests/_core/test_plot.py::TestInit::test_empty", "PASSED"),
                (
                    "tests/_core/test_plot.py::TestScaling::test_inference[x-y]",
                    "PASSED"
                ),
                (
                    "tests/_core/test_plot.py::TestInit::test_data_only",
                    "FAILED"
                ),
            ])
        );
    }
}

#[test]
fn sympy_headers_then_status_lines() {
    let got = parse("sympy_bin_test.txt", Parser::Sympy, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            (
                "sympy/matrices/expressions/tests/test_matexpr.py:test_ZeroMatrix",
                "FAILED"
            ),
            (
                "sympy/matrices/expressions/tests/test_matexpr.py:test_subs",
                "FAILED"
            ),
            ("test_shape", "PASSED"),
            ("test_matexpr", "PASSED"),
            ("test_subs", "FAILED"),
            ("test_ZeroMatrix", "ERROR"),
        ])
    );
}

#[test]
fn django_verbose_runner() {
    let got = parse("django_verbose.txt", Parser::Django, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            (
                "test_add_view (admin_views.tests.AdminViewBasicTest)",
                "PASSED"
            ),
            (
                "test_change_view (admin_views.tests.AdminViewBasicTest)",
                "PASSED"
            ),
            (
                "test_delete_view (admin_views.tests.AdminViewBasicTest)",
                "FAILED"
            ),
            (
                "test_history_view (admin_views.tests.AdminViewBasicTest)",
                "ERROR"
            ),
            (
                "test_mysql_only (admin_views.tests.AdminViewBasicTest)",
                "SKIPPED"
            ),
            // A docstring's first line replaces the name.
            (
                "SIGINT is ignored in Python and passed to psql to abort queries.",
                "PASSED"
            ),
            ("Tests that the password reset view works.", "PASSED"),
            // Runner output between " ... " and "ok".
            (
                "test_interleaved (admin_views.tests.AdminViewBasicTest)",
                "PASSED"
            ),
            (
                "test_logs_output (admin_views.tests.AdminViewBasicTest)",
                "PASSED"
            ),
            (
                "test_new_style (admin_views.tests.NewStyleTest.test_new_style)",
                "PASSED"
            ),
            // `ERROR: name (...)` and `FAIL: name (...)` headers record the bare name.
            ("test_history_view", "ERROR"),
            ("test_delete_view", "FAILED"),
        ])
    );
}

#[test]
fn django_migration_lines_are_not_tests() {
    let map = Parser::Django.parse(&common::log("django_verbose.txt"), Rules::V4);
    assert!(map.iter().all(|(k, _)| !k.contains("Applying")));
}

#[test]
fn django_sites_migration_special_case() {
    let log = "Applying sites.0002_alter_domain_unique...test_no_migrations (migrations.test_commands.MakeMigrationsTests) ... ok\n";
    let got = pairs(&Parser::Django.parse(log, Rules::V4));
    assert_eq!(
        got,
        expect(&[(
            "test_no_migrations (migrations.test_commands.MakeMigrationsTests)",
            "PASSED"
        )])
    );
}

#[test]
fn django_interleaved_system_check_across_lines() {
    // The multi-line patterns credit the test whose " ... " was interrupted; with
    // tabs around the dots only they (whose `\s` matches tabs) see the test.
    let log = "test_a (m.T)\t...\tSystem check identified no issues (0 silenced)\nok\n";
    let map = Parser::Django.parse(log, Rules::V4);
    assert_eq!(map.get("test_a (m.T)"), Some(&TestStatus::Passed));
    let log = "test_b (m.T)\t...\tInternal Server Error: /admin/x/\nok\n";
    let map = Parser::Django.parse(log, Rules::V4);
    assert_eq!(map.get("test_b (m.T)"), Some(&TestStatus::Passed));
    let log = "test_c (m.T)\t...\tTesting against Django installed in '/testbed/django'\nSystem check identified no issues (0 silenced).\nok\n";
    let map = Parser::Django.parse(log, Rules::V4);
    assert_eq!(map.get("test_c (m.T)"), Some(&TestStatus::Passed));
    assert_eq!(map.len(), 1);
}

#[test]
fn r2egym_parser_on_pytest_output() {
    let got = parse("r2egym_pytest.txt", Parser::R2eGym, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            ("TestIndexing.test_loc_basic", "PASSED"),
            ("TestIndexing.test_iloc_basic", "PASSED"),
            ("test_module_level", "PASSED"),
            ("test_param[a-1]", "PASSED"),
            ("test_param[b - 2]", "PASSED"),
            ("TestIndexing.test_loc_with_duplicates", "FAILED"),
        ])
    );
}

#[test]
fn r2egym_parser_on_unittest_runner_output() {
    let got = parse("r2egym_unittest.txt", Parser::R2eGym, Rules::V4);
    assert_eq!(
        got,
        expect(&[
            ("HTTPHeadersTest.test_copy", "PASSED"),
            ("HTTPHeadersTest.test_optional_cr", "PASSED"),
            ("HTTPHeadersTest.test_pickle_roundtrip", "PASSED"),
            ("HTTPHeadersTest.test_setdefault", "PASSED"),
            ("URLTest.test_url_concat", "PASSED"),
            ("HTTPHeadersTest.test_multi_line", "FAILED"),
            ("URLTest.test_url_unescape", "PASSED"),
            ("HTTPHeadersTest.test_unicode", "ERROR"),
        ])
    );
}

#[test]
fn r2egym_parser_needs_the_summary_section() {
    let log = "PASSED r2e_tests/test_1.py::test_a\n";
    assert!(Parser::R2eGym.parse(log, Rules::V4).is_empty());
}

#[test]
fn later_lines_overwrite_earlier_ones() {
    let log = "FAILED t.py::test_a - x\nPASSED t.py::test_b\nPASSED t.py::test_a\n";
    let got = pairs(&Parser::Pytest.parse(log, Rules::V4));
    assert_eq!(
        got,
        expect(&[("t.py::test_a", "PASSED"), ("t.py::test_b", "PASSED")])
    );
}

#[test]
fn crlf_and_unicode_whitespace_follow_python_split() {
    // `str.split()` treats \r, U+00A0 and U+001F as separators.
    let log = "PASSED\u{a0}t.py::test_a\r\nFAILED\u{1f}t.py::test_b\r\n";
    let got = pairs(&Parser::Pytest.parse(log, Rules::V4));
    assert_eq!(
        got,
        expect(&[("t.py::test_a", "PASSED"), ("t.py::test_b", "FAILED")])
    );
}
