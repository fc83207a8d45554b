//! The line ranges R2E-Gym's concise view of a Python file hides, found with a
//! small scanner instead of Python's `ast` module.
//!
//! The reference walks the syntax tree and hides
//! - the body of every `def`/`async def` (at any depth) whose first and last
//!   statements are at least 3 lines apart: from the line where the first
//!   statement starts (for a decorated statement, the `def`/`class` line, not
//!   the decorator's) to the line of the last statement's last token;
//! - the inner lines of every class docstring spanning at least 5 lines.
//!
//! Both need only logical lines (string literals, comments, brackets and
//! backslash continuations resolved) and their indentation, which is what this
//! module tokenises. Line numbers count `\n` only, as `ast` does.
//!
//! A file Python cannot parse gets R2E-Gym's `SyntaxError` text instead. The
//! scanner finds the errors of tokens and indentation, with CPython 3.11's
//! messages: unterminated strings, unclosed or mismatched brackets, mixed
//! tabs and spaces, dedents to no enclosing level, unexpected indents and
//! missing indented blocks. Other grammar errors go unnoticed.

/// A line range `(first, last)`, 0-based and inclusive.
pub(crate) type Range = (usize, usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Def,
    Class,
    Async,
    Name,
    /// A string literal that can be part of a docstring (not f-, not bytes).
    Str,
    /// An f-string or bytes literal.
    OtherStr,
    Open,
    Close,
    Colon,
    Semi,
    At,
    Other,
}

/// A token: its kind, and its first and last line (1-based).
#[derive(Clone, Copy, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    end: usize,
}

/// A logical line: its tokens, the indentation of its first physical line
/// (columns with tabs to multiples of 8, and with tabs as 1 column) and its
/// leading keyword(s), e.g. `if` or `async for`.
struct Logical {
    tokens: Vec<Token>,
    indent: usize,
    alt_indent: usize,
    head: String,
}

/// A syntax error: CPython's message and the line it names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub msg: String,
    pub line: usize,
}

fn syntax_error(msg: String, line: usize) -> SyntaxError {
    SyntaxError { msg, line }
}

impl SyntaxError {
    /// `str(SyntaxError)` for a file at `path`: `msg (name, line N)`.
    pub(crate) fn describe(&self, path: &str) -> String {
        format!(
            "{} ({}, line {})",
            self.msg,
            crate::paths::name(path),
            self.line
        )
    }
}

impl Logical {
    fn first(&self) -> Tok {
        self.tokens[0].tok
    }

    fn is_def(&self) -> bool {
        self.first() == Tok::Def
            || (self.first() == Tok::Async && self.tokens.get(1).map(|t| t.tok) == Some(Tok::Def))
    }

    /// Line of the last token, a trailing `;` aside.
    fn end(&self) -> usize {
        let toks = match self.tokens.split_last() {
            Some((last, rest)) if last.tok == Tok::Semi && !rest.is_empty() => rest,
            _ => &self.tokens,
        };
        toks.iter().map(|t| t.end).max().unwrap_or(0)
    }

    /// For a `def`/`class` header, the tokens after the header's colon.
    fn inline_body(&self) -> &[Token] {
        let mut depth = 0usize;
        for (i, t) in self.tokens.iter().enumerate() {
            match t.tok {
                Tok::Open => depth += 1,
                Tok::Close => depth = depth.saturating_sub(1),
                Tok::Colon if depth == 0 => return &self.tokens[i + 1..],
                _ => {}
            }
        }
        &[]
    }
}

