"""R2E-Gym's environment API on r2e: change one import.

    from r2egym.agenthub.environment.env import EnvArgs, RepoEnv
    from r2egym.agenthub.action import Action

becomes

    from r2e.compat.r2egym import EnvArgs, RepoEnv, Action

Names, signatures and observation texts follow R2E-Gym (the agentica-project
fork that rLLM installs, a superset of R2E-Gym 69bc953). Where they differ:

- an infrastructure failure (dead sandbox, engine error) raises
  :class:`r2e.InfraError` from ``compute_reward``/``_calculate_reward``
  instead of scoring 0.0 (``RepoEnv(..., infra_errors="zero")`` restores 0.0);
- the reward runs in a fresh sandbox with only the agent's patch (pass
  ``reward_in="same"`` for R2E-Gym's gameable same-sandbox reward);
- ``add_commands`` maps R2E-Gym's tool scripts to r2e's native tools by
  name (no script is copied into the sandbox; the tools run in r2e's shim);
- an unknown action gets R2E-Gym's "Invalid Action" observation instead of
  an empty one;
- ``backend`` is ``"docker"``, ``"kubernetes"`` (pods; pass
  ``provider_config="k8s.toml"`` or set ``$R2E_PROVIDER_CONFIG``, see
  docs/scaling.md), or ``"remote"`` with ``server=URL`` (an ``r2e serve``
  instance). With the default ``"docker"``, ``$R2E_PROVIDER`` may still
  send the sandboxes to Kubernetes, as it does for every r2e command.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import r2e

#: R2E-Gym's default time limit of ``runtime.run``.
CMD_TIMEOUT = 120
#: The tools r2e serves natively, by the names R2E-Gym's scripts give them.
NATIVE_TOOLS = ("file_editor", "search", "execute_bash", "finish", "submit")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class EnvArgs:
    """R2E-Gym's environment arguments: the dataset row (``ds``)."""

    ds: Dict[str, Any]
    repo_path: Optional[str] = None
    docker_image: Optional[str] = None


class Action:
    """One tool call, parsed from and rendered to R2E-Gym's text forms."""

    def __init__(self, function_name: str, parameters: Dict[str, Any], function_id: Optional[str] = None):
        self.function_name = function_name
        self.parameters = parameters

    @classmethod
    def from_string(cls, action_str: str) -> "Action":
        """The first ``<function=…>`` name and every ``<parameter=…>…</parameter>``
        in ``action_str`` (names and values stripped; a later duplicate wins)."""
        m = re.search(r"<function\s*=\s*([^>]+)>", action_str)
        name = m.group(1).strip() if m else ""
        params: Dict[str, Any] = {}
        for key, value in re.findall(r"<parameter\s*=\s*([^>]+)>(.*?)</parameter>", action_str, re.DOTALL):
            params[key.strip()] = value.strip()
        return cls(name, params)

    def to_dict(self) -> Dict[str, Any]:
        """``{"function": name, "parameters": {...}}``."""
        return {"function": self.function_name, "parameters": self.parameters}

    def to_xml_string(self) -> str:
        """``<function=NAME>`` with one indented ``<parameter=K>V</parameter>`` line each."""
        lines = [f"<function={self.function_name}>"]
        lines += [f"  <parameter={k}>{v}</parameter>" for k, v in self.parameters.items()]
        return "\n".join(lines) + "\n</function>"

    def to_bashcmd(self) -> str:
        """The command line R2E-Gym runs for this action."""
        if not self.function_name:
            return ""
        if self.function_name in ("finish", "submit"):
            return "echo '<<<Finished>>>'"
        parts = [shlex.quote(self.function_name)]
        if "command" in self.parameters:
            parts.append(shlex.quote(str(self.parameters["command"])))
        for key, value in self.parameters.items():
            if key != "command":
                parts += [f"--{key}", shlex.quote(str(value))]
        return " ".join(parts)

    def __str__(self) -> str:
        return self.to_xml_string()


