//! The install script of one try: a virtualenv, the requirements held to
//! the commit's date (build tools, relaxed dependencies and the test harness
//! excepted), the project installed as the try's method says, and the
//! checkout put on the path.

use super::meta::{self, EnvSpec};
use super::types::{Method, PythonImage, RepoOverride, Setup, VENV};
use crate::validate::REPO_DIR;

/// Build constraints tried after a build failure: a setuptools that still has
/// `setuptools.command.test` (removed in 72) and PEP 660 editable installs
/// (64+), and Cython before 3.0's incompatible changes. When that fails too,
/// the build tools are held to the commit's date like everything else (old
/// sdists build with the setuptools of their time) and the project is put on
/// the path instead of being built ([`Method::Path`]).
pub const PIN_STEP: &[&str] = &["setuptools<72", "cython<3"];
/// Build tools that are not held to the commit's date at first: an editable
/// install needs a setuptools with PEP 660 (64+, 2022), and old build
/// backends fail on new Pythons.
pub const BUILD_TOOLS: &[&str] = &["setuptools", "wheel"];

/// The test harness let past the date when the dated pytest cannot run the
/// tests ([`Try::harness`]), with every `pytest-*` plugin the repository asks for.
pub const HARNESS: &[&str] = &[
    "pytest",
    // pytest's own dependencies from 4.5 to 8: held to an old date, they
    // would hold pytest back too (no attrs before 2015: pytest 3.2).
    "pluggy",
    "py",
    "iniconfig",
    "tomli",
    "exceptiongroup",
    "attrs",
    "packaging",
    "more-itertools",
    "atomicwrites",
    "wcwidth",
    "six",
    "importlib-metadata",
    "zipp",
    "colorama",
    "pygments",
    "typing-extensions",
    // pytest-cov loads it at start-up; old releases crash on new Pythons.
    "coverage",
];

/// A try's plan.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Try {
    pub(super) python: PythonImage,
    pub(super) method: Method,
    pub(super) pins: Vec<String>,
    /// Build tools held to the commit's date too.
    pub(super) dated_tools: bool,
    /// Dependencies let past the date.
    pub(super) relaxed: Vec<String>,
    /// The test harness ([`HARNESS`] and `pytest-*` plugins) let past the date.
    pub(super) harness: bool,
    pub(super) added: Vec<String>,
}

impl Try {
    /// What this try sets up, as its [`super::types::Attempt`] and a built
    /// row record it.
    pub(super) fn setup(&self) -> Setup {
        Setup {
            python: self.python.version.to_string(),
            method: Some(self.method),
            pins: self.pins.clone(),
            dated_tools: self.dated_tools,
            relaxed: self.relaxed.clone(),
            harness: self.harness,
            added: self.added.clone(),
        }
    }
}

/// The upload-date limits of an install.
#[derive(Debug, Clone)]
pub(super) struct Cutoffs {
    /// uv's `--exclude-newer`: the set's date.
    pub(super) deps: String,
    /// The limit of [`BUILD_TOOLS`] (the time of the run).
    pub(super) tools: String,
    /// Their limit when held to the date: the set's date, but not before
    /// [`TOOLS_FLOOR`].
    pub(super) dated_tools: String,
}

/// The earliest build tools an install can use: uv builds `setup.py`
/// projects with `setuptools>=40.8.0`, released in February 2019.
pub const TOOLS_FLOOR: &str = "2019-03-01T00:00:00+00:00";

