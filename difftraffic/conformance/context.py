"""The :class:`CheckContext` every check receives: fresh envs from the factory and reproducible actions."""

from __future__ import annotations

from typing import Any

import torch

from difftraffic.env import DiffEnv


class CheckContext:
    """Builds envs from the factory (or hands back the one instance) and draws reproducible actions."""

    def __init__(self, env_or_factory, num_envs, device, dtype, seed):
        self.instance = env_or_factory if isinstance(env_or_factory, DiffEnv) else None
        self.factory = None if self.instance is not None else env_or_factory
        self.num_envs, self.device, self.dtype, self.seed = num_envs, device, dtype, seed
        self.gen = torch.Generator().manual_seed(seed + 12345)
        self.replay: dict[str, Any] = {}  # the rollout's state_dict snapshots and recorded steps

    def make(self, num_envs: int, dtype: torch.dtype) -> DiffEnv:
        if self.instance is not None:
            return self.instance
        env = self.factory(num_envs=num_envs, device=self.device, dtype=dtype, seed=self.seed)
        if not isinstance(env, DiffEnv):
            raise TypeError(f"factory returned {type(env).__name__}, not a DiffEnv")
        return env

    def make64(self, num_envs: int) -> DiffEnv | None:
        if self.instance is not None:
            return self.instance if self.instance.dtype == torch.float64 else None
        return self.make(num_envs, torch.float64)

    def actions(self, env: DiffEnv, n: int | None = None, bound: float = 1.0) -> torch.Tensor:
        shape = (env.num_envs, env.act_dim) if n is None else (n, env.num_envs, env.act_dim)
        a = (torch.rand(shape, generator=self.gen, dtype=torch.float64) * 2.0 - 1.0) * bound
        return a.to(device=env.device, dtype=env.dtype)
