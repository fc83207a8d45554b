//! The `finish` script (also installed as `submit`) as R2E-Gym ships it:
//! `finish submit [--result R]` prints `<<<Finished>>>`; another command is
//! refused with exit 1, and argparse's usage error (exit 2) answers a
//! missing command or an unknown option.
//!
//! Through an environment's step the script never runs: R2E-Gym turns a
//! `finish`/`submit` action into `echo '<<<Finished>>>'` and ends the
//! episode whatever its arguments ([`crate::ToolBox::call`] does the same);
//! this is what `r2e tool finish …` runs.

use crate::ToolRun;

const USAGE: &str = "usage: finish [-h] [--result RESULT] command\n";

/// Runs the script with its command line.
pub(crate) fn run(words: &[String]) -> ToolRun {
    let mut run = ToolRun::default();
    let mut command = None;
    let mut extra = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if w == "--result" {
            if i + 1 >= words.len() {
                return usage_error("argument --result: expected one argument");
            }
            i += 2;
            continue;
        }
        if w.starts_with("--result=") {
            i += 1;
            continue;
        }
        if w.starts_with('-') && w.len() > 1 || command.is_some() {
            extra.push(w.clone());
        } else {
            command = Some(w.clone());
        }
        i += 1;
    }
    if !extra.is_empty() {
        return usage_error(&format!("unrecognized arguments: {}", extra.join(" ")));
    }
    match command.as_deref() {
        None => usage_error("the following arguments are required: command"),
        Some("submit") => {
            run.println("<<<Finished>>>");
            run
        }
        Some(other) => {
            run.println(&format!(
                "Unknown command '{other}'. Only `submit` is supported."
            ));
            run.code = 1;
            run
        }
    }
}

fn usage_error(message: &str) -> ToolRun {
    ToolRun {
        stderr: format!("{USAGE}finish: error: {message}\n"),
        code: 2,
        ..ToolRun::default()
    }
}

#[cfg(test)]
mod tests {
    use super::run;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// What R2E-Gym's finish.py printed for these command lines (run here
    /// with Python 3.11, installed as `finish`).
    #[test]
    fn the_script_answers_as_r2e_gyms_does() {
        let r = run(&words("submit --result x"));
        assert_eq!((r.stdout.as_str(), r.code), ("<<<Finished>>>\n", 0));
        let r = run(&words("abort"));
        assert_eq!(
            (r.stdout.as_str(), r.code),
            ("Unknown command 'abort'. Only `submit` is supported.\n", 1)
        );
        let r = run(&[]);
        assert_eq!(
            (r.stderr.as_str(), r.code),
            (
                "usage: finish [-h] [--result RESULT] command\nfinish: error: the following arguments are required: command\n",
                2
            )
        );
        let r = run(&words("submit --force"));
        assert_eq!(r.code, 2);
        assert!(r.stderr.ends_with("unrecognized arguments: --force\n"));
    }
}
