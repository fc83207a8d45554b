//! Assembling eval scripts: SWE-bench's layout (`make_eval_script_list_py`),
//! the generic layout for tasks without a spec, and SWE-bench 5.x's finishing
//! step (recording the test command's exit code).

use super::{Generation, Spec, blake2b, test_directives, test_files};
use r2e_core::Task;

/// Where the repository is, and the conda environment's name (SWE-bench's `testbed`).
const REPO_DIR: &str = "/testbed";
/// The heredoc delimiter of SWE-bench 3.x/4.x.
const FIXED_DELIMITER: &str = "EOF_114329324912";
/// The first two lines of every script.
const HEADER: [&str; 2] = ["#!/bin/bash", "set -uxo pipefail"];
/// The log markers around the test command's output (bash xtrace prints them).
const START_TEST_OUTPUT: &str = ">>>>> Start Test Output";
const END_TEST_OUTPUT: &str = ">>>>> End Test Output";
/// SWE-bench 5.x prints the test command's exit code after the end marker.
const TEST_EXIT_CODE: &str = ">>>>> Test Exit Code";
const TEST_EXIT_CODE_VAR: &str = "SWEBENCH_TEST_EXIT_CODE";
const ACTIVATE_CONDA: [&str; 2] = [
    "source /opt/miniconda3/bin/activate",
    "conda activate testbed",
];

/// The script SWE-bench builds for `task` from its repository's `spec`.
pub(super) fn swebench(task: &Task, spec: &Spec, generation: Generation) -> String {
    let base = &task.base_commit;
    let mut lines: Vec<String> = ACTIVATE_CONDA.map(String::from).to_vec();
    lines.push(format!("cd {REPO_DIR}"));
    lines.extend(spec.eval_commands.iter().map(|c| c.to_string()));
    lines.extend([
        format!("git config --global --add safe.directory {REPO_DIR}"),
        format!("cd {REPO_DIR}"),
        "git status".into(),
        "git show".into(),
        format!("git -c core.fileMode=false diff {base}"),
    ]);
    lines.extend(ACTIVATE_CONDA.map(String::from));
    lines.push(spec.install.into());
    let test_command = std::iter::once(spec.test_cmd.to_string())
        .chain(test_directives(task))
        .collect::<Vec<_>>()
        .join(" ");
    let reset = reset_command(base, &test_files(&task.test_patch));
    let apply = apply_command(&task.test_patch, generation);
    lines.extend(test_section(Some(reset), Some(apply), test_command));
    render(&lines, generation)
}

/// The script for a task without a SWE-bench spec: reset the test files, apply
/// the test patch, run `test_cmd` between the markers, reset again. Steps with
/// nothing to do (no test patch, no existing test file) are left out.
pub(super) fn generic(task: &Task, test_cmd: &str, generation: Generation) -> String {
    let files = test_files(&task.test_patch);
    let reset = (!files.is_empty()).then(|| reset_command(&task.base_commit, &files));
    let apply = (!task.test_patch.is_empty()).then(|| apply_command(&task.test_patch, generation));
    let mut lines = vec![format!("cd {REPO_DIR}")];
    lines.extend(test_section(reset, apply, test_cmd.to_owned()));
    render(&lines, generation)
}

/// What SWE-bench 5.x runs for a script: its lines without the header, the test
/// command's exit code captured before the end marker and printed after it
/// (`parse_eval_script` + `record_test_exit_code`), the header put back.
pub(super) fn finish_v5(script: &str) -> String {
    let python_whitespace = |c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c);
    let mut lines: Vec<String> = script
        .trim_matches(python_whitespace)
        .split('\n')
        .filter(|line| !HEADER.contains(line))
        .map(str::to_owned)
        .collect();
    if let Some(end) = lines.iter().position(|line| line.contains(END_TEST_OUTPUT)) {
        lines.insert(
            end + 1,
            format!("echo \"{TEST_EXIT_CODE}: ${TEST_EXIT_CODE_VAR}\""),
        );
        lines.insert(end, format!("{TEST_EXIT_CODE_VAR}=$?"));
    }
    join_script(&lines)
}

/// Reset, apply, markers around the test command, reset again.
fn test_section(reset: Option<String>, apply: Option<String>, test_command: String) -> Vec<String> {
    let mut lines: Vec<String> = reset.iter().cloned().chain(apply).collect();
    lines.extend([
        format!(": '{START_TEST_OUTPUT}'"),
        test_command,
        format!(": '{END_TEST_OUTPUT}'"),
    ]);
    lines.extend(reset);
    lines
}

fn reset_command(base_commit: &str, files: &[String]) -> String {
    format!("git checkout {base_commit} {}", files.join(" "))
}

fn apply_command(test_patch: &str, generation: Generation) -> String {
    let delimiter = match generation {
        Generation::V4 => FIXED_DELIMITER.to_owned(),
        Generation::V5 => content_delimiter(test_patch),
    };
    format!("git apply -v - <<'{delimiter}'\n{test_patch}\n{delimiter}")
}

/// SWE-bench 5.x's `generate_heredoc_delimiter`: `EOF_` and 12 hex digits of
/// the content's BLAKE2b digest, rehashed with the candidate while the content
/// contains it.
fn content_delimiter(content: &str) -> String {
    let name = |bytes: &[u8]| {
        let hex: String = blake2b::digest(bytes)[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("EOF_{hex}")
    };
    let mut delimiter = name(content.as_bytes());
    while content.contains(&delimiter) {
        delimiter = name(format!("{content}{delimiter}").as_bytes());
    }
    delimiter
}

fn render(lines: &[String], generation: Generation) -> String {
    let script = join_script(lines);
    match generation {
        Generation::V4 => script,
        Generation::V5 => finish_v5(&script),
    }
}

/// The header, the lines, one newline each (SWE-bench's `TestSpec.eval_script`).
fn join_script(lines: &[String]) -> String {
    let mut script = HEADER.join("\n");
    for line in lines {
        script.push('\n');
        script.push_str(line);
    }
    script.push('\n');
    script
}
