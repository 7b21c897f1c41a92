"""Task registry: ``make_task(spec, ...)`` builds any DiffEnv from a task name or a scenario path."""

from __future__ import annotations

from pathlib import Path

import torch

from difftraffic.env import DiffEnv

from .functions import FUNCTIONS, FunctionEnv

FUNCTION_TASKS = tuple(FUNCTIONS)
PHYSICS_TASKS = ("cartpole", "hopper", "ant")
TASK_NAMES = FUNCTION_TASKS + PHYSICS_TASKS


def task_family(spec: str) -> str:
    """'functions', 'physics' or 'traffic' for a task name or scenario path."""
    name = Path(str(spec)).stem if str(spec).endswith((".yaml", ".yml")) else str(spec)
    if name in FUNCTION_TASKS:
        return "functions"
    if name in PHYSICS_TASKS:
        return "physics"
    return "traffic"


def make_task(
    spec: str | Path,
    num_envs: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
) -> DiffEnv:
    """Build a task: a name in TASK_NAMES, or a scenario (YAML path or bundled scenario name)."""
    spec = str(spec)
    if spec in FUNCTION_TASKS:
        return FunctionEnv(spec, num_envs=num_envs, device=device, dtype=dtype, seed=seed)
    if spec in PHYSICS_TASKS:
        from .physics import make_physics_task

        return make_physics_task(spec, num_envs=num_envs, device=device, dtype=dtype, seed=seed)
    from difftraffic.scenario import make_env

    return make_env(spec, num_envs=num_envs, device=device, dtype=dtype, seed=seed)
