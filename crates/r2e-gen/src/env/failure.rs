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

/// Standard-library modules that Pythons 3.7–3.13 removed attributes from
/// (`collections.MutableMapping` in 3.10, `inspect.getargspec` in 3.11,
/// `time.clock` in 3.8, `configparser.SafeConfigParser` in 3.12, ...): the
/// repository's own code failing on one of those needs an older Python.
const STDLIB_WITH_REMOVALS: &[&str] = &[
    "collections",
    "inspect",
    "asyncio",
    "time",
    "cgi",
    "base64",
    "fractions",
    "platform",
    "os",
    "sys",
    "string",
    "configparser",
    "pkgutil",
    "ssl",
    "locale",
    "re",
    "typing",
    "unittest",
    "gettext",
    "binascii",
    "importlib",
    "sqlite3",
    "logging",
    "xml.etree.ElementTree",
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
    if log.contains("No interpreter found")
        || log.contains("python-build-standalone")
        || log.contains("download") && log.contains("Python")
    {
        return "python";
    }
    "failed"
}

/// A failed install's error, `LABEL: LOG`. An install that finished but
/// whose `import pytest` check failed is read as [`import_failure`] reads it:
/// a missing module (pytest 3 imports `pkg_resources`, which setuptools 81
/// dropped), or pytest crashing on this Python (`pytest_broken`).
pub(super) fn install_error(log: &str, timed_out: bool) -> String {
    let label = classify_failure(log, timed_out);
    if label == "failed" {
        let read = import_failure(log, &BTreeSet::new(), label, false);
        if !read.error.starts_with("failed: ") {
            return read.error;
        }
    }
    if label == "python" && log.contains("download") {
        return format!("{label}: {MANAGED_PYTHON_HINT}\n{log}");
    }
    format!("{label}: {log}")
}

/// What to do when uv cannot download a managed Python (`--managed-python`).
const MANAGED_PYTHON_HINT: &str = "uv could not download this managed Python; where GitHub \
     cannot be reached, point UV_PYTHON_INSTALL_MIRROR (a copy of python-build-standalone's \
     releases) or UV_PYTHON_DOWNLOADS_JSON_URL (a list of downloads) at a mirror: r2e passes \
     both from its environment to the installs";

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

/// A failed try: its error (`LABEL: details`) and the dependency to let past
/// the date, when one is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failed {
    pub(super) error: String,
    pub(super) package: Option<String>,
}

impl From<String> for Failed {
    /// An install's error; the dependency is the one its log says failed
    /// ([`failed_dependency`]).
    fn from(error: String) -> Failed {
        Failed {
            package: failed_dependency(&error),
            error,
        }
    }
}

/// The exception a Python traceback ends with, and the frame that raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Raised {
    /// What pytest was collecting when it failed (a test module or a
    /// `conftest.py`), when the log is pytest's.
    pub(super) collecting: Option<String>,
    /// `Name: message`, on one line.
    pub(super) exception: String,
    /// The file of the last frame before it (frozen frames left out).
    pub(super) file: Option<String>,
    /// Its line.
    pub(super) line: Option<u32>,
}

impl Raised {
    /// The top-level module of an installed distribution that raised it
    /// (`.../site-packages/dep/core.py` → `dep`), or for `cannot import name
    /// 'X' from 'dep.sub' (.../site-packages/...)` the module lacking the
    /// name; `None` when the repository's own code is to blame.
    pub(super) fn dependency(&self) -> Option<String> {
        if let Some(rest) = self.exception.split_once(" from '").map(|(_, r)| r)
            && let Some((module, path)) = rest.split_once("' (")
            && installed_module(path).is_some()
        {
            return module.split('.').next().map(str::to_string);
        }
        installed_module(self.file.as_deref()?).map(str::to_string)
    }

    /// Whether it is a `SyntaxError` (or a subclass).
    fn is_syntax_error(&self) -> bool {
        let name = self.exception.split(':').next().unwrap_or_default();
        matches!(name, "SyntaxError" | "IndentationError" | "TabError")
    }

