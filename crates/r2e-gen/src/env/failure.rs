//! What a failed try's log says: its label (`build`, `resolution`, ...), the
//! dependency that failed, the module that is missing and the distribution
//! that provides it.

use std::collections::BTreeSet;

/// Characters of a failed try's log kept in its record (the end of the log).
const ERROR_TAIL: usize = 1500;

/// Standard-library modules removed in Python 3.12 and 3.13 (PEP 594,
/// PEP 632, `imp`): code importing one needs an older Python.
const REMOVED_STDLIB: &[&str] = &[
    "imp",
    "distutils",
    "asynchat",
    "asyncore",
    "smtpd",
    "aifc",
    "audioop",
    "cgi",
    "cgitb",
    "chunk",
    "crypt",
    "imghdr",
    "mailcap",
    "msilib",
    "nis",
    "nntplib",
    "ossaudiodev",
    "pipes",
    "sndhdr",
    "spwd",
    "sunau",
    "telnetlib",
    "uu",
    "xdrlib",
    "lib2to3",
];

/// The label of a failed install from its log.
fn classify_failure(log: &str, timed_out: bool) -> &'static str {
    if timed_out {
        return "timeout";
    }
    if log.contains("does not support editable") || log.contains("build_editable") {
        return "no_editable";
    }
    let project_build = log.contains("file:///testbed") || log.contains("@ file://");
    if log.contains("Failed to build")
        || log.contains("Build backend failed")
        || log.contains("Failed to prepare distributions")
        || log.contains("subprocess-exited-with-error")
    {
        return if project_build {
            "project_build"
        } else {
            "build"
        };
    }
    if log.contains("No solution found") || log.contains("unsatisfiable") {
        return "resolution";
    }
    if log.contains("No interpreter found") || log.contains("download") && log.contains("Python") {
        return "python";
    }
    "failed"
}

/// A failed install's error, `LABEL: LOG`. An install that finished but
/// whose `import pytest` check failed on a missing module (pytest 3 imports
/// `pkg_resources`, which setuptools 81 dropped) is a missing module.
pub(super) fn install_error(log: &str, timed_out: bool) -> String {
    let label = classify_failure(log, timed_out);
    if label == "failed"
        && let Some(m) = missing_module(log, &BTreeSet::new())
    {
        return module_error(&m);
    }
    format!("{label}: {log}")
}

/// The error of an environment that lacks module `m`: an older Python when
/// the standard library dropped it, else a distribution to add.
pub(super) fn module_error(m: &str) -> String {
    if REMOVED_STDLIB.contains(&m) {
        format!(
            "python_too_new: the code imports `{m}`, which this Python's standard library \
             no longer has"
        )
    } else {
        format!("missing_module: {m}")
    }
}

/// The error of a collection log in which the repository's own code (the
/// last `File "..."` before the `SyntaxError`, outside any `site-packages`)
/// does not parse: the code was written for an older Python.
pub(super) fn own_syntax_error(log: &str) -> Option<String> {
    let pos = log.find("SyntaxError")?;
    let before = &log[..pos];
    let start = before.rfind("File \"")? + "File \"".len();
    let file = &before[start..];
    let file = &file[..file.find('"')?];
    if file.starts_with('<') || file.contains("site-packages") {
        return None;
    }
    let message = log[pos..].lines().next().unwrap_or_default().trim();
    Some(format!(
        "python_too_new: {file} does not parse on this Python ({message})"
    ))
}