/// The install script of a try, run in `/testbed` at the set's commit.
pub(super) fn install_script(t: &Try, spec: &EnvSpec, ov: &RepoOverride, cut: &Cutoffs) -> String {
    let mut reqs = spec.all_requirements();
    reqs.extend(ov.extra_requires.iter().cloned());
    reqs.extend(t.added.iter().cloned());
    let harness: Vec<String> = if t.harness {
        let plugins = reqs
            .iter()
            .map(|r| meta::requirement_name(r))
            .filter(|n| n.starts_with("pytest-"));
        HARNESS
            .iter()
            .map(|h| h.to_string())
            .chain(plugins)
            .collect()
    } else {
        Vec::new()
    };
    // A repository's own pin of pytest (`pytest==3.0.2`) or a plugin would
    // hold the harness back whatever the date: those are taken by name only.
    // Pins of pytest's dependencies stay: the project may need them.
    if t.harness {
        for r in reqs.iter_mut() {
            let name = meta::requirement_name(r);
            if ["pytest", "pluggy", "py"].contains(&name.as_str()) || name.starts_with("pytest-") {
                *r = name;
            }
        }
    }
    let mut pins: Vec<String> = ov.build_constraints.clone();
    pins.extend(t.pins.iter().cloned());
    let q = r2e_sandbox::shell_quote;
    let managed = if t.python.is_managed() {
        " --managed-python"
    } else {
        ""
    };
    let mut s = format!(
        "set -eu\n\
         export UV_EXCLUDE_NEWER={ex} UV_LINK_MODE=copy UV_CACHE_DIR=${{R2E_UV_CACHE:-/tmp/r2e-uv-cache}} \
         UV_PYTHON_INSTALL_DIR=/opt/r2e-python VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH\n\
         rm -rf {VENV}\n\
         uv venv -q --python {py}{managed} {VENV}\n",
        ex = q(&cut.deps),
        py = q(&t.python.interpreter),
    );
    if let Some(pre) = &ov.pre_install {
        s.push_str(&format!("( {pre} )\n"));
    }
    s.push_str(&format!(
        "printf '%s\\n' {} > /tmp/r2e-env/requirements.txt\n",
        reqs.iter().map(|r| q(r)).collect::<Vec<_>>().join(" ")
    ));
    let mut constraints = String::new();
    if !pins.is_empty() {
        s.push_str(&format!(
            "printf '%s\\n' {} > /tmp/r2e-env/build-constraints.txt\n",
            pins.iter().map(|r| q(r)).collect::<Vec<_>>().join(" ")
        ));
        constraints.push_str(" -b /tmp/r2e-env/build-constraints.txt");
    }
    let tools_cut = if t.dated_tools {
        &cut.dated_tools
    } else {
        &cut.tools
    };
    let tools: String = BUILD_TOOLS
        .iter()
        .map(|b| (*b, tools_cut.as_str()))
        .chain(t.relaxed.iter().map(|r| (r.as_str(), cut.tools.as_str())))
        .chain(harness.iter().map(|h| (h.as_str(), cut.tools.as_str())))
        .map(|(b, when)| format!(" --exclude-newer-package {}", q(&format!("{b}={when}"))))
        .collect();
    let uv = format!("uv pip install{constraints}{tools}");
    match t.method {
        Method::Editable => s.push_str(&format!("{uv} -e . -r /tmp/r2e-env/requirements.txt\n")),
        Method::Path => s.push_str(&format!("{uv} -r /tmp/r2e-env/requirements.txt\n")),
        Method::Custom => s.push_str(&format!(
            "{uv} -r /tmp/r2e-env/requirements.txt\n( {} )\n",
            ov.install.as_deref().unwrap_or("true")
        )),
    }
    // The checkout on the path whatever the method: the set's commits may
    // move the package (`pkg/` → `src/pkg/`) without changing the metadata,
    // and an editable install's finder would still point at the old place.
    // Python adds only the directories that exist when it starts, and before
    // the editable finder, which comes last.
    s.push_str(&format!(
        "site=$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\n\
         printf '%s\\n' {REPO_DIR}/src {REPO_DIR} > \"$site/r2e_testbed.pth\"\n\
         python -c 'import pytest'\nrm -rf /tmp/r2e-uv-cache\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::python::PyVersion;

    #[test]
    fn scripts_pin_the_date_and_the_method() {
        let t = Try {
            python: PythonImage {
                version: PyVersion { major: 3, minor: 9 },
                image: "img".into(),
                interpreter: "/usr/bin/python3".into(),
            },
            method: Method::Path,
            pins: vec!["setuptools<58".into()],
            dated_tools: false,
            relaxed: vec!["markupsafe".into()],
            harness: false,
            added: vec!["PyYAML".into()],
        };
        let spec = EnvSpec {
            requires: vec!["packaging".into()],
            ..Default::default()
        };
        let cut = Cutoffs {
            deps: "2021-06-01T00:00:00+00:00".into(),
            tools: "2026-01-01T00:00:00+00:00".into(),
            dated_tools: "2021-06-01T00:00:00+00:00".into(),
        };
        let s = install_script(&t, &spec, &RepoOverride::default(), &cut);
        assert!(s.contains("UV_EXCLUDE_NEWER=2021-06-01T00:00:00+00:00 "));
        assert!(!s.contains(" -e ."));
        insta::assert_snapshot!(s);
        // The last step of the search holds the build tools to the date too.
        let dated = Try {
            dated_tools: true,
            ..t
        };
        let s = install_script(&dated, &spec, &RepoOverride::default(), &cut);
        assert!(
            s.contains("--exclude-newer-package setuptools=2021-06-01T00:00:00+00:00"),
            "{s}"
        );
        // The harness past the date: the repository's own pins of it are
        // dropped (marshmallow 2016 pins pytest==3.0.2), and pytest's own
        // dependencies go with it (no attrs before 2015 held pytest at 3.2).
        let harness = Try {
            harness: true,
            ..dated
        };
        let pinned = EnvSpec {
            test_requires: vec![
                "pytest==3.0.2".into(),
                "pytest-cov==2.5.1".into(),
                "six==1.10.0".into(),
            ],
            ..spec
        };
        let s = install_script(&harness, &pinned, &RepoOverride::default(), &cut);
        assert!(
            s.contains("printf '%s\\n' packaging pytest pytest-cov six==1.10.0 PyYAML"),
            "{s}"
        );
        for dist in ["pytest", "pytest-cov", "attrs", "pluggy"] {
            assert!(
                s.contains(&format!(
                    "--exclude-newer-package {dist}=2026-01-01T00:00:00+00:00"
                )),
                "{dist}: {s}"
            );
        }
    }
}
