//! The search for one dependency set's environment: the Pythons in order,
//! each try run in a fresh sandbox, and the next try chosen from how the last
//! one failed (see the module docs of [`crate::env`] for the steps).

use super::build::Set;
use super::failure::{
    Failed, collection_failed, distribution_for, import_failure, install_error, tail,
};
use super::install::{Cutoffs, PIN_STEP, Try, install_script};
use super::python::{PyVersion, order_candidates};
#[cfg(test)]
use super::types::Setup;
use super::types::{Attempt, EnvOptions, Method, PythonImage, RepoOverride, VENV};
use crate::error::Result;
use crate::model::MinedCommit;
use crate::validate::{
    LEGACY_SETUP_CFG, REPO_DIR, RepoArchive, test_modules, without_legacy_config,
};
use r2e_sandbox::docker::DockerProvider;
use r2e_sandbox::{ExecOptions, Sandbox, SandboxSpec};
use std::collections::BTreeSet;
use std::time::Instant;

/// Where a try sees the host's shared uv cache ([`EnvOptions::uv_cache`]).
const SHARED_UV_CACHE: &str = "/r2e-cache/uv";

/// The oldest pytest whose `-rA` summary lists passing tests (4.5, May 2019;
/// checked against 4.4.0 and 4.5.0).
const MIN_PYTEST: (u32, u32) = (4, 5);

/// Dependencies let past the date, at most.
const MAX_RELAXED: usize = 3;
/// Modules added to an environment automatically, at most.
const MAX_ADDED: usize = 3;

/// Runs one try in a fresh sandbox; on success the sandbox is returned, ready
/// to be saved.
async fn run_try(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    t: &Try,
    ov: &RepoOverride,
    cut: &Cutoffs,
    opts: &EnvOptions,
) -> (Attempt, Option<r2e_sandbox::docker::DockerSandbox>) {
    let start = Instant::now();
    let mut attempt = Attempt {
        setup: t.setup(),
        error: None,
        failed_package: None,
        secs: 0.0,
    };
    let result = async {
        let mut spec = SandboxSpec::new(&t.python.image);
        spec.network = true;
        spec.limits = opts.limits;
        let shared_cache = opts
            .uv_cache
            .as_ref()
            .filter(|_| provider.shares_host_paths());
        if let Some(host) = shared_cache {
            spec.caches
                .push((host.clone(), SHARED_UV_CACHE.to_string()));
        }
        let sb = provider.start_docker(&spec).await?;
        let r: Result<std::result::Result<(), Failed>> = async {
            archive.copy_into(&sb).await?;
            let rep = &set.commits[0];
            let script = install_script(t, &set.spec, ov, cut);
            sb.write_file("/tmp/r2e-env/install.sh", script.as_bytes(), None)
                .await?;
            let cwd = ExecOptions {
                cwd: Some(REPO_DIR.into()),
                ..Default::default()
            };
            let co = sb
                .exec(
                    &format!("git checkout -q -f {}", r2e_sandbox::shell_quote(&rep.hash)),
                    &cwd,
                )
                .await?;
            if !co.success() {
                return Ok(Err(format!(
                    "failed: checkout: {}",
                    co.stderr_text().trim()
                )
                .into()));
            }
            let run = ExecOptions {
                timeout: Some(std::time::Duration::from_secs_f64(
                    opts.install_timeout_secs,
                )),
                // Only the install uses the shared cache; nothing of it is
                // saved into the image.
                env: shared_cache
                    .map(|_| ("R2E_UV_CACHE".to_string(), SHARED_UV_CACHE.to_string()))
                    .into_iter()
                    .chain(opts.uv_env.iter().cloned())
                    .collect(),
                ..cwd.clone()
            };
            let out = sb.exec("bash /tmp/r2e-env/install.sh", &run).await?;
            if !out.success() {
                let log = format!("{}\n{}", out.stdout_text(), out.stderr_text());
                return Ok(Err(install_error(&log, out.timed_out).into()));
            }
            // An environment is built only when the package imports: the
            // commit's test modules collect, or without any, its packages
            // import.
            if let Some(failed) = import_check(&sb, rep, t.harness).await? {
                return Ok(Err(failed));
            }
            // Validation reads `pytest -rA`'s per-test summary, which lists
            // passing tests from pytest 4.5 on.
            let version = sb
                .exec(
                    &format!("{VENV}/bin/python -c 'import pytest; print(pytest.__version__)'"),
                    &cwd,
                )
                .await?;
            let text = version.stdout_text();
            let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
            let found = (parts.next().flatten(), parts.next().flatten());
            if let (Some(major), Some(minor)) = found
                && (major, minor) < MIN_PYTEST
            {
                return Ok(Err(format!(
                    "pytest_too_old: pytest {} does not list passing tests under -rA{}",
                    version.stdout_text().trim(),
                    if t.harness {
                        ", even with the test harness let past the date"
                    } else {
                        ""
                    }
                )
                .into()));
            }
            let clean = format!(
                "git checkout -q -f {} && git clean -fdq && rm -rf /tmp/r2e-env /root/.cache",
                r2e_sandbox::shell_quote(&rep.hash)
            );
            let out = sb.exec(&clean, &cwd).await?;
            if !out.success() {
                return Ok(Err(format!(
                    "failed: cleanup: {}",
                    out.stderr_text().trim()
                )
                .into()));
            }
            Ok(Ok(()))
        }
        .await;
        match r {
            Ok(Ok(())) => Ok((None, Some(sb))),
            Ok(Err(e)) => {
                let _ = sb.close().await;
                Ok((Some(e), None))
            }
            Err(e) => {
                let _ = sb.close().await;
                Err(e)
            }
        }
    }
    .await;
    attempt.secs = start.elapsed().as_secs_f64();
    match result {
        Ok((err, sb)) => {
            if let Some(f) = err {
                attempt.failed_package = f.package;
                attempt.error = Some(match f.error.split_once(": ") {
                    Some((label, log)) => format!("{label}: {}", tail(log)),
                    None => f.error,
                });
            }
            (attempt, sb)
        }
        Err(e) => {
            attempt.error = Some(format!("sandbox: {e}"));
            (attempt, None)
        }
    }
}

