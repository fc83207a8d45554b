//! Python's path handling as the tools print it: `str(pathlib.Path(p))`,
//! `Path.name`/`Path.suffix`, `os.path.realpath`/`relpath`, and the text of an
//! `OSError`. Relative paths are resolved against the tool box's working
//! directory, never the process's.

use crate::pytext::repr;
use std::io;
use std::path::{Path, PathBuf};

/// `str(pathlib.PurePosixPath(p))`: empty and `.` components dropped, `..`
/// kept, exactly two leading slashes preserved, `.` for an empty path.
pub(crate) fn pathlib_str(p: &str) -> String {
    let root = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if root.is_empty() && parts.is_empty() {
        return ".".into();
    }
    format!("{root}{}", parts.join("/"))
}

/// `PurePath.name` of a string already normalised by [`pathlib_str`].
pub(crate) fn name(p: &str) -> &str {
    if p == "." || p.chars().all(|c| c == '/') {
        return "";
    }
    p.rsplit('/').next().unwrap_or(p)
}

/// `PurePath.suffix`: from the last dot of the name, unless the dot starts or
/// ends the name.
pub(crate) fn suffix(p: &str) -> &str {
    let n = name(p);
    match n.rfind('.') {
        Some(i) if i > 0 && i < n.len() - 1 => &n[i..],
        _ => "",
    }
}

/// `os.path.normpath` of an absolute or relative POSIX path.
pub(crate) fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let root = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if !parts.is_empty() && parts.last() != Some(&"..") => {
                parts.pop();
            }
            ".." if !root.is_empty() => {}
            c => parts.push(c),
        }
    }
    let joined = format!("{root}{}", parts.join("/"));
    if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// `os.path.join(a, b)` for two plain components.
fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// The file system location of `p` (as the tool saw it) relative to `cwd`.
pub(crate) fn locate(cwd: &Path, p: &str) -> PathBuf {
    cwd.join(p)
}

/// `os.path.realpath(p)` (non-strict) with relative paths taken from `cwd`;
/// `real_cwd` is `os.getcwd()`, the resolved working directory.
pub(crate) fn realpath(cwd: &Path, real_cwd: &str, p: &str) -> String {
    let mut seen = std::collections::HashMap::new();
    let (path, _) = join_realpath(cwd, String::new(), p, &mut seen);
    if path.starts_with('/') {
        normpath(&path)
    } else {
        normpath(&join(real_cwd, &path))
    }
}

/// posixpath's `_joinrealpath`: resolves the symlinks of `rest` on top of the
/// already-resolved `path`; the flag is false when a symlink loop was met.
fn join_realpath(
    cwd: &Path,
    mut path: String,
    rest: &str,
    seen: &mut std::collections::HashMap<String, Option<String>>,
) -> (String, bool) {
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix('/') {
        rest = r;
        path = "/".into();
    }
    while !rest.is_empty() {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        rest = tail;
        if name.is_empty() || name == "." {
            continue;
        }
        if name == ".." {
            if path.is_empty() {
                path = "..".into();
            } else {
                let (head, last) = match path.rfind('/') {
                    Some(i) => (
                        path[..i + 1].trim_end_matches('/').to_string(),
                        &path[i + 1..],
                    ),
                    None => (String::new(), path.as_str()),
                };
                let head = if head.is_empty() && path.starts_with('/') {
                    "/".to_string()
                } else {
                    head
                };
                path = if last == ".." {
                    join(&join(&head, ".."), "..")
                } else {
                    head
                };
            }
            continue;
        }
        let newpath = join(&path, name);
        let is_link = std::fs::symlink_metadata(locate(cwd, &newpath))
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            path = newpath;
            continue;
        }
        if let Some(known) = seen.get(&newpath) {
            match known {
                Some(resolved) => {
                    path = resolved.clone();
                    continue;
                }
                None => return (join(&newpath, rest), false),
            }
        }
        seen.insert(newpath.clone(), None);
        let target = match std::fs::read_link(locate(cwd, &newpath)) {
            Ok(t) => t.to_string_lossy().into_owned(),
            Err(_) => {
                path = newpath;
                continue;
            }
        };
        let (resolved, ok) = join_realpath(cwd, path, &target, seen);
        if !ok {
            return (join(&resolved, rest), false);
        }
        seen.insert(newpath, Some(resolved.clone()));
        path = resolved;
    }
    (path, true)
}

/// `os.path.relpath(path, start)` for two absolute, normalised paths.
pub(crate) fn relpath(path: &str, start: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let s: Vec<&str> = start.split('/').filter(|c| !c.is_empty()).collect();
    let common = p.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; s.len() - common];
    parts.extend(&p[common..]);
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// The C library's message for an OS error, as Python's `strerror`.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `str(OSError)` as Python formats it: `[Errno 2] No such file or directory: 'p'`.
pub(crate) fn os_error(e: &io::Error, filename: &str) -> String {
    match e.raw_os_error() {
        Some(n) => format!("[Errno {n}] {}: {}", strerror(e), repr(filename)),
        None => e.to_string(),
    }
}

/// The class of the `OSError` Python raises for an error number.
pub(crate) fn os_error_class(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound => "FileNotFoundError",
        io::ErrorKind::PermissionDenied => "PermissionError",
        io::ErrorKind::IsADirectory => "IsADirectoryError",
        io::ErrorKind::NotADirectory => "NotADirectoryError",
        _ => "OSError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathlib_normalises_like_python() {
        assert_eq!(pathlib_str("/testbed/"), "/testbed");
        assert_eq!(pathlib_str("./a//b/./c"), "a/b/c");
        assert_eq!(pathlib_str("a/../b"), "a/../b");
        assert_eq!(pathlib_str(""), ".");
        assert_eq!(pathlib_str("//x"), "//x");
        assert_eq!(pathlib_str("///x"), "/x");
    }

    #[test]
    fn suffix_and_name() {
        assert_eq!(suffix("a/b.py"), ".py");
        assert_eq!(suffix(".py"), "");
        assert_eq!(suffix("x.py."), "");
        assert_eq!(name("/"), "");
        assert_eq!(name("a/b.txt"), "b.txt");
    }

    #[test]
    fn relpath_and_normpath() {
        assert_eq!(relpath("/a/b/c", "/a"), "b/c");
        assert_eq!(relpath("/x", "/a/b"), "../../x");
        assert_eq!(relpath("/a", "/a"), ".");
        assert_eq!(normpath("/a/../../b/./c/"), "/b/c");
        assert_eq!(normpath("a/../.."), "..");
    }
}
