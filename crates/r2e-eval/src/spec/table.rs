//! SWE-bench's per-repository, per-version specs for its Python repositories,
//! as data.
//!
//! Transcribed from `MAP_REPO_VERSION_TO_SPECS_PY` of the SWE-bench harness
//! (`swebench/harness/constants/python.py`, unchanged in every field that reaches
//! an eval script from release 3.0.0 through 4.1.0 and the 5.x `data_specs`).
//! Covers the twelve repositories of SWE-bench (full, Lite, Verified) and the six
//! more of its dev split. Each repository is one table of entries; an entry lists
//! the versions that share it. `dbt-labs/dbt-core` (no test command) and the
//! `swe-bench/humaneval` placeholder are left out.

use super::Spec;

/// One repository's entries: the versions and the spec they share.
type RepoSpecs = &'static [(&'static [&'static str], Spec)];

/// Every repository with its entries, in SWE-bench's alphabetical order.
pub(super) static REPOS: &[(&str, RepoSpecs)] = &[
    ("astropy/astropy", ASTROPY),
    ("django/django", DJANGO),
    ("marshmallow-code/marshmallow", MARSHMALLOW),
    ("matplotlib/matplotlib", MATPLOTLIB),
    ("mwaskom/seaborn", SEABORN),
    ("pallets/flask", FLASK),
    ("psf/requests", REQUESTS),
    ("pvlib/pvlib-python", PVLIB),
    ("pydata/xarray", XARRAY),
    ("pydicom/pydicom", PYDICOM),
    ("pylint-dev/astroid", ASTROID),
    ("pylint-dev/pylint", PYLINT),
    ("pytest-dev/pytest", PYTEST),
    ("pyvista/pyvista", PYVISTA),
    ("scikit-learn/scikit-learn", SKLEARN),
    ("sphinx-doc/sphinx", SPHINX),
    ("sqlfluff/sqlfluff", SQLFLUFF),
    ("sympy/sympy", SYMPY),
];

// Test commands.
const TEST_PYTEST: &str = "pytest -rA";
const TEST_ASTROPY_PYTEST: &str = "pytest -rA -vv -o console_output_style=classic --tb=no";
const TEST_DJANGO: &str = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1";
const TEST_DJANGO_NO_PARALLEL: &str = "./tests/runtests.py --verbosity 2";
const TEST_SEABORN: &str = "pytest --no-header -rA";
const TEST_SPHINX: &str = "tox --current-env -epy39 -v --";
const TEST_SYMPY: &str =
    "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose";

// Shared values.
const PIP_EDITABLE: &str = "python -m pip install -e .";
const REQUIREMENTS: Option<&str> = Some("requirements.txt");
const ENVIRONMENT_YML: Option<&str> = Some("environment.yml");

/// The defaults every entry starts from (`..BASE`).
const BASE: Spec = Spec {
    python: "3.9",
    packages: None,
    pip_packages: &[],
    pre_install: &[],
    install: PIP_EDITABLE,
    eval_commands: &[],
    test_cmd: TEST_PYTEST,
    no_use_env: false,
    execute_test_as_nonroot: false,
    nano_cpus: None,
};

// ---------------------------------------------------------------- astropy

const ASTROPY_INSTALL: &str = "python -m pip install -e .[test] --verbose";
const ASTROPY_PIN_SETUPTOOLS: &[&str] = &[
    r#"sed -i 's/requires = \["setuptools",/requires = \["setuptools==68.0.0",/' pyproject.toml"#,
];
const ASTROPY_3: Spec = Spec {
    install: ASTROPY_INSTALL,
    pip_packages: &[
        "attrs==23.1.0",
        "exceptiongroup==1.1.3",
        "execnet==2.0.2",
        "hypothesis==6.82.6",
        "iniconfig==2.0.0",
        "numpy==1.25.2",
        "packaging==23.1",
        "pluggy==1.3.0",
        "psutil==5.9.5",
        "pyerfa==2.0.0.3",
        "pytest-arraydiff==0.5.0",
        "pytest-astropy-header==0.2.2",
        "pytest-astropy==0.10.0",
        "pytest-cov==4.1.0",
        "pytest-doctestplus==1.0.0",
        "pytest-filter-subpackage==0.1.2",
        "pytest-mock==3.11.1",
        "pytest-openfiles==0.5.0",
        "pytest-remotedata==0.4.0",
        "pytest-xdist==3.3.1",
        "pytest==7.4.0",
        "PyYAML==6.0.1",
        "setuptools==68.0.0",
        "sortedcontainers==2.4.0",
        "tomli==2.0.1",
    ],
    ..BASE
};
const ASTROPY_4: Spec = Spec {
    pre_install: ASTROPY_PIN_SETUPTOOLS,
    ..ASTROPY_3
};
static ASTROPY: RepoSpecs = &[
    (
        &["0.1", "0.2", "0.3", "0.4", "1.1", "1.2", "1.3"],
        Spec {
            python: "3.6",
            install: ASTROPY_INSTALL,
            packages: Some("setuptools==38.2.4"),
            pip_packages: &[
                "attrs==17.3.0",
                "exceptiongroup==0.0.0a0",
                "execnet==1.5.0",
                "hypothesis==3.44.2",
                "cython==0.27.3",
                "jinja2==2.10",
                "MarkupSafe==1.0",
                "numpy==1.16.0",
                "packaging==16.8",
                "pluggy==0.6.0",
                "psutil==5.4.2",
                "pyerfa==1.7.0",
                "pytest-arraydiff==0.1",
                "pytest-astropy-header==0.1",
                "pytest-astropy==0.2.1",
                "pytest-cov==2.5.1",
                "pytest-doctestplus==0.1.2",
                "pytest-filter-subpackage==0.1",
                "pytest-forked==0.2",
                "pytest-mock==1.6.3",
                "pytest-openfiles==0.2.0",
                "pytest-remotedata==0.2.0",
                "pytest-xdist==1.20.1",
                "pytest==3.3.1",
                "PyYAML==3.12",
                "sortedcontainers==1.5.9",
                "tomli==0.2.0",
            ],
            test_cmd: TEST_ASTROPY_PYTEST,
            ..BASE
        },
    ),
    (&["3.0", "3.1", "3.2"], ASTROPY_3),
    (&["4.1", "4.2", "4.3", "5.0", "5.1", "5.2"], ASTROPY_4),
    (
        &["v5.3"],
        Spec {
            python: "3.10",
            ..ASTROPY_4
        },
    ),
];

// ----------------------------------------------------------------- django

const DJANGO_OLD: Spec = Spec {
    python: "3.5",
    packages: REQUIREMENTS,
    pre_install: &[
        "apt-get update && apt-get install -y locales",
        "echo 'en_US UTF-8' > /etc/locale.gen",
        "locale-gen en_US.UTF-8",
    ],
    install: "python setup.py install",
    pip_packages: &["setuptools"],
    eval_commands: &[
        "export LANG=en_US.UTF-8",
        "export LC_ALL=en_US.UTF-8",
        "export PYTHONIOENCODING=utf8",
        "export LANGUAGE=en_US:en",
    ],
    test_cmd: TEST_DJANGO,
    ..BASE
};
const DJANGO_NEW: Spec = Spec {
    packages: REQUIREMENTS,
    test_cmd: TEST_DJANGO,
    ..BASE
};
static DJANGO: RepoSpecs = &[
    (
        &["1.4", "1.5", "1.6"],
        Spec {
            python: "3.5",
            install: "python setup.py install",
            test_cmd: TEST_DJANGO,
            ..BASE
        },
    ),
    (
        &["1.7", "1.8", "1.10", "1.11", "2.0", "2.1", "2.2"],
        DJANGO_OLD,
    ),
    (
        &["1.9"],
        Spec {
            test_cmd: TEST_DJANGO_NO_PARALLEL,
            ..DJANGO_OLD
        },
    ),
    (
        &["3.0", "3.1", "3.2"],
        Spec {
            python: "3.6",
            eval_commands: &[
                "sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen",
                "export LANG=en_US.UTF-8",
                "export LANGUAGE=en_US:en",
                "export LC_ALL=en_US.UTF-8",
            ],
            ..DJANGO_NEW
        },
    ),
    (
        &["4.0"],
        Spec {
            python: "3.8",
            ..DJANGO_NEW
        },
    ),
    (&["4.1", "4.2"], DJANGO_NEW),
    (
        &["5.0", "5.1", "5.2"],
        Spec {
            python: "3.11",
            ..DJANGO_NEW
        },
    ),
];

// ------------------------------------------------------------ marshmallow

static MARSHMALLOW: RepoSpecs = &[(
    &[
        "2.18", "2.19", "2.20", "3.0", "3.1", "3.2", "3.4", "3.8", "3.9", "3.10", "3.11", "3.12",
        "3.13", "3.15", "3.16", "3.19",
    ],
    Spec {
        install: "python -m pip install -e '.[dev]'",
        ..BASE
    },
)];

// ------------------------------------------------------------- matplotlib

const QHULL_URL: &str = r#"QHULL_URL="http://www.qhull.org/download/qhull-2020-src-8.0.2.tgz""#;
const QHULL_TAR: &str = r#"QHULL_TAR="/tmp/qhull-2020-src-8.0.2.tgz""#;
const QHULL_BUILD_DIR: &str = r#"QHULL_BUILD_DIR="/testbed/build""#;
const QHULL_WGET: &str = r#"wget -O "$QHULL_TAR" "$QHULL_URL""#;
const QHULL_MKDIR: &str = r#"mkdir -p "$QHULL_BUILD_DIR""#;
const QHULL_UNTAR: &str = r#"tar -xvzf "$QHULL_TAR" -C "$QHULL_BUILD_DIR""#;
const MATPLOTLIB_3_5: Spec = Spec {
    python: "3.11",
    packages: ENVIRONMENT_YML,
    pre_install: &[
        "apt-get -y update && apt-get -y upgrade && DEBIAN_FRONTEND=noninteractive apt-get install -y imagemagick ffmpeg texlive texlive-latex-extra texlive-fonts-recommended texlive-xetex texlive-luatex cm-super dvipng",
        QHULL_URL,
        QHULL_TAR,
        QHULL_BUILD_DIR,
        QHULL_WGET,
        QHULL_MKDIR,
        QHULL_UNTAR,
    ],
    pip_packages: &[
        "contourpy==1.1.0",
        "cycler==0.11.0",
        "fonttools==4.42.1",
        "ghostscript",
        "kiwisolver==1.4.5",
        "numpy==1.25.2",
        "packaging==23.1",
        "pillow==10.0.0",
        "pikepdf",
        "pyparsing==3.0.9",
        "python-dateutil==2.8.2",
        "six==1.16.0",
        "setuptools==68.1.2",
        "setuptools-scm==7.1.0",
        "typing-extensions==4.7.1",
    ],
    ..BASE
};
static MATPLOTLIB: RepoSpecs = &[
    (
        &[
            "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "2.0", "2.1", "2.2",
        ],
        Spec {
            python: "3.5",
            install: "python setup.py build; python setup.py install",
            pre_install: &[
                "apt-get -y update && apt-get -y upgrade && && apt-get install -y imagemagick ffmpeg",
            ],
            pip_packages: &["pytest"],
            execute_test_as_nonroot: true,
            ..BASE
        },
    ),
    (
        &["3.0"],
        Spec {
            python: "3.7",
            packages: REQUIREMENTS,
            pre_install: &[
                "apt-get -y update && apt-get -y upgrade && apt-get install -y imagemagick ffmpeg libfreetype6-dev pkg-config",
                QHULL_URL,
                QHULL_TAR,
                QHULL_BUILD_DIR,
                QHULL_WGET,
                QHULL_MKDIR,
                QHULL_UNTAR,
            ],
            pip_packages: &["pytest"],
            ..BASE
        },
    ),
    (
        &["3.1", "3.2", "3.3", "3.4"],
        Spec {
            python: "3.8",
            packages: REQUIREMENTS,
            pre_install: &[
                "apt-get -y update && apt-get -y upgrade && DEBIAN_FRONTEND=noninteractive apt-get install -y imagemagick ffmpeg libfreetype6-dev pkg-config texlive texlive-latex-extra texlive-fonts-recommended texlive-xetex texlive-luatex cm-super",
                QHULL_URL,
                QHULL_TAR,
                QHULL_BUILD_DIR,
                QHULL_WGET,
                QHULL_MKDIR,
                QHULL_UNTAR,
            ],
            pip_packages: &["pytest", "ipython"],
            ..BASE
        },
    ),
    (&["3.5", "3.6", "3.7"], MATPLOTLIB_3_5),
    (
        &["3.8", "3.9"],
        Spec {
            install: r#"python -m pip install --no-build-isolation -e ".[dev]""#,
            ..MATPLOTLIB_3_5
        },
    ),
];

// ---------------------------------------------------------------- seaborn

const SEABORN_0_11: Spec = Spec {
    pip_packages: &[
        "contourpy==1.1.0",
        "cycler==0.11.0",
        "fonttools==4.42.1",
        "importlib-resources==6.0.1",
        "kiwisolver==1.4.5",
        "matplotlib==3.7.2",
        "numpy==1.25.2",
        "packaging==23.1",
        "pandas==1.3.5",
        "pillow==10.0.0",
        "pyparsing==3.0.9",
        "pytest",
        "python-dateutil==2.8.2",
        "pytz==2023.3.post1",
        "scipy==1.11.2",
        "six==1.16.0",
        "tzdata==2023.1",
        "zipp==3.16.2",
    ],
    test_cmd: TEST_SEABORN,
    ..BASE
};
static SEABORN: RepoSpecs = &[
    (&["0.11"], SEABORN_0_11),
    (
        &["0.12", "0.13", "0.14"],
        Spec {
            install: "python -m pip install -e .[dev]",
            pip_packages: &[
                "contourpy==1.1.0",
                "cycler==0.11.0",
                "fonttools==4.42.1",
                "importlib-resources==6.0.1",
                "kiwisolver==1.4.5",
                "matplotlib==3.7.2",
                "numpy==1.25.2",
                "packaging==23.1",
                "pandas==2.0.0",
                "pillow==10.0.0",
                "pyparsing==3.0.9",
                "pytest",
                "python-dateutil==2.8.2",
                "pytz==2023.3.post1",
                "scipy==1.11.2",
                "six==1.16.0",
                "tzdata==2023.1",
                "zipp==3.16.2",
            ],
            ..SEABORN_0_11
        },
    ),
];

// ------------------------------------------------------------------ flask

const FLASK_2_1: Spec = Spec {
    python: "3.10",
    packages: REQUIREMENTS,
    pip_packages: &[
        "setuptools==70.0.0",
        "click==8.1.3",
        "itsdangerous==2.1.2",
        "Jinja2==3.1.2",
        "MarkupSafe==2.1.1",
        "Werkzeug==2.3.7",
    ],
    ..BASE
};
static FLASK: RepoSpecs = &[
    (
        &["2.0"],
        Spec {
            python: "3.9",
            pip_packages: &[
                "setuptools==70.0.0",
                "Werkzeug==2.3.7",
                "Jinja2==3.0.1",
                "itsdangerous==2.1.2",
                "click==8.0.1",
                "MarkupSafe==2.1.3",
            ],
            ..FLASK_2_1
        },
    ),
    (&["2.1"], FLASK_2_1),
    (
        &["2.2", "2.3", "3.0", "3.1"],
        Spec {
            python: "3.11",
            ..FLASK_2_1
        },
    ),
];

// --------------------------------------------------------------- requests

static REQUESTS: RepoSpecs = &[(
    &[
        "0.7", "0.8", "0.9", "0.11", "0.13", "0.14", "1.1", "1.2", "2.0", "2.2", "2.3", "2.4",
        "2.5", "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.17", "2.18", "2.19", "2.22", "2.25",
        "2.26", "2.27", "2.31", "3.0",
    ],
    Spec {
        packages: Some("pytest"),
        install: "python -m pip install .",
        ..BASE
    },
)];

// ------------------------------------------------------------------ pvlib

static PVLIB: RepoSpecs = &[(
    &[
        "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9",
    ],
    Spec {
        install: "python -m pip install -e .[all]",
        packages: Some("pandas scipy"),
        pip_packages: &["jupyter", "ipython", "matplotlib", "pytest", "flake8"],
        ..BASE
    },
)];

// ----------------------------------------------------------------- xarray

static XARRAY: RepoSpecs = &[(
    &[
        "0.12", "0.18", "0.19", "0.20", "2022.03", "2022.06", "2022.09", "2023.07", "2024.05",
    ],
    Spec {
        python: "3.10",
        packages: ENVIRONMENT_YML,
        pip_packages: &[
            "numpy==1.23.0",
            "packaging==23.1",
            "pandas==1.5.3",
            "pytest==7.4.0",
            "python-dateutil==2.8.2",
            "pytz==2023.3",
            "six==1.16.0",
            "scipy==1.11.1",
            "setuptools==68.0.0",
            "dask==2022.8.1",
        ],
        no_use_env: true,
        ..BASE
    },
)];

// ---------------------------------------------------------------- pydicom

const PYDICOM_1_0: Spec = Spec {
    python: "3.6",
    packages: Some("numpy"),
    pip_packages: &["pytest"],
    ..BASE
};
static PYDICOM: RepoSpecs = &[
    (&["1.0", "1.1", "1.2", "1.3"], PYDICOM_1_0),
    (
        &["1.4", "2.0"],
        Spec {
            python: "3.8",
            ..PYDICOM_1_0
        },
    ),
    (
        &["2.1", "2.2"],
        Spec {
            python: "3.9",
            ..PYDICOM_1_0
        },
    ),
    (
        &["2.3"],
        Spec {
            python: "3.10",
            ..PYDICOM_1_0
        },
    ),
    (
        &["2.4", "3.0"],
        Spec {
            python: "3.11",
            ..PYDICOM_1_0
        },
    ),
];

// ---------------------------------------------------------------- astroid

static ASTROID: RepoSpecs = &[(
    &[
        "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.12", "2.13", "2.14", "2.15", "2.16", "3.0",
    ],
    Spec {
        pip_packages: &["pytest"],
        ..BASE
    },
)];

// ----------------------------------------------------------------- pylint

const PYLINT_BASE: Spec = Spec {
    packages: REQUIREMENTS,
    ..BASE
};
/// SWE-bench gives these versions two CPUs (`nano_cpus = 2e9`).
const TWO_CPUS: Option<u64> = Some(2_000_000_000);
static PYLINT: RepoSpecs = &[
    (
        &["2.8"],
        Spec {
            pip_packages: &["pyenchant==3.2"],
            pre_install: &["apt-get update && apt-get install -y libenchant-2-dev hunspell-en-us"],
            ..PYLINT_BASE
        },
    ),
    (&["2.9", "2.10", "2.11", "2.13", "2.16"], PYLINT_BASE),
    (
        &["2.14", "2.15", "2.17"],
        Spec {
            nano_cpus: TWO_CPUS,
            ..PYLINT_BASE
        },
    ),
    (
        &["3.0", "3.1", "3.2", "3.3", "4.0"],
        Spec {
            pip_packages: &["astroid==3.0.0a6", "setuptools"],
            nano_cpus: TWO_CPUS,
            ..PYLINT_BASE
        },
    ),
];

// ----------------------------------------------------------------- pytest

const PYTEST_7_4: Spec = Spec {
    pip_packages: &[
        "iniconfig==2.0.0",
        "packaging==23.1",
        "pluggy==1.3.0",
        "exceptiongroup==1.1.3",
        "tomli==2.0.1",
    ],
    ..BASE
};
const PYTEST_6_2: Spec = Spec {
    pip_packages: &[
        "attrs==23.1.0",
        "iniconfig==2.0.0",
        "packaging==23.1",
        "pluggy==0.13.1",
        "py==1.11.0",
        "toml==0.10.2",
    ],
    ..BASE
};
static PYTEST: RepoSpecs = &[
    (
        &["4.4"],
        Spec {
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.13.1",
                "py==1.11.0",
                "setuptools==68.0.0",
                "six==1.16.0",
            ],
            ..BASE
        },
    ),
    (
        &["4.5"],
        Spec {
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.11.0",
                "py==1.11.0",
                "setuptools==68.0.0",
                "six==1.16.0",
                "wcwidth==0.2.6",
            ],
            ..BASE
        },
    ),
    (
        &["4.6"],
        Spec {
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "six==1.16.0",
                "wcwidth==0.2.6",
            ],
            ..BASE
        },
    ),
    (
        &["5.0", "5.1", "5.2"],
        Spec {
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "wcwidth==0.2.6",
            ],
            ..BASE
        },
    ),
    (
        &["5.3"],
        Spec {
            pip_packages: &[
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "wcwidth==0.2.6",
            ],
            ..BASE
        },
    ),
    (
        &["5.4"],
        Spec {
            pip_packages: &[
                "py==1.11.0",
                "packaging==23.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.13.1",
            ],
            ..BASE
        },
    ),
    (
        &["6.0"],
        Spec {
            pip_packages: &[
                "attrs==23.1.0",
                "iniconfig==2.0.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "toml==0.10.2",
            ],
            ..BASE
        },
    ),
    (&["6.2"], PYTEST_6_2),
    (
        &["6.3"],
        Spec {
            pre_install: &["sed -i 's/>=>=/>=/' setup.cfg"],
            ..PYTEST_6_2
        },
    ),
    (
        &["7.0"],
        Spec {
            pip_packages: &[
                "attrs==23.1.0",
                "iniconfig==2.0.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
            ],
            ..BASE
        },
    ),
    (
        &["7.1", "7.2"],
        Spec {
            pip_packages: &[
                "attrs==23.1.0",
                "iniconfig==2.0.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "tomli==2.0.1",
            ],
            ..BASE
        },
    ),
    (&["7.4", "8.0", "8.1", "8.2", "8.3", "8.4"], PYTEST_7_4),
];