/// Column of the first non-blank character as CPython's tokenizer counts it:
/// with tabs to the next multiple of 8, and with tabs as one column; form
/// feed resets both.
fn indentation(rest: &[u8]) -> (usize, usize) {
    let (mut col, mut alt) = (0, 0);
    for &c in rest {
        match c {
            b' ' => (col, alt) = (col + 1, alt + 1),
            b'\t' => (col, alt) = ((col / 8 + 1) * 8, alt + 1),
            0x0c => (col, alt) = (0, 0),
            _ => break,
        }
    }
    (col, alt)
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// For a string prefix (`r`, `b`, `f`, `u`, `rb`, `fr`, …): whether the
/// literal is an f-string or bytes.
fn string_prefix(word: &[u8]) -> Option<bool> {
    let lower = word.to_ascii_lowercase();
    matches!(
        lower.as_slice(),
        b"r" | b"u" | b"f" | b"b" | b"br" | b"rb" | b"fr" | b"rf"
    )
    .then(|| lower.contains(&b'f') || lower.contains(&b'b'))
}

/// Skips the string literal whose opening quote is at `i`; returns the index
/// after it, counting the newlines it spans into `line`, or the error of an
/// unterminated literal.
fn skip_string(b: &[u8], mut i: usize, line: &mut usize) -> Result<usize, SyntaxError> {
    let start_line = *line;
    let q = b[i];
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    i += if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 2;
            }
            c if c == q && (!triple || (b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q))) => {
                return Ok(i + if triple { 3 } else { 1 });
            }
            b'\n' if !triple => {
                let msg = format!("unterminated string literal (detected at line {line})");
                return Err(syntax_error(msg, start_line));
            }
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    let last = b.iter().filter(|&&c| c == b'\n').count() + usize::from(!b.ends_with(b"\n"));
    let msg = if triple {
        format!("unterminated triple-quoted string literal (detected at line {last})")
    } else {
        format!("unterminated string literal (detected at line {line})")
    };
    Err(syntax_error(msg, start_line))
}

/// Splits Python source into logical lines of tokens; stops at the first
/// token error, returning the lines before it with the error.
fn scan(text: &str) -> (Vec<Logical>, Option<SyntaxError>) {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    let (mut indent, mut head, mut line) = ((0, 0), String::new(), 1);
    let mut brackets: Vec<(u8, usize)> = Vec::new();
    let mut continuation = false;
    let mut line_start = true;
    let mut i = 0;
    macro_rules! fail {
        ($e:expr) => {
            return (out, Some($e))
        };
    }
    while i < b.len() {
        if line_start {
            if cur.is_empty() {
                indent = indentation(&b[i..]);
            }
            line_start = false;
        }
        let start_line = line;
        let tok = match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
                line_start = true;
                if brackets.is_empty() && !continuation && !cur.is_empty() {
                    out.push(Logical {
                        tokens: std::mem::take(&mut cur),
                        indent: indent.0,
                        alt_indent: indent.1,
                        head: std::mem::take(&mut head),
                    });
                }
                continuation = false;
                continue;
            }
            b' ' | b'\t' | 0x0c | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\\' if b.get(i + 1) == Some(&b'\n') => {
                continuation = true;
                i += 1;
                continue;
            }
            b'\'' | b'"' => {
                i = match skip_string(b, i, &mut line) {
                    Ok(end) => end,
                    Err(e) => fail!(e),
                };
                Tok::Str
            }
            c if is_name_byte(c) && !c.is_ascii_digit() => {
                let start = i;
                while i < b.len() && is_name_byte(b[i]) {
                    i += 1;
                }
                let word = &b[start..i];
                match (string_prefix(word), b.get(i)) {
                    (Some(other), Some(b'\'' | b'"')) => {
                        i = match skip_string(b, i, &mut line) {
                            Ok(end) => end,
                            Err(e) => fail!(e),
                        };
                        if other { Tok::OtherStr } else { Tok::Str }
                    }
                    _ => {
                        // The leading keyword(s) of the line: `if`, `async for`, …
                        if cur.is_empty() || (cur.len() == 1 && head == "async") {
                            if !head.is_empty() {
                                head.push(' ');
                            }
                            head.push_str(&String::from_utf8_lossy(word));
                        }
                        match word {
                            b"def" => Tok::Def,
                            b"class" => Tok::Class,
                            b"async" => Tok::Async,
                            _ => Tok::Name,
                        }
                    }
                }
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (is_name_byte(b[i]) || b[i] == b'.') {
                    i += 1;
                }
                Tok::Other
            }
            c @ (b'(' | b'[' | b'{') => {
                brackets.push((c, line));
                i += 1;
                Tok::Open
            }
            c @ (b')' | b']' | b'}') => {
                let Some((open, open_line)) = brackets.pop() else {
                    fail!(syntax_error(format!("unmatched '{}'", c as char), line));
                };
                if matching(open) != c {
                    let at = if open_line == line {
                        String::new()
                    } else {
                        format!(" on line {open_line}")
                    };
                    let msg = format!(
                        "closing parenthesis '{}' does not match opening parenthesis '{}'{at}",
                        c as char, open as char
                    );
                    fail!(syntax_error(msg, line));
                }
                i += 1;
                Tok::Close
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Other
            }
            b':' => {
                i += 1;
                Tok::Colon
            }
            b';' => {
                i += 1;
                Tok::Semi
            }
            b'@' => {
                i += 1;
                Tok::At
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        cur.push(Token {
            tok,
            line: start_line,
            end: line,
        });
    }
    if let Some(&(open, open_line)) = brackets.last() {
        fail!(syntax_error(
            format!("'{}' was never closed", open as char),
            open_line
        ));
    }
    if !cur.is_empty() {
        out.push(Logical {
            tokens: cur,
            indent: indent.0,
            alt_indent: indent.1,
            head,
        });
    }
    (out, None)
}

