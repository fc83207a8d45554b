"""Environments on Kubernetes: ``provider="kubernetes"`` (or
``$R2E_PROVIDER``) sends the sandbox to a cluster, here the scripted API
server of r2e-kube run as a process (its ``fake_cluster`` example: real HTTP,
the real exec WebSocket, the real shim). Its plain kubelet runs a pod's
processes on this host (the tests talk to such pods through files at host
paths); with ``--docker`` a pod is a container of the local engine from its
image, in which a whole episode of a demo task runs. Each environment's pod
is checked through the API: there while the environment lives, gone once it
is closed."""

import json
import os
import subprocess
import time
import urllib.request

import pytest

import r2e
from r2e.compat.r2egym import EnvArgs, RepoEnv

from conftest import ROOT

#: The namespace of the fake cluster's kubeconfig context.
NAMESPACE = "r2e-py"


FIX = {"command": "str_replace", "path": "/testbed/calc.py",
       "old_str": "def mul(a, b):\n    return a + b", "new_str": "def mul(a, b):\n    return a * b"}


def fake_cluster(tmp_path_factory, *flags):
    """Runs the fake cluster; yields its URL and a provider config file that reaches it."""
    binary = os.environ.get("R2E_FAKE_CLUSTER") or str(ROOT / "target" / "debug" / "examples" / "fake_cluster")
    if not os.path.exists(binary):
        pytest.fail(f"no fake cluster at {binary}: cargo build -p r2e-kube --example fake_cluster (test.sh does)")
    proc = subprocess.Popen([binary, *flags, NAMESPACE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        config = tmp_path_factory.mktemp("kube") / "k8s.toml"
        config.write_text(
            f'kubeconfig = "{info["kubeconfig"]}"\n'
            'shim_image = "registry.test/r2e-shim:1"\n'
            "start_timeout_secs = 60\n"
        )
        yield info["url"], config
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A fake cluster whose pods are processes on this host."""
    yield from fake_cluster(tmp_path_factory)


@pytest.fixture(scope="module")
def docker_cluster(tmp_path_factory):
    """A fake cluster whose pods are containers of the local Docker engine."""
    yield from fake_cluster(tmp_path_factory, "--docker")


def pods(url):
    """Names of r2e's pods in the namespace, as the API server lists them."""
    query = f"{url}/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=dev.r2e.sandbox%3D1"
    with urllib.request.urlopen(query, timeout=30) as answer:
        return [p["metadata"]["name"] for p in json.load(answer)["items"]]


def task(image="r2e/task:py"):
    return {"task_id": "kube-demo", "source": "swe_bench", "repo": "", "base_commit": "",
            "image": image, "problem_statement": "make it work"}


def test_an_env_runs_in_a_pod_of_the_contexts_namespace_and_deletes_it(cluster, tmp_path):
    url, config = cluster
    with r2e.Env(task(), provider="kubernetes", provider_config=config) as env:
        assert env.reset() == "make it work"
        name = env.sandbox_id
        assert name.startswith("r2e-") and name in pods(url)
        # Through the shim in the pod (whose processes run on this host).
        path = tmp_path / "from-python.txt"
        env.write_file(str(path), "through the exec stream\n")
        assert path.read_text() == "through the exec stream\n"
        assert env.read_file(str(path)) == b"through the exec stream\n"
    assert name not in pods(url)


def test_an_episode_runs_in_pods_fixed_and_rewarded(docker_cluster, mul_row):
    url, config = docker_cluster
    with r2e.Env(mul_row, provider="kubernetes", provider_config=config) as env:
        assert "calc.mul" in env.reset()
        name = env.sandbox_id
        assert name in pods(url)
        out = env.step("execute_bash", cmd="echo from-the-pod; pwd; grep -c 'a + b' calc.py")
        assert "from-the-pod\n/testbed\n1" in out.observation, out.observation
        assert env.exec("hostname").exit_code == 0
        edit = env.step("file_editor", **FIX)
        assert edit.info["error_code"] == "0", edit.observation
        assert env.patch() == mul_row["gold_patch"]
        reward = env.reward()  # in a second, fresh pod
        assert (reward.value, reward.status) == (1.0, "resolved"), reward.log
        # The reward's pod is deleted off the caller's path.
        deadline = time.monotonic() + 60
        while pods(url) != [name]:
            assert time.monotonic() < deadline, f"the reward's pod stays: {pods(url)}"
            time.sleep(0.05)
    assert pods(url) == []


def test_the_environment_variables_choose_kubernetes(cluster, monkeypatch):
    url, config = cluster
    monkeypatch.setenv("R2E_PROVIDER", "kubernetes")
    monkeypatch.setenv("R2E_PROVIDER_CONFIG", str(config))
    env = r2e.Env(task())
    env.reset()
    name = env.sandbox_id
    assert name in pods(url)
    env.close()
    assert name not in pods(url)


def test_r2e_gyms_repoenv_takes_backend_kubernetes(cluster):
    url, config = cluster
    env = RepoEnv(EnvArgs(ds=task()), backend="kubernetes", provider_config=str(config), verbose=False)
    name = env.runtime._env.sandbox_id
    assert name in pods(url)
    env.close()
    assert name not in pods(url)


def test_a_pool_on_kubernetes_hands_out_pods(cluster):
    url, config = cluster
    pool = r2e.Pool(1, provider="kubernetes", provider_config=config)
    with pytest.raises(ValueError, match="a pool has its own provider"):
        r2e.Env(task(), pool=pool, provider="kubernetes")
    pool.fill(task())
    assert len(pods(url)) == 1
    ready = pods(url)
    with r2e.Env(task(), pool=pool) as env:
        env.reset()
        taken = env.sandbox_id
        assert [taken] == ready, "the ready pod is handed out"
    # The pool started a replacement in the background (fill waits for it);
    # the taken pod is gone.
    pool.fill(task())
    assert len(pods(url)) == 1 and taken not in pods(url)
    pool.drain()
    assert pods(url) == []


def test_a_pod_that_cannot_schedule_is_an_infra_error_and_leaves_no_pod(cluster):
    url, config = cluster
    env = r2e.Env(task("unschedulable/big:1"), provider="kubernetes", provider_config=config)
    with pytest.raises(r2e.InfraError, match="is unschedulable: 0/3 nodes are available"):
        env.reset()
    assert pods(url) == []


def test_bad_provider_choices_say_what_to_write(tmp_path, monkeypatch):
    monkeypatch.delenv("R2E_PROVIDER", raising=False)
    monkeypatch.delenv("R2E_PROVIDER_CONFIG", raising=False)
    with pytest.raises(ValueError, match='use "docker" or "kubernetes"'):
        r2e.Env(task(), provider="podman")
    with pytest.raises(ValueError, match="provider_config .* is for provider=\"kubernetes\""):
        r2e.Env(task(), provider_config="k8s.toml")
    bad = tmp_path / "k8s.toml"
    bad.write_text('namespce = "x"\n')
    with pytest.raises(ValueError, match="unknown field `namespce`"):
        r2e.Env(task(), provider="kubernetes", provider_config=bad)
    with pytest.raises(ValueError, match="backend='kubernetes'"):
        RepoEnv(EnvArgs(ds=task()), backend="slurm")
