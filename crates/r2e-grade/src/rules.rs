//! Which generation of SWE-bench's grading rules to reproduce, and eval types.
//!
//! SWE-bench changed several grading details in its 5.x harness. Logs graded by
//! the 4.x harness (most published evaluation runs) need the old rules to get
//! the same verdicts; rows made for 5.x (they carry `log_parser`, `eval_type`,
//! `eval_script`) need the new ones. The differences:
//!
//! | detail | [`Rules::V4`] | [`Rules::V5`] |
//! |---|---|---|
//! | `SKIPPED [N] file:line: reason` summary lines | recorded as a test named `[N]` | ignored |
//! | `pytest_v2` names | first token only | all tokens (ids with spaces survive) |
//! | `pytest_v2` `FAILED … - message` | `" - "` replaced by a space | cut at the first `" - "` |
//! | nothing parsed between the markers | no fallback (see `whole_log_fallback`) | reparse the whole log |
//! | nothing parsed at all, no sign a suite ran | graded (all expected tests missing) | "patch not applied" |
//! | `>>>>> Test Exit Code: N` non-zero, no FAILED/ERROR | ignored | "patch not applied" (spoofed log) |
//! | SKIPPED F2P test | in neither list | failure |
//! | SKIPPED P2P test | in neither list | success ("maintained") |
//! | expected id truncated mid-`[` | exact match only | prefix match when all candidates agree |
//! | report keys | no `infra_failure` | `infra_failure` (+ `infra_failure_reason`) |

use crate::error::GradeError;
use std::{fmt, str::FromStr};

/// A generation of SWE-bench's grading rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rules {
    /// swebench 4.x (`6298cee`, the rules of most published logs).
    V4,
    /// swebench 5.x (5.0.2).
    V5,
}

impl Rules {
    /// Short name used on the command line: `v4` or `v5`.
    pub fn name(self) -> &'static str {
        match self {
            Self::V4 => "v4",
            Self::V5 => "v5",
        }
    }
}

impl fmt::Display for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Rules {
    type Err = GradeError;

    fn from_str(s: &str) -> Result<Self, GradeError> {
        match s.to_ascii_lowercase().as_str() {
            "v4" | "4" => Ok(Self::V4),
            "v5" | "5" => Ok(Self::V5),
            _ => Err(GradeError::UnknownRules(s.to_owned())),
        }
    }
}

/// How expected tests are judged (SWE-bench `EvalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalType {
    /// `pass_and_fail`: a test succeeds when it passed, fails when it failed or is missing.
    PassAndFail,
    /// `fail_only`: a test fails only when recorded as FAILED; anything else succeeds.
    FailOnly,
}

impl EvalType {
    /// The name used in SWE-bench rows: `pass_and_fail` or `fail_only`.
    pub fn name(self) -> &'static str {
        match self {
            Self::PassAndFail => "pass_and_fail",
            Self::FailOnly => "fail_only",
        }
    }
}

impl FromStr for EvalType {
    type Err = GradeError;

    fn from_str(s: &str) -> Result<Self, GradeError> {
        match s {
            "pass_and_fail" => Ok(Self::PassAndFail),
            "fail_only" => Ok(Self::FailOnly),
            _ => Err(GradeError::UnknownEvalType(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [Rules::V4, Rules::V5] {
            assert_eq!(r.name().parse::<Rules>().unwrap(), r);
        }
        for e in [EvalType::PassAndFail, EvalType::FailOnly] {
            assert_eq!(e.name().parse::<EvalType>().unwrap(), e);
        }
        assert!("v6".parse::<Rules>().is_err());
        assert!("PASS_AND_FAIL".parse::<EvalType>().is_err());
    }
}
