//! File classification by path: test, docs, source or other.
//!
//! Test files follow R2E-Gym's rule (a path component `test`, `tests`, `Test` or
//! `Tests`; a file name starting with `test_`; a name ending with `_test.py`) plus
//! pytest's `conftest.py`. Docs are `.md`, `.rst` and `.txt` files and anything
//! under a `docs/` or `doc/` directory. Test wins over docs (`tests/README.md` is a
//! test file), as it decides which half of the patch a file goes to.

use crate::model::FileKind;

/// Extensions counted as program source (when not a test).
const SOURCE_EXTENSIONS: &[&str] = &[
    "py", "pyi", "pyx", "pxd", "pxi", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "f", "f90", "rs",
    "go", "js", "ts", "java", "jl", "r", "rb", "sh", "pl", "lua", "m", "cu",
];

/// Extensions counted as documentation.
const DOC_EXTENSIONS: &[&str] = &["md", "rst", "txt"];

/// Whether `path` is a test file by R2E-Gym's conventions (plus `conftest.py`).
pub fn is_test_path(path: &str) -> bool {
    named_as_test(path) || path.rsplit('/').next() == Some("conftest.py")
}

/// R2E-Gym's own test-file rule (`FileDiff.is_test_file`): no `conftest.py`,
/// and any path that starts with `test_`.
pub fn is_r2egym_test_path(path: &str) -> bool {
    path.starts_with("test_") || named_as_test(path)
}

/// A path component `test`, `tests`, `Test` or `Tests`, or a file name
/// `test_*` or `*_test.py`.
fn named_as_test(path: &str) -> bool {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    path.split('/')
        .any(|c| matches!(c, "test" | "tests" | "Test" | "Tests"))
        || file_name.starts_with("test_")
        || file_name.ends_with("_test.py")
}

/// The extension R2E-Gym compares against its allow-list: the text after the last
/// `.` of the path, or the whole file name when it has no dot (`Makefile`).
pub fn extension(path: &str) -> &str {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    match file_name.rfind('.') {
        Some(i) => &file_name[i + 1..],
        None => file_name,
    }
}

/// Classifies a path as test, docs, source or other.
pub fn classify(path: &str) -> FileKind {
    if is_test_path(path) {
        return FileKind::Test;
    }
    let ext = extension(path);
    let in_docs_dir = path
        .split('/')
        .rev()
        .skip(1)
        .any(|c| c.eq_ignore_ascii_case("docs") || c.eq_ignore_ascii_case("doc"));
    if in_docs_dir || DOC_EXTENSIONS.iter().any(|d| ext.eq_ignore_ascii_case(d)) {
        return FileKind::Docs;
    }
    if path.contains('.')
        && SOURCE_EXTENSIONS
            .iter()
            .any(|s| ext.eq_ignore_ascii_case(s))
    {
        return FileKind::Source;
    }
    FileKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(classify("pkg/tests/test_a.py"), FileKind::Test);
        assert_eq!(classify("test_a.py"), FileKind::Test);
        assert_eq!(classify("pkg/a_test.py"), FileKind::Test);
        assert_eq!(classify("pkg/test/data.json"), FileKind::Test);
        assert_eq!(classify("conftest.py"), FileKind::Test);
        assert_eq!(classify("tests/README.md"), FileKind::Test);
        assert_eq!(classify("pkg/testing.py"), FileKind::Source);
        assert_eq!(classify("pkg/contest.py"), FileKind::Source);
        assert_eq!(classify("README.md"), FileKind::Docs);
        assert_eq!(classify("docs/conf.py"), FileKind::Docs);
        assert_eq!(classify("requirements.txt"), FileKind::Docs);
        assert_eq!(classify("setup.cfg"), FileKind::Other);
        assert_eq!(classify("Makefile"), FileKind::Other);
        assert_eq!(classify("pkg/mod.py"), FileKind::Source);
        assert!(!is_r2egym_test_path("pkg/conftest.py"));
        assert!(is_r2egym_test_path("test_data/x.json"));
        assert!(!is_test_path("test_data/x.json"));
        assert!(is_r2egym_test_path("pkg/tests/conftest.py"));
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("a/b.py"), "py");
        assert_eq!(extension("Makefile"), "Makefile");
        assert_eq!(extension("a.b/Makefile"), "Makefile");
        assert_eq!(extension(".gitignore"), "gitignore");
    }
}
