//! From a tool call's arguments to the values a tool acts on, exactly as in
//! R2E-Gym: each argument becomes `--name str(value)` on the tool's command
//! line (a `command` argument goes first, bare), and the tool script's
//! `argparse` parser (Python 3.11) reads that line back, with its prefix
//! matching, its `--` handling and its error and help texts.

use crate::ToolRun;
use crate::pytext::{parse_int, repr, repr_list, split_ws, strip};
use serde_json::{Map, Value};

/// Python's `str()` of a JSON value (as decoded by `json.loads`).
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value.
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() => py_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => repr(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, positional notation for
/// exponents from -4 to 15, else `d.ddde+XX`.
fn py_float(f: f64) -> String {
    if f.is_infinite() {
        return (if f > 0.0 { "inf" } else { "-inf" }).into();
    }
    if f.is_nan() {
        return "nan".into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// The words after the tool's name on R2E-Gym's command line
/// (`Action.to_bashcmd`).
pub(crate) fn command_line(args: &Map<String, Value>) -> Vec<String> {
    let mut words = Vec::with_capacity(args.len() * 2 + 1);
    if let Some(cmd) = args.get("command").filter(|v| !v.is_null()) {
        words.push(py_str(cmd));
    }
    for (k, v) in args.iter().filter(|(k, _)| *k != "command") {
        words.push(format!("--{k}"));
        words.push(py_str(v));
    }
    words
}

/// How an option's value is converted (`type=` in argparse).
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Kept as the string (also `type=bool`, read for truthiness).
    Str,
    /// `type=int`.
    Int,
    /// file_editor's `parse_view_range`.
    ViewRange,
}

/// One `--name VALUE` option of a tool script.
pub(crate) struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

/// A converted option value.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Range(i64, i64),
}

/// A tool script's argument parser.
pub(crate) struct Parser {
    pub prog: &'static str,
    pub positional: Option<&'static str>,
    pub options: &'static [Opt],
    pub usage: &'static str,
    pub help: &'static str,
}

/// What the parser read: the positional and the options that were given.
#[derive(Default, Debug)]
pub(crate) struct Parsed {
    pub positional: Option<String>,
    values: Vec<(&'static str, Val)>,
}

impl Parsed {
    fn get(&self, name: &str) -> Option<&Val> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The string value of option `name` (`--path` → `"path"`), if given.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The integer value of option `name`, if given.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(Val::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The `[start, end]` value of option `name`, if given.
    pub(crate) fn range(&self, name: &str) -> Option<(i64, i64)> {
        match self.get(name) {
            Some(Val::Range(a, b)) => Some((*a, *b)),
            _ => None,
        }
    }
}

/// Index of the help action among a parser's actions.
const HELP: usize = usize::MAX;

/// How argparse classified one word.
enum Class {
    Positional,
    DashDash,
    /// An option: its action (`None` when unknown) and an explicit `=value`.
    Optional(Option<usize>, Option<String>),
}

impl Parser {
    /// Option strings in argparse's registration order, with their action.
    fn option_strings(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        [("-h", HELP), ("--help", HELP)]
            .into_iter()
            .chain(self.options.iter().enumerate().map(|(i, o)| (o.name, i)))
    }

    fn exact(&self, s: &str) -> Option<usize> {
        self.option_strings().find(|(o, _)| *o == s).map(|(_, a)| a)
    }

    /// The exit of `parser.error(msg)`.
    fn error(&self, msg: &str) -> ToolRun {
        ToolRun {
            stderr: format!("{}{}: error: {msg}\n", self.usage, self.prog),
            code: 2,
            ..ToolRun::default()
        }
    }

    /// `_parse_optional`.
    fn classify(&self, word: &str) -> Result<Class, ToolRun> {
        if !word.starts_with('-') {
            return Ok(Class::Positional);
        }
        if let Some(a) = self.exact(word) {
            return Ok(Class::Optional(Some(a), None));
        }
        if word.chars().count() == 1 {
            return Ok(Class::Positional);
        }
        if let Some((opt, explicit)) = word.split_once('=')
            && let Some(a) = self.exact(opt)
        {
            return Ok(Class::Optional(Some(a), Some(explicit.into())));
        }
        let mut tuples: Vec<(usize, &str, Option<String>)> = Vec::new();
        if word.starts_with("--") {
            let (prefix, explicit) = match word.split_once('=') {
                Some((p, e)) => (p, Some(e.to_string())),
                None => (word, None),
            };
            for (o, a) in self.option_strings() {
                if o.starts_with(prefix) {
                    tuples.push((a, o, explicit.clone()));
                }
            }
        } else {
            let short_end = word.char_indices().nth(2).map_or(word.len(), |(i, _)| i);
            let (short, short_explicit) = word.split_at(short_end);
            for (o, a) in self.option_strings() {
                if o == short {
                    tuples.push((a, o, Some(short_explicit.to_string())));
                } else if o.starts_with(word) {
                    tuples.push((a, o, None));
                }
            }
        }
        match tuples.len() {
            0 => {}
            1 => {
                let (a, _, e) = tuples.remove(0);
                return Ok(Class::Optional(Some(a), e));
            }
            _ => {
                let names: Vec<&str> = tuples.iter().map(|t| t.1).collect();
                return Err(self.error(&format!(
                    "ambiguous option: {word} could match {}",
                    names.join(", ")
                )));
            }
        }
        if is_negative_number(word) || word.contains(' ') {
            return Ok(Class::Positional);
        }
        Ok(Class::Optional(None, None))
    }

    /// `_get_value` for one option.
    fn convert(&self, action: usize, s: &str) -> Result<Val, ToolRun> {
        let opt = &self.options[action];
        let fail = |msg: String| self.error(&format!("argument {}: {msg}", opt.name));
        match opt.kind {
            Kind::Str => Ok(Val::Str(s.into())),
            Kind::Int => parse_int(s)
                .map(Val::Int)
                .ok_or_else(|| fail(format!("invalid int value: {}", repr(s)))),
            Kind::ViewRange => {
                let inner = strip(s).trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'));
                let spaced = inner.replace(',', " ");
                let parts = split_ws(&spaced);
                if parts.len() != 2 {
                    return Err(fail(format!("Expected two numbers, got: {inner}")));
                }
                match (parse_int(parts[0]), parse_int(parts[1])) {
                    (Some(a), Some(b)) => Ok(Val::Range(a, b)),
                    _ => Err(fail(format!(
                        "Could not convert {} to integers.",
                        repr_list(&parts)
                    ))),
                }
            }
        }
    }

    /// `parser.parse_args(words)`: the values, or the script's exit (help,
    /// or usage and error on standard error with status 2).
    pub(crate) fn parse(&self, words: &[String]) -> Result<Parsed, ToolRun> {
        let mut classes = Vec::with_capacity(words.len());
        let mut rest_positional = false;
        for w in words {
            classes.push(if rest_positional {
                Class::Positional
            } else if w == "--" {
                rest_positional = true;
                Class::DashDash
            } else {
                self.classify(w)?
            });
        }
        let pattern: Vec<char> = classes
            .iter()
            .map(|c| match c {
                Class::Positional => 'A',
                Class::DashDash => '-',
                Class::Optional(..) => 'O',
            })
            .collect();

        let mut parsed = Parsed::default();
        let mut seen = vec![false; self.options.len()];
        let mut positional_left = self.positional.is_some();
        let mut extras: Vec<&str> = Vec::new();
        // A positional's value: `-*A-*` at `start` (argparse allows `--` around
        // it and drops the first one); the number of words it takes.
        let positional_value = |start: usize| -> Option<usize> {
            let dashes = |i: usize| {
                (i..pattern.len())
                    .take_while(|&j| pattern[j] == '-')
                    .count()
            };
            let a = start + dashes(start);
            (pattern.get(a) == Some(&'A')).then(|| a + 1 + dashes(a + 1) - start)
        };
        let value_of = |start: usize, count: usize| -> String {
            let mut vals: Vec<&String> = words[start..start + count].iter().collect();
            if let Some(p) = vals.iter().position(|w| *w == "--") {
                vals.remove(p);
            }
            vals.first().map(|s| s.to_string()).unwrap_or_default()
        };
        let mut consume_positional = |start: usize, parsed: &mut Parsed| -> usize {
            if !positional_left {
                return start;
            }
            match positional_value(start) {
                Some(n) => {
                    positional_left = false;
                    parsed.positional = Some(value_of(start, n));
                    start + n
                }
                None => start,
            }
        };

        let option_indices: Vec<usize> =
            (0..classes.len()).filter(|&i| pattern[i] == 'O').collect();
        let mut start = 0;
        while let Some(&next) = option_indices.iter().find(|&&i| i >= start) {
            if start != next {
                let end = consume_positional(start, &mut parsed);
                if end > start {
                    start = end;
                    continue;
                }
                extras.extend(words[start..next].iter().map(String::as_str));
                start = next;
            }
            let Class::Optional(action, explicit) = &classes[start] else {
                unreachable!("option index points at an option")
            };
            let Some(action) = *action else {
                extras.push(&words[start]);
                start += 1;
                continue;
            };
            if action == HELP {
                return match explicit {
                    Some(e) => Err(self.error(&format!(
                        "argument -h/--help: ignored explicit argument {}",
                        repr(e)
                    ))),
                    None => Err(ToolRun {
                        stdout: self.help.into(),
                        ..ToolRun::default()
                    }),
                };
            }
            let (value, stop) = match explicit {
                Some(e) => (e.clone(), start + 1),
                // An option's value is exactly one plain word (no `--`).
                None if pattern.get(start + 1) == Some(&'A') => {
                    (words[start + 1].clone(), start + 2)
                }
                None => {
                    return Err(self.error(&format!(
                        "argument {}: expected one argument",
                        self.options[action].name
                    )));
                }
            };
            seen[action] = true;
            let val = self.convert(action, &value)?;
            parsed
                .values
                .push((self.options[action].name.trim_start_matches('-'), val));
            start = stop;
        }
        let stop = consume_positional(start, &mut parsed);
        extras.extend(words[stop..].iter().map(String::as_str));

        let mut missing: Vec<&str> = Vec::new();
        if let Some(p) = self.positional.filter(|_| positional_left) {
            missing.push(p);
        }
        missing.extend(
            self.options
                .iter()
                .zip(&seen)
                .filter(|(o, s)| o.required && !**s)
                .map(|(o, _)| o.name),
        );
        if !missing.is_empty() {
            return Err(self.error(&format!(
                "the following arguments are required: {}",
                missing.join(", ")
            )));
        }
        if !extras.is_empty() {
            return Err(self.error(&format!("unrecognized arguments: {}", extras.join(" "))));
        }
        Ok(parsed)
    }
}

/// argparse's `^-\d+$|^-\d*\.\d+$`.
fn is_negative_number(w: &str) -> bool {
    let Some(rest) = w.strip_prefix('-') else {
        return false;
    };
    let digits = |s: &str| s.chars().all(|c| c.is_numeric());
    match rest.split_once('.') {
        None => !rest.is_empty() && digits(rest),
        Some((a, b)) => digits(a) && !b.is_empty() && digits(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_of_json_values() {
        assert_eq!(py_str(&json!([1, 20])), "[1, 20]");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(["a", "b'"])), "['a', \"b'\"]");
        assert_eq!(py_str(&json!({"k": 1.5})), "{'k': 1.5}");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        assert_eq!(py_float(-2.5), "-2.5");
    }
}