class Observation:
    """What the model sees after an action; ``str()`` is R2E-Gym's text."""

    def __init__(self, bash_output: str, error_code: Any, action: Action, num_lines: int = 40):
        self.bash_output = bash_output
        self.error_code = error_code
        self.action = action
        self.num_lines = num_lines

    def __str__(self) -> str:
        name = self.action.function_name
        if not name:
            return r2e.CONTINUE_MSG
        if name in ("finish", "submit"):
            return "<<< Finished >>>"
        if name in ("execute_bash", "bash"):
            lines = self.bash_output.splitlines()
            if len(lines) > 2 * self.num_lines:
                cut = "\n" + "-" * 50 + "\n<Observation truncated in middle for saving context>\n" + "-" * 50 + "\n"
                out = "\n".join(lines[: self.num_lines]) + cut + "\n".join(lines[-self.num_lines :])
            else:
                out = self.bash_output
            return f"Exit code: {self.error_code}\nExecution output of [{name}]:\n{out}"
        return f"Execution output of [{name}]:\n{self.bash_output}"


class DockerRuntime:
    """The ``env.runtime`` callers reach for: commands, patches, files and
    the reward, with R2E-Gym's return shapes."""

    def __init__(self, env: "r2e.Env", ds: Dict[str, Any]):
        self._env = env
        self.ds = ds
        self.docker_image = env.task["image"]
        self.repo_path = "/testbed"
        self.repo_name = ds.get("repo_name") or ds.get("repo") or env.task["repo"]
        self.swebench_verified = "swebench" in self.docker_image

    def run(self, code: str, timeout: int = CMD_TIMEOUT, args: str = "", workdir: Optional[str] = None, type: Optional[str] = None) -> Tuple[str, str]:
        """Runs ``code`` in the repository: ``(output, "0")``, ``(output,
        "Error: Exit code N")``, or ``("The command took too long to execute
        (>Ns)", "-1")``; stdout and stderr merged."""
        cmd = f"exec 2>&1; {code} {args}"
        if workdir:
            cmd = f"cd {shlex.quote(workdir)} && {cmd}"
        try:
            res = self._env.exec(cmd, timeout=timeout)
        except r2e.InfraError as e:
            return f"Error: {e!r}", "-1"
        if res.timed_out or res.exit_code == 124:
            return f"The command took too long to execute (>{timeout}s)", "-1"
        if res.exit_code != 0:
            return res.output, f"Error: Exit code {res.exit_code}"
        return _ANSI.sub("", res.output).replace("\r", ""), "0"

    def get_task_instruction(self) -> str:
        """The issue text (the part inside ``[ISSUE]…[/ISSUE]`` when marked)."""
        text = self._env.task["problem_statement"]
        m = re.search(r"\[ISSUE\](.*)\[/ISSUE\]", text, re.DOTALL)
        return m.group(1) if m else text

    def get_patch(self) -> str:
        """The agent's changes (``git add -A && git diff --cached``)."""
        return self._env.patch()

    def apply_patch(self, patch: str) -> Tuple[str, str]:
        """Applies a patch in the repository (``git apply --whitespace=fix``)."""
        path = f"/tmp/{uuid.uuid4().hex}.patch"
        self._env.write_file(path, patch)
        return self.run(f"git apply --whitespace=fix {path}")

    def copy_to_container(self, src_path: str, dest_path: str) -> None:
        """Copies a host file or directory to ``dest_path`` in the sandbox."""
        if os.path.isdir(src_path):
            for root, _dirs, files in os.walk(src_path):
                for name in files:
                    rel = os.path.relpath(os.path.join(root, name), src_path)
                    with open(os.path.join(root, name), "rb") as f:
                        self._env.write_file(os.path.join(dest_path, rel), f.read())
            return
        with open(src_path, "rb") as f:
            self._env.write_file(dest_path, f.read(), os.stat(src_path).st_mode & 0o777)

    def read_file(self, path: str) -> str:
        """A file of the sandbox as text."""
        return self._env.read_file(path).decode(errors="replace")

    def _calculate_reward(self, get_test_output: bool = False, timeout: int = 300) -> Any:
        """The reward as a float (with the test log when asked)."""
        reward = self._env.reward()
        return (reward.value, reward.log) if get_test_output else reward.value

    def close(self) -> None:
        """Removes the sandbox."""
        self._env.close()


