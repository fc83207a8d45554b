//! `file_editor`: view, create, str_replace, insert and undo_edit, with
//! R2E-Gym's observation text. Files are read through the encoding guess of
//! [`crate::encoding`] and written back as UTF-8 with `\n` newlines, as the
//! reference does; every edit pushes the previous text onto the per-path
//! history that `undo_edit` pops.

use crate::argv::{Kind, Opt, Parser};
use crate::encoding::{read_text, utf8_error};
use crate::paths::{locate, name, os_error, os_error_class, pathlib_str, suffix};
use crate::pyconcise::{elided_ranges, find_syntax_error};
use crate::pytext::{expandtabs, prefix_chars, splitlines};
use crate::{Context, History, ToolRun, Traceback};
use std::collections::HashSet;
use std::path::Path;

/// Longest observation before it is clipped, in characters.
const MAX_RESPONSE_LEN: usize = 10_000;
/// Appended to a clipped observation.
const TRUNCATED_MESSAGE: &str = "<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are looking for.</NOTE>";
/// Lines of context around an edit in its snippet.
const SNIPPET_LINES: usize = 4;
/// Python files longer than this are shown concisely unless a range is asked.
const CONCISE_ABOVE_LINES: usize = 110;

const OPTIONS: &[Opt] = &[
    Opt {
        name: "--path",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--file_text",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--view_range",
        kind: Kind::ViewRange,
        required: false,
    },
    Opt {
        name: "--old_str",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--new_str",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--insert_line",
        kind: Kind::Int,
        required: false,
    },
    Opt {
        name: "--enable_linting",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--concise",
        kind: Kind::Str,
        required: false,
    },
    Opt {
        name: "--python_only",
        kind: Kind::Str,
        required: false,
    },
];

/// The argument parser of R2E-Gym's `file_editor` script.
pub(crate) const PARSER: Parser = Parser {
    prog: "file_editor",
    positional: Some("command"),
    options: OPTIONS,
    usage: include_str!("text/file_editor.usage"),
    help: include_str!("text/file_editor.help"),
};

/// How a command ended, before it is printed.
enum Outcome {
    /// `EditorResult`: output, then `ERROR: …` when there is an error.
    Result { output: String, error: String },
    /// `EditorError`, printed as `ERROR: …`.
    Error(String),
    /// An exception the script does not handle: printed as
    /// `ERROR: Unhandled exception: …` after its traceback.
    Unhandled {
        message: String,
        traceback: Traceback,
    },
}

impl Outcome {
    fn ok(output: String) -> Self {
        Outcome::Result {
            output,
            error: String::new(),
        }
    }

    fn err(error: String) -> Self {
        Outcome::Result {
            output: String::new(),
            error,
        }
    }
}

/// `python_only` is never passed on by the reference's `main`, so it is on.
const PYTHON_ONLY: bool = true;

/// Runs `file_editor` with the words of its command line.
pub(crate) fn run(ctx: &Context, history: &mut History, words: &[String]) -> ToolRun {
    let args = match PARSER.parse(words) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let concise = args.str("concise").unwrap_or("False").to_lowercase() == "true";
    let command = args.positional.as_deref().unwrap_or_default();
    let outcome = match args.str("path") {
        None => Outcome::Unhandled {
            message: "expected str, bytes or os.PathLike object, not NoneType".into(),
            traceback: Traceback::library("TypeError"),
        },
        Some(p) => {
            let path = pathlib_str(p);
            let req = Request {
                lint: args.str("enable_linting").is_some_and(|v| !v.is_empty()),
                fs: locate(&ctx.cwd, &path),
                path,
            };
            match req.validate(command) {
                Err(e) => Outcome::Error(e),
                Ok(()) => match command {
                    "view" => req.view(args.range("view_range"), concise),
                    "create" => req.create(history, args.str("file_text")),
                    "str_replace" => {
                        req.str_replace(history, args.str("old_str"), args.str("new_str"))
                    }
                    "insert" => req.insert(history, args.int("insert_line"), args.str("new_str")),
                    "undo_edit" => req.undo_edit(history),
                    other => Outcome::Error(format!(
                        "Unrecognized command '{other}'. Allowed commands: view, create, str_replace, insert, undo_edit."
                    )),
                },
            }
        }
    };
    let mut run = ToolRun::default();
    match outcome {
        Outcome::Result { output, error } => {
            run.println(&output);
            if !error.is_empty() {
                run.println(&format!("ERROR: {error}"));
            }
        }
        Outcome::Error(e) => run.println(&format!("ERROR: {e}")),
        Outcome::Unhandled { message, traceback } => {
            run.println(&format!("ERROR: Unhandled exception: {message}"));
            run.stderr = traceback.render(&message);
        }
    }
    run
}

