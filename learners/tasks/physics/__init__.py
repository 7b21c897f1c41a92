"""SHAC's physics benchmarks as DiffEnvs: Cartpole swing-up (pure PyTorch), Hopper and Ant (MuJoCo).

MuJoCo is imported only when a Hopper or Ant env is built (extra ``[physics]``).
"""

from __future__ import annotations

import torch

from .base import PhysicsEnv
from .cartpole import CartpoleParams, CartpoleSwingUpEnv, cartpole_energy, cartpole_step

PHYSICS_TASKS = ("cartpole", "hopper", "ant")


def make_physics_task(
    name: str,
    num_envs: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
    **kwargs,
) -> PhysicsEnv:
    """Build ``cartpole``, ``hopper`` or ``ant``; extra keyword arguments go to the env class."""
    if name == "cartpole":
        return CartpoleSwingUpEnv(num_envs, device, dtype, seed, **kwargs)
    if name in ("hopper", "ant"):
        try:
            import mujoco  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"task {name!r} needs MuJoCo: pip install 'difftraffic[physics]' (mujoco==4.0.*)"
            ) from exc
        from .mujoco_tasks import AntEnv, HopperEnv

        cls = HopperEnv if name == "hopper" else AntEnv
        return cls(num_envs, device, dtype, seed, **kwargs)
    raise ValueError(f"unknown physics task {name!r}; choose from {list(PHYSICS_TASKS)}")


__all__ = [
    "PHYSICS_TASKS",
    "CartpoleParams",
    "CartpoleSwingUpEnv",
    "PhysicsEnv",
    "cartpole_energy",
    "cartpole_step",
    "make_physics_task",
]
