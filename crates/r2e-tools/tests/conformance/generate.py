#!/usr/bin/env python3
"""Regenerates the expected outputs of r2e-tools' conformance tests.

Usage:  generate.py REFERENCE [--python PYTHON]

REFERENCE is a directory holding R2E-Gym's tool scripts (file_editor.py,
search.py, execute_bash.py, finish.py; either directly or under tools/). PYTHON runs
them (default: this interpreter); it needs chardet 5.2.0, the version
R2E-Gym's images install.

For each case of cases.json the corpus of corpus.json is laid out afresh
under /tmp/r2e-conformance-XXXXXXXX/testbed, each step is run the way
R2E-Gym runs a tool call (command line built like Action.to_bashcmd, run
as `timeout T <tool> ...` through /bin/sh in the repository directory,
output post-processed like DockerRuntime.run and wrapped like
str(Observation)), and the observation text is written to
expected/NAME.STEP.txt. A step with "argv" instead of "args" runs the
tool's script with those words as its command line, even where R2E-Gym's
action would not run it (a finish action only echoes <<<Finished>>>), the
way `r2e tool NAME ...` runs it; its expected text is the runtime's output
alone, unwrapped. Two things are normalised: the corpus root becomes
{ROOT} (the tests put their own root of the same length back), and the
directory the scripts run from becomes /usr/local/bin/, where R2E-Gym
installs them. The scripts' editor state file is moved from
/var/tmp/editor_state.json into the work directory. Exit statuses go to
expected/exit_codes.json, the final bytes of the files a case lists to
expected/NAME.files.json. A case's "extra" entries are laid out after the
corpus.

cargo test does not need this script: it only reads what it wrote.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = ["file_editor", "search", "execute_bash", "finish"]
STATE_FILE = "/var/tmp/editor_state.json"
DEFAULT_TIMEOUT = 90


def find_script(reference, tool):
    for sub in ("", "tools"):
        path = os.path.join(reference, sub, tool + ".py")
        if os.path.isfile(path):
            return path
    sys.exit(f"no {tool}.py under {reference}")


def install_tools(reference, python, work):
    bindir = os.path.join(work, "bin")
    os.makedirs(bindir)
    state = os.path.join(work, "editor_state.json")
    for tool in TOOLS:
        with open(find_script(reference, tool), encoding="utf-8") as f:
            lines = f.read().split("\n")
        lines[0] = "#!" + python  # the shebang names R2E-Gym's venv
        text = "\n".join(lines).replace(STATE_FILE, state)
        dest = os.path.join(bindir, tool)
        with open(dest, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(dest, 0o755)
    return bindir, state


def lay_out(root, entries):
    for e in entries:
        path = os.path.join(root, e["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if e.get("dir"):
            os.makedirs(path, exist_ok=True)
        elif "symlink" in e:
            os.symlink(e["symlink"], path)
        else:
            data = bytes.fromhex(e["hex"]) if "hex" in e else e["text"].encode("utf-8")
            with open(path, "wb") as f:
                f.write(data)


def bash_command(tool, params):
    """The command line R2E-Gym builds for a call (Action.to_bashcmd)."""
    if tool == "finish":
        return "echo '<<<Finished>>>'"
    parts = [shlex.quote(tool)]
    if params.get("command") is not None:
        parts.append(shlex.quote(params["command"]))
    for key, value in params.items():
        if key != "command":
            parts += [f"--{key}", shlex.quote(str(value))]
    return " ".join(parts)


def run_step(tool, params, root, env, timeout, argv=None):
    """Runs one call (or with `argv` the script's own command line);
    returns (observation text, exit status)."""
    if argv is None:
        line = bash_command(tool, params)
    else:
        line = " ".join(shlex.quote(w) for w in [tool] + argv)
    cmd = f"timeout {timeout} {line} "
    proc = subprocess.run(["/bin/sh", "-c", cmd], cwd=root, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    output = proc.stdout.decode("utf-8", errors="replace")
    code = proc.returncode
    if code == 124:
        output, error_code = f"The command took too long to execute (>{timeout}s)", "-1"
    elif code != 0:
        error_code = f"Error: Exit code {code}"
    else:
        output, error_code = re.sub(r"\x1b\[[0-9;]*m|\r", "", output), "0"
    if argv is not None:
        return output, code
    if tool == "finish":
        return "<<< Finished >>>", code
    if tool != "execute_bash":
        return f"Execution output of [{tool}]:\n{output}", code
    lines = output.splitlines() if output else []
    if len(lines) > 80:
        divider = "-" * 50
        output = ("\n".join(lines[:40]) + f"\n{divider}\n<Observation truncated in middle for saving context>\n"
                  + f"{divider}\n" + "\n".join(lines[-40:]))
    return f"Exit code: {error_code}\nExecution output of [{tool}]:\n{output}", code


def substitute(value, root):
    if isinstance(value, str):
        return value.replace("{ROOT}", root)
    if isinstance(value, list):
        return [substitute(v, root) for v in value]
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference", help="directory with R2E-Gym's tool scripts")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the scripts")
    args = ap.parse_args()

    version = subprocess.run([args.python, "-c", "import chardet; print(chardet.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    if version != "5.2.0":
        print(f"warning: chardet {version or 'missing'} (R2E-Gym images have 5.2.0)", file=sys.stderr)

    with open(os.path.join(HERE, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    with open(os.path.join(HERE, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    out_dir = os.path.join(HERE, "expected")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)

    work = tempfile.mkdtemp(prefix="r2e-conformance-", dir="/tmp")
    try:
        bindir, state = install_tools(args.reference, os.path.abspath(args.python), work)
        root = os.path.join(work, "testbed")
        env = {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
        codes = {}
        for case in cases:
            if os.path.lexists(root):
                shutil.rmtree(root)
            os.makedirs(root)
            lay_out(root, corpus["entries"] + case.get("extra", []))
            if os.path.exists(state):
                os.remove(state)
            timeout = case.get("timeout", DEFAULT_TIMEOUT)
            for k, step in enumerate(case["steps"]):
                params = {key: substitute(v, root) for key, v in step.get("args", {}).items()}
                argv = substitute(step["argv"], root) if "argv" in step else None
                text, code = run_step(step["tool"], params, root, env, timeout, argv)
                text = text.replace(root, "{ROOT}").replace(bindir + "/", "/usr/local/bin/")
                name = f"{case['name']}.{k}"
                with open(os.path.join(out_dir, name + ".txt"), "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                codes[name] = code
            if case.get("files"):
                files = {}
                for p in case["files"]:
                    with open(os.path.join(root, p), "rb") as f:
                        files[p] = f.read().hex()
                with open(os.path.join(out_dir, case["name"] + ".files.json"), "w") as f:
                    json.dump(files, f, indent=1, sort_keys=True)
                    f.write("\n")
        with open(os.path.join(out_dir, "exit_codes.json"), "w") as f:
            json.dump(codes, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{len(codes)} expected observations written to {out_dir}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
