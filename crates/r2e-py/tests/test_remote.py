"""Environments on an ``r2e serve`` instance, through the same Python API:
``r2e.Env(row, server=URL)`` and R2E-Gym's ``RepoEnv(backend="remote")``."""

import socket
import subprocess
import time
import urllib.request

import pytest

import r2e
from conftest import r2e_bin
from r2e.compat.r2egym import Action, EnvArgs, RepoEnv

FIX = {"command": "str_replace", "path": "/testbed/calc.py",
       "old_str": "def mul(a, b):\n    return a + b", "new_str": "def mul(a, b):\n    return a * b"}


def start_server(*extra):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([r2e_bin(), "serve", "--bind", f"127.0.0.1:{port}", "--token", "tok", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while True:
        try:
            req = urllib.request.Request(url + "/v1/health", headers={"Authorization": "Bearer tok"})
            urllib.request.urlopen(req, timeout=1)
            break
        except Exception:
            assert time.time() < deadline, "r2e serve did not start"
            time.sleep(0.1)
    return proc, url


def stop_server(proc):
    proc.terminate()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


@pytest.fixture(scope="module")
def server():
    proc, url = start_server()
    yield url
    stop_server(proc)


def test_a_held_environment_outlives_the_ttl_and_a_released_one_is_reaped(mul_row):
    from r2e import _remote

    proc, url = start_server("--ttl", "3")
    try:
        held = r2e.Env(mul_row, server=url, token="tok")
        held.reset()
        released = r2e.Env(mul_row, server=url, token="tok")
        released.reset()
        assert _remote._LEASES.held() == 2
        # The second stops beating, as if its trainer had died.
        native = released._native
        _remote._LEASES.drop(native._client, native._id)
        time.sleep(7)  # over two TTLs without a call from the test
        assert held.exec("echo alive").stdout == "alive\n"
        with pytest.raises(r2e.InfraError, match="404"):
            released.exec("echo gone")
        held.close()
        assert _remote._LEASES.held() == 0
    finally:
        stop_server(proc)


def test_a_remote_env_has_the_local_api(server, mul_row):
    with r2e.Env(mul_row, server=server, token="tok") as env:
        assert "calc.mul" in env.reset()
        view = env.step("file_editor", command="view", path="/testbed/calc.py")
        assert "return a + b" in view.observation
        env.write_file("/tmp/x.bin", b"\x00\x01")
        assert env.read_file("/tmp/x.bin") == b"\x00\x01"
        assert env.exec("echo hi").stdout == "hi\n"
        env.step("file_editor", **FIX)
        child = env.fork()
        assert child.patch() == env.patch() == mul_row["gold_patch"]
        child.close()
        env.heartbeat()
        reward = env.reward()
        assert (reward.value, reward.status) == (1.0, "resolved")
        assert env.step_text("<function=finish></function>").done


def test_remote_errors_are_r2e_exceptions(server, mul_row):
    with pytest.raises(PermissionError):
        r2e.Env(mul_row, server=server, token="wrong").reset()
    env = r2e.Env(mul_row, server=server, token="tok")
    env.reset()
    host = env.exec("hostname").stdout.strip()
    subprocess.run(["docker", "kill", host], check=True, capture_output=True)
    with pytest.raises(r2e.SandboxDied):
        env.step("execute_bash", cmd="true")
    with pytest.raises(r2e.InfraError):
        env.reward()
    env.close()
    env.close()


def test_r2e_gym_repoenv_on_a_remote_backend(server, mul_row):
    with pytest.raises(ValueError, match="server="):
        RepoEnv(EnvArgs(ds=mul_row), backend="remote")
    env = RepoEnv(EnvArgs(ds=mul_row), backend="remote", server=server, token="tok")
    try:
        env.add_commands(["file_editor.py", "execute_bash.py", "finish.py"])
        env.step(Action("file_editor", FIX))
        obs, _, done, _ = env.step(Action.from_string("<function=finish></function>"))
        assert done
        assert env.compute_reward() == 1.0
    finally:
        env.close()
