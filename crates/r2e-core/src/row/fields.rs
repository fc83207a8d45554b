//! Typed access to the fields of one row, with errors that name the field.
//!
//! `take_*` consumes a field (the task represents it); `peek_*` reads it and leaves
//! it for [`Task::extra`](crate::Task::extra). Whatever is left at the end becomes
//! `extra`. A null field counts as absent.

use super::RowError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What a structured field may hold, either as JSON or as a JSON-encoded string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The decoded value's kind, for messages ("list", "object").
    pub noun: &'static str,
    /// The full description for type errors.
    pub expected: &'static str,
    /// Whether the decoded value is an array (else an object).
    pub array: bool,
}

/// A list of strings, possibly JSON-encoded (SWE-bench's `FAIL_TO_PASS`).
pub(crate) const STRING_LIST: Shape = Shape {
    noun: "list",
    expected: "a list of strings or a JSON-encoded list",
    array: true,
};

/// Test name → status, possibly JSON-encoded (R2E-Gym's `expected_output_json`).
pub(crate) const STATUS_MAP: Shape = Shape {
    noun: "object",
    expected: "an object mapping test names to statuses, or its JSON encoding",
    array: false,
};

/// An object, possibly JSON-encoded.
pub(crate) const OBJECT: Shape = Shape {
    noun: "object",
    expected: "an object or a JSON-encoded object",
    array: false,
};

/// A short, single-line rendering of a JSON value for error messages.
pub(crate) fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= MAX_CHARS {
        text
    } else {
        let cut: String = text.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    }
}

fn wrong(field: &'static str, expected: &'static str, got: &Value) -> RowError {
    RowError::WrongType {
        field,
        expected,
        got: describe(got),
    }
}

/// The not-yet-consumed fields of a row.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Fields { map }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// Consumes an optional string field.
    pub fn take_str(&mut self, name: &'static str) -> Result<Option<String>, RowError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(wrong(name, "a string", &other)),
        }
    }

    /// Consumes a required string field.
    pub fn require_str(&mut self, name: &'static str) -> Result<String, RowError> {
        self.take_str(name)?.ok_or(RowError::Missing {
            field: name,
            note: "",
        })
    }

    /// Reads an optional string field, leaving it in place.
    pub fn peek_str(&self, name: &'static str) -> Result<Option<&str>, RowError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(wrong(name, "a string", other)),
        }
    }

    /// Consumes an optional field that may be a string or a number (`version`).
    pub fn take_text(&mut self, name: &'static str) -> Result<Option<String>, RowError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(wrong(name, "a string or a number", &other)),
        }
    }

    /// Consumes a list of strings (plain or JSON-encoded); absent means empty.
    pub fn take_list(&mut self, name: &'static str) -> Result<Vec<String>, RowError> {
        Ok(self.take_json(name, STRING_LIST)?.unwrap_or_default())
    }

    /// Consumes a structured field given as JSON or as a JSON-encoded string.
    pub fn take_json<T: DeserializeOwned>(
        &mut self,
        name: &'static str,
        shape: Shape,
    ) -> Result<Option<T>, RowError> {
        self.take(name)
            .map(|value| decode(name, value, shape))
            .transpose()
    }

    /// Reads a structured field like [`Fields::take_json`], leaving it in place.
    pub fn peek_json<T: DeserializeOwned>(
        &self,
        name: &'static str,
        shape: Shape,
    ) -> Result<Option<T>, RowError> {
        self.present(name)
            .map(|value| decode(name, value.clone(), shape))
            .transpose()
    }

    /// Puts a consumed field back, for values the task represents only in part.
    pub fn keep(&mut self, name: &str, value: Value) {
        self.map.insert(name.to_owned(), value);
    }

    /// The fields nobody consumed.
    pub fn into_extra(self) -> Map<String, Value> {
        self.map
    }
}

fn decode<T: DeserializeOwned>(
    field: &'static str,
    value: Value,
    shape: Shape,
) -> Result<T, RowError> {
    let decoded = match value {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| RowError::BadJson {
            field,
            noun: shape.noun,
            message: e.to_string(),
        })?,
        other => other,
    };
    let right_kind = if shape.array {
        decoded.is_array()
    } else {
        decoded.is_object()
    };
    if !right_kind {
        return Err(wrong(field, shape.expected, &decoded));
    }
    serde_json::from_value(decoded).map_err(|e| RowError::Invalid {
        field,
        message: format!("expected {}: {e}", shape.expected),
    })
}
