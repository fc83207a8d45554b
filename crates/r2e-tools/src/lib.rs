//! The agent tools of r2e — `file_editor`, `search`, `execute_bash` and
//! `finish` — producing R2E-Gym's observation text byte for byte.
//!
//! Published models were trained on what R2E-Gym's tool scripts print, so this
//! crate reproduces the whole path of a tool call there: the call's arguments
//! become the script's command line (`--name str(value)`), the script's
//! `argparse` reads them back (with its error texts), the script acts and
//! prints, the runtime post-processes the printed text (timeout message, ANSI
//! colours stripped on success) and the environment wraps it into the
//! observation message. [`ToolBox::call`] does all of that natively and keeps
//! the editor's undo history, so one value per sandbox is all the state.
//!
//! ```no_run
//! use r2e_tools::ToolBox;
//! let mut tools = ToolBox::new("/testbed");
//! let args = serde_json::json!({"command": "view", "path": "/testbed/setup.py", "view_range": [1, 20]});
//! let obs = tools.call("file_editor", args.as_object().unwrap());
//! println!("{}", obs.text());
//! ```
//!
//! The crate needs only `std`, `serde` and `serde_json`, so the static
//! `r2e-shim` links it and serves the tools inside every sandbox; the shim
//! can hand its own process runner in through [`Exec`].
//!
//! # Conformance
//!
//! `tests/conformance.rs` compares every observation of a corpus of tool calls
//! with what R2E-Gym's scripts printed (CPython 3.11, chardet 5.2.0; see
//! `tests/conformance/generate.py`). Known differences, by design:
//! - Encoding guesses: files are decoded with chardet's verdict, but only its
//!   rule-based probers are reproduced (byte-order marks, ASCII, UTF-8,
//!   Latin-1/Windows-1252, MacRoman). Where chardet's language models (CJK,
//!   Cyrillic, Greek, Hebrew, Thai, Turkish; LGPL data) would win, r2e decodes
//!   differently — typically a short UTF-8 file with one or two non-ASCII
//!   characters, which chardet reads as ISO-8859-9.
//! - Syntax errors (concise view, `enable_linting`): the errors of tokens and
//!   indentation are reported with CPython's messages; other grammar errors
//!   (`invalid syntax`, Python 2 `print`) are not detected.
//! - Tracebacks of exceptions raised inside the Python library (undecodable
//!   command output, a missing `--path`) depend on the Python installation:
//!   r2e prints only their last line. Tracebacks through the tool scripts
//!   alone are reproduced in full.
//! - `submit` is accepted as another name of `finish`; an unknown tool name
//!   gets the text of R2E-Gym's "Invalid Action" assertion (R2E-Gym itself
//!   fails with an internal error there).

mod argv;
mod bash;
pub mod bench;
mod editor;
mod encoding;
mod exec;
mod finish;
mod paths;
mod pyconcise;
mod pytext;
mod schema;
mod search;

pub use bash::BLOCKED_COMMANDS;
pub use exec::{Exec, ExecOutput, ExecStatus, LocalExec};
pub use schema::{TOOLS_JSON, tools, xml_docs};

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The editor's undo history: per path (as the tool printed it), the file's
/// earlier texts, most recent last. Serialised as JSON it has the layout of
/// R2E-Gym's `/var/tmp/editor_state.json`.
pub type History = BTreeMap<String, Vec<String>>;

/// The tool names [`ToolBox::call`] knows, in R2E-Gym's order.
pub const TOOL_NAMES: [&str; 4] = ["file_editor", "search", "execute_bash", "finish"];

/// R2E-Gym's default time limit of one tool call, in seconds
/// (the edit agent's `max_exec_time`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 90;

/// The result of one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The tool that was called.
    pub tool: String,
    /// The text R2E-Gym's runtime hands back: what the tool printed (standard
    /// error first, then standard output, as a Python script's buffered
    /// output arrives), with ANSI colour codes and `\r` removed when the tool
    /// succeeded, or the timeout message.
    pub output: String,
    /// R2E-Gym's error code: `"0"`, `"Error: Exit code N"`, or `"-1"` after a
    /// timeout.
    pub error_code: String,
    /// The tool's exit status (124 after a timeout, as from `timeout(1)`).
    pub exit_code: i32,
    /// Whether the call ends the episode (`finish`/`submit`).
    pub finished: bool,
}

impl Observation {
    /// The observation message the model sees (R2E-Gym's `str(Observation)`):
    /// `Execution output of [tool]:` and the output; for `execute_bash` also
    /// the exit code, with output over 80 lines cut to its first and last 40.
    pub fn text(&self) -> String {
        if self.finished {
            return "<<< Finished >>>".into();
        }
        if self.tool != "execute_bash" {
            return format!("Execution output of [{}]:\n{}", self.tool, self.output);
        }
        let lines = pytext::splitlines(&self.output);
        let body = if lines.len() > 2 * BASH_KEEP_LINES {
            let divider = "-".repeat(50);
            format!(
                "{}\n{divider}\n<Observation truncated in middle for saving context>\n{divider}\n{}",
                lines[..BASH_KEEP_LINES].join("\n"),
                lines[lines.len() - BASH_KEEP_LINES..].join("\n")
            )
        } else {
            self.output.clone()
        };
        format!(
            "Exit code: {}\nExecution output of [execute_bash]:\n{body}",
            self.error_code
        )
    }
}