/// One command on one path.
struct Request {
    /// `--enable_linting` (any non-empty value): refuse edits that leave a
    /// `.py` file with a syntax error.
    lint: bool,
    /// The path as the reference prints it (`str(Path(p))`).
    path: String,
    /// Where it is on the file system.
    fs: std::path::PathBuf,
}

/// Heads the lint error of a refused edit.
const LINT_ERROR_TEMPLATE: &str = "Your proposed edit has introduced new syntax error(s).\nPlease read this error message carefully and then retry editing the file.\nERRORS:\n";

impl Request {
    /// `_lint_check` of the text an edit would write, when linting is on.
    fn lint_error(&self, text: &str) -> Option<Outcome> {
        if !self.lint || suffix(&self.path) != ".py" {
            return None;
        }
        let e = find_syntax_error(text)?;
        Some(Outcome::err(format!(
            "{LINT_ERROR_TEMPLATE}{}",
            e.describe(&self.path)
        )))
    }

    fn validate(&self, command: &str) -> Result<(), String> {
        let exists = self.fs.exists();
        if command == "create" {
            if exists {
                return Err(format!(
                    "File already exists at: {}. Cannot overwrite with 'create'.",
                    self.path
                ));
            }
        } else if !exists {
            return Err(format!("The path '{}' does not exist.", self.path));
        }
        if self.fs.is_dir() && command != "view" {
            return Err(format!(
                "The path '{}' is a directory. Only 'view' can be used on directories.",
                self.path
            ));
        }
        Ok(())
    }

    /// `read_path`: the encoding guess, then strict decoding; a failure is
    /// Python's exception class and message.
    fn read(&self) -> Result<String, (&'static str, String)> {
        let bytes =
            std::fs::read(&self.fs).map_err(|e| (os_error_class(&e), os_error(&e, &self.path)))?;
        read_text(&bytes).map_err(|e| ("UnicodeDecodeError", e))
    }

    /// `read_file`: `read_path` with failures as an editor error.
    fn read_file(&self) -> Result<String, String> {
        self.read()
            .map_err(|(_, e)| format!("Failed to read file {}: {e}", self.path))
    }

    fn write_file(&self, text: &str) -> Result<(), String> {
        std::fs::write(&self.fs, text).map_err(|e| {
            format!(
                "Failed to write file {}: {}",
                self.path,
                os_error(&e, &self.path)
            )
        })
    }

    fn view(&self, range: Option<(i64, i64)>, concise: bool) -> Outcome {
        if self.fs.is_dir() {
            return self.view_dir();
        }
        if suffix(&self.path) != ".py" && PYTHON_ONLY {
            return Outcome::err(format!(
                "ERROR: Viewing non-Python files is disallowed for saving context. File '{}' is not a .py file.",
                name(&self.path)
            ));
        }
        let text = match self.read() {
            Ok(t) => t,
            Err((class, message)) => {
                return Outcome::Unhandled {
                    message,
                    traceback: Traceback::library(class),
                };
            }
        };
        let concise = concise || (range.is_none() && splitlines(&text).len() > CONCISE_ABOVE_LINES);
        let lines: Vec<(usize, String)> = if concise {
            match elided_lines(&text) {
                Ok(lines) => lines,
                Err(e) => {
                    return Outcome::Error(format!(
                        "Syntax error for file {}: {}",
                        self.path,
                        e.describe(&self.path)
                    ));
                }
            }
        } else {
            splitlines(&text)
                .into_iter()
                .enumerate()
                .map(|(i, l)| (i, l.to_string()))
                .collect()
        };
        let total = lines.len() as i64;
        let shown: Vec<&(usize, String)> = match range {
            Some((start, end)) => {
                if !(1..=total).contains(&start) {
                    return Outcome::err(format!(
                        "Invalid view_range [{start}, {end}]: start line must be in [1, {total}]"
                    ));
                }
                if end != -1 && (end < start || end > total) {
                    return Outcome::err(format!(
                        "Invalid view_range [{start}, {end}]: end must be >= start and <= {total}, or -1 to view until end."
                    ));
                }
                lines
                    .iter()
                    .filter(|(i, _)| {
                        let n = *i as i64 + 1;
                        n >= start && (end == -1 || n <= end)
                    })
                    .collect()
            }
            None => lines.iter().collect(),
        };
        let mut out = if concise {
            format!(
                "Here is a condensed view for file: {}; [Note: Useful for understanding file structure in a concise manner. Please use specific view_range without concise cmd if you want to explore further into the relevant parts.]\n",
                self.path
            )
        } else {
            format!(
                "Here's the result of running `cat -n` on the file: {}:\n",
                self.path
            )
        };
        let body: Vec<String> = shown
            .iter()
            .map(|(i, t)| format!("{:6} {t}", i + 1))
            .collect();
        out.push_str(&body.join("\n"));
        Outcome::ok(maybe_truncate(&out).into_owned())
    }

