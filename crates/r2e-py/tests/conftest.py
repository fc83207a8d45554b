"""Fixtures: the r2e CLI (to build the demo tasks, run `r2e tool`, and
compare), the demo dataset built into an image from the base image, and a
check that no test leaves a sandbox behind."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def r2e_bin() -> str:
    """The `r2e` binary: $R2E_BIN, else the workspace's debug build."""
    path = os.environ.get("R2E_BIN") or str(ROOT / "target" / "debug" / "r2e")
    if not os.path.exists(path):
        pytest.exit(f"no r2e binary at {path}: build it (cargo build -p r2e-cli) or set R2E_BIN", 2)
    return path


def run_r2e(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([r2e_bin(), *args], capture_output=True, text=True, **kw)


def sandboxes(owner=None) -> list:
    """Ids of r2e sandboxes present (of one owner process when given)."""
    label = "label=dev.r2e.sandbox" if owner is None else f"label=dev.r2e.owner-pid={owner}"
    out = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory) -> str:
    image = os.environ.get("R2E_TEST_IMAGE", "r2e/base:bookworm")
    path = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    made = run_r2e("dataset", "demo", "--base-image", image, "--out", str(path))
    assert made.returncode == 0, made.stderr
    return str(path)


@pytest.fixture(scope="session")
def demo_rows(demo_path) -> list:
    with open(demo_path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def mul_row(demo_rows) -> dict:
    return next(r for r in demo_rows if r["task_id"].endswith("-mul"))
