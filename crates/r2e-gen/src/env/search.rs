//! The search for one dependency set's environment: the Pythons in order,
//! each try run in a fresh sandbox, and the next try chosen from how the last
//! one failed (see the module docs of [`crate::env`] for the steps).

use super::build::Set;
use super::failure::{
    distribution_for, failed_dependency, install_error, missing_module, module_error,
    own_syntax_error, tail,
};
use super::install::{Cutoffs, PIN_STEP, Try, install_script};
use super::python::{PyVersion, order_candidates};
use super::types::{Attempt, EnvOptions, Method, PythonImage, RepoOverride, VENV};
use crate::error::Result;
use crate::validate::{REPO_DIR, RepoArchive, test_modules};
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
        python: t.python.version.to_string(),
        method: t.method,
        pins: t.pins.clone(),
        dated_tools: t.dated_tools,
        relaxed: t.relaxed.clone(),
        harness: t.harness,
        added: t.added.clone(),
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
        let r: Result<std::result::Result<(), String>> = async {
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
                )));
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
                    .collect(),
                ..cwd.clone()
            };
            let out = sb.exec("bash /tmp/r2e-env/install.sh", &run).await?;
            if !out.success() {
                let log = format!("{}\n{}", out.stdout_text(), out.stderr_text());
                return Ok(Err(install_error(&log, out.timed_out)));
            }
            // Can the installed environment import what the tests import?
            let files = test_modules(rep);
            if !files.is_empty() {
                let quoted: Vec<String> =
                    files.iter().map(|f| r2e_sandbox::shell_quote(f)).collect();
                let collect = format!(
                    "python -m pytest --collect-only -q -p no:cacheprovider {} 2>&1",
                    quoted.join(" ")
                );
                let path = ExecOptions {
                    env: vec![(
                        "PATH".into(),
                        format!("{VENV}/bin:/usr/local/bin:/usr/bin:/bin"),
                    )],
                    ..cwd.clone()
                };
                let out = sb.exec(&collect, &path).await?;
                let text = out.stdout_text();
                let listing = sb
                    .exec(
                        &format!("ls -1 {REPO_DIR} {REPO_DIR}/src 2>/dev/null"),
                        &cwd,
                    )
                    .await?;
                let own: BTreeSet<String> = listing
                    .stdout_text()
                    .lines()
                    .map(|l| l.trim().trim_end_matches(".py").to_string())
                    .collect();
                if let Some(m) = missing_module(&text, &own) {
                    return Ok(Err(module_error(&m)));
                }
                if let Some(e) = own_syntax_error(&text) {
                    return Ok(Err(e));
                }
                if !t.harness && text.contains("INTERNALERROR") {
                    return Ok(Err(format!(
                        "pytest_broken: pytest crashes on this Python: {}",
                        tail(&text)
                    )));
                }
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
                )));
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
                )));
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
            attempt.failed_package = err.as_deref().and_then(failed_dependency);
            attempt.error = err.map(|e| match e.split_once(": ") {
                Some((label, log)) => format!("{label}: {}", tail(log)),
                None => e,
            });
            (attempt, sb)
        }
        Err(e) => {
            attempt.error = Some(format!("sandbox: {e}"));
            (attempt, None)
        }
    }
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
            python: "3.9".into(),
            method: Method::Editable,
            pins: Vec::new(),
            dated_tools: false,
            relaxed: Vec::new(),
            harness: false,
            added: Vec::new(),
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
        for label in [
            "resolution: x",
            "python_too_new: x",
            "timeout: x",
            "failed: x",
        ] {
            assert!(next_try(&fresh, &attempt(label, None)).is_none(), "{label}");
        }
    }
}
