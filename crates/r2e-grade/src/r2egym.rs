//! R2E-Gym's reward: parsed statuses against the row's `expected_output_json`.
//!
//! Mirrors `_calculate_reward_r2e` of R2E-Gym's Docker runtime: the test
//! output is cleaned (`\x1b[…m` colour codes and `\r` removed), parsed with
//! R2E-Gym's parser, colour codes are stripped from the keys of both maps,
//! each key is cut at its first `" - "` (in sorted key order, so on a clash
//! the greatest original key wins), and the reward is 1 only when both maps
//! have the same tests with the same status each, failures included. (Where
//! the maps have equal sizes but different names R2E-Gym's code raises a
//! `KeyError`; no reward is given either way, so r2e reports 0.)

use crate::{
    json::to_python_json, parse::Parser, rules::Rules, status::StatusMap, text::digit_run,
};
use serde::{Serialize, Serializer, ser::SerializeMap};
use std::{borrow::Cow, collections::BTreeMap};

/// `re.sub(r"\x1b\[[0-9;]*m|\r", "", output)`, as R2E-Gym's `run_tests` does.
pub fn clean_output(log: &str) -> Cow<'_, str> {
    let b = log.as_bytes();
    if !b.iter().any(|&c| c == 0x1b || c == b'\r') {
        return Cow::Borrowed(log);
    }
    let mut out = String::with_capacity(log.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\r' => {
                out.push_str(&log[copied..i]);
                i += 1;
                copied = i;
            }
            0x1b if b.get(i + 1) == Some(&b'[') => {
                let params = b[i + 2..]
                    .iter()
                    .take_while(|&&c| c.is_ascii_digit() || c == b';')
                    .count();
                if b.get(i + 2 + params) == Some(&b'm') {
                    out.push_str(&log[copied..i]);
                    i += params + 3;
                    copied = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&log[copied..]);
    Cow::Owned(out)
}

/// `decolor_dict_keys`' `re.sub(r"\u001b\[\d+m", "", key)`.
fn decolor(key: &str) -> Cow<'_, str> {
    if !key.contains('\x1b') {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(i) = rest.find('\x1b') {
        let tail = &rest[i + 1..];
        let digits = tail.strip_prefix('[').map_or(0, digit_run);
        if digits > 0 && tail[1 + digits..].starts_with('m') {
            out.push_str(&rest[..i]);
            rest = &tail[digits + 2..];
        } else {
            out.push_str(&rest[..=i]);
            rest = tail;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Both normalisation steps, applied to `(key, status)` pairs in the dict's order.
fn normalise<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    // decolor_dict_keys: a later key overwrites an earlier one that decolours the same.
    let mut decoloured: BTreeMap<String, &str> = BTreeMap::new();
    for (k, v) in pairs {
        decoloured.insert(decolor(k).into_owned(), v);
    }
    // `{k.split(" - ")[0]: d[k] for k in sorted(d)}`: BTreeMap iterates sorted.
    let mut out = BTreeMap::new();
    for (k, v) in decoloured {
        let short = k.split_once(" - ").map_or(k.as_str(), |(head, _)| head);
        out.insert(short.to_owned(), v.to_owned());
    }
    out
}

/// One test whose status differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Normalised test name.
    pub test: String,
    /// Status in `expected_output_json`.
    pub expected: String,
    /// Status parsed from the log.
    pub actual: String,
}

/// The comparison behind an R2E-Gym reward.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Tests with the expected status.
    pub matched: Vec<String>,
    /// Tests present in both with different statuses.
    pub mismatched: Vec<Mismatch>,
    /// Expected tests the log does not show, with their expected status.
    pub missing: BTreeMap<String, String>,
    /// Tests the log shows that are not expected, with their parsed status.
    pub unexpected: BTreeMap<String, String>,
}

impl Comparison {
    /// 1.0 when the normalised maps are equal, else 0.0.
    pub fn reward(&self) -> f64 {
        let equal =
            self.mismatched.is_empty() && self.missing.is_empty() && self.unexpected.is_empty();
        if equal { 1.0 } else { 0.0 }
    }
}

/// Compares parsed statuses (in recording order) with `expected_output_json`.
pub fn compare(parsed: &StatusMap, expected: &BTreeMap<String, String>) -> Comparison {
    let parsed = normalise(parsed.iter().map(|(k, s)| (k, s.as_str())));
    let mut expected = normalise(expected.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut cmp = Comparison::default();
    for (test, actual) in parsed {
        match expected.remove(&test) {
            Some(want) if want == actual => cmp.matched.push(test),
            Some(want) => cmp.mismatched.push(Mismatch {
                test,
                expected: want,
                actual,
            }),
            None => {
                cmp.unexpected.insert(test, actual);
            }
        }
    }
    cmp.missing = expected;
    cmp
}

/// A graded R2E-Gym task.
#[derive(Debug, Clone, PartialEq)]
pub struct R2eGymGrade {
    /// The task id (`repo@commit`).
    pub task_id: String,
    /// What R2E-Gym's parser recorded from the cleaned log.
    pub statuses: StatusMap,
    /// Comparison with the expected statuses.
    pub comparison: Comparison,
}

impl R2eGymGrade {
    /// The reward R2E-Gym gives (1.0 or 0.0).
    pub fn reward(&self) -> f64 {
        self.comparison.reward()
    }

    /// The report as JSON, in the same style as SWE-bench's `report.json`:
    /// `{task_id: {"resolved", "reward", "tests_status": {matched, mismatched, missing, unexpected}}}`.
    pub fn to_json(&self) -> String {
        to_python_json(self)
    }
}

impl Serialize for R2eGymGrade {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            resolved: bool,
            reward: f64,
            tests_status: &'a Comparison,
        }
        let mut m = s.serialize_map(Some(1))?;
        let entry = Entry {
            resolved: self.reward() == 1.0,
            reward: self.reward(),
            tests_status: &self.comparison,
        };
        m.serialize_entry(&self.task_id, &entry)?;
        m.end()
    }
}

/// Grades `log` the way R2E-Gym computes its reward, with `parser`
/// ([`Parser::R2eGym`] for every R2E-Gym repository; `rules` matters only
/// when another parser is chosen).
pub fn grade(
    task_id: &str,
    log: &str,
    expected: &BTreeMap<String, String>,
    parser: Parser,
    rules: Rules,
) -> R2eGymGrade {
    let statuses = parser.parse(&clean_output(log), rules);
    let comparison = compare(&statuses, expected);
    R2eGymGrade {
        task_id: task_id.to_owned(),
        statuses,
        comparison,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_matches_the_runtime_regex() {
        assert_eq!(clean_output("a\x1b[1;31mb\x1b[0m\r\n"), "ab\n");
        assert_eq!(clean_output("\x1b[xm \x1b[m"), "\x1b[xm ");
        assert!(matches!(clean_output("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn decolor_only_removes_digit_codes() {
        assert_eq!(decolor("\x1b[32mA\x1b[0m"), "A");
        assert_eq!(decolor("\x1b[1;2mA"), "\x1b[1;2mA");
        assert_eq!(decolor("\x1b\x1b[1m"), "\x1b");
    }
}
