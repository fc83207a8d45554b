//! Which parser, eval type and rule generation a task gets.
//!
//! SWE-bench 4.x chooses the parser by repository (`MAP_REPO_TO_PARSER_PY`);
//! no Python repository's parser depends on its version there. SWE-bench 5.x
//! rows name their parser (`log_parser`) and eval type (`eval_type`)
//! themselves, and those win. R2E-Gym uses one parser for all its repositories
//! (its `parse_log_fn` maps each of them to `parse_log_pytest`).

use crate::{
    error::GradeError,
    parse::Parser,
    rules::{EvalType, Rules},
};
use r2e_core::{Grading, Task};

/// SWE-bench's parser per repository (`MAP_REPO_TO_PARSER_PY`).
const SWEBENCH_PARSERS: [(&str, Parser); 18] = [
    ("astropy/astropy", Parser::PytestV2),
    ("django/django", Parser::Django),
    ("marshmallow-code/marshmallow", Parser::Pytest),
    ("matplotlib/matplotlib", Parser::Matplotlib),
    ("mwaskom/seaborn", Parser::Seaborn),
    ("pallets/flask", Parser::Pytest),
    ("psf/requests", Parser::PytestOptions),
    ("pvlib/pvlib-python", Parser::Pytest),
    ("pydata/xarray", Parser::Pytest),
    ("pydicom/pydicom", Parser::PytestOptions),
    ("pylint-dev/astroid", Parser::Pytest),
    ("pylint-dev/pylint", Parser::PytestOptions),
    ("pytest-dev/pytest", Parser::Pytest),
    ("pyvista/pyvista", Parser::Pytest),
    ("scikit-learn/scikit-learn", Parser::PytestV2),
    ("sqlfluff/sqlfluff", Parser::Pytest),
    ("sphinx-doc/sphinx", Parser::PytestV2),
    ("sympy/sympy", Parser::Sympy),
];

/// Repositories SWE-bench grades `fail_only` when the row does not say (`FAIL_ONLY_REPOS`).
const FAIL_ONLY_REPOS: [&str; 6] = [
    "chartjs/Chart.js",
    "processing/p5.js",
    "markedjs/marked",
    "bpmn-io/bpmn-js",
    "openlayers/openlayers",
    "eslint/eslint",
];

/// Fields only SWE-bench 5.x rows carry.
const V5_FIELDS: [&str; 3] = ["log_parser", "eval_type", "eval_script"];

/// SWE-bench's parser for a repository (`owner/name`).
pub fn swebench_parser(repo: &str) -> Option<Parser> {
    SWEBENCH_PARSERS
        .iter()
        .find(|(r, _)| *r == repo)
        .map(|&(_, p)| p)
}

/// A string field of the row that the task model keeps in `extra`.
fn extra_str<'a>(task: &'a Task, key: &str) -> Option<&'a str> {
    task.extra
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// The parser for a task: the row's `log_parser` (5.x), else the repository's
/// (SWE-bench), or R2E-Gym's parser for R2E-Gym rows.
pub fn parser_for(task: &Task) -> Result<Parser, GradeError> {
    if task.source.grading() == Grading::R2eGym {
        return Ok(Parser::R2eGym);
    }
    if let Some(name) = extra_str(task, "log_parser") {
        return name.parse();
    }
    swebench_parser(&task.repo).ok_or_else(|| GradeError::NoParserForRepo {
        repo: task.repo.clone(),
    })
}

/// The eval type: the row's `eval_type` (5.x), else `fail_only` for SWE-bench's
/// fail-only repositories, else `pass_and_fail`.
pub fn eval_type_for(task: &Task) -> Result<EvalType, GradeError> {
    match extra_str(task, "eval_type") {
        Some(name) => name.parse(),
        None if FAIL_ONLY_REPOS.contains(&task.repo.as_str()) => Ok(EvalType::FailOnly),
        None => Ok(EvalType::PassAndFail),
    }
}

/// The rule generation matching the row's shape: 5.x rows (with `log_parser`,
/// `eval_type` or `eval_script`) get [`Rules::V5`], older rows [`Rules::V4`],
/// the rules their published reports were made with.
pub fn rules_for(task: &Task) -> Rules {
    if V5_FIELDS.iter().any(|k| task.extra.contains_key(*k)) {
        Rules::V5
    } else {
        Rules::V4
    }
}
