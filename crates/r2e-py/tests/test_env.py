"""The native API on the demo tasks in real Docker: reset, tool calls, the
reward and its statuses, fork, files, exec, coroutines, errors as exception
classes, and no sandbox left behind."""

import asyncio
import subprocess
import sys

import pytest

import r2e

FIX = {"command": "str_replace", "path": "/testbed/calc.py",
       "old_str": "def mul(a, b):\n    return a + b", "new_str": "def mul(a, b):\n    return a * b"}


def test_load_dataset_and_rows_of_other_formats(demo_path, demo_rows):
    rows = r2e.load_dataset(demo_path)
    assert [r["task_id"] for r in rows] == [r["task_id"] for r in demo_rows]
    swe = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "abc", "version": "1.0",
           "problem_statement": "x", "patch": "", "test_patch": "", "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[]"}
    task = r2e.task_from_row(swe)
    assert task["task_id"] == "o__r-1" and task["source"] == "swe_bench"
    with pytest.raises(r2e.TaskError):
        r2e.task_from_row({"nothing": 1})


def test_a_fix_through_the_tools_is_resolved_and_no_fix_is_not(mul_row):
    with r2e.Env(mul_row) as env:
        issue = env.reset()
        assert "calc.mul" in issue
        view = env.step("file_editor", command="view", path="/testbed/calc.py")
        assert "return a + b" in view.observation and not view.done
        edit = env.step("file_editor", **FIX)
        assert edit.info["error_code"] == "0", edit.observation
        assert env.patch() == mul_row["gold_patch"]
        done = env.step_text("Done.\n<function=finish></function>")
        assert done.done
        reward = env.reward()
        assert (reward.value, reward.status) == (1.0, "resolved"), reward.log
        assert reward.report[mul_row["task_id"]]["resolved"] is True
    with r2e.Env(mul_row) as env:
        env.reset()
        nudge = env.step_text("I think I am done")
        assert nudge.observation == r2e.CONTINUE_MSG
        reward = env.reward()
        assert (reward.value, reward.status) == (0.0, "unresolved")


def test_fork_gives_two_independent_branches(mul_row):
    with r2e.Env(mul_row) as env:
        env.reset()
        env.write_file("/testbed/notes.txt", "shared\n")
        child = env.fork()
        try:
            env.step("file_editor", **FIX)
            child.step("file_editor", **dict(FIX, new_str="def mul(a, b):\n    return a - b"))
            assert "return a * b" in env.patch() and "notes.txt" in env.patch()
            assert "return a - b" in child.patch() and "notes.txt" in child.patch()
            assert env.reward().status == "resolved"
            assert child.reward().status == "unresolved"
            assert child.sandbox_id != env.sandbox_id
        finally:
            child.close()


def test_files_exec_and_timeouts(mul_row):
    with r2e.Env(mul_row, step_timeout=5) as env:
        env.reset()
        env.write_file("/tmp/x.bin", b"\x00\xffdata")
        assert env.read_file("/tmp/x.bin") == b"\x00\xffdata"
        res = env.exec("echo out; echo err >&2; exit 3")
        assert (res.stdout, res.stderr, res.exit_code, res.timed_out) == ("out\n", "err\n", 3, False)
        assert env.exec("sleep 5", timeout=1).timed_out


def test_coroutines_run_many_envs_at_once(demo_rows):
    async def episode(row):
        env = r2e.Env(row)
        try:
            await env.areset()
            obs = await env.astep("execute_bash", cmd="echo hello")
            return obs.observation
        finally:
            await env.aclose()

    async def main():
        return await asyncio.gather(*(episode(r) for r in demo_rows * 2))

    for text in asyncio.run(main()):
        assert text.startswith("Exit code: 0\nExecution output of [execute_bash]:\n[STDOUT]\n\nhello")


def test_a_killed_container_is_an_infra_error_never_a_zero(mul_row):
    env = r2e.Env(mul_row)
    env.reset()
    env.step("file_editor", **FIX)
    subprocess.run(["docker", "kill", env.sandbox_id], check=True, capture_output=True)
    with pytest.raises(r2e.SandboxDied) as err:
        env.step("execute_bash", cmd="true")
    assert isinstance(err.value, r2e.InfraError)
    assert "died" in str(err.value)
    with pytest.raises(r2e.InfraError):
        env.reward()
    env.close()
    with pytest.raises(r2e.InfraError, match="reset"):
        env.patch()


def test_bad_options_are_clear_errors(mul_row):
    with pytest.raises(ValueError, match="fresh"):
        r2e.Env(mul_row, reward_in="elsewhere")
    with pytest.raises(ValueError, match="memory"):
        r2e.Env(mul_row, limits={"memory": "lots"})
    with pytest.raises(ValueError, match="unknown limit"):
        r2e.Env(mul_row, limits={"disk": "1g"})


def test_interpreter_exit_and_del_leave_no_container(demo_path):
    import time

    from conftest import sandboxes

    script = (
        "import r2e, gc\n"
        f"rows = r2e.load_dataset({demo_path!r})\n"
        "kept = r2e.Env(rows[0]); kept.reset()\n"
        "dropped = r2e.Env(rows[1]); dropped.reset(); del dropped; gc.collect()\n"
        "print('started', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "started" in out, err
    deadline = time.time() + 15
    while sandboxes(owner=proc.pid) and time.time() < deadline:
        time.sleep(0.25)
    assert not sandboxes(owner=proc.pid)


def test_a_pool_serves_many_envs_and_their_rewards(mul_row):
    import time

    pool = r2e.Pool(2)
    pool.fill(mul_row)
    try:
        t = time.perf_counter()
        env = r2e.Env(mul_row, pool=pool)
        env.reset()
        pooled = time.perf_counter() - t
        assert pooled < 5, pooled
        env.step("file_editor", **FIX)
        assert env.reward().status == "resolved"
        env.close()
        others = [r2e.Env(mul_row, pool=pool) for _ in range(3)]
        for e in others:
            e.reset()
            assert e.step("execute_bash", cmd="true").info["exit_code"] == 0
            e.close()
    finally:
        pool.drain()


def test_a_pool_can_be_filled_by_image_name(mul_row):
    pool = r2e.Pool(1, images=[mul_row["image"]])
    try:
        with r2e.Env(mul_row, pool=pool) as env:
            env.reset()
            assert env.exec("test -d /testbed/.git").exit_code == 0
    finally:
        pool.drain()
