//! Django's test runner (`tests/runtests.py --verbosity 2`).
//!
//! Verbose unittest output: `test_x (app.tests.Class) ... ok`, with the
//! docstring's first line on its own line before ` ... ok` when a test has
//! one, `... skipped 'why'`, `... FAIL`, `... ERROR`, and `FAIL: `/`ERROR: `
//! headers in the failure details. Output a test prints can push its `ok`
//! onto a later line; the reference then credits the last `… ... ` prefix
//! seen. Three known interleavings of Django's own messages are matched
//! across lines afterwards.

use crate::{
    status::{StatusMap, TestStatus},
    text::{lines, strip, tokens},
};
use memchr::{memchr, memmem};
use regex::Regex;
use std::sync::LazyLock;

const VERSION_TEST: &str = "--version is equivalent to version";
const SITES_MIGRATION: &str = "Applying sites.0002_alter_domain_unique...test_no_migrations";
const PASS_SUFFIXES: [&str; 3] = [" ... ok", " ... OK", " ...  OK"];

/// The reference's three multi-line patterns, each with literals that must
/// all occur in the log for it to match (checked first: the regexes are only
/// run on logs that can contain a match). `[\s\x1c-\x1f]` is Python's `\s`.
static INTERLEAVED: LazyLock<[(Regex, [&str; 2]); 3]> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("static regex");
    [
        (
            re(
                r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Testing against Django installed in (?s:.*?) silenced\)\.\nok$",
            ),
            ["Testing against Django installed in ", " silenced).\nok"],
        ),
        (
            re(r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]Internal Server Error: /(.*)/\nok$"),
            ["Internal Server Error: /", "/\nok"],
        ),
        (
            re(
                r"(?m)^(.*?)[\s\x1c-\x1f]\.\.\.[\s\x1c-\x1f]System check identified no issues \(0 silenced\)\nok$",
            ),
            ["System check identified no issues (0 silenced)\nok", "..."],
        ),
    ]
});

/// Position of the first `" ... "` in `line`: a single-byte scan for `.`
/// (cheaper than a substring searcher on short lines).
#[inline]
fn find_dots(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(j) = memchr(b'.', &b[from..]) {
        let i = from + j;
        if i > 0 && b[i - 1] == b' ' && b.get(i..i + 4) == Some(b"... ") {
            return Some(i - 1);
        }
        from = i + 1;
    }
    None
}

/// `parse_log_django`.
pub(super) fn parse(log: &str, map: &mut StatusMap) {
    let skipped = memmem::Finder::new(" ... skipped");
    let version = memmem::Finder::new(VERSION_TEST);
    // Most logs never mention it; skip the per-line search when this one doesn't.
    let log_has_version = version.find(log.as_bytes()).is_some();
    let mut prev_test: Option<&str> = None;
    for raw in lines(log) {
        let mut line = strip(raw);
        if log_has_version && version.find(line.as_bytes()).is_some() {
            map.record(VERSION_TEST, TestStatus::Passed);
        }
        let dots_at = find_dots(line);
        if let Some(i) = dots_at {
            prev_test = Some(&line[..i]);
        }
        // Every pass suffix and " ... skipped" contain " ... ": lines without it skip those checks.
        if dots_at.is_some() {
            if let Some(suffix) = PASS_SUFFIXES.iter().find(|s| line.ends_with(*s)) {
                if line.starts_with(SITES_MIGRATION) {
                    line = line.split_once("...").map_or(line, |(_, rest)| strip(rest));
                }
                // `line.rsplit(suffix, 1)[0]`
                let test = match line.strip_suffix(suffix) {
                    Some(head) => head,
                    None => line.rfind(suffix).map_or(line, |i| &line[..i]),
                };
                map.record(test, TestStatus::Passed);
            }
            if let Some(i) = skipped.find(line.as_bytes()) {
                map.record(&line[..i], TestStatus::Skipped);
            }
        }
        if line.ends_with(" ... FAIL") {
            map.record(before_first(line, " ... FAIL"), TestStatus::Failed);
        }
        if line.starts_with("FAIL:")
            && let Some(name) = tokens(line).nth(1)
        {
            map.record(name, TestStatus::Failed);
        }
        if line.ends_with(" ... ERROR") {
            map.record(before_first(line, " ... ERROR"), TestStatus::Error);
        }
        if line.starts_with("ERROR:")
            && let Some(name) = tokens(line).nth(1)
        {
            map.record(name, TestStatus::Error);
        }
        if line.starts_with("ok")
            && let Some(test) = prev_test
        {
            map.record(test, TestStatus::Passed);
        }
    }
    for (re, literals) in INTERLEAVED.iter() {
        if literals
            .iter()
            .all(|l| memmem::find(log.as_bytes(), l.as_bytes()).is_some())
        {
            for caps in re.captures_iter(log) {
                map.record(&caps[1], TestStatus::Passed);
            }
        }
    }
}

/// Python `line.split(sep)[0]`.
fn before_first<'a>(line: &'a str, sep: &str) -> &'a str {
    line.split_once(sep).map_or(line, |(head, _)| head)
}

#[cfg(test)]
mod tests {
    use super::find_dots;

    #[test]
    fn find_dots_finds_the_first_occurrence() {
        assert_eq!(find_dots("a.b ... c ... d"), Some(3));
        assert_eq!(find_dots("x .... y"), None);
        assert_eq!(find_dots("x  ...  y"), Some(2));
        assert_eq!(find_dots(" ... "), Some(0));
        assert_eq!(find_dots("..."), None);
    }
}