    /// `Name: message (raised in FILE line N)`, `/testbed/` left out.
    fn describe(&self) -> String {
        match &self.file {
            Some(f) => format!(
                "{} (raised in {} line {})",
                self.exception,
                shown(f),
                self.line.unwrap_or(0)
            ),
            None => self.exception.clone(),
        }
    }
}

/// A path as errors show it: relative to the checkout when inside it.
fn shown(path: &str) -> &str {
    path.strip_prefix(crate::validate::REPO_DIR)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
}

/// The top-level module of an installed file (`.../site-packages/dep/x.py`
/// → `dep`, `.../site-packages/six.py` → `six`).
fn installed_module(path: &str) -> Option<&str> {
    let (_, rest) = path
        .split_once("site-packages/")
        .or_else(|| path.split_once("dist-packages/"))?;
    let top = rest.split('/').next()?;
    Some(top.strip_suffix(".py").unwrap_or(top))
}

/// `module.name` of an `AttributeError: module 'M' has no attribute 'N'`
/// whose module is one of [`STDLIB_WITH_REMOVALS`].
fn removed_from_stdlib(exception: &str) -> Option<String> {
    let rest = exception.strip_prefix("AttributeError: module '")?;
    let (module, rest) = rest.split_once("' has no attribute '")?;
    let name = rest.split('\'').next()?;
    STDLIB_WITH_REMOVALS
        .contains(&module)
        .then(|| format!("{module}.{name}"))
}

/// Whether an installed module belongs to the test harness (pytest, its own
/// libraries, its plugins), which [`super::install::HARNESS`] lets past the
/// date.
fn is_harness(module: &str) -> bool {
    matches!(module, "_pytest" | "pytest" | "py" | "pluggy" | "coverage")
        || module.starts_with("pytest_")
}

/// A traceback frame's file and line: `File "P", line N` (Python, or inside
/// pytest's `E` lines) or `P:N: in F` (pytest's short frames).
fn frame(line: &str) -> Option<(&str, u32)> {
    let t = line.trim_start_matches('E').trim();
    let (path, n) = if let Some(rest) = t.strip_prefix("File \"") {
        let (path, after) = rest.split_once("\", line ")?;
        (path, after)
    } else {
        if line.starts_with(char::is_whitespace) {
            return None;
        }
        let (head, _) = t.split_once(": in ")?;
        head.rsplit_once(':')?
    };
    let n: String = n.chars().take_while(char::is_ascii_digit).collect();
    Some((path, n.parse().ok()?))
}

/// The exception a line reports (`Name: message`, or pytest's `E   Name:
/// message`), on one line.
fn exception(line: &str) -> Option<&str> {
    let t = line.strip_prefix('E').unwrap_or(line).trim();
    let name = t.split([':', ' ']).next().unwrap_or_default();
    let ok = (name.ends_with("Error") || name.ends_with("Exception"))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && t[name.len()..].starts_with(':');
    ok.then_some(t)
}

/// What pytest's header of a collection error names: `ERROR collecting
/// tests/test_a.py` or `ImportError while loading conftest '/testbed/c.py'`.
fn collecting(line: &str) -> Option<String> {
    if let Some((_, rest)) = line.split_once("ERROR collecting ") {
        return Some(rest.trim_end_matches([' ', '_']).to_string());
    }
    let (_, rest) = line.split_once(" while loading conftest '")?;
    Some(rest.split('\'').next()?.to_string())
}