fn matching(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

/// What CPython calls the statement a block header starts, for "expected an
/// indented block after …".
fn block_kind(head: &str) -> Option<String> {
    let last = head.rsplit(' ').next().unwrap_or(head);
    match last {
        "def" => Some("function definition".into()),
        "class" => Some("class definition".into()),
        "if" | "elif" | "else" | "for" | "while" | "with" | "try" | "except" | "finally"
        | "match" | "case" => Some(format!("'{last}' statement")),
        _ => None,
    }
}

/// CPython's indentation errors (tokenizer: tabs/spaces and dedents;
/// parser: unexpected indents and missing blocks), the first one found.
fn check_indentation(lines: &[Logical]) -> Option<SyntaxError> {
    let mut stack = vec![(0usize, 0usize)];
    let mut header: Option<&Logical> = None;
    let tab_error = |line| {
        syntax_error(
            "inconsistent use of tabs and spaces in indentation".into(),
            line,
        )
    };
    for l in lines {
        let at = l.tokens[0].line;
        let (col, alt) = (l.indent, l.alt_indent);
        let &(top, top_alt) = stack.last()?;
        let indented = col > top;
        if col == top {
            if alt != top_alt {
                return Some(tab_error(at));
            }
        } else if indented {
            if alt <= top_alt {
                return Some(tab_error(at));
            }
            stack.push((col, alt));
        } else {
            while stack.len() > 1 && col < stack.last()?.0 {
                stack.pop();
            }
            let &(top, top_alt) = stack.last()?;
            if col != top {
                let msg = "unindent does not match any outer indentation level".into();
                return Some(syntax_error(msg, at));
            }
            if alt != top_alt {
                return Some(tab_error(at));
            }
        }
        match header {
            Some(h) if !indented => {
                let kind = block_kind(&h.head)?;
                let msg = format!(
                    "expected an indented block after {kind} on line {}",
                    h.tokens[0].line
                );
                return Some(syntax_error(msg, at));
            }
            None if indented => return Some(syntax_error("unexpected indent".into(), at)),
            _ => {}
        }
        header = (l.tokens.last().map(|t| t.tok) == Some(Tok::Colon)).then_some(l);
    }
    let h = header?;
    let kind = block_kind(&h.head)?;
    let msg = format!(
        "expected an indented block after {kind} on line {}",
        h.tokens[0].line
    );
    Some(syntax_error(msg, h.end()))
}

/// If the statement `tokens` start with is a docstring expression (string
/// literals only, possibly parenthesised), its first and last line.
fn docstring(tokens: &[Token]) -> Option<(usize, usize)> {
    let len = tokens
        .iter()
        .position(|t| t.tok == Tok::Semi)
        .unwrap_or(tokens.len());
    let stmt = &tokens[..len];
    let opens = stmt.iter().take_while(|t| t.tok == Tok::Open).count();
    let closes = stmt
        .iter()
        .rev()
        .take_while(|t| t.tok == Tok::Close)
        .count();
    if opens != closes || 2 * opens >= stmt.len() {
        return None;
    }
    let inner = &stmt[opens..stmt.len() - closes];
    inner
        .iter()
        .all(|t| t.tok == Tok::Str)
        .then(|| (stmt[0].line, stmt[stmt.len() - 1].end))
}

/// The first syntax error of a Python source, if this module can see one.
pub(crate) fn find_syntax_error(text: &str) -> Option<SyntaxError> {
    syntax_check(text).err()
}

/// The logical lines of a Python source, or its first syntax error.
fn syntax_check(text: &str) -> Result<Vec<Logical>, SyntaxError> {
    let (lines, token_error) = scan(text);
    match (check_indentation(&lines), token_error) {
        (Some(e), Some(t)) if t.line < e.line => Err(t),
        (Some(e), _) => Err(e),
        (None, Some(t)) => Err(t),
        (None, None) => Ok(lines),
    }
}

/// The line ranges the concise view hides, in the order R2E-Gym lists their
/// notices for equal start lines (outer before inner); or the file's syntax
/// error.
pub(crate) fn elided_ranges(text: &str) -> Result<Vec<Range>, SyntaxError> {
    let lines = syntax_check(text)?;
    let mut ranges = Vec::new();
    for (k, header) in lines.iter().enumerate() {
        let is_def = header.is_def();
        if !is_def && header.first() != Tok::Class {
            continue;
        }
        let inline = header.inline_body();
        // (first body statement's tokens, line where the body ends)
        let (first, body_end): (&[Token], usize) = if !inline.is_empty() {
            (inline, header.end())
        } else {
            let body: Vec<&Logical> = lines[k + 1..]
                .iter()
                .take_while(|l| l.indent > header.indent)
                .collect();
            let Some(last) = body.last() else { continue };
            // A decorated statement starts at its `def`/`class` line.
            let Some(stmt) = body.iter().find(|l| l.first() != Tok::At) else {
                continue;
            };
            let first: &[Token] = if body[0].first() == Tok::At {
                &stmt.tokens[..1]
            } else {
                &body[0].tokens
            };
            (first, last.end())
        };
        let start = first[0].line;
        if is_def {
            if body_end >= start + 3 {
                ranges.push((start - 1, body_end - 1));
            }
        } else if let Some((d0, d1)) = docstring(first)
            && d1 >= d0 + 4
        {
            ranges.push((d0, d1 - 2));
        }
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(src: &str) -> String {
        find_syntax_error(src)
            .map(|e| e.describe("x.py"))
            .unwrap_or_default()
    }

    #[test]
    fn syntax_errors_read_like_cpython() {
        let cases = [
            (
                "if x:\n        a = 1\n\tb = 2\n",
                "inconsistent use of tabs and spaces in indentation (x.py, line 3)",
            ),
            (
                "if x:\n    a = 1\n  b = 2\n",
                "unindent does not match any outer indentation level (x.py, line 3)",
            ),
            ("a = 1\n    b = 2\n", "unexpected indent (x.py, line 2)"),
            (
                "async def f():\n    async for x in y:\n    pass\n",
                "expected an indented block after 'for' statement on line 2 (x.py, line 3)",
            ),
            (
                "def f():\n",
                "expected an indented block after function definition on line 1 (x.py, line 1)",
            ),
            (
                "a = 1\nb = '''abc\n\ndef\n",
                "unterminated triple-quoted string literal (detected at line 4) (x.py, line 2)",
            ),
            (
                "b = 'abc",
                "unterminated string literal (detected at line 1) (x.py, line 1)",
            ),
            ("a = (1, [2,\n3\n", "'[' was never closed (x.py, line 1)"),
            (
                "a = (1,\n2]\n",
                "closing parenthesis ']' does not match opening parenthesis '(' on line 1 (x.py, line 2)",
            ),
            ("a = 1)\n", "unmatched ')' (x.py, line 1)"),
            (
                "x = (1,\n\t2)\n    \ny = ')'\nif x:\n    a\n\x0c    b\n",
                "",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(error(src), want, "{src:?}");
        }
    }

    #[test]
    fn long_function_bodies_are_elided() {
        let src =
            "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    return a\n\ndef g():\n    pass\n";
        assert_eq!(elided_ranges(src), Ok(vec![(1, 4)]));
    }

    #[test]
    fn multi_line_signature_strings_and_comments() {
        let src = "class A:\n    \"\"\"Doc\n\n    more\n\n    end\n    \"\"\"\n    @dec\n    async def f(self,\n              y):  # c\n        s = '''\n        x'''\n        return (1,\n                2)\n    # trailing comment\n";
        assert_eq!(elided_ranges(src), Ok(vec![(2, 5), (10, 13)]));
    }

    #[test]
    fn decorated_first_statement_starts_at_def_line() {
        let src =
            "def outer():\n    @dec\n    def inner():\n        return 1\n    x = 1\n    return x\n";
        assert_eq!(elided_ranges(src), Ok(vec![(2, 5)]));
    }
}
