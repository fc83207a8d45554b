//! R2E-Gym's log parser (`parse_log_pytest` in its `execution_log_parser.py`).
//!
//! R2E-Gym runs every repository's hidden tests so that the output ends in a
//! pytest-style `short test summary info` section: pytest itself with `-rA`,
//! or, for unittest repositories (tornado, pillow, …), a custom runner that
//! prints `PASSED module::Class::test` lines in the same shape. The parser
//! reads only that section; a line counts when it *contains* `PASSED`, else
//! `FAILED`, else `ERROR`, and the name is everything after the first `::`
//! with further `::` turned into `.` (so `tests/t.py::TestA::test_b` becomes
//! `TestA.test_b`), cut at the first `" - "` for failures. SKIPPED and XFAIL
//! lines are not recorded.

use crate::{
    status::{StatusMap, TestStatus},
    text::{lines, replace_into, strip},
};
use memchr::memmem;

const SUMMARY: &str = "short test summary info";

/// R2E-Gym's `parse_log_pytest`.
pub(super) fn parse(log: &str, map: &mut StatusMap) {
    let summary = memmem::Finder::new(SUMMARY);
    let Some(start) = summary.find(log.as_bytes()) else {
        return;
    };
    // `log.split(SUMMARY)[1]`: up to the next occurrence, if any.
    let after = &log[start + SUMMARY.len()..];
    let section = summary
        .find(after.as_bytes())
        .map_or(after, |end| &after[..end]);
    let (passed, failed, error) = (
        memmem::Finder::new("PASSED"),
        memmem::Finder::new("FAILED"),
        memmem::Finder::new("ERROR"),
    );
    let mut buf = String::new();
    for line in lines(strip(section)) {
        let b = line.as_bytes();
        let (status, cut_message) = if passed.find(b).is_some() {
            (TestStatus::Passed, false)
        } else if failed.find(b).is_some() {
            (TestStatus::Failed, true)
        } else if error.find(b).is_some() {
            (TestStatus::Error, true)
        } else {
            continue;
        };
        // `".".join(line.split("::")[1:])`
        let name = match line.split_once("::") {
            Some((_, rest)) if rest.contains("::") => {
                replace_into(rest, "::", ".", &mut buf);
                buf.as_str()
            }
            Some((_, rest)) => rest,
            None => "",
        };
        let name = match cut_message {
            true => name.split_once(" - ").map_or(name, |(head, _)| head),
            false => name,
        };
        map.record(name, status);
    }
}
