//! JSON text exactly as Python's `json.dumps(value, indent=4)` writes it.
//!
//! SWE-bench writes `report.json` that way, so reports written with
//! [`to_python_json`] are byte-identical to the harness's: four-space
//! indentation, `", "`-free separators (`,` at line ends, `": "` after keys),
//! `[]`/`{}` for empty containers, and `ensure_ascii` escaping (every
//! character outside U+0020..U+007E as `\uXXXX`, UTF-16 surrogate pairs above
//! U+FFFF).

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter, Serializer};
use std::io::{self, Write};

/// Serialises `value` as `json.dumps(value, indent=4)` would.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter::new());
    value
        .serialize(&mut ser)
        .expect("serialising plain data into memory cannot fail");
    String::from_utf8(out).expect("ensure_ascii output is ASCII")
}

/// serde_json's pretty formatter with Python's indentation and `ensure_ascii`.
struct PythonFormatter {
    pretty: PrettyFormatter<'static>,
}

impl PythonFormatter {
    fn new() -> Self {
        Self {
            pretty: PrettyFormatter::with_indent(b"    "),
        }
    }
}

/// Forwards a [`Formatter`] method to the inner pretty formatter.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            self.pretty.$name(w $(, $arg)*)
        }
    )*};
}

impl Formatter for PythonFormatter {
    forward! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            w.write_all(&s.as_bytes()[plain..i])?;
            plain = i + c.len_utf8();
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
        }
        w.write_all(&s.as_bytes()[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps_indent_4() {
        let v = json!({"a": [], "b": {"c": ["x\u{e9}\"\\\n\u{7f}", "\u{1f600}"], "d": {}}, "e": true, "f": 1.0});
        // python3 -c 'import json; print(json.dumps({...}, indent=4))'
        let want = "{\n    \"a\": [],\n    \"b\": {\n        \"c\": [\n            \"x\\u00e9\\\"\\\\\\n\\u007f\",\n            \"\\ud83d\\ude00\"\n        ],\n        \"d\": {}\n    },\n    \"e\": true,\n    \"f\": 1.0\n}";
        assert_eq!(to_python_json(&v), want);
    }
}
