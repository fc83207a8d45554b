//! Unified-diff utilities.
//!
//! SWE-smith rows ship the patch that *introduces* the bug; the fix a task expects
//! is its reverse, which [`reverse`] computes without a repository.

/// Reverses a git-style unified diff, so that applying the result undoes the input.
///
/// File names, `new`/`deleted file mode`, `old`/`new mode`, `rename from`/`to`,
/// `index` lines and hunk ranges are swapped; in each hunk, added and deleted lines
/// trade places, with the deletions of each change block written first, as git
/// does. Line counts in the hunk headers delimit hunks, so content lines that
/// happen to look like headers are handled. Binary patches and any other lines
/// pass through unchanged.
pub fn reverse(patch: &str) -> String {
    let mut out = String::with_capacity(patch.len());
    let mut lines = patch.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let (body, eol) = split_eol(line);
        if let Some(minus) = body.strip_prefix("--- ")
            && let Some(next) = lines.next_if(|l| l.starts_with("+++ "))
        {
            let (plus_body, plus_eol) = split_eol(next);
            let plus = &plus_body[4..];
            push_line(&mut out, &format!("--- {}", swap_side(plus)), eol);
            push_line(&mut out, &format!("+++ {}", swap_side(minus)), plus_eol);
            continue;
        }
        if let Some(hunk) = HunkHeader::parse(body) {
            push_line(&mut out, &hunk.reversed(), eol);
            reverse_hunk_body(&mut lines, hunk, &mut out);
            continue;
        }
        push_line(&mut out, &reverse_header_line(body), eol);
    }
    out
}

fn split_eol(line: &str) -> (&str, &str) {
    match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    }
}

fn push_line(out: &mut String, body: &str, eol: &str) {
    out.push_str(body);
    out.push_str(eol);
}

/// `a/x` ↔ `b/x`; `/dev/null` and unprefixed names stay.
fn swap_side(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("a/") {
        format!("b/{rest}")
    } else if let Some(rest) = name.strip_prefix("b/") {
        format!("a/{rest}")
    } else {
        name.to_owned()
    }
}

fn reverse_header_line(line: &str) -> String {
    const SWAPS: [(&str, &str); 4] = [
        ("new file mode ", "deleted file mode "),
        ("old mode ", "new mode "),
        ("rename from ", "rename to "),
        ("copy from ", "copy to "),
    ];
    for (a, b) in SWAPS {
        if let Some(rest) = line.strip_prefix(a) {
            return format!("{b}{rest}");
        }
        if let Some(rest) = line.strip_prefix(b) {
            return format!("{a}{rest}");
        }
    }
    if let Some(rest) = line.strip_prefix("diff --git ")
        && let Some((old, new)) = rest.split_once(" b/")
        && let Some(old) = old.strip_prefix("a/")
    {
        return format!("diff --git a/{new} b/{old}");
    }
    if let Some(rest) = line.strip_prefix("index ")
        && let Some((ids, mode)) = split_mode(rest)
        && let Some((old, new)) = ids.split_once("..")
    {
        return format!("index {new}..{old}{mode}");
    }
    line.to_owned()
}

/// Splits `abc..def 100644` into `("abc..def", " 100644")`.
fn split_mode(rest: &str) -> Option<(&str, &str)> {
    Some(match rest.find(' ') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    })
}

#[derive(Debug, Clone, Copy)]
struct HunkHeader<'a> {
    old: (u64, u64),
    new: (u64, u64),
    old_text: &'a str,
    new_text: &'a str,
    section: &'a str,
}

impl<'a> HunkHeader<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let rest = line.strip_prefix("@@ -")?;
        let (old_text, rest) = rest.split_once(" +")?;
        let (new_text, section) = rest.split_once(" @@")?;
        Some(HunkHeader {
            old: parse_range(old_text)?,
            new: parse_range(new_text)?,
            old_text,
            new_text,
            section,
        })
    }

    fn reversed(&self) -> String {
        format!(
            "@@ -{} +{} @@{}",
            self.new_text, self.old_text, self.section
        )
    }
}

/// `start[,len]` → `(start, len)`; a missing length means one line.
fn parse_range(text: &str) -> Option<(u64, u64)> {
    match text.split_once(',') {
        Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
        None => Some((text.parse().ok()?, 1)),
    }
}