/// The exception of a Python traceback or of pytest's first collection
/// error: its last exception (the one a chain ends with) and the last frame
/// before it. Test ids and other text that merely name an exception are not
/// read as one.
pub(super) fn raised(log: &str) -> Option<Raised> {
    let lines: Vec<&str> = log.lines().collect();
    let header = lines.iter().position(|l| collecting(l).is_some());
    let (what, block) = match header {
        Some(i) => {
            let rest = &lines[i + 1..];
            let end = rest
                .iter()
                .position(|l| collecting(l).is_some() || l.starts_with('='))
                .unwrap_or(rest.len());
            (collecting(lines[i]), &rest[..end])
        }
        None => (None, &lines[..]),
    };
    let mut place = None;
    let mut found = None;
    for line in block {
        if let Some((path, n)) = frame(line) {
            if !path.starts_with('<') {
                place = Some((path, n));
            }
        } else if let Some(e) = exception(line) {
            found = Some((e, place));
        }
    }
    let (e, place) = found?;
    Some(Raised {
        collecting: what,
        exception: e.chars().take(300).collect(),
        file: place.map(|(p, _)| p.to_string()),
        line: place.map(|(_, n)| n),
    })
}

/// The module of the pytest plugin whose option pytest's usage error does
/// not know (`error: unrecognized arguments: --cov=pkg`: the repository's
/// `addopts` asks for a plugin its metadata does not install).
fn plugin_for_usage_error(log: &str) -> Option<String> {
    /// Option prefixes and the module of the plugin that adds them.
    const OPTIONS: &[(&str, &str)] = &[
        ("--cov", "pytest_cov"),
        ("--no-cov", "pytest_cov"),
        ("--numprocesses", "xdist"),
        ("-n", "xdist"),
        ("--dist", "xdist"),
        ("--timeout", "pytest_timeout"),
        ("--benchmark-", "pytest_benchmark"),
        ("--reruns", "pytest_rerunfailures"),
        ("--flake8", "pytest_flake8"),
        ("--mypy", "pytest_mypy"),
        ("--pep8", "pytest_pep8"),
        ("--black", "pytest_black"),
        ("--isort", "pytest_isort"),
        ("--doctest-plus", "pytest_doctestplus"),
        ("--mpl", "pytest_mpl"),
        ("--hypothesis-", "hypothesis"),
    ];
    let args = log
        .lines()
        .find_map(|l| l.split_once("error: unrecognized arguments:"))?
        .1;
    args.split_whitespace().find_map(|arg| {
        OPTIONS.iter().find_map(|(option, module)| {
            let known = if option.ends_with('-') {
                arg.starts_with(option)
            } else {
                arg == *option || arg.starts_with(&format!("{option}="))
            };
            known.then(|| module.to_string())
        })
    })
}

/// Whether pytest's collection log (`--collect-only`, exit code `code`) says
/// a module could not be collected: an `ERROR collecting`, a `conftest.py`
/// that does not load, an interrupted run, an internal or a usage error, or
/// pytest itself crashing before it collects (exit code 1: a plugin that does
/// not import, such as pytest-httpbin whose gunicorn needs `pkg_resources`).
pub(super) fn collection_failed(log: &str, code: i32) -> bool {
    matches!(code, 1..=4)
        || log.lines().any(|l| collecting(l).is_some())
        || log.contains("during collection")
}

