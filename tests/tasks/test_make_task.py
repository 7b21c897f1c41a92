"""make_task: every task name, scenario paths and names, clear errors for anything else."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from learners.tasks import (
    TASK_NAMES,
    UnknownTaskError,
    bundled_scenario,
    make_task,
    scenario_tasks,
    task_factory,
    task_family,
)

ROOT = Path(__file__).resolve().parents[2]
DIMS = {
    "dejong": (1, 1, 1),
    "dejong64": (1, 64, 1),
    "ackley": (1, 1, 1),
    "ackley64": (1, 64, 1),
    "cartpole": (5, 1, 240),
    "hopper": (11, 3, 1000),
    "ant": (37, 8, 1000),
}
MUJOCO = importlib.util.find_spec("mujoco") is not None or bool(os.environ.get("CI"))


@pytest.mark.parametrize("name", [n for n in TASK_NAMES if MUJOCO or n not in ("hopper", "ant")])
def test_every_task_name_builds_with_the_requested_settings(name):
    env = make_task(name, num_envs=3, device="cpu", dtype=torch.float64, seed=4)
    assert (env.obs_dim, env.act_dim, env.episode_length) == DIMS[name]
    assert env.num_envs == 3 and env.dtype == torch.float64 and env.device == torch.device("cpu")
    assert env.name == name and task_family(name) in ("functions", "physics")
    obs = env.reset(seed=1)
    assert obs.shape == (3, DIMS[name][0]) and obs.dtype == torch.float64
    env.close()


def test_unknown_names_fail_with_the_list_of_tasks():
    with pytest.raises(UnknownTaskError, match="dejong.*ant") as err:
        make_task("dejongg")
    assert isinstance(err.value, ValueError)
    assert task_family("dejongg") == "traffic" and task_family("x/ackley.yaml") == "functions"


def test_task_factory_is_a_conformance_factory():
    factory = task_factory("cartpole")
    env = factory(num_envs=2, device="cpu", dtype=torch.float32, seed=0)
    assert env.name == "cartpole" and env.num_envs == 2 and factory.__name__ == "cartpole"


@pytest.mark.parametrize("path", scenario_tasks(), ids=lambda p: p.stem)
def test_scenarios_build_by_path_and_by_bundled_name(path):
    by_path = make_task(str(path), num_envs=2, seed=0)
    assert bundled_scenario(path.stem) == path
    by_name = make_task(path.stem, num_envs=2, seed=0)
    assert (by_name.obs_dim, by_name.act_dim) == (by_path.obs_dim, by_path.act_dim)
    assert torch.equal(by_name.reset(seed=3), by_path.reset(seed=3))
    assert task_family(str(path)) == "traffic"