/// Whether the environment in `sb` imports the package at commit `rep`: its
/// test modules collect under pytest (rerun without the configuration files
/// when a `[pytest]` section of `setup.cfg` stops pytest), or, when it has
/// none, `python3 -c 'import PKG'` works for every package the checkout
/// provides ([`own_packages`]). `None` when it does, else the failure
/// ([`import_failure`]).
async fn import_check(
    sb: &r2e_sandbox::docker::DockerSandbox,
    rep: &MinedCommit,
    harness: bool,
) -> Result<Option<Failed>> {
    let cwd = ExecOptions {
        cwd: Some(REPO_DIR.into()),
        env: vec![(
            "PATH".into(),
            format!("{VENV}/bin:/usr/local/bin:/usr/bin:/bin"),
        )],
        ..Default::default()
    };
    let listing = sb.exec("git ls-files", &cwd).await?;
    let listing = listing.stdout_text();
    let files: Vec<&str> = listing.lines().collect();
    let own = own_modules(&files);
    let tests = test_modules(rep);
    if tests.is_empty() {
        let packages = own_packages(&files);
        if packages.is_empty() {
            return Ok(None);
        }
        let imports: Vec<String> = packages.iter().map(|p| format!("import {p}")).collect();
        let cmd = format!(
            "python3 -c {} 2>&1",
            r2e_sandbox::shell_quote(&imports.join("; "))
        );
        let out = sb.exec(&cmd, &cwd).await?;
        return Ok((!out.success())
            .then(|| import_failure(&out.stdout_text(), &own, "package_import_fails", harness)));
    }
    let quoted: Vec<String> = tests.iter().map(|f| r2e_sandbox::shell_quote(f)).collect();
    let collect = format!(
        "python3 -m pytest --collect-only -q -p no:cacheprovider {} 2>&1",
        quoted.join(" ")
    );
    let mut out = sb.exec(&collect, &cwd).await?;
    if out.stdout_text().contains(LEGACY_SETUP_CFG) {
        out = sb.exec(&without_legacy_config(&collect), &cwd).await?;
    }
    let text = out.stdout_text();
    Ok(collection_failed(&text, out.exit_code)
        .then(|| import_failure(&text, &own, "collection_fails", harness)))
}