class RepoEnv:
    """R2E-Gym's ``RepoEnv``: the sandbox starts in the constructor."""

    def __init__(
        self,
        args: EnvArgs,
        logger: Optional[logging.Logger] = None,
        backend: str = "docker",
        verbose: bool = True,
        step_timeout: int = 90,
        reward_timeout: int = 300,
        infra_errors: str = "raise",
        **env_options: Any,
    ):
        if backend not in ("docker", "kubernetes", "remote"):
            raise ValueError(
                f"backend={backend!r} is not supported by r2e's RepoEnv: use backend='docker', "
                "backend='kubernetes' (with provider_config='k8s.toml') "
                "or backend='remote' with server='http://HOST:7878'"
            )
        if backend == "remote" and "server" not in env_options:
            raise ValueError("backend='remote' needs server='http://HOST:PORT' (an r2e serve instance)")
        if infra_errors not in ("raise", "zero"):
            raise ValueError("infra_errors must be 'raise' or 'zero'")
        self.args = args
        self.backend = backend
        self.step_timeout = step_timeout
        self.reward_timeout = reward_timeout
        self.infra_errors = infra_errors
        self.logger = logger or logging.getLogger("RepoEnv")
        if not verbose:
            self.logger.setLevel(logging.CRITICAL)
        self._options = dict(step_timeout=step_timeout, reward_timeout=reward_timeout, **env_options)
        if backend == "kubernetes":
            self._options["provider"] = "kubernetes"
        self.commands: List[str] = []
        self._start()

    def _start(self) -> None:
        env = r2e.Env(self.args.ds, **self._options)
        env.reset()
        self.runtime = DockerRuntime(env, self.args.ds)
        self.done = False
        self.observation: Optional[Observation] = None
        self.state = None
        self.logger.info(f"Initialized Env: {self.runtime.repo_name} with image: {self.runtime.docker_image}")

    def reset(self) -> str:
        """A brand-new sandbox (the old one is removed)."""
        self.runtime.close()
        self._start()
        return "Environment reset"

    def add_commands(self, cmd_files: List[str]) -> None:
        """Makes R2E-Gym's tool scripts available, by name, as r2e's native tools."""
        names = []
        for path in cmd_files:
            name = os.path.basename(str(path)).rsplit(".", 1)[0]
            if name not in NATIVE_TOOLS:
                raise ValueError(f"{path}: r2e serves the tools {', '.join(NATIVE_TOOLS)}; {name!r} is not one of them")
            names.append(name)
        self.commands = names

    def run_action(self, action: Action, timeout: int) -> Tuple[str, Any, float]:
        """Runs an action's tool: ``(output, error_code, seconds)``."""
        if not action.function_name:
            return "", 0, 0
        started = time.time()
        res = self.runtime._env.step(action.function_name, timeout=timeout, **action.parameters)
        return res.info["output"], res.info["error_code"], time.time() - started

    def step(self, action: Action, timeout: Optional[int] = None) -> Tuple[Observation, int, bool, Dict[str, Any]]:
        """Runs one action: ``(Observation, 0, done, {"total_time": seconds})``."""
        timeout = timeout or self.step_timeout
        if action.function_name and action.function_name not in self.commands:
            allowed = list(self.commands)
            text = (
                "Invalid Action: input action must be one of allowed actions \n"
                f" Allowed actions: {allowed} \n Input action: {action.function_name}\t"
            )
            self.observation = Observation(text, -1, action)
            return self.observation, 0, self.done, {"total_time": 0.0}
        output, error_code, total_time = self.run_action(action, timeout)
        self.observation = Observation(output, error_code, action)
        name = action.function_name.lower()
        if "finish" in name or "submit" in name:
            self.done = True
        return self.observation, 0, self.done, {"total_time": total_time}

    def compute_reward(self, timeout: Optional[int] = None) -> float:
        """The hidden tests' reward (1.0 or 0.0); an infrastructure failure
        raises :class:`r2e.InfraError` (0.0 with ``infra_errors="zero"``)."""
        try:
            return self.runtime._calculate_reward(timeout=timeout or self.reward_timeout)
        except r2e.InfraError:
            if self.infra_errors == "zero":
                return 0.0
            raise

    def get_task_instruction(self) -> str:
        """The issue text."""
        return self.runtime.get_task_instruction()

    def check_done(self) -> bool:
        """Whether ``finish``/``submit`` was called since the last reset."""
        return self.done

    def get_stats(self) -> Dict[str, Any]:
        """The dataset row."""
        return self.runtime.ds

    def close(self) -> None:
        """Removes the sandbox."""
        self.runtime.close()
