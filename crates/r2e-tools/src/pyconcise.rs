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
//! module tokenises. Line numbers count `\n` only, as `ast` does. Files that
//! Python cannot parse are scanned all the same (R2E-Gym reports a
//! `SyntaxError` for them instead).

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

/// A logical line: its tokens and the indentation of its first physical line.
struct Logical {
    tokens: Vec<Token>,
    indent: usize,
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

/// Column of the first non-blank character, Python-style: tabs to the next
/// multiple of 8, form feed back to 0.
fn indentation(rest: &[u8]) -> usize {
    let mut col = 0;
    for &c in rest {
        match c {
            b' ' => col += 1,
            b'\t' => col = (col / 8 + 1) * 8,
            0x0c => col = 0,
            _ => break,
        }
    }
    col
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
/// after it, counting the newlines it spans into `line`. An unterminated
/// single-quoted literal stops at the end of its line.
fn skip_string(b: &[u8], mut i: usize, line: &mut usize) -> usize {
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
                return i + if triple { 3 } else { 1 };
            }
            b'\n' if !triple => return i,
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Splits Python source into logical lines of tokens.
fn scan(text: &str) -> Vec<Logical> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut cur: Vec<Token> = Vec::new();
    let (mut indent, mut depth, mut line) = (0, 0usize, 1);
    let mut continuation = false;
    let mut line_start = true;
    let mut i = 0;
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
                if depth == 0 && !continuation && !cur.is_empty() {
                    out.push(Logical {
                        tokens: std::mem::take(&mut cur),
                        indent,
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
                i = skip_string(b, i, &mut line);
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
                        i = skip_string(b, i, &mut line);
                        if other { Tok::OtherStr } else { Tok::Str }
                    }
                    _ => match word {
                        b"def" => Tok::Def,
                        b"class" => Tok::Class,
                        b"async" => Tok::Async,
                        _ => Tok::Name,
                    },
                }
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (is_name_byte(b[i]) || b[i] == b'.') {
                    i += 1;
                }
                Tok::Other
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
                Tok::Open
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
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
    if !cur.is_empty() {
        out.push(Logical { tokens: cur, indent });
    }
    out
}

/// If the statement `tokens` start with is a docstring expression (string
/// literals only, possibly parenthesised), its first and last line.
fn docstring(tokens: &[Token]) -> Option<(usize, usize)> {
    let len = tokens.iter().position(|t| t.tok == Tok::Semi).unwrap_or(tokens.len());
    let stmt = &tokens[..len];
    let opens = stmt.iter().take_while(|t| t.tok == Tok::Open).count();
    let closes = stmt.iter().rev().take_while(|t| t.tok == Tok::Close).count();
    if opens != closes || 2 * opens >= stmt.len() {
        return None;
    }
    let inner = &stmt[opens..stmt.len() - closes];
    inner
        .iter()
        .all(|t| t.tok == Tok::Str)
        .then(|| (stmt[0].line, stmt[stmt.len() - 1].end))
}

/// The line ranges the concise view hides, in the order R2E-Gym lists their
/// notices for equal start lines (outer before inner).
pub(crate) fn elided_ranges(text: &str) -> Vec<Range> {
    let lines = scan(text);
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
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_function_bodies_are_elided() {
        let src = "def f(x):\n    a = 1\n    b = 2\n    c = 3\n    return a\n\ndef g():\n    pass\n";
        assert_eq!(elided_ranges(src), vec![(1, 4)]);
    }

    #[test]
    fn multi_line_signature_strings_and_comments() {
        let src = "class A:\n    \"\"\"Doc\n\n    more\n\n    end\n    \"\"\"\n    @dec\n    async def f(self,\n              y):  # c\n        s = '''\n        x'''\n        return (1,\n                2)\n    # trailing comment\n";
        assert_eq!(elided_ranges(src), vec![(2, 5), (10, 13)]);
    }

    #[test]
    fn decorated_first_statement_starts_at_def_line() {
        let src = "def outer():\n    @dec\n    def inner():\n        return 1\n    x = 1\n    return x\n";
        assert_eq!(elided_ranges(src), vec![(2, 5)]);
    }
}