/// Where a checkout keeps its top-level modules: the root, or `src/`.
fn top_level(path: &str) -> &str {
    path.strip_prefix("src/").unwrap_or(path)
}

/// The names a checkout's own code can be imported by (the top-level
/// directories and `.py` modules at the root and in `src/`): a missing
/// module of these is not a distribution to add.
fn own_modules(files: &[&str]) -> BTreeSet<String> {
    files
        .iter()
        .map(|f| top_level(f))
        .filter_map(|f| match f.split_once('/') {
            Some((dir, _)) => Some(dir),
            None => f.strip_suffix(".py"),
        })
        .map(str::to_string)
        .collect()
}

/// The packages a checkout provides, to import when it has no test modules:
/// the directories with an `__init__.py` at the root or in `src/` (not
/// tests, docs or examples), else its single-file modules (not `setup.py`,
/// `conftest.py`, task runners or tests).
fn own_packages(files: &[&str]) -> Vec<String> {
    const NOT_PACKAGES: &[&str] = &[
        "tests",
        "test",
        "testing",
        "docs",
        "doc",
        "examples",
        "example",
        "benchmarks",
        "bench",
        "scripts",
        "tools",
        "ci",
    ];
    const NOT_MODULES: &[&str] = &[
        "setup",
        "conftest",
        "noxfile",
        "fabfile",
        "tasks",
        "manage",
        "ez_setup",
        "distribute_setup",
        "versioneer",
        "runtests",
        "run_tests",
        "bootstrap",
        "test",
        "tests",
    ];
    let name = |n: &str| {
        !n.is_empty()
            && !n.starts_with(|c: char| c.is_ascii_digit())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut packages: Vec<String> = files
        .iter()
        .filter_map(|f| top_level(f).strip_suffix("/__init__.py"))
        .filter(|d| name(d) && !NOT_PACKAGES.contains(d))
        .map(str::to_string)
        .collect();
    if packages.is_empty() {
        packages = files
            .iter()
            .filter_map(|f| top_level(f).strip_suffix(".py"))
            .filter(|m| name(m) && !NOT_MODULES.contains(m))
            .filter(|m| !m.starts_with("test_") && !m.ends_with("_test"))
            .map(str::to_string)
            .collect();
    }
    packages.sort();
    packages.dedup();
    packages
}

/// The Pythons to try for a set, in order.
fn pythons_for(set: &Set<'_>, ov: &RepoOverride, opts: &EnvOptions) -> Vec<PythonImage> {
    if !ov.python.is_empty() {
        return ov
            .python
            .iter()
            .filter_map(|v| PyVersion::parse(v))
            .filter_map(|v| opts.pythons.iter().find(|p| p.version == v).cloned())
            .collect();
    }
    let versions: Vec<PyVersion> = opts.pythons.iter().map(|p| p.version).collect();
    let order = order_candidates(
        &versions,
        set.spec.requires_python.as_deref(),
        set.commits[0].commit_time,
    );
    order
        .into_iter()
        .filter_map(|v| opts.pythons.iter().find(|p| p.version == v).cloned())
        .collect()
}

/// The next try with the same Python after `t` failed as `a` says, or `None`
/// to move on to the next Python (see the module docs for the steps).
fn next_try(t: &Try, a: &Attempt) -> Option<Try> {
    let mut n = t.clone();
    let fresh = t.pins.is_empty() && !t.dated_tools && t.relaxed.is_empty();
    let to_path = |n: &mut Try| {
        if n.method == Method::Editable {
            n.method = Method::Path;
        }
    };
    match a.label()? {
        "missing_module" if t.added.len() < MAX_ADDED => {
            let error = a.error.as_deref().unwrap_or_default();
            let dist = distribution_for(error.trim_start_matches("missing_module:").trim());
            if t.added.contains(&dist) {
                return None;
            }
            n.added.push(dist);
        }
        "build" | "project_build" if fresh => {
            n.pins = PIN_STEP.iter().map(|p| p.to_string()).collect();
        }
        "build" | "project_build" | "no_editable" if !t.dated_tools && t.relaxed.is_empty() => {
            n.dated_tools = true;
            n.pins.clear();
            to_path(&mut n);
        }
        // An old sdist that builds with no setuptools this Python runs, or a
        // dependency with no release before the date (deleted and re-uploaded,
        // like atomicwrites in 2022): take that dependency's newest release.
        "build" | "resolution" => {
            let p = a.failed_package.clone()?;
            if t.relaxed.contains(&p) || t.relaxed.len() >= MAX_RELAXED {
                return None;
            }
            n.relaxed.push(p);
            n.dated_tools = false;
            to_path(&mut n);
        }
        // The package or its tests do not import because of an installed
        // dependency (a name it lacks, an attribute its dated release does
        // not have on this Python): let that dependency past the date, as
        // for one that does not build. Anything else (the repository's own
        // code failing, or a dependency already let past) moves on to the
        // next Python.
        "collection_fails" | "package_import_fails" => {
            let p = a.failed_package.clone()?;
            if t.relaxed.contains(&p) || t.relaxed.len() >= MAX_RELAXED {
                return None;
            }
            n.relaxed.push(p);
        }
        "project_build" | "no_editable" if t.method == Method::Editable => to_path(&mut n),
        "pytest_too_old" | "pytest_broken" if !t.harness => n.harness = true,
        _ => return None,
    }
    Some(n)
}

/// What the search for one set found.
pub(super) struct Found {
    /// Every try, in order.
    pub(super) attempts: Vec<Attempt>,
    /// The try that worked and the sandbox holding its environment.
    pub(super) env: Option<(Try, r2e_sandbox::docker::DockerSandbox)>,
    /// The oldest Python the set could use was too new for its code
    /// (`python_too_new`), so no older one was left to try.
    pub(super) no_older: bool,
}

/// The search for one set: every try and, when one worked, the sandbox
/// holding the environment. Once a Python is too new for the code
/// (`python_too_new`), only older ones are tried.
pub(super) async fn search(
    provider: &DockerProvider,
    archive: &RepoArchive,
    set: &Set<'_>,
    ov: &RepoOverride,
    cut: &Cutoffs,
    opts: &EnvOptions,
    on_attempt: &(dyn Fn(&Attempt) + Sync),
) -> Found {
    let max = ov.max_attempts.unwrap_or(opts.max_attempts).max(1);
    let mut attempts = Vec::new();
    let first_method = match (ov.install.is_some(), set.spec.installable) {
        (true, _) => Method::Custom,
        (false, true) => Method::Editable,
        (false, false) => Method::Path,
    };
    let pythons = pythons_for(set, ov, opts);
    let mut too_new: Option<PyVersion> = None;
    'pythons: for python in pythons.iter().cloned() {
        if too_new.is_some_and(|v| python.version >= v) {
            continue;
        }
        let mut t = Try {
            python,
            method: first_method,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
        };
        while attempts.len() < max {
            let (a, sb) = run_try(provider, archive, set, &t, ov, cut, opts).await;
            on_attempt(&a);
            let stop = a.label() == Some("sandbox");
            let next = next_try(&t, &a);
            let worked = a.error.is_none();
            if a.label() == Some("python_too_new") {
                too_new = Some(t.python.version);
            }
            attempts.push(a);
            if worked {
                if let Some(sb) = sb {
                    return Found {
                        attempts,
                        env: Some((t, sb)),
                        no_older: false,
                    };
                }
                break;
            }
            // A sandbox failure is not the environment's fault: no other try
            // would do better.
            if stop {
                break 'pythons;
            }
            match next {
                Some(n) => t = n,
                None => continue 'pythons,
            }
        }
        if attempts.len() >= max {
            break;
        }
    }
    Found {
        attempts,
        env: None,
        no_older: too_new.is_some_and(|v| pythons.iter().all(|p| p.version >= v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(error: &str, failed: Option<&str>) -> Attempt {
        Attempt {
            setup: Setup {
                python: "3.9".into(),
                method: Some(Method::Editable),
                ..Setup::default()
            },
            error: Some(error.into()),
            failed_package: failed.map(str::to_string),
            secs: 0.0,
        }
    }

    #[test]
    fn the_search_steps() {
        let t = Try {
            python: PythonImage::managed(PyVersion { major: 3, minor: 9 }, "img"),
            method: Method::Editable,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
        };
        let build = |pkg: &str| attempt("build: Failed to build", Some(pkg));
        // Pins, then dated tools without building the project, then the
        // failing dependencies one by one, up to three.
        let t = next_try(&t, &build("markupsafe")).expect("pins");
        assert_eq!(
            (t.pins.as_slice(), t.method),
            (
                PIN_STEP
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .as_slice(),
                Method::Editable
            )
        );
        let t = next_try(&t, &build("markupsafe")).expect("dated");
        assert!(t.dated_tools && t.pins.is_empty() && t.method == Method::Path);
        let t = next_try(&t, &build("pysocks")).expect("relax");
        assert_eq!(
            (t.relaxed.clone(), t.dated_tools),
            (vec!["pysocks".to_string()], false)
        );
        let t = next_try(&t, &build("markupsafe")).expect("relax again");
        let t = next_try(&t, &build("cffi")).expect("relax a third");
        assert_eq!(t.relaxed, ["pysocks", "markupsafe", "cffi"]);
        assert!(next_try(&t, &build("ruamel-yaml")).is_none());
        // A missing module is added once; other failures move on.
        let fresh = Try {
            relaxed: Vec::new(),
            ..t.clone()
        };
        let missing = attempt("missing_module: yaml", None);
        let with_yaml = next_try(&fresh, &missing).expect("add");
        assert_eq!(with_yaml.added, ["PyYAML"]);
        assert!(next_try(&with_yaml, &missing).is_none());
        let filtered = attempt("resolution: x", Some("atomicwrites"));
        assert_eq!(
            next_try(&fresh, &filtered).expect("relax").relaxed,
            ["atomicwrites"]
        );
        // A dependency that breaks the import is let past the date once; the
        // repository's own code failing moves on to the next Python.
        let mut broken = attempt("collection_fails: x", Some("packaging"));
        let past = next_try(&fresh, &broken).expect("relax");
        assert_eq!(past.relaxed, ["packaging"]);
        assert!(next_try(&past, &broken).is_none());
        broken.error = Some("package_import_fails: x".into());
        assert_eq!(
            next_try(&fresh, &broken).expect("relax").relaxed,
            ["packaging"]
        );
        let harness = Try {
            harness: false,
            ..fresh.clone()
        };
        assert!(
            next_try(&harness, &attempt("pytest_broken: x", None))
                .expect("harness")
                .harness
        );
        for label in [
            "collection_fails: x",
            "package_import_fails: x",
            "resolution: x",
            "python_too_new: x",
            "timeout: x",
            "failed: x",
        ] {
            assert!(next_try(&fresh, &attempt(label, None)).is_none(), "{label}");
        }
    }

    #[test]
    fn a_checkouts_own_packages_and_modules() {
        let files = [
            "setup.py",
            "conftest.py",
            "src/pkg/__init__.py",
            "src/pkg/sub/__init__.py",
            "other/__init__.py",
            "tests/__init__.py",
            "docs/conf.py",
            "my-tool/__init__.py",
        ];
        assert_eq!(own_packages(&files), ["other", "pkg"]);
        let own = own_modules(&files);
        assert!(
            ["pkg", "other", "tests", "setup", "conftest", "docs"]
                .iter()
                .all(|m| own.contains(*m))
        );
        // A single-module project (cachetools before 2014) imports its
        // module; tests and task runners are not imported.
        let files = [
            "cachetools.py",
            "setup.py",
            "test_cachetools.py",
            "tests/test_lru.py",
            "noxfile.py",
        ];
        assert_eq!(own_packages(&files), ["cachetools"]);
        assert!(own_packages(&["README.md", "tests/test_a.py"]).is_empty());
    }
}
