//! Test-log parsers: one per log format used by SWE-bench and R2E-Gym.
//!
//! Each parser turns a log into a [`StatusMap`] exactly as the reference
//! harness's Python parser does (same names, same statuses, later lines
//! overwriting earlier ones), but as byte scans over the log instead of
//! per-line regexes. The SWE-bench parser aliases (`parse_log_flask`,
//! `parse_log_requests`, …) resolve to the same implementations as there.

mod django;
mod pytest;
mod r2egym;
mod sympy;

use crate::{error::GradeError, rules::Rules, status::StatusMap};
use std::{fmt, str::FromStr};

/// A log format, named as on the command line (`--parser NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parser {
    /// `pytest -rA`: lines starting with a status word; the name is the second token
    /// (pytest, flask, xarray, astroid, marshmallow, pvlib, pyvista, sqlfluff).
    Pytest,
    /// As [`Parser::Pytest`], with absolute paths inside `[...]` ids shortened to
    /// their last component (requests, pylint, pydicom).
    PytestOptions,
    /// `pytest -rA` with ANSI colours stripped and old-style `name STATUS` lines
    /// (astropy, scikit-learn, sphinx).
    PytestV2,
    /// As [`Parser::Pytest`], with `MouseButton.LEFT/RIGHT` rewritten to `1/3`.
    Matplotlib,
    /// seaborn's variant: FAILED and PASSED lines only, verbose `name PASSED [ x%]` too.
    Seaborn,
    /// SymPy's `bin/test` runner: `test_x ok|F|E` lines and `____ file.py:test ____` headers.
    Sympy,
    /// Django's `runtests.py --verbosity 2` (unittest verbose lines).
    Django,
    /// R2E-Gym's parser: the `short test summary info` section, names as `Class.test`
    /// (pytest, and unittest through R2E-Gym's pytest-like runner).
    R2eGym,
}

impl Parser {
    /// Every parser, in a stable order.
    pub const ALL: [Parser; 8] = [
        Self::Pytest,
        Self::PytestOptions,
        Self::PytestV2,
        Self::Matplotlib,
        Self::Seaborn,
        Self::Sympy,
        Self::Django,
        Self::R2eGym,
    ];

    /// The canonical name (`pytest_v2`, `django`, `r2e_gym`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pytest => "pytest",
            Self::PytestOptions => "pytest_options",
            Self::PytestV2 => "pytest_v2",
            Self::Matplotlib => "matplotlib",
            Self::Seaborn => "seaborn",
            Self::Sympy => "sympy",
            Self::Django => "django",
            Self::R2eGym => "r2e_gym",
        }
    }

    /// Parses `log` into a new map.
    pub fn parse(self, log: &str, rules: Rules) -> StatusMap {
        let mut map = StatusMap::new();
        self.parse_into(log, rules, &mut map);
        map
    }

    /// Parses `log`, recording into `map` (later records overwrite earlier ones).
    ///
    /// `rules` matters only where SWE-bench 5.x changed a parser (the pytest
    /// family); the others behave the same under both generations.
    pub fn parse_into(self, log: &str, rules: Rules, map: &mut StatusMap) {
        match self {
            Self::Pytest => pytest::parse_plain(log, rules, pytest::Names::AsIs, map),
            Self::PytestOptions => pytest::parse_plain(log, rules, pytest::Names::Options, map),
            Self::Matplotlib => pytest::parse_plain(log, rules, pytest::Names::MouseButton, map),
            Self::PytestV2 => pytest::parse_v2(log, rules, map),
            Self::Seaborn => pytest::parse_seaborn(log, map),
            Self::Sympy => sympy::parse(log, map),
            Self::Django => django::parse(log, map),
            Self::R2eGym => r2egym::parse(log, map),
        }
    }
}

impl fmt::Display for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Parser {
    type Err = GradeError;

    /// Accepts the canonical names, `-` for `_`, and SWE-bench's registry names
    /// (`parse_log_django`, `parse_log_requests`, …) for its Python repos.
    fn from_str(s: &str) -> Result<Self, GradeError> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let key = norm.strip_prefix("parse_log_").unwrap_or(&norm);
        Ok(match key {
            "pytest" | "astroid" | "flask" | "marshmallow" | "pvlib" | "pyvista" | "sqlfluff"
            | "xarray" => Self::Pytest,
            "pytest_options" | "pydicom" | "requests" | "pylint" => Self::PytestOptions,
            "pytest_v2" | "astropy" | "scikit" | "sphinx" => Self::PytestV2,
            "matplotlib" => Self::Matplotlib,
            "seaborn" => Self::Seaborn,
            "sympy" => Self::Sympy,
            "django" => Self::Django,
            "r2e_gym" | "r2egym" => Self::R2eGym,
            _ => return Err(GradeError::UnknownParser(s.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_resolve() {
        for p in Parser::ALL {
            assert_eq!(p.name().parse::<Parser>().unwrap(), p);
        }
        assert_eq!(
            "parse_log_requests".parse::<Parser>().unwrap(),
            Parser::PytestOptions
        );
        assert_eq!(
            "parse_log_sphinx".parse::<Parser>().unwrap(),
            Parser::PytestV2
        );
        assert_eq!("pytest-v2".parse::<Parser>().unwrap(), Parser::PytestV2);
        assert_eq!(
            "parse_log_xarray".parse::<Parser>().unwrap(),
            Parser::Pytest
        );
        assert!("parse_log_jest".parse::<Parser>().is_err());
    }
}
