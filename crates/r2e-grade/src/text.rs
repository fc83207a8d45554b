//! Python-compatible string primitives over `&str`, written as byte scans.
//!
//! The reference parsers are Python: `log.split("\n")`, `str.split()`,
//! `str.strip()`, `re.sub(r"\[(\d+)m", "", line)`. Their notion of whitespace
//! (`str.isspace`) differs from Rust's (`char::is_whitespace`): Python also
//! counts U+001C..U+001F. Everything here follows Python so that test names
//! come out byte for byte as the reference harness records them.

use memchr::memchr;
use std::sync::LazyLock;

/// Byte length of the Python whitespace character starting at `b[i]`, or 0.
///
/// `b` must be valid UTF-8 and `i` a char boundary (true for slices of `&str`).
#[inline]
pub(crate) fn space_len(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'\t'..=b'\r' | 0x1c..=0x1f | b' ' => 1,
        0xc2 => match b.get(i + 1) {
            Some(0x85 | 0xa0) => 2,
            _ => 0,
        },
        0xe1 => (b.get(i + 1..i + 3) == Some(&[0x9a, 0x80])) as usize * 3,
        0xe2 => match (b.get(i + 1), b.get(i + 2)) {
            (Some(0x80), Some(0x80..=0x8a | 0xa8 | 0xa9 | 0xaf)) | (Some(0x81), Some(0x9f)) => 3,
            _ => 0,
        },
        0xe3 => (b.get(i + 1..i + 3) == Some(&[0x80, 0x80])) as usize * 3,
        _ => 0,
    }
}

/// Whether `c` is whitespace for Python's `str.isspace()`.
pub(crate) fn is_py_space(c: char) -> bool {
    let mut buf = [0u8; 4];
    space_len(c.encode_utf8(&mut buf).as_bytes(), 0) != 0
}

/// Python `str.strip()` with no argument.
#[inline]
pub(crate) fn strip(s: &str) -> &str {
    // Fast path: both ends are printable ASCII (whitespace is all <= b' ' or non-ASCII).
    let solid = |c: u8| c > b' ' && c < 0x80;
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&f), Some(&l)) if solid(f) && solid(l) => s,
        _ => s.trim_matches(is_py_space),
    }
}

/// Python `str.split()` with no argument, as a lazy iterator of slices.
pub(crate) fn tokens(s: &str) -> Tokens<'_> {
    Tokens { s, pos: 0 }
}

/// Iterator returned by [`tokens`].
#[derive(Clone)]
pub(crate) struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    /// What is left after the last token returned, leading whitespace included.
    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let mut i = self.pos;
        loop {
            if i >= b.len() {
                self.pos = i;
                return None;
            }
            match space_len(b, i) {
                0 => break,
                n => i += n,
            }
        }
        let start = i;
        while i < b.len() {
            if space_len(b, i) != 0 {
                break;
            }
            i += 1;
        }
        self.pos = i;
        Some(&self.s[start..i])
    }
}

/// Python `" ".join(s.split())` restricted to `s`, borrowed when `s` is
/// already in that form (tokens separated by one ASCII space, no padding).
pub(crate) fn join_tokens<'a>(s: &'a str, scratch: &'a mut String) -> &'a str {
    let base = s.as_ptr() as usize;
    let (mut next, mut end, mut canonical) = (0, 0, true);
    for t in tokens(s) {
        let start = t.as_ptr() as usize - base;
        // Tokens are separated by whitespace, so a one-byte gap is one char.
        if start != next || (start > 0 && s.as_bytes()[start - 1] != b' ') {
            canonical = false;
            break;
        }
        end = start + t.len();
        next = end + 1;
    }
    if canonical && end == s.len() {
        return s;
    }
    scratch.clear();
    for (k, t) in tokens(s).enumerate() {
        if k > 0 {
            scratch.push(' ');
        }
        scratch.push_str(t);
    }
    scratch
}

/// Lines of `s` split on `\n` exactly like Python's `s.split("\n")`
/// (a trailing newline yields a final empty line; `\r` is kept).
pub(crate) fn lines(s: &str) -> Lines<'_> {
    Lines {
        s,
        pos: 0,
        done: false,
    }
}

/// Iterator returned by [`lines`].
pub(crate) struct Lines<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let rest = &self.s.as_bytes()[self.pos..];
        match memchr(b'\n', rest) {
            Some(n) => {
                let line = &self.s[self.pos..self.pos + n];
                self.pos += n + 1;
                Some(line)
            }
            None => {
                self.done = true;
                Some(&self.s[self.pos..])
            }
        }
    }
}

/// Python `s.replace(from, to)` into `out` (cleared first).
pub(crate) fn replace_into(s: &str, from: &str, to: &str, out: &mut String) {
    out.clear();
    let mut last = 0;
    for i in memchr::memmem::find_iter(s.as_bytes(), from.as_bytes()) {
        if i < last {
            continue;
        }
        out.push_str(&s[last..i]);
        out.push_str(to);
        last = i + from.len();
    }
    out.push_str(&s[last..]);
}

/// Whether `c` is a decimal digit for Python's `re` module (`\d`, category Nd).
pub(crate) fn is_py_digit(c: char) -> bool {
    static ND: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^\d$").expect("static regex"));
    c.is_ascii_digit() || (!c.is_ascii() && ND.is_match(c.encode_utf8(&mut [0; 4])))
}

/// Length in bytes of the run of Python decimal digits at the start of `s`.
pub(crate) fn digit_run(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !is_py_digit(c))
        .map_or(s.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_matches_isspace() {
        // The exact set of `str.isspace()` characters in CPython 3.
        let py: Vec<u32> = [
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ]
        .into_iter()
        .chain(0x2000..=0x200a)
        .collect();
        for cp in 0..0x11000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            assert_eq!(is_py_space(c), py.contains(&cp), "U+{cp:04X}");
        }
    }

    #[test]
    fn tokens_split_like_python() {
        let t: Vec<_> = tokens("  a\u{1f}b\u{a0} c\u{3000}\t d\r").collect();
        assert_eq!(t, ["a", "b", "c", "d"]);
        assert_eq!(tokens(" \u{2028} ").count(), 0);
        assert_eq!(tokens("é\u{2003}ü").collect::<Vec<_>>(), ["é", "ü"]);
    }

    #[test]
    fn lines_keep_trailing_empty_and_cr() {
        let l: Vec<_> = lines("a\r\nb\n").collect();
        assert_eq!(l, ["a\r", "b", ""]);
        assert_eq!(lines("").collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn join_tokens_borrows_or_normalises() {
        let mut s = String::new();
        assert_eq!(join_tokens("a b c", &mut s), "a b c");
        assert!(s.is_empty(), "canonical input must not be copied");
        assert_eq!(join_tokens("a  b\tc ", &mut s), "a b c");
        assert_eq!(join_tokens("a b\u{3000}", &mut s), "a b");
    }

    #[test]
    fn replace_is_non_overlapping_left_to_right() {
        let mut out = String::new();
        replace_into("FAILED a - - b", " - ", " ", &mut out);
        assert_eq!(out, "FAILED a - b");
        replace_into("x", " - ", " ", &mut out);
        assert_eq!(out, "x");
    }

    #[test]
    fn digits_follow_unicode_nd() {
        assert_eq!(digit_run("12m"), 2);
        assert_eq!(digit_run("\u{663}\u{664}m"), 4); // Arabic-Indic digits
        assert_eq!(digit_run("m1"), 0);
        assert!(!is_py_digit('²')); // superscript two is No, not Nd
    }
}