// ---------------------------------------------------------------- pyvista

const PYVISTA_0_20: Spec = Spec {
    pip_packages: &["pytest"],
    ..BASE
};
static PYVISTA: RepoSpecs = &[
    (&["0.20", "0.21", "0.22", "0.23"], PYVISTA_0_20),
    (
        &[
            "0.24", "0.25", "0.26", "0.27", "0.28", "0.29", "0.30", "0.31", "0.32", "0.33", "0.34",
            "0.35", "0.36", "0.37", "0.38", "0.39", "0.40", "0.41", "0.42", "0.43",
        ],
        Spec {
            packages: REQUIREMENTS,
            pre_install: &[
                "apt-get update && apt-get install -y ffmpeg libsm6 libxext6 libxrender1",
            ],
            ..PYVISTA_0_20
        },
    ),
];

// ----------------------------------------------------------- scikit-learn

const SKLEARN_INSTALL: &str = "python -m pip install -v --no-use-pep517 --no-build-isolation -e .";
static SKLEARN: RepoSpecs = &[
    (
        &["0.20", "0.21", "0.22"],
        Spec {
            python: "3.6",
            packages: Some("numpy scipy cython pytest pandas matplotlib"),
            install: SKLEARN_INSTALL,
            pip_packages: &["cython", "numpy==1.19.2", "setuptools", "scipy==1.5.2"],
            ..BASE
        },
    ),
    (
        &["1.3", "1.4", "1.5", "1.6"],
        Spec {
            packages: Some(
                "'numpy==1.19.2' 'scipy==1.5.2' 'cython==3.0.10' pytest 'pandas<2.0.0' 'matplotlib<3.9.0' setuptools pytest joblib threadpoolctl",
            ),
            install: SKLEARN_INSTALL,
            pip_packages: &["cython", "setuptools", "numpy", "scipy"],
            ..BASE
        },
    ),
];

