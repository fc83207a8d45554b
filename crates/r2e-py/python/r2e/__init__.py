"""r2e from Python: executable repository environments for RL trainers.

The environments, pools and datasets of r2e (a Rust implementation of
R2E-Gym) as a Python API. Every blocking call runs in Rust with the GIL
released, so any number of environments can be driven from any number of
threads; every method also exists as a coroutine (``await env.astep(...)``).

    import r2e

    rows = r2e.load_dataset("demo.jsonl")
    with r2e.Env(rows[0]) as env:
        issue = env.reset()
        env.step("file_editor", command="view", path="/testbed/calc.py")
        result = env.step_text("<function=finish></function>")
        reward = env.reward()          # Reward(value=..., status="resolved", ...)

Sandboxes are Docker containers by default; ``provider="kubernetes"``
(with ``provider_config="k8s.toml"``, see docs/scaling.md) makes them pods
on a cluster, and ``$R2E_PROVIDER`` / ``$R2E_PROVIDER_CONFIG`` choose when
no argument does, as for the CLI.

Drop-ins: ``r2e.compat.r2egym`` (R2E-Gym's ``RepoEnv``), and
``r2e.integrations.rllm`` (rLLM's ``SWEEnv``).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from . import _native
from ._native import InfraError, SandboxDied, TaskError, Timeout

__all__ = [
    "Env",
    "ExecResult",
    "InfraError",
    "Pool",
    "Reward",
    "SandboxDied",
    "StepResult",
    "TaskError",
    "Timeout",
    "load_dataset",
    "task_from_row",
]

#: The reply R2E-Gym gives a model turn without a function call.
CONTINUE_MSG = (
    "\nYou forgot to use a function call in your response. \n"
    "YOU MUST USE A FUNCTION CALL IN EACH RESPONSE.\n\n"
    "IMPORTANT: YOU SHOULD NEVER ASK FOR HUMAN HELP.\n"
)

# Coroutines run the blocking calls here; the calls release the GIL, so the
# threads only wait on Rust.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="r2e")


def load_dataset(path: str) -> List[Dict[str, Any]]:
    """Reads a dataset (JSONL, JSON or Parquet file, or a directory of them;
    R2E-Gym, SWE-bench, SWE-smith, SWE-Gym or SWE-Gen rows) as r2e task dicts."""
    return json.loads(_native.load_dataset(str(path)))


def task_from_row(row: Mapping[str, Any]) -> Dict[str, Any]:
    """Normalises one dataset row of any supported format into an r2e task dict."""
    return json.loads(_native.task_from_row(json.dumps(row)))


@dataclass
class StepResult:
    """What one tool call gave: the observation text the model sees
    (R2E-Gym's, byte for byte), whether the episode is done, and details."""

    observation: str
    done: bool
    info: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecResult:
    """A shell command's result."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    oom_killed: bool

    @property
    def output(self) -> str:
        """stdout followed by stderr."""
        return self.stdout + self.stderr


@dataclass
class Reward:
    """The hidden tests' verdict.

    ``status`` is ``resolved``, ``unresolved`` or ``timeout``; an
    infrastructure failure raises :class:`InfraError` instead (never a 0).
    ``excluded`` lists the parts of the patch left out of the reward.
    """

    value: float
    status: str
    report: Dict[str, Any]
    log: str
    excluded: List[Dict[str, str]]
    seconds: float


class Pool:
    """Started sandboxes kept ready, shared by many environments: a reset
    from the pool takes milliseconds instead of a container start.

    ``images`` (dataset rows or image names) are filled at once; any other
    image is filled on its first use. Each sandbox is handed out once and
    replaced in the background; one that died while idle is never handed out.
    ``provider`` and ``provider_config`` choose the engine as for :class:`Env`.
    """

    def __init__(
        self,
        size: int,
        images: Optional[List[Any]] = None,
        *,
        provider: Optional[str] = None,
        provider_config: Optional[str] = None,
        **env_options: Any,
    ) -> None:
        self._native = _native.Pool(size, provider, _path(provider_config))
        for item in images or []:
            row = item if isinstance(item, Mapping) else _image_task(str(item))
            self.fill(row, **env_options)

    def fill(self, row: Mapping[str, Any], **env_options: Any) -> None:
        """Starts sandboxes for ``row``'s image until the pool is full."""
        self._native.fill(json.dumps(task_from_row(row)), json.dumps(_options(**env_options)))

    def drain(self) -> None:
        """Closes every ready sandbox."""
        self._native.drain()


def _image_task(image: str) -> Dict[str, Any]:
    """A stand-in task that names only an image (what a pool keys on)."""
    return {"task_id": image, "source": "swe_bench", "repo": "", "base_commit": "",
            "image": image, "problem_statement": ""}


def _path(p: Any) -> Optional[str]:
    """A path argument (str or os.PathLike) as text."""
    return None if p is None else os.fspath(p)


def _options(
    step_timeout: float = 90,
    reward_timeout: float = 300,
    limits: Optional[Mapping[str, Any]] = None,
    reward_in: str = "fresh",
    network: Optional[bool] = None,
) -> Dict[str, Any]:
    return {
        "step_timeout": step_timeout,
        "reward_timeout": reward_timeout,
        "limits": dict(limits) if limits is not None else None,
        "reward_in": reward_in,
        "network": network,
    }


class Env:
    """One task's environment: ``reset`` starts its sandbox, ``step`` runs a
    tool call, ``reward`` runs the hidden tests (by default in a fresh
    sandbox with only the agent's patch: the reward cannot be faked).

    ``row`` is a dataset row of any supported format. ``limits`` sets the
    sandbox's ``memory`` ("4g"), ``cpus``, ``cpu_shares`` and ``pids`` (None
    lifts one). ``network`` defaults to the task's policy (off). ``reward_in``
    is ``"fresh"`` or ``"same"`` (R2E-Gym's gameable same-sandbox reward).
    With ``server="http://host:7878"`` (and ``token``, default ``$R2E_TOKEN``)
    the environment lives on an ``r2e serve`` instance, with the same API.

    ``provider`` is where the sandbox runs: ``"docker"`` (the default) or
    ``"kubernetes"``, a pod configured by the TOML file ``provider_config``
    (namespace, credentials, shim image, resources; docs/scaling.md; without
    one, the kubeconfig's cluster with every setting at its default). When
    not given, ``$R2E_PROVIDER`` and ``$R2E_PROVIDER_CONFIG`` decide, as for
    the CLI. A pool brings its own provider.
    """

    def __init__(
        self,
        row: Mapping[str, Any],
        *,
        step_timeout: float = 90,
        reward_timeout: float = 300,
        pool: Optional[Pool] = None,
        limits: Optional[Mapping[str, Any]] = None,
        reward_in: str = "fresh",
        network: Optional[bool] = None,
        server: Optional[str] = None,
        token: Optional[str] = None,
        provider: Optional[str] = None,
        provider_config: Optional[str] = None,
    ) -> None:
        self.task = task_from_row(row)
        self._options = _options(step_timeout, reward_timeout, limits, reward_in, network)
        self._pool = pool
        if server is not None:
            if pool is not None:
                raise ValueError("a pool is local: the server keeps its own (r2e serve --pool N)")
            if provider is not None or provider_config is not None:
                raise ValueError("the server chooses its provider (r2e serve --provider ...)")
            from ._remote import Client, RemoteEnv

            self._native = RemoteEnv(Client(server, token), json.dumps(self.task), json.dumps(self._options))
        else:
            self._native = _native.Env(
                json.dumps(self.task),
                json.dumps(self._options),
                pool._native if pool is not None else None,
                provider,
                _path(provider_config),
            )
        self.done = False

    @classmethod
    def _adopt(cls, native: Any, parent: "Env") -> "Env":
        env = cls.__new__(cls)
        env.task, env._options, env._pool = parent.task, parent._options, parent._pool
        env._native, env.done = native, parent.done
        return env

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.task["task_id"]

    @property
    def sandbox_id(self) -> Optional[str]:
        """The container id (or pod name) while the environment is started."""
        return self._native.sandbox_id()

    def reset(self) -> str:
        """Starts a fresh sandbox (closing any earlier one); returns the issue text."""
        self.done = False
        return self._native.reset()

    def step(self, tool: str, timeout: Optional[float] = None, **args: Any) -> StepResult:
        """Runs one tool call (``file_editor``, ``search``, ``execute_bash``,
        ``finish``/``submit``) with R2E-Gym's argument names."""
        reply = json.loads(self._native.step(tool, json.dumps(args), timeout))
        self.done = self.done or reply["finished"]
        info = {
            "output": reply["output"],
            "error_code": reply["error_code"],
            "exit_code": reply["exit_code"],
            "total_time": reply["duration_us"] / 1e6,
        }
        return StepResult(reply["text"], self.done, info)

    def step_text(self, text: str, timeout: Optional[float] = None) -> StepResult:
        """Runs the first ``<function=…><parameter=…>`` call in a model's
        reply; a reply without one gets R2E-Gym's nudge."""
        from .compat.r2egym import Action

        action = Action.from_string(text)
        if not action.function_name:
            return StepResult(CONTINUE_MSG, self.done, {"total_time": 0.0})
        return self.step(action.function_name, timeout=timeout, **action.parameters)

    def exec(self, cmd: str, timeout: Optional[float] = None) -> ExecResult:
        """Runs a shell command in the repository."""
        return ExecResult(*self._native.exec(cmd, timeout))

    def read_file(self, path: str) -> bytes:
        """A file's bytes."""
        return self._native.read_file(path)

    def write_file(self, path: str, data: Any, mode: Optional[int] = None) -> None:
        """Writes ``data`` (str or bytes) to ``path``, parents created."""
        if isinstance(data, str):
            data = data.encode()
        self._native.write_file(path, data, mode)

    def patch(self) -> str:
        """The agent's changes to the repository (R2E-Gym's final patch)."""
        return self._native.patch()

    def reward(self, with_log: bool = True) -> Reward:
        """Runs the hidden tests and grades them. Raises :class:`InfraError`
        when no verdict can be had."""
        r = json.loads(self._native.reward())
        report = json.loads(r["report"]) if r["report"] else {}
        return Reward(
            value=r["value"],
            status=r["status"],
            report=report,
            log=r["log"] if with_log else "",
            excluded=r["excluded"],
            seconds=r["seconds"],
        )

    def fork(self) -> "Env":
        """A second environment whose repository is in this one's state; the
        two then diverge independently (changes outside the repository are
        not carried over)."""
        return Env._adopt(self._native.fork(), self)

    def heartbeat(self) -> None:
        """Renews a remote environment's lifetime on its server (a local one
        lives until closed)."""
        beat = getattr(self._native, "heartbeat", None)
        if beat is not None:
            beat()

    def close(self) -> None:
        """Removes the sandbox; calling it again does nothing."""
        self._native.close()

    def __enter__(self) -> "Env":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        native = getattr(self, "_native", None)
        if native is not None:
            try:
                native.close()
            except Exception:
                pass

    # Coroutines: the same calls on a shared thread pool (the calls release
    # the GIL, so the event loop is never blocked).
    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))

    async def areset(self) -> str:
        """:meth:`reset` as a coroutine."""
        return await self._run(self.reset)

    async def astep(self, tool: str, timeout: Optional[float] = None, **args: Any) -> StepResult:
        """:meth:`step` as a coroutine."""
        return await self._run(self.step, tool, timeout, **args)

    async def astep_text(self, text: str, timeout: Optional[float] = None) -> StepResult:
        """:meth:`step_text` as a coroutine."""
        return await self._run(self.step_text, text, timeout)

    async def aexec(self, cmd: str, timeout: Optional[float] = None) -> ExecResult:
        """:meth:`exec` as a coroutine."""
        return await self._run(self.exec, cmd, timeout)

    async def apatch(self) -> str:
        """:meth:`patch` as a coroutine."""
        return await self._run(self.patch)

    async def areward(self, with_log: bool = True) -> Reward:
        """:meth:`reward` as a coroutine."""
        return await self._run(self.reward, with_log)

    async def afork(self) -> "Env":
        """:meth:`fork` as a coroutine."""
        return await self._run(self.fork)

    async def aclose(self) -> None:
        """:meth:`close` as a coroutine."""
        await self._run(self.close)


# Whatever is still open when the interpreter exits is removed.
atexit.register(_native.close_all)
