"""R2E-Gym's API through ``r2e.compat.r2egym``: an R2E-Gym-style loop with
``add_commands``, action parsing and rendering as R2E-Gym does it, and
observation texts identical to what ``r2e tool`` prints for the same call."""

import os

import pytest

import r2e
from conftest import run_r2e
from r2e.compat.r2egym import Action, EnvArgs, Observation, RepoEnv

TOOLS = ["/opt/r2egym/agenthub/tools/file_editor.py", "tools/search.py", "execute_bash.py", "finish.py"]


def test_actions_parse_and_render_as_r2e_gym_does():
    a = Action.from_string(
        "Let me look.\n<function = file_editor>\n<parameter=command> view </parameter>"
        "<parameter=path>./a b.py</parameter><parameter=view_range>[1, 10]</parameter></function>"
    )
    assert a.function_name == "file_editor"
    assert a.parameters == {"command": "view", "path": "./a b.py", "view_range": "[1, 10]"}
    assert a.to_bashcmd() == "file_editor view --path './a b.py' --view_range '[1, 10]'"
    assert a.to_xml_string() == (
        "<function=file_editor>\n  <parameter=command>view</parameter>\n"
        "  <parameter=path>./a b.py</parameter>\n  <parameter=view_range>[1, 10]</parameter>\n</function>"
    )
    assert Action("execute_bash", {"cmd": "ls -la"}).to_bashcmd() == "execute_bash --cmd 'ls -la'"
    assert Action("search", {"search_term": ""}).to_bashcmd() == "search --search_term ''"
    assert Action("finish", {}).to_bashcmd() == "echo '<<<Finished>>>'"
    assert Action.from_string("no call here").function_name == ""


def test_observations_render_as_r2e_gym_does():
    bash = Action("execute_bash", {"cmd": "x"})
    assert str(Observation("out\n", "0", bash)) == "Exit code: 0\nExecution output of [execute_bash]:\nout\n"
    long = "\n".join(str(i) for i in range(100))
    text = str(Observation(long, "0", bash))
    assert "\n0\n1\n" in text and "<Observation truncated in middle for saving context>" in text
    assert text.endswith("\n99") and "\n50\n" not in text
    assert str(Observation("x", "0", Action("finish", {}))) == "<<< Finished >>>"
    assert str(Observation("", 0, Action("", {}))) == r2e.CONTINUE_MSG
    assert str(Observation("v", "0", Action("file_editor", {}))) == "Execution output of [file_editor]:\nv"


def test_an_r2e_gym_loop_runs_unchanged(mul_row, tmp_path):
    env = RepoEnv(EnvArgs(ds=mul_row), step_timeout=30)
    try:
        env.add_commands(TOOLS)
        assert "calc.mul" in env.get_task_instruction()
        # The same call on the host through `r2e tool` prints the same text.
        shared = "/tmp/r2e-compat-test/x.py"
        os.makedirs(os.path.dirname(shared), exist_ok=True)
        with open(shared, "w") as f:
            f.write("a = 1\nb = 2\n")
        env.runtime._env.write_file(shared, "a = 1\nb = 2\n")
        for xml, tool_args in [
            (f"<function=file_editor><parameter=command>view</parameter><parameter=path>{shared}</parameter></function>",
             ["file_editor", "view", "--path", shared]),
            ("<function=execute_bash><parameter=cmd>echo hi; echo oops >&2; exit 2</parameter></function>",
             ["execute_bash", "--cmd", "echo hi; echo oops >&2; exit 2"]),
            (f"<function=search><parameter=search_term>b =</parameter><parameter=path>{os.path.dirname(shared)}</parameter></function>",
             ["search", "--search_term", "b =", "--path", os.path.dirname(shared)]),
        ]:
            obs, reward, done, info = env.step(Action.from_string(xml))
            # A top-level directory, as /testbed is: relative paths agree.
            host = run_r2e("tool", "--observation", "--cwd", "/usr", *tool_args)
            assert str(obs) == host.stdout, (str(obs), host.stdout)
            assert (reward, done) == (0, False) and info["total_time"] >= 0
        fix = Action("file_editor", {"command": "str_replace", "path": "/testbed/calc.py",
                                     "old_str": "def mul(a, b):\n    return a + b",
                                     "new_str": "def mul(a, b):\n    return a * b"})
        env.step(fix)
        obs, _, done, _ = env.step(Action.from_string("<function=finish></function>"))
        assert done and env.check_done() and str(obs) == "<<< Finished >>>"
        output, code = env.runtime.run("python3 -c 'import calc; print(calc.mul(3, 4))'")
        assert (output, code) == ("12\n", "0")
        output, code = env.runtime.run("exit 3")
        assert code == "Error: Exit code 3"
        output, code = env.runtime.run("sleep 5", timeout=1)
        assert (output, code) == ("The command took too long to execute (>1s)", "-1")
        assert "return a * b" in env.runtime.get_patch()
        assert env.compute_reward() == 1.0
        reward, log = env.runtime._calculate_reward(get_test_output=True)
        assert reward == 1.0 and "test_mul" in log
        assert env.reset() == "Environment reset" and not env.check_done()
        assert env.compute_reward() == 0.0
    finally:
        env.close()


def test_unknown_tools_and_backends_are_clear_errors(mul_row):
    with pytest.raises(ValueError, match="backend='docker'"):
        RepoEnv(EnvArgs(ds=mul_row), backend="slurm")
    env = RepoEnv(EnvArgs(ds=mul_row))
    try:
        with pytest.raises(ValueError, match="str_replace_editor"):
            env.add_commands(["tools/str_replace_editor.py"])
        env.add_commands(TOOLS)
        obs, _, done, _ = env.step(Action("browse", {"url": "x"}))
        assert str(obs).startswith("Execution output of [browse]:\nInvalid Action") and not done
    finally:
        env.close()


def test_infra_errors_raise_unless_zero_is_asked_for(mul_row):
    import subprocess

    for mode, expected in [("raise", None), ("zero", 0.0)]:
        env = RepoEnv(EnvArgs(ds=mul_row), infra_errors=mode)
        subprocess.run(["docker", "kill", env.runtime._env.sandbox_id], check=True, capture_output=True)
        try:
            if expected is None:
                with pytest.raises(r2e.InfraError):
                    env.compute_reward()
            else:
                assert env.compute_reward() == expected
        finally:
            env.close()