// ----------------------------------------------------------------- sphinx

const SPHINX_TOX_RA: &str = "sed -i 's/pytest/pytest -rA/' tox.ini";
const SPHINX_JINJA2: &str = "sed -i 's/Jinja2>=2.3/Jinja2<3.0/' setup.py";
const SPHINX_APPLEHELP: &str =
    "sed -i 's/sphinxcontrib-applehelp/sphinxcontrib-applehelp<=1.0.7/' setup.py";
const SPHINX_DEVHELP: &str =
    "sed -i 's/sphinxcontrib-devhelp/sphinxcontrib-devhelp<=1.0.5/' setup.py";
const SPHINX_QTHELP: &str = "sed -i 's/sphinxcontrib-qthelp/sphinxcontrib-qthelp<=1.0.6/' setup.py";
const SPHINX_ALABASTER: &str = "sed -i 's/alabaster>=0.7,<0.8/alabaster>=0.7,<0.7.12/' setup.py";
const SPHINX_MARKUPSAFE: &str =
    "sed -i \"s/'packaging',/'packaging', 'markupsafe<=2.0.1',/\" setup.py";
const SPHINX_HTMLHELP: &str =
    "sed -i 's/sphinxcontrib-htmlhelp/sphinxcontrib-htmlhelp<=2.0.4/' setup.py";
