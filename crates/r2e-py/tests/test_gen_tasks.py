"""Tasks made by ``r2e gen`` in the test (a git history built here: a bug,
then its fix with a test), rolled out through rLLM's adapter with the
oracle's actions: K=2 rollouts each, every reward 1.0."""

import json
import os
import subprocess

from conftest import run_r2e
from test_rllm import oracle_actions, rollout

CALC = '"""Small calculator."""\n\n\ndef add(a, b):\n    return a + b\n\n\ndef div(a, b):\n    return a / b\n'
TESTS = "from pkg.calc import add, div\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_div():\n    assert div(6, 3) == 2\n"
PYTEST_IMAGE = "r2e-gen-test/pytest:bookworm"


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def write(repo, path, text):
    full = repo / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)


def pytest_image():
    """A base image with pytest (what the Rust SWE-Gen tests use, made alike)."""
    if subprocess.run(["docker", "image", "inspect", PYTEST_IMAGE], capture_output=True).returncode == 0:
        return PYTEST_IMAGE
    base = os.environ.get("R2E_TEST_IMAGE", "r2e/base:bookworm")
    name = f"r2e-py-pytest-{os.getpid()}"
    subprocess.run(["docker", "run", "--name", name, base, "sh", "-c",
                    "python3 -m pip install -q --break-system-packages pytest"], check=True, capture_output=True)
    subprocess.run(["docker", "commit", name, PYTEST_IMAGE], check=True, capture_output=True)
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return PYTEST_IMAGE


def test_gen_tasks_roll_out_through_the_rllm_adapter(tmp_path):
    repo = tmp_path / "calc"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo, "pkg/__init__.py", "")
    write(repo, "pkg/calc.py", CALC)
    write(repo, "tests/test_calc.py", TESTS)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Initial commit")
    write(repo, "pkg/calc.py", CALC.replace(
        "def div(a, b):\n    return a / b\n",
        'def div(a, b):\n    if b == 0:\n        raise ValueError("division by zero")\n    return a / b\n'))
    write(repo, "tests/test_calc.py", "import pytest\n" + TESTS +
          "\n\ndef test_div_by_zero():\n    with pytest.raises(ValueError):\n        div(1, 0)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Fix div by zero\n\nRaise ValueError instead of ZeroDivisionError.")
    out = tmp_path / "gen"
    for args in (
        ["gen", "mine", "--repo", str(repo), "--out", str(tmp_path / "commits.jsonl")],
        ["gen", "filter", "--commits", str(tmp_path / "commits.jsonl"), "--out", str(tmp_path / "candidates.jsonl")],
        ["gen", "validate", "--repo", str(repo), "--candidates", str(tmp_path / "candidates.jsonl"),
         "--out", str(out), "--image", pytest_image(), "--name", "calc-py"],
    ):
        done = run_r2e(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "tasks.jsonl") as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    assert len(tasks) == 1, tasks
    # Issue texts come from `r2e gen issue` (a model); a stand-in here.
    tasks[0]["problem_statement"] = "div(1, 0) should raise ValueError"
    for _ in range(2):  # K=2
        assert rollout(tasks[0], oracle_actions) == 1.0
