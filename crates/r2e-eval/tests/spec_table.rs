//! The SWE-bench spec table: coverage and the entries that differ from their
//! neighbours.

use r2e_eval::spec::{lookup, specs};
use std::collections::{BTreeMap, BTreeSet};

/// The repositories of SWE-bench (full, Lite, Verified), then those only in its dev split.
const SWE_BENCH_REPOS: [&str; 12] = [
    "astropy/astropy",
    "django/django",
    "matplotlib/matplotlib",
    "mwaskom/seaborn",
    "pallets/flask",
    "psf/requests",
    "pydata/xarray",
    "pylint-dev/pylint",
    "pytest-dev/pytest",
    "scikit-learn/scikit-learn",
    "sphinx-doc/sphinx",
    "sympy/sympy",
];
const DEV_SPLIT_REPOS: [&str; 6] = [
    "marshmallow-code/marshmallow",
    "pvlib/pvlib-python",
    "pydicom/pydicom",
    "pylint-dev/astroid",
    "pyvista/pyvista",
    "sqlfluff/sqlfluff",
];

#[test]
fn covers_every_python_repository_once_per_version() {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut total = 0;
    for (repo, version, _) in specs() {
        assert!(
            versions.entry(repo).or_default().insert(version),
            "{repo} {version} twice"
        );
        total += 1;
    }
    let repos: BTreeSet<&str> = versions.keys().copied().collect();
    let want: BTreeSet<&str> = SWE_BENCH_REPOS.into_iter().chain(DEV_SPLIT_REPOS).collect();
    assert_eq!(repos, want);
    // As many as SWE-bench's MAP_REPO_VERSION_TO_SPECS_PY has for these repositories.
    assert_eq!(total, 282);
    assert_eq!(versions["django/django"].len(), 20);
    assert_eq!(versions["sphinx-doc/sphinx"].len(), 34);
    assert_eq!(versions["psf/requests"].len(), 28);
}

#[test]
fn versions_that_differ_from_their_group() {
    let spec = |repo, version| lookup(repo, version).unwrap_or_else(|| panic!("{repo} {version}"));

    assert_eq!(
        spec("django/django", "1.9").test_cmd,
        "./tests/runtests.py --verbosity 2"
    );
    assert_eq!(
        spec("django/django", "1.10").test_cmd,
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
    );
    assert_eq!(spec("django/django", "3.2").eval_commands.len(), 4);
    assert!(spec("django/django", "4.0").eval_commands.is_empty());
    assert_eq!(spec("django/django", "5.0").python, "3.11");

    assert_eq!(spec("sympy/sympy", "1.12").packages, Some("mpmath flake8"));
    assert_eq!(
        spec("sympy/sympy", "1.13").packages,
        Some("requirements.txt")
    );

    assert_eq!(spec("astropy/astropy", "v5.3").python, "3.10");
    assert_eq!(spec("astropy/astropy", "4.3").pre_install.len(), 1);
    assert!(spec("astropy/astropy", "3.2").pre_install.is_empty());
    assert_eq!(
        spec("astropy/astropy", "0.4").test_cmd,
        "pytest -rA -vv -o console_output_style=classic --tb=no"
    );

    assert_eq!(
        spec("matplotlib/matplotlib", "3.8").install,
        r#"python -m pip install --no-build-isolation -e ".[dev]""#
    );
    assert!(spec("matplotlib/matplotlib", "2.2").execute_test_as_nonroot);

    assert_eq!(spec("sphinx-doc/sphinx", "4.1").pre_install.len(), 9);
    assert!(spec("sphinx-doc/sphinx", "4.1").pre_install[7].starts_with("grep -q"));
    assert_eq!(spec("sphinx-doc/sphinx", "4.5").pre_install.len(), 1);
    assert_eq!(spec("sphinx-doc/sphinx", "8.1").python, "3.10");
    assert!(
        spec("sphinx-doc/sphinx", "7.2")
            .pre_install
            .contains(&"apt-get update && apt-get install -y graphviz")
    );

    assert_eq!(spec("pylint-dev/pylint", "2.13").nano_cpus, None);
    assert_eq!(
        spec("pylint-dev/pylint", "3.0").nano_cpus,
        Some(2_000_000_000)
    );
    assert_eq!(
        spec("pylint-dev/pylint", "3.0").pip_packages,
        ["astroid==3.0.0a6", "setuptools"]
    );
    assert_eq!(
        spec("pytest-dev/pytest", "6.3").pre_install,
        ["sed -i 's/>=>=/>=/' setup.cfg"]
    );
    assert!(spec("pydata/xarray", "2022.06").no_use_env);
    assert_eq!(spec("pydicom/pydicom", "2.3").python, "3.10");

    assert!(lookup("django/django", "9.9").is_none());
    assert!(lookup("dbt-labs/dbt-core", "1.0").is_none());
}