/// The dependency a failed install could not use: the one uv could not
/// build (``Failed to build `NAME==VERSION` ``), unless it is the project
/// itself, or the one with no release before the date (`` `NAME` was
/// filtered by `exclude-newer` ``).
pub(super) fn failed_dependency(log: &str) -> Option<String> {
    if let Some(end) = log.find("` was filtered by `exclude-newer`") {
        let name = &log[..end];
        let name = &name[name.rfind('`')? + 1..];
        return (!name.is_empty()).then(|| name.to_string());
    }
    let pos = log
        .find("Failed to build `")
        .map(|p| p + "Failed to build `".len())
        .or_else(|| {
            log.find("Failed to download and build `")
                .map(|p| p + "Failed to download and build `".len())
        })?;
    let spec = &log[pos..];
    let spec = &spec[..spec.find('`')?];
    if spec.contains(" @ ") {
        return None;
    }
    let name = spec.split("==").next()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The module a collection log says is missing (`No module named 'a.b'` →
/// `a`), unless it is part of the repository itself.
pub(super) fn missing_module(log: &str, own: &BTreeSet<String>) -> Option<String> {
    let pos = log.find("No module named '")?;
    let rest = &log[pos + "No module named '".len()..];
    let module = rest.split(['\'', '.']).next()?.to_string();
    (!module.is_empty() && !own.contains(&module)).then_some(module)
}

/// The distribution that provides import `module` (a few well-known
/// differences, else the module name).
pub fn distribution_for(module: &str) -> String {
    const KNOWN: &[(&str, &str)] = &[
        ("yaml", "PyYAML"),
        ("attr", "attrs"),
        ("dateutil", "python-dateutil"),
        ("PIL", "Pillow"),
        ("sklearn", "scikit-learn"),
        ("bs4", "beautifulsoup4"),
        ("cv2", "opencv-python"),
        ("Crypto", "pycryptodome"),
        ("OpenSSL", "pyOpenSSL"),
        ("jwt", "PyJWT"),
        ("serial", "pyserial"),
        ("dotenv", "python-dotenv"),
        ("git", "GitPython"),
        ("zmq", "pyzmq"),
        // setuptools 81 dropped pkg_resources.
        ("pkg_resources", "setuptools<81"),
        ("google", "protobuf"),
        ("socks", "PySocks"),
        ("magic", "python-magic"),
        ("typing_extensions", "typing-extensions"),
        ("pytest_httpbin", "pytest-httpbin"),
        ("mock", "mock"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| module.replace('_', "-"))
}

/// The end of a log, on a character boundary.
pub(super) fn tail(log: &str) -> String {
    crate::text::tail(log.trim(), ERROR_TAIL).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_labels() {
        assert_eq!(
            classify_failure("  × No solution found when resolving dependencies:", false),
            "resolution"
        );
        assert_eq!(
            classify_failure("× Failed to build `calc @ file:///testbed`", false),
            "project_build"
        );
        assert_eq!(
            classify_failure("× Failed to build `oldpkg==0.1`", false),
            "build"
        );
        assert_eq!(classify_failure("", true), "timeout");
        let own: BTreeSet<String> = ["calc".to_string()].into();
        assert_eq!(
            missing_module(
                "E   ModuleNotFoundError: No module named 'yaml.loader'",
                &own
            ),
            Some("yaml".into())
        );
        assert_eq!(missing_module("No module named 'calc'", &own), None);
        assert_eq!(distribution_for("yaml"), "PyYAML");
        assert_eq!(
            failed_dependency("error: Failed to build `markupsafe==1.0`\n  cause"),
            Some("markupsafe".into())
        );
        assert_eq!(
            failed_dependency("error: Failed to download and build `pysocks==1.6.8`"),
            Some("pysocks".into())
        );
        assert_eq!(
            failed_dependency("× Failed to build `calc @ file:///testbed`"),
            None
        );
        assert_eq!(distribution_for("pytest_mock"), "pytest-mock");
        // pytest 8's report of a Python 2 print statement in the package.
        let py2 = "tests/test_a.py:1: in <module>\n    import pkg\nE     File \"/testbed/pkg/__init__.py\", line 2\nE       print \"x\"\nE       ^^^^^^^^^\nE   SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?";
        assert_eq!(
            own_syntax_error(py2).as_deref(),
            Some(
                "python_too_new: /testbed/pkg/__init__.py does not parse on this Python \
                 (SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?)"
            )
        );
        let dep = "E     File \"/root/.venv/lib/python3.13/site-packages/old/__init__.py\", line 2\nE   SyntaxError: invalid syntax";
        assert_eq!(own_syntax_error(dep), None);
        assert_eq!(own_syntax_error("1 test collected"), None);
        // uv's hint when every release of a dependency is newer than the date.
        assert_eq!(
            failed_dependency(
                "error: No solution found when resolving dependencies\n  cause: Because there \
                 are no versions of atomicwrites and pytest>=3.8.2 depends on atomicwrites>=1.0 \
                 ...\n\nhint: `atomicwrites` was filtered by `exclude-newer` to only include \
                 packages uploaded before 2018-10-16T12:54:25Z."
            ),
            Some("atomicwrites".into())
        );
    }

    #[test]
    fn an_install_whose_pytest_cannot_import_a_module_is_missing_it() {
        // marshmallow, April 2018: pytest 3.0.2 with a setuptools that has no
        // pkg_resources any more.
        let log = " + pytest==3.0.2\n + setuptools==82.0.1\nTraceback (most recent call \
                   last):\n  File \"/root/.venv/lib/python3.9/site-packages/_pytest/config.py\", \
                   line 8, in <module>\n    import pkg_resources\nModuleNotFoundError: No module \
                   named 'pkg_resources'";
        assert_eq!(install_error(log, false), "missing_module: pkg_resources");
        assert_eq!(distribution_for("pkg_resources"), "setuptools<81");
        let imp = install_error("ModuleNotFoundError: No module named 'imp'", false);
        assert!(imp.starts_with("python_too_new: "), "{imp}");
        assert_eq!(install_error("exit 1", false), "failed: exit 1");
        // A build failure stays one, whatever module its log names.
        let build = install_error(
            "error: Failed to build `nodeenv==1.3.2`\nModuleNotFoundError: No module named 'pipes'",
            false,
        );
        assert!(build.starts_with("build: "), "{build}");
    }
}