    /// The directory listing of `find PATH -maxdepth 2 -not -path '*/.*'
    /// \( -type d -o -name '*.py' \)`, done natively in `find`'s order.
    fn view_dir(&self) -> Outcome {
        let mut stdout = Vec::new();
        let mut errors = Vec::new();
        find_py(
            &self.fs,
            self.path.as_bytes().to_vec(),
            0,
            &mut stdout,
            &mut errors,
        );
        if !errors.is_empty() {
            return Outcome::err(errors.join("\n"));
        }
        let listing = match String::from_utf8(stdout) {
            Ok(s) => s,
            Err(e) => {
                let msg = utf8_error(e.as_bytes()).unwrap_or_default();
                return Outcome::err(format!(
                    "Ran into {msg} while trying to list directory contents of {}.",
                    self.path
                ));
            }
        };
        let msg = format!(
            "Here's the files and directories up to 2 levels deep in {}, excluding hidden:\n{listing}",
            self.path
        );
        Outcome::ok(maybe_truncate(&msg).into_owned())
    }

    fn create(&self, history: &mut History, file_text: Option<&str>) -> Outcome {
        let Some(text) = file_text else {
            return Outcome::Error("Cannot create file without 'file_text' parameter.".into());
        };
        if let Some(refused) = self.lint_error(text) {
            return refused;
        }
        if let Err(e) = std::fs::write(&self.fs, text) {
            return Outcome::Error(format!(
                "Error creating file at {}: {}",
                self.path,
                os_error(&e, &self.path)
            ));
        }
        history
            .entry(self.path.clone())
            .or_default()
            .push(String::new());
        Outcome::ok(format!(
            "File created at {}. {}Review the file and make sure that it is as expected. Edit the file if necessary.",
            self.path,
            make_output(text, &self.path, 1)
        ))
    }

    fn str_replace(&self, history: &mut History, old: Option<&str>, new: Option<&str>) -> Outcome {
        let Some(old) = old else {
            return Outcome::Error(
                "Missing required parameter 'old_str' for 'str_replace'.".into(),
            );
        };
        let new = new.unwrap_or_default();
        let content = match self.read_file() {
            Ok(c) => c,
            Err(e) => return Outcome::Error(e),
        };
        let occurrences = if old.is_empty() {
            content.chars().count() + 1
        } else {
            content.matches(old).count()
        };
        if occurrences == 0 {
            return Outcome::Error(format!(
                "No occurrences of '{old}' found in {} for replacement.",
                self.path
            ));
        }
        if occurrences > 1 {
            return Outcome::Error(format!(
                "Multiple occurrences of '{old}' found in {}. Please ensure it is unique before using str_replace.",
                self.path
            ));
        }
        // Only an empty `old_str` in an empty file gets here with `old` empty.
        let updated = if old.is_empty() {
            new.to_string()
        } else {
            content.replacen(old, new, 1)
        };
        if let Some(refused) = self.lint_error(&updated) {
            return refused;
        }
        history
            .entry(self.path.clone())
            .or_default()
            .push(content.clone());
        if let Err(e) = self.write_file(&updated) {
            return Outcome::Error(e);
        }
        if old.is_empty() {
            return Outcome::Unhandled {
                message: "empty separator".into(),
                traceback: Traceback {
                    frames: include_str!("text/traceback_empty_separator.txt"),
                    exception: "ValueError",
                },
            };
        }
        let replacement_line = content
            .split(old)
            .next()
            .unwrap_or_default()
            .matches('\n')
            .count();
        let start = replacement_line.saturating_sub(SNIPPET_LINES);
        let end = replacement_line + SNIPPET_LINES + new.matches('\n').count();
        let snippet: Vec<&str> = updated
            .split('\n')
            .skip(start)
            .take(end + 1 - start)
            .collect();
        Outcome::ok(format!(
            "The file {} has been edited. {}Review the changes and make sure they are as expected. Edit the file again if necessary.",
            self.path,
            make_output(
                &snippet.join("\n"),
                &format!("a snippet of {}", self.path),
                start + 1
            )
        ))
    }