fn reverse_hunk_body<'a, I>(
    lines: &mut std::iter::Peekable<I>,
    hunk: HunkHeader<'_>,
    out: &mut String,
) where
    I: Iterator<Item = &'a str>,
{
    let (mut old_left, mut new_left) = (hunk.old.1, hunk.new.1);
    let mut block = ChangeBlock::default();
    while old_left > 0 || new_left > 0 {
        let Some(line) = lines.next_if(|l| {
            matches!(
                l.as_bytes().first(),
                Some(b' ' | b'+' | b'-' | b'\\' | b'\n')
            )
        }) else {
            break;
        };
        if let Some(added) = line.strip_prefix('+') {
            new_left = new_left.saturating_sub(1);
            block.push(out, Slot::Deletions, &format!("-{added}"));
        } else if let Some(deleted) = line.strip_prefix('-') {
            old_left = old_left.saturating_sub(1);
            block.push(out, Slot::Additions, &format!("+{deleted}"));
        } else if line.starts_with('\\') {
            block.note(out, line);
        } else {
            // Context, including a blank line whose leading space was stripped.
            old_left = old_left.saturating_sub(1);
            new_left = new_left.saturating_sub(1);
            block.push(out, Slot::Out, line);
        }
    }
    // A "\ No newline at end of file" after the last counted line.
    while let Some(note) = lines.next_if(|l| l.starts_with('\\')) {
        block.note(out, note);
    }
    block.flush(out);
}

/// Where a reversed hunk line goes.
#[derive(Debug, Clone, Copy, Default)]
enum Slot {
    /// Straight to the output (context lines end a change block).
    #[default]
    Out,
    /// The pending deletions of the current change block.
    Deletions,
    /// The pending additions of the current change block.
    Additions,
}

/// One run of changed lines, rewritten with deletions before additions.
#[derive(Debug, Default)]
struct ChangeBlock {
    deletions: String,
    additions: String,
    last: Slot,
}

impl ChangeBlock {
    fn push(&mut self, out: &mut String, slot: Slot, line: &str) {
        let target = match slot {
            Slot::Out => {
                self.flush(out);
                &mut *out
            }
            Slot::Deletions => &mut self.deletions,
            Slot::Additions => &mut self.additions,
        };
        target.push_str(line);
        self.last = slot;
    }

    /// A `\` line stays with the line before it.
    fn note(&mut self, out: &mut String, line: &str) {
        match self.last {
            Slot::Out => out.push_str(line),
            Slot::Deletions => self.deletions.push_str(line),
            Slot::Additions => self.additions.push_str(line),
        }
    }

    fn flush(&mut self, out: &mut String) {
        out.push_str(&self.deletions);
        out.push_str(&self.additions);
        self.deletions.clear();
        self.additions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::reverse;

    const BUG: &str = "\
diff --git a/src/flask/helpers.py b/src/flask/helpers.py
index 1d2e3f4..5a6b7c8 100644
--- a/src/flask/helpers.py
+++ b/src/flask/helpers.py
@@ -10,7 +10,7 @@ def get_debug_flag() -> bool:
     \"\"\"Get whether debug mode should be enabled for the app, indicated by the
     :envvar:`FLASK_DEBUG` environment variable. The default is ``False``.
     \"\"\"
-    val = os.environ.get(\"FLASK_DEBUG\")
+    val = os.environ.get(\"FLASK_DEBUG\", \"1\")
     return bool(val and val.lower() not in {\"0\", \"false\", \"no\"})
 
 
diff --git a/src/flask/new.py b/src/flask/new.py
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/src/flask/new.py
@@ -0,0 +1,2 @@
+-- this line starts with two dashes
+++ and this one with two pluses
";

    const FIX: &str = "\
diff --git a/src/flask/helpers.py b/src/flask/helpers.py
index 5a6b7c8..1d2e3f4 100644
--- a/src/flask/helpers.py
+++ b/src/flask/helpers.py
@@ -10,7 +10,7 @@ def get_debug_flag() -> bool:
     \"\"\"Get whether debug mode should be enabled for the app, indicated by the
     :envvar:`FLASK_DEBUG` environment variable. The default is ``False``.
     \"\"\"
-    val = os.environ.get(\"FLASK_DEBUG\", \"1\")
+    val = os.environ.get(\"FLASK_DEBUG\")
     return bool(val and val.lower() not in {\"0\", \"false\", \"no\"})
 
 
diff --git a/src/flask/new.py b/src/flask/new.py
deleted file mode 100644
index e69de29..0000000
--- a/src/flask/new.py
+++ /dev/null
@@ -1,2 +0,0 @@
--- this line starts with two dashes
-++ and this one with two pluses
";

    #[test]
    fn reverses_headers_ranges_and_lines() {
        assert_eq!(reverse(BUG), FIX);
        assert_eq!(reverse(FIX), BUG);
    }

    #[test]
    fn keeps_no_newline_notes_with_their_line() {
        let patch = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n\\ No newline at end of file\n+new\n\\ No newline at end of file\n";
        let expected = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-new\n\\ No newline at end of file\n+old\n\\ No newline at end of file\n";
        assert_eq!(reverse(patch), expected);
        assert_eq!(reverse(expected), patch);
    }
}