impl std::fmt::Display for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// Lines kept at each end of a long `execute_bash` observation.
const BASH_KEEP_LINES: usize = 40;

/// The tools of one environment: working directory, time limit, the program
/// runner and the editor's undo history.
pub struct ToolBox {
    ctx: Context,
    history: History,
}

/// What the tools need besides their arguments.
pub(crate) struct Context {
    /// The working directory relative paths are taken from.
    pub cwd: PathBuf,
    /// `os.getcwd()`: the working directory with symbolic links resolved.
    pub real_cwd: String,
    pub timeout: Duration,
    pub exec: Box<dyn Exec + Send>,
    /// Added to the environment of every program run: Python's locale
    /// coercion (`LC_CTYPE=C.UTF-8` under a C locale), which R2E-Gym's tool
    /// scripts pass on to their children.
    pub env: Vec<(String, String)>,
}

impl Context {
    /// Runs a program with the box's directory, environment and time limit.
    pub fn run(&self, argv: &[String]) -> std::io::Result<ExecOutput> {
        self.exec.run(argv, &self.cwd, &self.env, self.timeout)
    }
}

/// `LC_CTYPE=C.UTF-8` when the process's locale is C or POSIX (PEP 538).
fn locale_coercion() -> Vec<(String, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if var("LC_ALL").is_some() {
        return Vec::new();
    }
    match var("LC_CTYPE").or_else(|| var("LANG")).as_deref() {
        None | Some("C" | "POSIX") => vec![("LC_CTYPE".into(), "C.UTF-8".into())],
        Some(_) => Vec::new(),
    }
}

impl ToolBox {
    /// Tools working in `cwd` (R2E-Gym: the repository, `/testbed`), with the
    /// default time limit and [`LocalExec`].
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        let cwd = cwd.into();
        let real_cwd = std::fs::canonicalize(&cwd)
            .unwrap_or_else(|_| cwd.clone())
            .to_string_lossy()
            .into_owned();
        ToolBox {
            ctx: Context {
                cwd,
                real_cwd,
                timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
                exec: Box::new(LocalExec),
                env: locale_coercion(),
            },
            history: History::new(),
        }
    }

    /// Sets the time limit of one call in whole seconds (it appears in the
    /// timeout message).
    pub fn with_timeout_secs(mut self, secs: u64) -> Self {
        self.ctx.timeout = Duration::from_secs(secs);
        self
    }

    /// Runs programs with `exec` instead of [`LocalExec`].
    pub fn with_exec(mut self, exec: impl Exec + Send + 'static) -> Self {
        self.ctx.exec = Box::new(exec);
        self
    }

    /// The working directory.
    pub fn cwd(&self) -> &Path {
        &self.ctx.cwd
    }

    /// The editor's undo history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Replaces the editor's undo history (e.g. loaded from a state file).
    pub fn set_history(&mut self, history: History) {
        self.history = history;
    }

    /// Calls tool `name` with `args` (function-calling arguments, or the
    /// string parameters of an XML-style call) and returns the observation.
    /// `submit` is accepted as another name of `finish`; any other unknown
    /// name yields R2E-Gym's "Invalid Action" message.
    pub fn call(&mut self, name: &str, args: &Map<String, Value>) -> Observation {
        if matches!(name, "finish" | "submit") {
            // R2E-Gym's action runs `echo '<<<Finished>>>'` for these,
            // whatever the arguments, and the episode ends.
            return Observation {
                tool: name.into(),
                output: "<<<Finished>>>\n".into(),
                error_code: "0".into(),
                exit_code: 0,
                finished: true,
            };
        }
        self.call_argv(name, &argv::command_line(args))
    }

    /// Runs tool `name` with the words of its command line, as R2E-Gym runs
    /// its scripts (`view --path F --view_range "[1, 20]"`).
    pub fn call_argv(&mut self, name: &str, words: &[String]) -> Observation {
        let run = match name {
            "file_editor" => editor::run(&self.ctx, &mut self.history, words),
            "search" => search::run(&self.ctx, words),
            "execute_bash" => bash::run(&self.ctx, words),
            "finish" | "submit" => {
                let run = finish::run(words);
                let finished = run.code == 0;
                let mut obs = run.into_observation(name, self.ctx.timeout.as_secs());
                obs.finished = finished;
                return obs;
            }
            _ => ToolRun {
                stdout: format!(
                    "Invalid Action: input action must be one of allowed actions \n Allowed actions: {} \n Input action: {name}\t",
                    pytext::repr_list(&TOOL_NAMES)
                ),
                code: 1,
                ..ToolRun::default()
            },
        };
        run.into_observation(name, self.ctx.timeout.as_secs())
    }
}

