//! `execute_bash`: run a command with `/bin/sh -c` (Python's `shell=True`),
//! refuse a few interactive or state-changing commands, and print both
//! streams in R2E-Gym's `[STDOUT]`/`[STDERR]` layout.

use crate::argv::{Kind, Opt, Parser};
use crate::encoding::stream_text;
use crate::paths::os_error;
use crate::pytext::{split_ws, strip};
use crate::{Context, ToolRun, Traceback};

const OPTIONS: &[Opt] = &[Opt {
    name: "--cmd",
    kind: Kind::Str,
    required: true,
}];

/// The argument parser of R2E-Gym's `execute_bash` script.
pub(crate) const PARSER: Parser = Parser {
    prog: "execute_bash",
    positional: None,
    options: OPTIONS,
    usage: include_str!("text/execute_bash.usage"),
    help: include_str!("text/execute_bash.help"),
};

/// Commands refused when they are the first word.
pub const BLOCKED_COMMANDS: [&str; 5] = ["cd", "ipython", "jupyter", "pip", "nohup"];

/// Runs `execute_bash` with the words of its command line.
pub(crate) fn run(ctx: &Context, words: &[String]) -> ToolRun {
    let args = match PARSER.parse(words) {
        Ok(a) => a,
        Err(exit) => return exit,
    };
    let cmd = args.str("cmd").unwrap_or_default();
    let Some(&first) = split_ws(strip(cmd)).first() else {
        return Traceback {
            frames: include_str!("text/traceback_empty_cmd.txt"),
            exception: "IndexError",
        }
        .exit("list index out of range");
    };
    let mut run = ToolRun::default();
    if BLOCKED_COMMANDS.contains(&first) {
        run.println(&format!(
            "Bash command '{first}' is not allowed. Please use a different command or tool."
        ));
        run.code = 1;
        return run;
    }
    let argv = ["/bin/sh".to_string(), "-c".into(), cmd.into()];
    let out = match ctx.run(&argv) {
        Ok(out) => out,
        Err(e) => return Traceback::library("FileNotFoundError").exit(&os_error(&e, "/bin/sh")),
    };
    let Some(code) = out.returncode() else {
        return ToolRun::timed_out();
    };
    let (stdout, stderr) = match (stream_text(&out.stdout), stream_text(&out.stderr)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return Traceback::library("UnicodeDecodeError").exit(&e),
    };
    if code != 0 {
        run.println("Error executing command:\n");
    }
    run.println("[STDOUT]\n");
    run.println(&format!("{} \n", strip(&stdout)));
    run.println("[STDERR]\n");
    run.println(strip(&stderr));
    // `sys.exit(returncode)`: the status is its low byte.
    run.code = code & 0xff;
    run
}
