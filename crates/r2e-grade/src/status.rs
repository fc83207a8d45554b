//! Per-test statuses and the ordered test-name → status map a parser produces.

use hashbrown::{HashTable, hash_table};
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
/// reference picks "the first matching key". Equality ignores the order.
///
/// Built for logs with millions of tests: names are appended to one string
/// (no allocation per test) and looked up through a table of entry indices.
#[derive(Clone, Default)]
pub struct StatusMap {
    /// Every recorded name, concatenated.
    names: String,
    /// One entry per distinct name, in recording order.
    entries: Vec<Entry>,
    /// `(hash, index into entries)`: growing the table and skipping
    /// non-matching names need no visit to `entries`.
    table: HashTable<(u64, usize)>,
    hasher: ahash::RandomState,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Byte range of the name in `names`.
    start: usize,
    end: usize,
    status: TestStatus,
}

impl StatusMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn name_of(&self, e: &Entry) -> &str {
        &self.names[e.start..e.end]
    }

    fn find(&self, name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&(h, i)| {
                h == hash && self.name_of(&self.entries[i]) == name
            })
            .map(|&(_, i)| i)
    }

    /// Records `status` for `name`; a name seen before keeps its position.
    #[inline]
    pub fn record(&mut self, name: &str, status: TestStatus) {
        let hash = self.hasher.hash_one(name);
        let Self {
            names,
            entries,
            table,
            ..
        } = self;
        let found = table.entry(
            hash,
            |&(h, i)| {
                let e = &entries[i];
                h == hash && &names[e.start..e.end] == name
            },
            |&(h, _)| h,
        );
        match found {
            hash_table::Entry::Occupied(slot) => entries[slot.get().1].status = status,
            hash_table::Entry::Vacant(slot) => {
                slot.insert((hash, entries.len()));
                let start = names.len();
                names.push_str(name);
                entries.push(Entry {
                    start,
                    end: names.len(),
                    status,
                });
            }
        }
    }

    /// The status recorded for `name`.
    pub fn get(&self, name: &str) -> Option<&TestStatus> {
        self.find(name).map(|i| &self.entries[i].status)
    }

    /// Number of distinct tests recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no test was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Tests and statuses in recording order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TestStatus)> {
        self.entries.iter().map(|e| (self.name_of(e), &e.status))
    }
}

impl PartialEq for StatusMap {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, s)| other.get(k) == Some(s))
    }
}

impl Eq for StatusMap {}

impl fmt::Debug for StatusMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
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
        assert_eq!(m.get("a"), Some(&TestStatus::Passed));
        assert_eq!(m.get("c"), None);
    }

    #[test]
    fn equality_ignores_order_but_not_content() {
        let ab: StatusMap = [("a", TestStatus::Passed), ("b", TestStatus::Failed)]
            .into_iter()
            .map(|(k, s)| (k.to_owned(), s))
            .collect();
        let ba: StatusMap = [("b", TestStatus::Failed), ("a", TestStatus::Passed)]
            .into_iter()
            .map(|(k, s)| (k.to_owned(), s))
            .collect();
        assert_eq!(ab, ba);
        let mut other = ba.clone();
        other.record("a", TestStatus::Error);
        assert_ne!(ab, other);
        assert_ne!(ab, StatusMap::new());
    }

    #[test]
    fn many_names_survive_table_growth() {
        let mut m = StatusMap::new();
        for i in 0..10_000 {
            m.record(&format!("t.py::test_{i}"), TestStatus::Failed);
        }
        for i in (0..10_000).step_by(2) {
            m.record(&format!("t.py::test_{i}"), TestStatus::Passed);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m.get("t.py::test_9998"), Some(&TestStatus::Passed));
        assert_eq!(m.get("t.py::test_9999"), Some(&TestStatus::Failed));
        assert_eq!(m.iter().nth(1234).map(|(k, _)| k), Some("t.py::test_1234"));
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
