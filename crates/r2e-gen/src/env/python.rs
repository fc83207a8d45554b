//! Which Python to try first for a commit: the versions a `requires-python`
//! specifier allows, ordered by how close their release is to the commit's
//! date (the newest Python already released when the commit was made comes
//! first, then older ones, then newer ones).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Python feature version (`3.11`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PyVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl PyVersion {
    /// `3.11`, `3.9.18` (the micro part is ignored), `Python 3.13.5`.
    pub fn parse(s: &str) -> Option<PyVersion> {
        let s = s.trim().trim_start_matches("Python").trim();
        let mut it = s.split('.');
        let major = it.next()?.trim().parse().ok()?;
        let minor = it
            .next()?
            .trim()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()?;
        Some(PyVersion { major, minor })
    }

    /// The first release's date (Unix seconds), for versions 3.0–3.14.
    pub fn released(self) -> Option<i64> {
        // First releases of CPython 3.x (YYYY-MM-DD), from python.org.
        const DATES: &[(u32, &str)] = &[
            (0, "2008-12-03"),
            (1, "2009-06-27"),
            (2, "2011-02-20"),
            (3, "2012-09-29"),
            (4, "2014-03-16"),
            (5, "2015-09-13"),
            (6, "2016-12-23"),
            (7, "2018-06-27"),
            (8, "2019-10-14"),
            (9, "2020-10-05"),
            (10, "2021-10-04"),
            (11, "2022-10-24"),
            (12, "2023-10-02"),
            (13, "2024-10-07"),
            (14, "2025-10-07"),
        ];
        if self.major != 3 {
            return None;
        }
        let (_, d) = DATES.iter().find(|(m, _)| *m == self.minor)?;
        day_seconds(d)
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Unix seconds of midnight UTC of `YYYY-MM-DD`.
pub fn day_seconds(d: &str) -> Option<i64> {
    let mut it = d.get(..10)?.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let day: i64 = it.next()?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

/// Whether Python `v` satisfies the PEP 440 specifier `spec`
/// (`>=3.7, !=3.8.*, <4`). Clauses are checked against `v.minor.0`, except
/// that `>` and `!=` without a wildcard allow a later micro release, so
/// `>3.7` admits 3.7 (3.7.1 satisfies it) and `<3.8` admits 3.7. An
/// unreadable clause is ignored.
pub fn satisfies(v: PyVersion, spec: &str) -> bool {
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| clause_ok(v, clause))
}

fn clause_ok(v: PyVersion, clause: &str) -> bool {
    let ops = ["~=", "===", "==", "!=", ">=", "<=", ">", "<"];
    let Some(op) = ops.iter().find(|o| clause.starts_with(**o)) else {
        return true;
    };
    let rest = clause[op.len()..].trim();
    let wildcard = rest.ends_with(".*");
    let nums: Vec<u32> = rest
        .trim_end_matches(".*")
        .split('.')
        .map_while(|n| n.parse().ok())
        .collect();
    if nums.is_empty() {
        return true;
    }
    let want = (nums[0], nums.get(1).copied().unwrap_or(0));
    let have = (v.major, v.minor);
    let micro = nums.get(2).copied().unwrap_or(0);
    match *op {
        ">=" => have >= want,
        // A later micro release of the same feature version satisfies `>`.
        ">" => have >= want,
        "<=" => have <= want,
        "<" => have < want || (have == want && micro > 0),
        "==" | "===" if wildcard && nums.len() == 1 => v.major == nums[0],
        "==" | "===" => have == want,
        "!=" if wildcard && nums.len() == 1 => v.major != nums[0],
        "!=" if wildcard => have != want,
        "!=" => true,
        "~=" if nums.len() >= 3 => have == want,
        "~=" => have >= want && v.major == nums[0],
        _ => true,
    }
}

/// Orders `available` Pythons for a commit made at `commit_time` (Unix
/// seconds) whose metadata says `requires_python`: versions the specifier
/// allows first, each group ordered newest-released-before-the-commit first,
/// then older ones newest first, then ones released after the commit oldest
/// first. Versions with an unknown release date count as released long ago.
pub fn order_candidates(
    available: &[PyVersion],
    requires_python: Option<&str>,
    commit_time: i64,
) -> Vec<PyVersion> {
    let mut v: Vec<PyVersion> = available.to_vec();
    v.sort();
    v.dedup();
    let allowed = |p: &PyVersion| requires_python.is_none_or(|s| satisfies(*p, s));
    let rank = |p: &PyVersion| {
        let before = p.released().is_none_or(|r| r <= commit_time);
        // Released before: newest first (negative key); after: oldest first.
        let order = if before {
            -(i64::from(p.minor) + i64::from(p.major) * 100)
        } else {
            i64::from(p.minor) + i64::from(p.major) * 100
        };
        (!allowed(p), !before, order)
    };
    v.sort_by_key(rank);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> PyVersion {
        PyVersion::parse(s).expect("version")
    }

    #[test]
    fn parses_versions() {
        assert_eq!(
            v("3.11"),
            PyVersion {
                major: 3,
                minor: 11
            }
        );
        assert_eq!(v("Python 3.9.18\n"), PyVersion { major: 3, minor: 9 });
        assert_eq!(
            v("3.13.0rc1"),
            PyVersion {
                major: 3,
                minor: 13
            }
        );
        assert!(PyVersion::parse("three").is_none());
        assert_eq!(day_seconds("1970-01-02"), Some(86_400));
        assert_eq!(day_seconds("2021-06-01T12:00:00Z"), Some(1_622_505_600));
    }

    #[test]
    fn specifiers() {
        let ok = |ver: &str, spec: &str| satisfies(v(ver), spec);
        assert!(ok("3.9", ">=3.7"));
        assert!(!ok("3.6", ">=3.7"));
        assert!(ok("3.9", ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"));
        assert!(!ok("3.1", ">=2.7, !=3.0.*, !=3.1.*"));
        assert!(ok("3.11", ">=3.8,<4"));
        assert!(!ok("3.12", "<3.12"));
        assert!(ok("3.11", "<3.12"));
        assert!(ok("3.7", ">3.7"));
        assert!(ok("3.7", ">3.7.5"));
        assert!(!ok("3.6", ">3.7"));
        assert!(ok("3.9", "~=3.8"));
        assert!(!ok("3.9", "~=3.8.1"));
        assert!(ok("3.9", "==3.*"));
        assert!(!ok("3.9", "==2.*"));
        assert!(ok("3.9", "garbage"));
    }

    #[test]
    fn candidates_follow_the_commit_date() {
        let avail = [v("3.9"), v("3.11"), v("3.13")];
        let at = |d: &str| day_seconds(d).expect("date");
        assert_eq!(
            order_candidates(&avail, None, at("2021-06-01")),
            vec![v("3.9"), v("3.11"), v("3.13")]
        );
        assert_eq!(
            order_candidates(&avail, None, at("2026-01-01")),
            vec![v("3.13"), v("3.11"), v("3.9")]
        );
        assert_eq!(
            order_candidates(&avail, None, at("2023-05-01")),
            vec![v("3.11"), v("3.9"), v("3.13")]
        );
        // The specifier wins over the date.
        assert_eq!(
            order_candidates(&avail, Some(">=3.10"), at("2021-06-01")),
            vec![v("3.11"), v("3.13"), v("3.9")]
        );
    }
}