    fn insert(&self, history: &mut History, line: Option<i64>, new: Option<&str>) -> Outcome {
        let Some(new) = new else {
            return Outcome::Error("Missing required parameter 'new_str' for 'insert'.".into());
        };
        let old = match self.read_file() {
            Ok(c) => c,
            Err(e) => return Outcome::Error(e),
        };
        let lines: Vec<&str> = old.split('\n').collect();
        let Some(at) = line else {
            return Outcome::Unhandled {
                message: "'<' not supported between instances of 'NoneType' and 'int'".into(),
                traceback: Traceback {
                    frames: include_str!("text/traceback_insert_line.txt"),
                    exception: "TypeError",
                },
            };
        };
        if at < 0 || at > lines.len() as i64 {
            return Outcome::Error(format!(
                "Invalid insert_line {at}. Must be in [0, {}].",
                lines.len()
            ));
        }
        let at = at as usize;
        let new_lines: Vec<&str> = new.split('\n').collect();
        let updated = [&lines[..at], &new_lines, &lines[at..]].concat().join("\n");
        if let Some(refused) = self.lint_error(&updated) {
            return refused;
        }
        history
            .entry(self.path.clone())
            .or_default()
            .push(old.clone());
        if let Err(e) = self.write_file(&updated) {
            return Outcome::Error(e);
        }
        let from = at.saturating_sub(SNIPPET_LINES);
        let to = (at + SNIPPET_LINES).min(lines.len());
        let snippet = [&lines[from..at], &new_lines, &lines[at..to]]
            .concat()
            .join("\n");
        Outcome::ok(format!(
            "The file {} has been edited. {}Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). Edit the file again if necessary.",
            self.path,
            make_output(
                &snippet,
                "a snippet of the edited file",
                (at + 1).saturating_sub(SNIPPET_LINES).max(1)
            )
        ))
    }

    fn undo_edit(&self, history: &mut History) -> Outcome {
        let Some(old) = history.get_mut(&self.path).and_then(Vec::pop) else {
            return Outcome::Error(format!(
                "No previous edits found for {} to undo.",
                self.path
            ));
        };
        if let Err(e) = self.write_file(&old) {
            return Outcome::Error(e);
        }
        Outcome::ok(format!(
            "Last edit to {} undone successfully. {}",
            self.path,
            make_output(&old, &self.path, 1)
        ))
    }
}

/// `maybe_truncate`: clip to [`MAX_RESPONSE_LEN`] characters plus the notice.
fn maybe_truncate(s: &str) -> std::borrow::Cow<'_, str> {
    let head = prefix_chars(s, MAX_RESPONSE_LEN);
    if head.len() == s.len() {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(format!("{head}{TRUNCATED_MESSAGE}"))
    }
}

/// `_make_output`: clip, expand tabs, number lines `cat -n` style from
/// `first` (width 6, then a tab).
fn make_output(content: &str, descriptor: &str, first: usize) -> String {
    let clipped = maybe_truncate(content);
    let expanded = expandtabs(&clipped);
    let mut out = format!("Here's the result of running `cat -n` on {descriptor}:\n");
    for (i, line) in expanded.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{:6}\t{line}", i + first));
    }
    out.push('\n');
    out
}

/// `_get_elided_lines`: the lines kept, plus an `... eliding lines a-b ...`
/// notice where each hidden range starts, by original line index.
fn elided_lines(text: &str) -> Result<Vec<(usize, String)>, crate::pyconcise::SyntaxError> {
    let ranges = elided_ranges(text)?;
    let hidden: HashSet<usize> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
    let mut combined: Vec<(usize, String)> = ranges
        .iter()
        .map(|&(a, b)| (a, format!("... eliding lines {}-{} ...", a + 1, b + 1)))
        .collect();
    combined.extend(
        splitlines(text)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !hidden.contains(i))
            .map(|(i, l)| (i, l.to_string())),
    );
    combined.sort_by_key(|(i, _)| *i);
    Ok(combined)
}

/// One step of the `find` walk: prints `display` if it passes the tests, then
/// descends (without following symbolic links) while above depth 2.
fn find_py(fs: &Path, display: Vec<u8>, depth: usize, out: &mut Vec<u8>, errors: &mut Vec<String>) {
    let Ok(meta) = std::fs::symlink_metadata(fs) else {
        return;
    };
    let is_dir = meta.is_dir();
    let base = display
        .rsplit(|&b| b == b'/')
        .find(|c| !c.is_empty())
        .unwrap_or(&display);
    let hidden = display.windows(2).any(|w| w == b"/.");
    if !hidden && (is_dir || base.ends_with(b".py")) {
        out.extend_from_slice(&display);
        out.push(b'\n');
    }
    if !is_dir || depth >= 2 {
        return;
    }
    let entries = match std::fs::read_dir(fs) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!(
                "find: ‘{}’: {}",
                String::from_utf8_lossy(&display),
                crate::paths::strerror(&e)
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        use std::os::unix::ffi::OsStrExt;
        let file_name = entry.file_name();
        let mut child = display.clone();
        if !child.ends_with(b"/") {
            child.push(b'/');
        }
        child.extend_from_slice(file_name.as_bytes());
        find_py(&entry.path(), child, depth + 1, out, errors);
    }
}