/// What a tool script printed and how it exited.
#[derive(Default, Debug)]
pub(crate) struct ToolRun {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    pub timed_out: bool,
}

impl ToolRun {
    /// `print(s)`.
    pub fn println(&mut self, s: &str) {
        self.stdout.push_str(s);
        self.stdout.push('\n');
    }

    /// The run was stopped by the time limit.
    pub fn timed_out() -> Self {
        ToolRun {
            timed_out: true,
            ..ToolRun::default()
        }
    }

    /// R2E-Gym's `DockerRuntime.run` post-processing, then the observation.
    fn into_observation(self, tool: &str, timeout_secs: u64) -> Observation {
        let (output, error_code, exit_code) = if self.timed_out || self.code == 124 {
            (
                format!("The command took too long to execute (>{timeout_secs}s)"),
                "-1".to_string(),
                124,
            )
        } else if self.code != 0 {
            (
                format!("{}{}", self.stderr, self.stdout),
                format!("Error: Exit code {}", self.code),
                self.code,
            )
        } else {
            (
                strip_ansi(&format!("{}{}", self.stderr, self.stdout)),
                "0".into(),
                0,
            )
        };
        Observation {
            tool: tool.into(),
            output,
            error_code,
            exit_code,
            finished: false,
        }
    }
}

/// The traceback of an uncaught Python exception. Where every frame is the
/// tool script's own, they are reproduced (Python 3.11 layout, the script at
/// `/usr/local/bin/<tool>` as R2E-Gym installs it); frames inside the Python
/// library depend on the installation, so then only the last line is.
pub(crate) struct Traceback {
    /// `Traceback (most recent call last):` and the frames, or nothing.
    pub frames: &'static str,
    /// The exception class.
    pub exception: &'static str,
}

impl Traceback {
    /// An exception raised inside the Python library: last line only.
    pub fn library(exception: &'static str) -> Self {
        Traceback {
            frames: "",
            exception,
        }
    }

    /// The traceback text for an exception with `message`.
    pub fn render(&self, message: &str) -> String {
        format!("{}{}: {message}\n", self.frames, self.exception)
    }

    /// The script dying of this exception.
    pub fn exit(&self, message: &str) -> ToolRun {
        ToolRun {
            stderr: self.render(message),
            code: 1,
            ..ToolRun::default()
        }
    }
}

/// Removes what R2E-Gym's runtime removes from successful output:
/// `\x1b[…m` colour sequences and `\r`.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['\x1b', '\r']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(seq) = tail.strip_prefix("\x1b[") {
            let params = seq
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b';')
                .count();
            if seq.as_bytes().get(params) == Some(&b'm') {
                rest = &seq[params + 1..];
                continue;
            }
        }
        if tail.starts_with('\x1b') {
            out.push('\x1b');
        }
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finish_submit_and_unknown_tools() {
        let mut tools = ToolBox::new("/");
        // An environment's step: finished whatever the arguments, as
        // R2E-Gym's action echoes `<<<Finished>>>` for both names.
        for (name, args) in [
            ("submit", json!({})),
            ("finish", json!({"command": "abort"})),
        ] {
            let obs = tools.call(name, args.as_object().unwrap());
            assert!(obs.finished);
            assert_eq!(obs.text(), "<<< Finished >>>");
        }
        // The script itself (`r2e tool finish …`).
        let obs = tools.call_argv("finish", &["submit".to_string()]);
        assert!(obs.finished);
        assert_eq!(obs.output, "<<<Finished>>>\n");
        let obs = tools.call_argv("finish", &["abort".to_string()]);
        assert!(!obs.finished);
        assert_eq!(obs.error_code, "Error: Exit code 1");
        let obs = tools.call_argv("submit", &[]);
        assert!(!obs.finished);
        assert_eq!(obs.error_code, "Error: Exit code 2");
        let obs = tools.call_argv("browse", &[]);
        assert!(!obs.finished);
        assert_eq!(
            obs.text(),
            "Execution output of [browse]:\nInvalid Action: input action must be one of allowed actions \n Allowed actions: ['file_editor', 'search', 'execute_bash', 'finish'] \n Input action: browse\t"
        );
    }

    #[test]
    fn ansi_colours_and_carriage_returns_are_removed() {
        assert_eq!(
            strip_ansi("\x1b[1;31mred\x1b[0m\r\nx\x1b[2K"),
            "red\nx\x1b[2K"
        );
    }

    #[test]
    fn long_bash_output_is_cut_in_the_middle() {
        let output: String = (1..=81).map(|i| format!("{i}\n")).collect();
        let obs = Observation {
            tool: "execute_bash".into(),
            output,
            error_code: "0".into(),
            exit_code: 0,
            finished: false,
        };
        let text = obs.text();
        assert!(text.starts_with("Exit code: 0\nExecution output of [execute_bash]:\n1\n"));
        assert!(text.contains("40\n--------------------------------------------------\n<Observation truncated in middle for saving context>\n"));
        assert!(text.ends_with("\n42\n43") || text.ends_with("81"));
    }
}
