//! Per-test statuses and the ordered test-name → status map a parser produces.

use indexmap::{
    IndexMap,
    map::raw_entry_v1::{RawEntryApiV1, RawEntryMut},
};
use serde::{Serialize, Serializer, ser::SerializeMap};
use std::fmt;

/// The status a log parser recorded for one test.
///
/// The five named statuses are SWE-bench's `TestStatus` values. The reference
/// parsers store whatever word they split off the line, so a line such as
/// `PASSED:` or `foo bar PASSED` can record a status that is none of the five;
/// it is kept verbatim as [`TestStatus::Other`] because it grades differently
/// (neither passing nor failing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TestStatus {
    /// `PASSED`.
    Passed,
    /// `FAILED`.
    Failed,
    /// `SKIPPED`.
    Skipped,
    /// `ERROR`.
    Error,
    /// `XFAIL` (expected failure; grades as passing).
    Xfail,
    /// Any other word a parser split off a status line, verbatim.
    Other(Box<str>),
}

impl TestStatus {
    /// The status for a word as the reference parsers store it.
    pub fn from_word(word: &str) -> Self {
        match word {
            "PASSED" => Self::Passed,
            "FAILED" => Self::Failed,
            "SKIPPED" => Self::Skipped,
            "ERROR" => Self::Error,
            "XFAIL" => Self::Xfail,
            other => Self::Other(other.into()),
        }
    }

    /// The status word as it appears in logs and reports.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Passed => "PASSED",
            Self::Failed => "FAILED",
            Self::Skipped => "SKIPPED",
            Self::Error => "ERROR",
            Self::Xfail => "XFAIL",
            Self::Other(s) => s,
        }
    }

    /// SWE-bench's "passed": `PASSED` or `XFAIL`.
    pub fn is_pass(&self) -> bool {
        matches!(self, Self::Passed | Self::Xfail)
    }

    /// SWE-bench's failing statuses: `FAILED` or `ERROR`.
    pub fn is_fail(&self) -> bool {
        matches!(self, Self::Failed | Self::Error)
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TestStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Test name → status, in the order tests were first recorded.
///
/// Recording a test again overwrites its status but keeps its position, like
/// the Python dicts the reference parsers build; the order matters where the
/// reference picks "the first matching key".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusMap {
    map: IndexMap<String, TestStatus, ahash::RandomState>,
}

impl StatusMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `status` for `name`, allocating only for a name not seen before.
    #[inline]
    pub fn record(&mut self, name: &str, status: TestStatus) {
        // One hash and one probe sequence whether the name is new or not.
        match self.map.raw_entry_mut_v1().from_key(name) {
            RawEntryMut::Occupied(mut slot) => *slot.get_mut() = status,
            RawEntryMut::Vacant(slot) => {
                slot.insert(name.to_owned(), status);
            }
        }
    }

    /// The status recorded for `name`.
    pub fn get(&self, name: &str) -> Option<&TestStatus> {
        self.map.get(name)
    }

    /// Number of distinct tests recorded.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no test was recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Tests and statuses in recording order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TestStatus)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl FromIterator<(String, TestStatus)> for StatusMap {
    fn from_iter<I: IntoIterator<Item = (String, TestStatus)>>(iter: I) -> Self {
        let mut m = Self::new();
        for (k, v) in iter {
            m.record(&k, v);
        }
        m
    }
}

impl Serialize for StatusMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.map.len()))?;
        for (k, v) in &self.map {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerecording_keeps_position_and_takes_last_status() {
        let mut m = StatusMap::new();
        m.record("a", TestStatus::Failed);
        m.record("b", TestStatus::Passed);
        m.record("a", TestStatus::Passed);
        let v: Vec<_> = m.iter().map(|(k, s)| (k, s.as_str())).collect();
        assert_eq!(v, [("a", "PASSED"), ("b", "PASSED")]);
    }

    #[test]
    fn unknown_words_are_kept_verbatim() {
        let s = TestStatus::from_word("PASSED:");
        assert_eq!(s.as_str(), "PASSED:");
        assert!(!s.is_pass() && !s.is_fail());
        assert!(TestStatus::from_word("XFAIL").is_pass());
        assert!(TestStatus::from_word("ERROR").is_fail());
    }
}
