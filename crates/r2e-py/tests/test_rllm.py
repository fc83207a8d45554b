"""rLLM's calling pattern through ``r2e.integrations.rllm.SWEEnv``: 16
environments made with ``from_dict``, driven from a thread pool via
``loop.run_in_executor``, oracle actions as XML strings; K=2 rollouts of
each demo task all earn 1.0, a wrong patch 0.0, a killed container raises
``InfraError``."""

import asyncio
import concurrent.futures
import subprocess

import pytest

import r2e
from r2e.integrations.rllm import SWEEnv


def oracle_actions(row):
    """The gold patch written with file_editor and applied with execute_bash."""
    return [
        "<function=file_editor><parameter=command>create</parameter>"
        f"<parameter=path>/tmp/gold.patch</parameter><parameter=file_text>{row['gold_patch']}</parameter></function>",
        "<function=execute_bash><parameter=cmd>echo >> /tmp/gold.patch && git apply /tmp/gold.patch</parameter></function>",
        "<function=finish><parameter=command>submit</parameter></function>",
    ]


def wrong_actions(_row):
    return [
        "<function=execute_bash><parameter=cmd>echo '# nothing' >> calc.py</parameter></function>",
        "<function=finish></function>",
    ]


def rollout(row, actions):
    env = SWEEnv.from_dict({**row, "step_timeout": 60})
    try:
        instruction, extra = env.reset()
        assert instruction and extra == {}
        for text in actions(row):
            obs, reward, done, info = env.step(text)
            assert isinstance(obs, str) and reward == 0
        assert done
        return env.compute_final_reward()
    finally:
        env.close()


def test_rllm_style_parallel_rollouts(demo_rows):
    assert SWEEnv.is_multithread_safe()
    jobs = [(row, oracle_actions) for row in demo_rows for _ in range(2)]  # K=2
    jobs += [(demo_rows[0], wrong_actions)]
    jobs = (jobs * 3)[:16]

    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            return await asyncio.gather(*(loop.run_in_executor(pool, rollout, row, acts) for row, acts in jobs))

    rewards = asyncio.run(main())
    for (row, acts), reward in zip(jobs, rewards):
        assert reward == (1.0 if acts is oracle_actions else 0.0), row["task_id"]


def test_other_scaffolds_and_killed_containers(demo_rows):
    with pytest.raises(ValueError, match="r2egym"):
        SWEEnv(entry=demo_rows[0], scaffold="sweagent")
    env = SWEEnv(entry=demo_rows[0])
    env.reset()
    subprocess.run(["docker", "kill", env.env.runtime._env.sandbox_id], check=True, capture_output=True)
    try:
        with pytest.raises(r2e.InfraError):
            env.compute_final_reward()
    finally:
        env.close()
