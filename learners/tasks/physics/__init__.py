"""SHAC's physics benchmarks as DiffEnvs: Cartpole swing-up (pure PyTorch), Hopper and Ant (MuJoCo).

MuJoCo is imported only when a Hopper or Ant env is built (extra ``[physics]``).
"""

from __future__ import annotations

import torch

from difftraffic import registry

from .base import PhysicsEnv
from .cartpole import CartpoleParams, CartpoleSwingUpEnv, cartpole_energy, cartpole_step

PHYSICS_TASKS = registry.task_names("physics")


def make_physics_task(
    name: str,
    num_envs: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
    **kwargs,
) -> PhysicsEnv:
    """Build a physics-family task of :data:`difftraffic.registry.TASKS`; extra keyword arguments go to its class."""
    if name not in PHYSICS_TASKS:
        raise ValueError(f"unknown physics task {name!r}; choose from {list(PHYSICS_TASKS)}")
    from learners.tasks import build_named_task

    return build_named_task(name, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kwargs)


__all__ = [
    "PHYSICS_TASKS",
    "CartpoleParams",
    "CartpoleSwingUpEnv",
    "PhysicsEnv",
    "cartpole_energy",
    "cartpole_step",
    "make_physics_task",
]
