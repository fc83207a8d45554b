//! `search`: count the lines containing a term in every non-hidden `.py` file
//! under a directory (natively, in `os.walk` order), or list the matching
//! lines of one file as `grep -n` does. `grep` itself runs only where its
//! output could differ from a literal substring search: a term with regular
//! expression syntax or a leading `-`, or a file that is not UTF-8 text.

use crate::argv::{Kind, Opt, Parser};
use crate::encoding::{decode_utf8_ignore, stream_text};
use crate::paths::{locate, os_error, os_error_class, realpath, relpath};
use crate::pytext::{strip, translate_newlines};
use crate::{Context, ToolRun, Traceback};
use std::path::Path;

const OPTIONS: &[Opt] = &[
    Opt {
        name: "--search_term",
        kind: Kind::Str,
        required: true,
    },
    Opt {
        name: "--path",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--python_only",
        kind: Kind::Str,
        required: false,
    },
];

/// The argument parser of R2E-Gym's `search` script.
pub(crate) const PARSER: Parser = Parser {
    prog: "search",
    positional: None,
    options: OPTIONS,
    usage: include_str!("text/search.usage"),
    help: include_str!("text/search.help"),
};

/// More matching files than this and the file list is withheld.
const MAX_FILES: usize = 100;

/// Runs `search` with the words of its command line.
pub(crate) fn run(ctx: &Context, words: &[String]) -> ToolRun {
    let args = match PARSER.parse(words) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let term = args.str("search_term").unwrap_or_default();
    let path = args.str("path").unwrap_or(".");
    // The option is a plain string: any non-empty value keeps it on.
    let python_only = args.str("python_only").is_none_or(|s| !s.is_empty());
    if locate(&ctx.cwd, path).is_file() {
        in_file(ctx, term, path)
    } else {
        in_directory(ctx, term, path, python_only)
    }
}

fn in_directory(ctx: &Context, term: &str, path: &str, python_only: bool) -> ToolRun {
    let mut run = ToolRun::default();
    let directory = realpath(&ctx.cwd, &ctx.real_cwd, path);
    if !Path::new(&directory).is_dir() {
        run.println(&format!(
            "Directory '{directory}' not found or not a directory."
        ));
        run.code = 1;
        return run;
    }
    let mut matches: Vec<(String, usize)> = Vec::new();
    if let Err((file, e)) = walk(Path::new(&directory), term, python_only, &mut matches) {
        return Traceback {
            frames: include_str!("text/traceback_search_open.txt"),
            exception: os_error_class(&e),
        }
        .exit(&os_error(&e, &file));
    }
    if matches.is_empty() {
        run.println(&format!("No matches found for \"{term}\" in {directory}"));
        return run;
    }
    if matches.len() > MAX_FILES {
        run.println(&format!(
            "More than {} files matched for \"{term}\" in {directory}. Please narrow your search.",
            matches.len()
        ));
        return run;
    }
    let total: usize = matches.iter().map(|(_, n)| n).sum();
    run.println(&format!(
        "Found {total} matches for \"{term}\" in {directory}:"
    ));
    for (file, n) in &matches {
        let rel = relpath(file, &ctx.real_cwd);
        let shown = if rel.starts_with("./") {
            rel
        } else {
            format!("./{rel}")
        };
        run.println(&format!("{shown} ({n} matches)"));
    }
    run.println(&format!("End of matches for \"{term}\" in {directory}"));
    run
}

/// `os.walk` (top-down, no symlinked directories, unreadable directories
/// skipped) with hidden entries dropped; counts matching lines per file.
/// An unreadable file other than for permissions stops the walk, as the
/// uncaught exception stops the reference.
fn walk(
    dir: &Path,
    term: &str,
    python_only: bool,
    matches: &mut Vec<(String, usize)>,
) -> Result<(), (String, std::io::Error)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // `DirEntry.is_dir()` follows symbolic links.
        if entry.path().is_dir() {
            if !name.starts_with('.') && !entry.file_type().is_ok_and(|t| t.is_symlink()) {
                subdirs.push(entry.path());
            }
            continue;
        }
        if name.starts_with('.') || (python_only && !name.ends_with(".py")) {
            continue;
        }
        let file = format!("{}/{name}", dir.to_string_lossy().trim_end_matches('/'));
        match std::fs::read(entry.path()) {
            Ok(bytes) => {
                let n = count_lines_with(&bytes, term);
                if n > 0 {
                    matches.push((file, n));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err((file, e)),
        }
    }
    for sub in subdirs {
        walk(&sub, term, python_only, matches)?;
    }
    Ok(())
}

/// Lines (universal newlines, undecodable bytes dropped) containing `term`.
fn count_lines_with(bytes: &[u8], term: &str) -> usize {
    let decoded;
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => {
            decoded = decode_utf8_ignore(bytes);
            &decoded
        }
    };
    if !term.is_empty() && !text.contains(term) {
        return 0;
    }
    let text = translate_newlines(text);
    text.split_inclusive('\n')
        .filter(|l| l.contains(term))
        .count()
}

/// Whether `grep -n TERM FILE` is a plain substring search whose output this
/// module can produce itself (an unreadable file goes to `grep` for its
/// error message).
fn literal_grep(term: &str, bytes: &[u8]) -> bool {
    !term.starts_with('-')
        && !term.contains(['\\', '[', '.', '*', '^', '$', '\n'])
        && !bytes.contains(&0)
        && std::str::from_utf8(bytes).is_ok()
}

fn in_file(ctx: &Context, term: &str, path: &str) -> ToolRun {
    let mut run = ToolRun::default();
    let file = realpath(&ctx.cwd, &ctx.real_cwd, path);
    let text = std::fs::read(&file)
        .ok()
        .filter(|bytes| literal_grep(term, bytes))
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let (stdout, stderr, code) = if let Some(text) = text {
        let mut out = String::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let line = line.strip_suffix('\n').unwrap_or(line);
            if line.contains(term) {
                out.push_str(&format!("{}:{line}\n", i + 1));
            }
        }
        let code = if out.is_empty() { 1 } else { 0 };
        (out.into_bytes(), Vec::new(), code)
    } else {
        let argv = ["grep".to_string(), "-n".into(), term.into(), file.clone()];
        match ctx.run(&argv) {
            Ok(out) => match out.returncode() {
                Some(code) => (out.stdout, out.stderr, code),
                None => return ToolRun::timed_out(),
            },
            Err(e) => return Traceback::library("FileNotFoundError").exit(&os_error(&e, "grep")),
        }
    };
    let (stdout, stderr) = match (stream_text(&stdout), stream_text(&stderr)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return Traceback::library("UnicodeDecodeError").exit(&e),
    };
    match code {
        0 => {
            run.println(&format!("Matches for \"{term}\" in {file}:"));
            run.println(strip(&stdout));
        }
        1 => run.println(&format!("No matches found for \"{term}\" in {file}")),
        _ => {
            run.println(&format!("Error executing grep:\n{stderr}"));
            run.code = code;
        }
    }
    run
}
