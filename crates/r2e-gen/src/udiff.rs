//! Line diffs (imara-diff, Myers with git's indent heuristic) printed as the
//! hunks of a unified diff the way `git diff` prints them, so that `git apply`
//! accepts the result; plus the file headers of git's extended diff format.

use imara_diff::{Algorithm, Diff, InternedInput};

/// Lines of context around each change, as git's default.
pub const CONTEXT: u32 = 3;

/// The hunks of one text file's diff and the lines they touch.
#[derive(Debug, Default)]
pub struct TextDiff {
    /// The `@@ … @@` hunks with their lines; empty when the texts are equal.
    pub hunks_text: String,
    /// Lines added.
    pub added: u32,
    /// Lines removed.
    pub removed: u32,
    /// Number of hunks.
    pub hunks: u32,
    /// 1-based line numbers of removed lines in the old text.
    pub old_changed: Vec<u32>,
    /// 1-based line numbers of added lines in the new text.
    pub new_changed: Vec<u32>,
    /// The changes as 0-based `(old lines, new lines)` ranges, in order.
    pub ranges: Vec<(std::ops::Range<u32>, std::ops::Range<u32>)>,
    /// For each printed hunk, how many of `old_changed` and `new_changed` it
    /// and the hunks before it hold (a hunk's lines are the slices between
    /// two entries).
    pub hunk_ends: Vec<(usize, usize)>,
}

/// Diffs two texts line by line and renders unified hunks with `context` lines.
pub fn diff_text(old: &str, new: &str, context: u32) -> TextDiff {
    let input = InternedInput::new(old, new);
    let mut diff = Diff::compute(Algorithm::Myers, &input);
    diff.postprocess_lines(&input);
    let hunks: Vec<_> = diff.hunks().collect();
    let mut out = TextDiff {
        ranges: hunks
            .iter()
            .map(|h| (h.before.clone(), h.after.clone()))
            .collect(),
        ..Default::default()
    };
    if hunks.is_empty() {
        return out;
    }
    let n_old = input.before.len() as u32;
    let line = |t: imara_diff::Token| input.interner[t];
    let mut i = 0;
    while i < hunks.len() {
        // Group hunks whose context would overlap or touch, as git does.
        let mut j = i;
        while j + 1 < hunks.len() && hunks[j + 1].before.start - hunks[j].before.end <= 2 * context
        {
            j += 1;
        }
        let first = &hunks[i];
        let last = &hunks[j];
        let old_start = first.before.start.saturating_sub(context);
        let old_end = (last.before.end + context).min(n_old);
        let new_start = first.after.start - (first.before.start - old_start);
        let new_end = last.after.end + (old_end - last.before.end);
        out.hunks_text.push_str("@@ -");
        push_range(&mut out.hunks_text, old_start, old_end - old_start);
        out.hunks_text.push_str(" +");
        push_range(&mut out.hunks_text, new_start, new_end - new_start);
        out.hunks_text.push_str(" @@");
        if let Some(f) = funcname(&input, old_start) {
            out.hunks_text.push(' ');
            out.hunks_text.push_str(f);
        }
        out.hunks_text.push('\n');
        let mut pos = old_start;
        for h in &hunks[i..=j] {
            for k in pos..h.before.start {
                push_line(&mut out.hunks_text, ' ', line(input.before[k as usize]));
            }
            for k in h.before.clone() {
                push_line(&mut out.hunks_text, '-', line(input.before[k as usize]));
                out.old_changed.push(k + 1);
            }
            for k in h.after.clone() {
                push_line(&mut out.hunks_text, '+', line(input.after[k as usize]));
                out.new_changed.push(k + 1);
            }
            out.removed += h.before.len() as u32;
            out.added += h.after.len() as u32;
            pos = h.before.end;
        }
        for k in pos..old_end {
            push_line(&mut out.hunks_text, ' ', line(input.before[k as usize]));
        }
        out.hunks += 1;
        out.hunk_ends
            .push((out.old_changed.len(), out.new_changed.len()));
        i = j + 1;
    }
    out
}

/// git's default hunk-header context: the nearest line above the hunk that
/// starts with a letter, `_` or `$`, without trailing whitespace, cut to 80 bytes.
fn funcname<'a>(input: &InternedInput<&'a str>, old_start: u32) -> Option<&'a str> {
    (0..old_start).rev().find_map(|k| {
        let l: &'a str = input.interner[input.before[k as usize]];
        let first = *l.as_bytes().first()?;
        if !(first.is_ascii_alphabetic() || first == b'_' || first == b'$') {
            return None;
        }
        let mut l = l.trim_end();
        if l.len() > 80 {
            let mut cut = 80;
            while !l.is_char_boundary(cut) {
                cut -= 1;
            }
            l = &l[..cut];
        }
        Some(l)
    })
}

/// Writes `start,len` the way git does: 1-based start, the line before an empty
/// range, and `,len` left out when it is 1.
fn push_range(s: &mut String, start0: u32, len: u32) {
    use std::fmt::Write;
    let start = if len == 0 { start0 } else { start0 + 1 };
    if len == 1 {
        let _ = write!(s, "{start}");
    } else {
        let _ = write!(s, "{start},{len}");
    }
}

fn push_line(s: &mut String, marker: char, text: &str) {
    s.push(marker);
    s.push_str(text);
    if !text.ends_with('\n') {
        s.push_str("\n\\ No newline at end of file\n");
    }
}

/// Quotes a path for a diff header the way git does when it holds characters
/// that need escaping (quotes, backslashes, control or non-ASCII bytes).
pub fn quote_path(prefix: &str, path: &str) -> String {
    let needs = path
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b));
    if !needs {
        return format!("{prefix}{path}");
    }
    let mut s = String::from("\"");
    s.push_str(prefix);
    for b in path.bytes() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b if !(0x20..0x7f).contains(&b) => s.push_str(&format!("\\{b:03o}")),
            b => s.push(b as char),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_change_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let d = diff_text(old, new, 3);
        assert_eq!(
            d.hunks_text,
            "@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n"
        );
        assert_eq!((d.added, d.removed, d.hunks), (1, 1, 1));
        assert_eq!(d.old_changed, vec![4]);
        assert_eq!(d.new_changed, vec![4]);
    }

    #[test]
    fn new_file_and_missing_newline() {
        let d = diff_text("", "x\ny", 3);
        assert_eq!(
            d.hunks_text,
            "@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n"
        );
        let d = diff_text("x\n", "", 3);
        assert_eq!(d.hunks_text, "@@ -1 +0,0 @@\n-x\n");
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let old: String = (0..30).map(|i| format!("{i}\n")).collect();
        let new: String = (0..30)
            .map(|i| match i {
                2 => "two\n".to_string(),
                25 => "twentyfive\n".to_string(),
                i => format!("{i}\n"),
            })
            .collect();
        let d = diff_text(&old, &new, 3);
        assert_eq!(d.hunks, 2);
        assert!(d.hunks_text.starts_with("@@ -1,6 +1,6 @@\n"));
        assert!(
            d.hunks_text.contains("@@ -23,7 +23,7 @@\n"),
            "{}",
            d.hunks_text
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_path("a/", "x y.py"), "a/x y.py");
        assert_eq!(quote_path("a/", "é.py"), "\"a/\\303\\251.py\"");
    }
}
