//! Synthetic test logs of real shape, with the statuses a parser must find.
//!
//! Used by `r2e bench grade` to measure parser throughput on logs of any size
//! and by the tests as a round-trip check. The generators are deterministic
//! (a fixed linear congruential sequence), so a given size always yields the
//! same log.

use crate::status::{StatusMap, TestStatus};
use std::fmt::Write;

/// A generated log and what the matching parser must record from it.
#[derive(Debug, Clone)]
pub struct SynthLog {
    /// The log text.
    pub text: String,
    /// Test → status the parser must record, in first-recorded order.
    pub expected: StatusMap,
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A `pytest -rA` log of about `target_bytes`: session header, progress lines,
/// a FAILURES section with tracebacks, captured output, and the short test
/// summary (`PASSED`/`FAILED … - message`/`ERROR`/`XFAIL`/`SKIPPED [N]`),
/// including parametrised ids with brackets (and, in names the plain parser
/// cuts at the first space, spaces). Expected statuses follow
/// [`crate::Parser::Pytest`] under [`crate::Rules::V5`].
pub fn pytest_log(target_bytes: usize) -> SynthLog {
    let mut rng = Lcg(0x5eed);
    let mut text = String::with_capacity(target_bytes + 4096);
    let mut expected = StatusMap::new();
    text.push_str(
        "============================= test session starts ==============================\n\
         platform linux -- Python 3.11.9, pytest-8.2.0, pluggy-1.5.0\n\
         rootdir: /testbed\nconfigfile: pyproject.toml\ncollected many items\n\n",
    );
    let mut summary = String::new();
    let mut module = 0;
    while text.len() + summary.len() < target_bytes {
        module += 1;
        let file = format!("tests/pkg_{}/test_mod_{module}.py", module % 17);
        let _ = writeln!(
            text,
            "{file} ....F..s..x.....E..........               [ {}%]",
            module % 100
        );
        for case in 0..40 {
            let (id, key) = match rng.below(4) {
                0 => {
                    let id = format!(
                        "{file}::TestClass{}::test_case_{case}[param-{}]",
                        case % 3,
                        rng.below(1000)
                    );
                    (id.clone(), id)
                }
                1 => {
                    // An id with spaces: the plain parser keeps the first token only.
                    let id = format!("{file}::test_expr[a + b-{case}]");
                    let key = format!("{file}::test_expr[a");
                    (id, key)
                }
                _ => {
                    let id = format!("{file}::test_function_number_{case}");
                    (id.clone(), id)
                }
            };
            let status = match rng.below(20) {
                0 => TestStatus::Failed,
                1 => TestStatus::Error,
                2 => TestStatus::Xfail,
                _ => TestStatus::Passed,
            };
            match status {
                TestStatus::Failed => {
                    let _ = write!(
                        text,
                        "________________________________ {id} ________________________________\n\n\
                         \x20   def test_it():\n>       assert compute({case}) == {}\nE       AssertionError: assert {case} == 0\n\n\
                         {file}:{}: AssertionError\n",
                        case + 1,
                        case * 3 + 10
                    );
                    let _ = writeln!(summary, "FAILED {id} - AssertionError: assert {case} == 0");
                }
                TestStatus::Error => {
                    let _ = writeln!(summary, "ERROR {id} - RuntimeError: fixture failed");
                }
                TestStatus::Xfail => {
                    let _ = writeln!(summary, "XFAIL {id} - reason: known bug");
                }
                _ => {
                    let _ = writeln!(summary, "PASSED {id}");
                }
            }
            expected.record(&key, status);
        }
        if rng.below(4) == 0 {
            let _ = writeln!(summary, "SKIPPED [2] {file}:12: requires network");
        }
        text.push_str("----------------------------- Captured stdout call -----------------------------\nsome output\n");
    }
    text.push_str(
        "=========================== short test summary info ============================\n",
    );
    text.push_str(&summary);
    text.push_str(
        "============ 123 failed, 4567 passed, 8 skipped, 9 xfailed in 12.34s ============\n",
    );
    SynthLog { text, expected }
}

/// A Django `runtests.py --verbosity 2` log of about `target_bytes`: one
/// `test_x (app.tests.Class) ... ok` line per test, tests whose docstring
/// puts the description on its own line, `skipped`, `FAIL`, `ERROR`, tests
/// whose output lands between `...` and `ok`, and the failure details.
/// Expected statuses follow [`crate::Parser::Django`].
pub fn django_log(target_bytes: usize) -> SynthLog {
    let mut rng = Lcg(0xd1a90);
    let mut text = String::with_capacity(target_bytes + 4096);
    let mut expected = StatusMap::new();
    let mut details = String::new();
    text.push_str(
        "Testing against Django installed in '/testbed/django'\nImporting application app\n\
         Operations to perform:\n  Synchronize unmigrated apps: app\nRunning migrations:\n  No migrations to apply.\n\
         System check identified no issues (0 silenced).\n",
    );
    let mut n = 0u64;
    while text.len() + details.len() < target_bytes {
        n += 1;
        let name = format!(
            "test_feature_{n} (app_{}.tests.Case{}Tests)",
            n % 97,
            n % 13
        );
        match rng.below(16) {
            0 => {
                let _ = writeln!(text, "{name} ... FAIL");
                let _ = write!(
                    details,
                    "======================================================================\n\
                     FAIL: {name}\n----------------------------------------------------------------------\n\
                     Traceback (most recent call last):\n  File \"/testbed/tests/app/tests.py\", line {n}, in test_feature_{n}\n\
                     \x20   self.assertEqual(a, b)\nAssertionError: 1 != 2\n\n"
                );
                // `FAIL: name (...)` records the bare method name as FAILED too.
                expected.record(&name, TestStatus::Failed);
                expected.record(&format!("test_feature_{n}"), TestStatus::Failed);
            }
            1 => {
                let _ = writeln!(text, "{name} ... skipped 'Database has no feature'");
                expected.record(&name, TestStatus::Skipped);
            }
            2 => {
                let _ = writeln!(
                    text,
                    "{name}\nCheck that the feature works with a docstring. ... ok"
                );
                expected.record(
                    "Check that the feature works with a docstring.",
                    TestStatus::Passed,
                );
            }
            3 => {
                let _ = writeln!(
                    text,
                    "{name} ... Some output printed by the test\nmore output\nok"
                );
                expected.record(&name, TestStatus::Passed);
            }
            4 => {
                let _ = writeln!(text, "{name} ... ERROR");
                let _ = write!(
                    details,
                    "======================================================================\n\
                     ERROR: {name}\n----------------------------------------------------------------------\n\
                     Traceback (most recent call last):\n  File \"/testbed/django/db/utils.py\", line 89, in __exit__\n\
                     django.db.utils.OperationalError: no such table: app_thing\n\n"
                );
                expected.record(&name, TestStatus::Error);
                expected.record(&format!("test_feature_{n}"), TestStatus::Error);
            }
            _ => {
                let _ = writeln!(text, "{name} ... ok");
                expected.record(&name, TestStatus::Passed);
            }
        }
    }
    text.push_str(&details);
    text.push_str("----------------------------------------------------------------------\nRan 1234 tests in 5.678s\n\nFAILED (failures=12, skipped=34)\n");
    SynthLog { text, expected }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Parser, Rules};

    #[test]
    fn pytest_log_round_trips() {
        let log = pytest_log(200_000);
        assert!(log.text.len() >= 200_000);
        assert_eq!(Parser::Pytest.parse(&log.text, Rules::V5), log.expected);
    }

    #[test]
    fn django_log_round_trips() {
        let log = django_log(200_000);
        assert!(log.text.len() >= 200_000);
        assert_eq!(Parser::Django.parse(&log.text, Rules::V5), log.expected);
    }
}
