"""rLLM's SWE environment on r2e: a trainer configured with rLLM's env
registry uses r2e by naming this class (``r2e.integrations.rllm.SWEEnv``).
No rLLM import is needed: rLLM calls environments by this contract."""

from __future__ import annotations

import json
import random
from typing import Any, Dict, Optional, Tuple, Union

from ..compat.r2egym import Action, EnvArgs, RepoEnv

#: The scaffolds this adapter serves (R2E-Gym's tools).
SCAFFOLDS = ("r2egym",)
_TOOLS = ["file_editor.py", "search.py", "execute_bash.py", "finish.py"]


class SWEEnv:
    """rLLM's ``SWEEnv``: one task (``entry``, a dataset row), R2E-Gym's tools."""

    def __init__(
        self,
        entry: Optional[Dict[str, Any]] = None,
        dataset: Any = None,
        idx: Optional[int] = None,
        step_timeout: int = 90,
        reward_timeout: int = 300,
        backend: str = "docker",
        delete_image: bool = False,
        verbose: bool = False,
        scaffold: str = "r2egym",
        **env_options: Any,
    ):
        if scaffold not in SCAFFOLDS:
            raise ValueError(f"scaffold={scaffold!r} is not supported: r2e serves {', '.join(SCAFFOLDS)}")
        if entry is None:
            if dataset is None:
                raise ValueError("SWEEnv needs entry= (a task row) or dataset= (rows)")
            idx = random.randrange(len(dataset)) if idx is None else idx
            entry = dataset[idx]
        self.entry = entry
        self.step_timeout = step_timeout
        self.reward_timeout = reward_timeout
        self.backend = backend
        self.verbose = verbose
        self.scaffold = scaffold
        self.total_steps = 0
        self.env: Optional[RepoEnv] = None
        self._env_options = env_options

    def reset(self) -> Tuple[str, Dict[str, Any]]:
        """Starts (or restarts) the sandbox; returns the task instruction."""
        if self.env is None:
            self.env = RepoEnv(
                EnvArgs(ds=self.entry),
                backend=self.backend,
                step_timeout=self.step_timeout,
                reward_timeout=self.reward_timeout,
                verbose=self.verbose,
                **self._env_options,
            )
        else:
            self.env.reset()
        self.env.add_commands(_TOOLS)
        self.total_steps = 0
        return self.env.get_task_instruction(), {}

    def step(self, action: Union[str, Action]) -> Tuple[str, int, bool, Dict[str, Any]]:
        """Runs the action (an ``Action`` or its XML text)."""
        if isinstance(action, str):
            action = Action.from_string(action)
        if not action.function_name:
            return "", 0, False, {}
        assert self.env is not None, "call reset() first"
        obs, reward, done, info = self.env.step(action)
        self.total_steps += 1
        return str(obs), reward, done, info

    def compute_final_reward(self) -> float:
        """The hidden tests' reward; infrastructure failures raise ``r2e.InfraError``."""
        assert self.env is not None, "call reset() first"
        return self.env.compute_reward()

    def close(self) -> None:
        """Removes the sandbox."""
        if self.env is not None:
            self.env.close()

    @staticmethod
    def from_dict(extra_info: Union[Dict[str, Any], str]) -> "SWEEnv":
        """rLLM's constructor from a task dict: keys naming parameters are
        passed as such, and the whole dict is the entry."""
        if isinstance(extra_info, str):
            extra_info = json.loads(extra_info)
        import inspect

        params = inspect.signature(SWEEnv.__init__).parameters
        kwargs = {k: v for k, v in extra_info.items() if k in params and k not in ("self", "entry", "env_options")}
        return SWEEnv(entry=extra_info, **kwargs)

    @staticmethod
    def is_multithread_safe() -> bool:
        """Envs may be driven from many threads at once."""
        return True