const SPHINX_SERIALIZINGHTML: &str =
    "sed -i 's/sphinxcontrib-serializinghtml/sphinxcontrib-serializinghtml<=1.1.9/' setup.py";
const SPHINX_GRAPHVIZ: &str = "apt-get update && apt-get install -y graphviz";
const SPHINX_1_5: Spec = Spec {
    pip_packages: &["tox==4.16.0", "tox-current-env==0.0.11", "Jinja2==3.0.3"],
    install: "python -m pip install -e .[test]",
    pre_install: &[SPHINX_TOX_RA],
    test_cmd: TEST_SPHINX,
    ..BASE
};
const SPHINX_7_2: Spec = Spec {
    pre_install: &[SPHINX_TOX_RA, SPHINX_GRAPHVIZ],
    ..SPHINX_1_5
};
static SPHINX: RepoSpecs = &[
    (
        &[
            "1.5", "1.6", "1.7", "1.8", "2.0", "2.1", "2.2", "2.3", "2.4",
        ],
        SPHINX_1_5,
    ),
    (
        &["3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "4.0"],
        Spec {
            pre_install: &[
                SPHINX_TOX_RA,
                SPHINX_JINJA2,
                SPHINX_APPLEHELP,
                SPHINX_DEVHELP,
                SPHINX_QTHELP,
                SPHINX_ALABASTER,
                SPHINX_MARKUPSAFE,
                SPHINX_HTMLHELP,
                SPHINX_SERIALIZINGHTML,
            ],
            ..SPHINX_1_5
        },
    ),
    (
        &["4.1"],
        Spec {
            pre_install: &[
                SPHINX_TOX_RA,
                SPHINX_JINJA2,
                SPHINX_APPLEHELP,
                SPHINX_DEVHELP,
                SPHINX_QTHELP,
                SPHINX_ALABASTER,
                SPHINX_MARKUPSAFE,
                "grep -q 'sphinxcontrib-htmlhelp>=2.0.0' setup.py && sed -i 's/sphinxcontrib-htmlhelp>=2.0.0/sphinxcontrib-htmlhelp>=2.0.0,<=2.0.4/' setup.py || sed -i 's/sphinxcontrib-htmlhelp/sphinxcontrib-htmlhelp<=2.0.4/' setup.py",
                "grep -q 'sphinxcontrib-serializinghtml>=1.1.5' setup.py && sed -i 's/sphinxcontrib-serializinghtml>=1.1.5/sphinxcontrib-serializinghtml>=1.1.5,<=1.1.9/' setup.py || sed -i 's/sphinxcontrib-serializinghtml/sphinxcontrib-serializinghtml<=1.1.9/' setup.py",
            ],
            ..SPHINX_1_5
        },
    ),
    (
        &["4.2", "4.3", "4.4"],
        Spec {
            pre_install: &[
                SPHINX_TOX_RA,
                SPHINX_JINJA2,
                SPHINX_APPLEHELP,
                SPHINX_DEVHELP,
                SPHINX_QTHELP,
                SPHINX_ALABASTER,
                SPHINX_MARKUPSAFE,
                "sed -i 's/sphinxcontrib-htmlhelp>=2.0.0/sphinxcontrib-htmlhelp>=2.0.0,<=2.0.4/' setup.py",
                "sed -i 's/sphinxcontrib-serializinghtml>=1.1.5/sphinxcontrib-serializinghtml>=1.1.5,<=1.1.9/' setup.py",
            ],
            ..SPHINX_1_5
        },
    ),
    (
        &[
            "4.5", "5.0", "5.1", "5.2", "5.3", "6.0", "6.2", "7.0", "7.1",
        ],
        SPHINX_1_5,
    ),
    (&["7.2", "7.3", "7.4"], SPHINX_7_2),
    (
        &["8.0", "8.1"],
        Spec {
            python: "3.10",
            ..SPHINX_7_2
        },
    ),
];

// --------------------------------------------------------------- sqlfluff

static SQLFLUFF: RepoSpecs = &[(
    &[
        "0.4", "0.5", "0.6", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "1.0", "1.1", "1.2",
        "1.3", "1.4", "2.0", "2.1", "2.2",
    ],
    Spec {
        packages: REQUIREMENTS,
        ..BASE
    },
)];

// ------------------------------------------------------------------ sympy

const SYMPY_0_7: Spec = Spec {
    packages: Some("mpmath flake8"),
    pip_packages: &["mpmath==1.3.0", "flake8-comprehensions"],
    test_cmd: TEST_SYMPY,
    ..BASE
};
static SYMPY: RepoSpecs = &[
    (
        &[
            "0.7", "1.0", "1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10", "1.11",
            "1.12",
        ],
        SYMPY_0_7,
    ),
    (
        &["1.13", "1.14"],
        Spec {
            packages: REQUIREMENTS,
            pip_packages: &["mpmath==1.3.0"],
            ..SYMPY_0_7
        },
    ),
];