/// The error of an environment whose package or test modules do not import
/// (`log`: pytest's collection or `python -c 'import PKG'`), labelled `kind`
/// (`collection_fails`, `package_import_fails`) unless a more telling label
/// applies:
/// - a module the environment lacks: `missing_module` (or `python_too_new`
///   for a module the standard library dropped);
/// - a `SyntaxError` in the repository's own code, or its use of a
///   standard-library name that Python dropped: `python_too_new`;
/// - an exception raised in pytest, its libraries or plugins while they are
///   held to the date (`harness` false): `pytest_broken`.
///
/// An exception raised in (or naming) an installed dependency names that
/// dependency's distribution as the one to let past the date.
pub(super) fn import_failure(
    log: &str,
    own: &BTreeSet<String>,
    kind: &str,
    harness: bool,
) -> Failed {
    let plain = |error: String| Failed {
        error,
        package: None,
    };
    if let Some(m) = missing_module(log, own).or_else(|| plugin_for_usage_error(log)) {
        return plain(module_error(&m));
    }
    let Some(r) = raised(log) else {
        // pytest's usage error says what is wrong on its `error:` line.
        let lines = || log.lines().map(str::trim);
        let line = lines()
            .find(|l| l.contains("error:"))
            .or_else(|| lines().find(|l| l.starts_with("ERROR")))
            .or_else(|| lines().rfind(|l| !l.is_empty()))
            .unwrap_or("no output");
        return plain(format!("{kind}: {line}"));
    };
    // The repository's own package installed into the virtualenv is not a
    // dependency to let past the date.
    let dependency = r.dependency().filter(|d| !own.contains(d));
    if r.is_syntax_error() && dependency.is_none() && r.file.is_some() {
        return plain(format!(
            "python_too_new: {} does not parse on this Python ({})",
            shown(r.file.as_deref().unwrap_or_default()),
            r.exception
        ));
    }
    if dependency.is_none()
        && let Some(name) = removed_from_stdlib(&r.exception)
    {
        return plain(format!(
            "python_too_new: {} uses `{name}`, which this Python's standard library no longer \
             has",
            r.file.as_deref().map_or("the code", shown)
        ));
    }
    let in_harness = dependency.as_deref().is_some_and(is_harness);
    if in_harness && !harness {
        return plain(format!(
            "pytest_broken: pytest crashes on this Python: {}",
            r.describe()
        ));
    }
    let what = r
        .collecting
        .as_deref()
        .map(|c| format!("{}: ", shown(c)))
        .unwrap_or_default();
    let package = dependency.filter(|_| !in_harness);
    Failed {
        error: format!(
            "{kind}: {what}{}{}",
            r.describe(),
            package
                .as_deref()
                .map(|p| format!(", from the dependency `{p}`"))
                .unwrap_or_default()
        ),
        package: package.map(|p| distribution_for(&p)),
    }
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
        ("xdist", "pytest-xdist"),
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

    /// The error of a failed collection `log`, the try's harness dated.
    fn collection(log: &str) -> String {
        import_failure(log, &BTreeSet::new(), "collection_fails", false).error
    }

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
            collection(py2),
            "python_too_new: pkg/__init__.py does not parse on this Python \
             (SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?)"
        );
        let dep = "E     File \"/root/.venv/lib/python3.13/site-packages/old/__init__.py\", line 2\nE   SyntaxError: invalid syntax";
        assert!(collection(dep).starts_with("collection_fails: "));
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

    /// pytest 8.3 and 4.6 and `python -c 'import pkg'` on Python 3.11, as
    /// they printed them for a package `pkg` and an installed `dep` (see
    /// `testdata/`).
    fn real(name: &str) -> &'static str {
        match name {
            "import_name_from_dependency" => {
                include_str!("testdata/import_name_from_dependency.txt")
            }
            "attribute_error_in_dependency" => {
                include_str!("testdata/attribute_error_in_dependency.txt")
            }
            "own_syntax_error_after_test_id" => {
                include_str!("testdata/own_syntax_error_after_test_id.txt")
            }
            "python_c_import_name" => include_str!("testdata/python_c_import_name.txt"),
            "plugin_fails_to_load" => include_str!("testdata/plugin_fails_to_load.txt"),
            "python_c_attribute_error" => include_str!("testdata/python_c_attribute_error.txt"),
            "test_module_raises" => include_str!("testdata/test_module_raises.txt"),
            "collects" => include_str!("testdata/collects.txt"),
            "pytest46_on_python311" => include_str!("testdata/pytest46_on_python311.txt"),
            "conftest_fails" => include_str!("testdata/conftest_fails.txt"),
            "usage_error" => include_str!("testdata/usage_error.txt"),
            _ => unreachable!("{name}"),
        }
    }

    #[test]
    fn collection_failures_name_the_exception_and_the_dependency() {
        let own = BTreeSet::new();
        let read = |name: &str, kind: &str, harness: bool| {
            let f = import_failure(real(name), &own, kind, harness);
            (f.error, f.package)
        };
        let site = "/root/.venv/lib/python3.11/site-packages";
        assert_eq!(
            read("import_name_from_dependency", "collection_fails", false),
            (
                format!(
                    "collection_fails: tests/test_a.py: ImportError: cannot import name \
                     'nothere' from 'dep' ({site}/dep/__init__.py) (raised in pkg/__init__.py \
                     line 1), from the dependency `dep`"
                ),
                Some("dep".to_string())
            )
        );
        assert_eq!(
            read("attribute_error_in_dependency", "collection_fails", false),
            (
                format!(
                    "collection_fails: tests/test_a.py: AttributeError: 'dict' object has no \
                     attribute 'missing_attr' (raised in {site}/dep/broken.py line 2), from the \
                     dependency `dep`"
                ),
                Some("dep".to_string())
            )
        );
        assert_eq!(
            read("python_c_import_name", "package_import_fails", false),
            (
                format!(
                    "package_import_fails: ImportError: cannot import name 'nothere' from 'dep' \
                     ({site}/dep/__init__.py) (raised in pkg/__init__.py line 1), from the \
                     dependency `dep`"
                ),
                Some("dep".to_string())
            )
        );
        assert_eq!(
            read("python_c_attribute_error", "package_import_fails", false).1,
            Some("dep".to_string())
        );
        // The repository's own code (a test module) raising: no dependency
        // to blame.
        assert_eq!(
            read("test_module_raises", "collection_fails", false),
            (
                "collection_fails: tests/test_c.py: RuntimeError: boom at import (raised in \
                 tests/test_c.py line 2)"
                    .to_string(),
                None
            )
        );
        // A test id naming SyntaxError before the traceback does not hide
        // the package's own SyntaxError.
        assert_eq!(
            read("own_syntax_error_after_test_id", "collection_fails", false).0,
            "python_too_new: pkg/__init__.py does not parse on this Python \
             (SyntaxError: invalid syntax)"
        );
        // pytest 4.6's assertion rewriter on Python 3.11: the harness, let
        // past the date; once it is, the failure is the collection's.
        assert_eq!(
            read("pytest46_on_python311", "collection_fails", false).0,
            format!(
                "pytest_broken: pytest crashes on this Python: TypeError: required field \
                 \"lineno\" missing from alias (raised in \
                 {site}/_pytest/assertion/rewrite.py line 406)"
            )
        );
        let late = read("pytest46_on_python311", "collection_fails", true);
        assert!(
            late.0
                .starts_with("collection_fails: tests/test_a.py: TypeError")
                && late.1.is_none(),
            "{late:?}"
        );
        assert!(
            read("conftest_fails", "collection_fails", false)
                .0
                .starts_with(
                    "collection_fails: tests/conftest.py: ImportError: cannot import name"
                ),
        );
        for name in [
            "import_name_from_dependency",
            "own_syntax_error_after_test_id",
            "test_module_raises",
            "pytest46_on_python311",
        ] {
            assert!(collection_failed(real(name), 0), "{name}");
        }
        assert!(!collection_failed(real("collects"), 0));
        assert!(collection_failed(real("conftest_fails"), 4));
        // `addopts = --cov=pkg` without pytest-cov: nothing collects.
        assert!(collection_failed(real("usage_error"), 4));
        // psf/requests, 2017, on 3.6: pytest-httpbin's gunicorn imports
        // pkg_resources, which no setuptools is there to give; pytest exits 1
        // before collecting anything, and setuptools is added.
        assert!(collection_failed(real("plugin_fails_to_load"), 1));
        assert_eq!(
            read("plugin_fails_to_load", "collection_fails", true),
            ("missing_module: pkg_resources".to_string(), None)
        );
        // The plugin that adds the option is added, as a missing module is.
        assert_eq!(
            read("usage_error", "collection_fails", false),
            ("missing_module: pytest_cov".to_string(), None)
        );
        assert_eq!(distribution_for("pytest_cov"), "pytest-cov");
        let usage = |args: &str| {
            plugin_for_usage_error(&format!(
                "ERROR: usage: __main__.py [options]\n__main__.py: error: unrecognized arguments: {args}\n"
            ))
        };
        assert_eq!(usage("-n 4").as_deref(), Some("xdist"));
        assert_eq!(distribution_for("xdist"), "pytest-xdist");
        assert_eq!(
            usage("--benchmark-skip").as_deref(),
            Some("pytest_benchmark")
        );
        assert_eq!(usage("--timeout=30").as_deref(), Some("pytest_timeout"));
        assert_eq!(usage("--cov"), Some("pytest_cov".to_string()));
        assert_eq!(usage("--nonsense"), None);
        assert_eq!(usage("-nx"), None);
        assert_eq!(raised(real("collects")), None);
    }

    #[test]
    fn own_code_using_a_removed_stdlib_name_needs_an_older_python() {
        // cachetools, 2015, on Python 3.11: pytest 8's report.
        let log = "_____________ ERROR collecting tests/test_rr.py _____________\ntests/test_rr.py:3: in <module>\n    from cachetools import RRCache\ncachetools/__init__.py:3: in <module>\n    from .cache import Cache\ncachetools/cache.py:8: in <module>\n    class Cache(collections.MutableMapping):\nE   AttributeError: module 'collections' has no attribute 'MutableMapping'\n=========================== short test summary info ============================\nERROR tests/test_rr.py - AttributeError: module 'collections' has no attribute 'MutableMapping'";
        assert_eq!(
            collection(log),
            "python_too_new: cachetools/cache.py uses `collections.MutableMapping`, which this \
             Python's standard library no longer has"
        );
        // Raised in a dependency, the dependency is let past the date first.
        let dep = log.replace(
            "cachetools/cache.py:8",
            "/root/.venv/lib/python3.11/site-packages/oldcache/cache.py:8",
        );
        let f = import_failure(&dep, &BTreeSet::new(), "collection_fails", false);
        assert_eq!(f.package.as_deref(), Some("oldcache"), "{f:?}");
        // Unless that is the repository's own package, installed.
        let own: BTreeSet<String> = ["oldcache".to_string()].into();
        let f = import_failure(&dep, &own, "collection_fails", false);
        assert!(f.error.starts_with("python_too_new: "), "{f:?}");
        // Not a standard-library module: the repository's own failure.
        let own = log.replace("module 'collections'", "module 'cachetools'");
        assert!(collection(&own).starts_with("collection_fails: tests/test_rr.py: "));
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
        // cachetools, 2020: the dated pytest 5.4 cannot import on 3.11.
        let crash = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n  File \"/root/.venv/lib/python3.11/site-packages/pytest/__init__.py\", line 6, in <module>\n    from _pytest.assertion import register_assert_rewrite\n  File \"/root/.venv/lib/python3.11/site-packages/_pytest/_io/__init__.py\", line 4, in <module>\n    from py.io import TerminalWriter as BaseTerminalWriter  # noqa: F401\n    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\nImportError: cannot import name 'TerminalWriter' from 'py.io' (unknown location)";
        let crash = install_error(crash, false);
        assert!(
            crash.starts_with("pytest_broken: pytest crashes on this Python: ImportError"),
            "{crash}"
        );
        // A build failure stays one, whatever module its log names.
        let build = install_error(
            "error: Failed to build `nodeenv==1.3.2`\nModuleNotFoundError: No module named 'pipes'",
            false,
        );
        assert!(build.starts_with("build: "), "{build}");
        // --managed-python where GitHub cannot be reached (seen here).
        let offline = install_error(
            "error: Request failed after 3 retries in 11.8s\n  cause: Failed to download \
             `https://github.com/astral-sh/python-build-standalone/releases/download/20241002/\
             cpython-3.8.20%2B20241002-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz`\n  \
             cause: dns error",
            false,
        );
        assert!(
            offline.starts_with("python: uv could not download this managed Python")
                && offline.contains("UV_PYTHON_INSTALL_MIRROR"),
            "{offline}"
        );
    }
}
