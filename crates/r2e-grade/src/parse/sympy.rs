//! SymPy's own test runner (`bin/test -C --verbose`).
//!
//! Verbose output has one `test_name ok|F|E` line per test (`f`, `s`, `X`,
//! `w` — xfail, skip, xpass, slow — are not recorded). Failures also get a
//! `____ sympy/x/tests/test_y.py:test_z ____` header, which the reference
//! finds with the regex `(_*) (.*)\.py:(.*) (_*)` over the whole log and
//! records as FAILED before reading the status lines.

use crate::{
    status::{StatusMap, TestStatus},
    text::{lines, strip, tokens},
};
use memchr::{memchr, memmem, memrchr};

/// The `path.py:name` that regex `(_*) (.*)\.py:(.*) (_*)` captures on `line`.
///
/// `.` does not cross lines, so each match lies within one line, and it can only
/// start at the line's first space (an earlier start would need a space
/// earlier, a later one finds a subset of the same text). From there `(.*)`
/// greedily takes the last `.py:` that still has a space after it, and the
/// second `(.*)` runs to the line's last space; `g1.py:g2` is therefore the
/// text between the first and the last space.
fn header_name(line: &str) -> Option<&str> {
    let first = memchr(b' ', line.as_bytes())?;
    let rest = &line[first + 1..];
    let last = memrchr(b' ', rest.as_bytes())?;
    let body = &rest[..last];
    memmem::rfind(body.as_bytes(), b".py:").map(|_| body)
}

/// `parse_log_sympy`.
pub(super) fn parse(log: &str, map: &mut StatusMap) {
    // Pass 1: failure headers. Only lines containing ".py:" can match; visit
    // each such line once, in log order.
    let bytes = log.as_bytes();
    let mut next_line_start = 0;
    for hit in memmem::find_iter(bytes, b".py:") {
        if hit < next_line_start {
            continue;
        }
        let start = memrchr(b'\n', &bytes[..hit]).map_or(0, |i| i + 1);
        let end = memchr(b'\n', &bytes[hit..]).map_or(bytes.len(), |i| hit + i);
        next_line_start = end + 1;
        if let Some(name) = header_name(&log[start..end]) {
            map.record(name, TestStatus::Failed);
        }
    }
    // Pass 2: verbose status lines.
    for raw in lines(log) {
        let line = strip(raw);
        if !line.starts_with("test_") {
            continue;
        }
        let status = if line.ends_with(" E") {
            TestStatus::Error
        } else if line.ends_with(" F") {
            TestStatus::Failed
        } else if line.ends_with(" ok") {
            TestStatus::Passed
        } else {
            continue;
        };
        if let Some(name) = tokens(line).next() {
            map.record(name, status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::header_name;

    #[test]
    fn header_regex_equivalent() {
        assert_eq!(
            header_name("____ sympy/core/tests/test_x.py:test_y ____"),
            Some("sympy/core/tests/test_x.py:test_y")
        );
        // Greedy groups: the last `.py:` with a space after it, the last space.
        assert_eq!(header_name("x a.py:b c.py:d e"), Some("a.py:b c.py:d"));
        assert_eq!(header_name("x a.py:b c.py:d"), Some("a.py:b"));
        assert_eq!(header_name("a.py:b c"), None);
        assert_eq!(header_name("x a.py:b"), None);
    }
}
