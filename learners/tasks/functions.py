"""Function-optimisation tasks of the GI-PPO paper (sec. 5.1, appendix 7.5.1): De Jong and Ackley.

One-step episodes with a constant observation ``[0]``: the policy is effectively a state-free
Gaussian and the task is to put its mean at the optimum x = 0. The env maps an action in [-1, 1]
to x = clip(action, -1, 1) * bound (bound 5.12 for De Jong, 32.768 for Ackley) and returns the
reward -f(x). Every step ends the episode by the time limit (truncated, never terminated), exactly
like the reference code, so learners bootstrap from V([0]).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from difftraffic.env import DiffEnv, StepResult, check_action, make_generator, rng_state


def dejong(x: torch.Tensor) -> torch.Tensor:
    """De Jong's sphere function f(x) = sum_i x_i^2 over the last dim; optimum 0 at x = 0."""
    return (x * x).sum(dim=-1)


def _safe_sqrt(z: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (a valid subgradient) instead of inf/NaN at z = 0."""
    positive = z > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, z, torch.ones_like(z))), torch.zeros_like(z))


def ackley(x: torch.Tensor) -> torch.Tensor:
    """Ackley's function over the last dim (a=20, b=0.2, c=2*pi); optimum 0 at x = 0.

    f(x) = -20 exp(-0.2 sqrt(mean x^2)) - exp(mean cos(2 pi x)) + 20 + e. The gradient at the
    origin is finite (zero) thanks to :func:`_safe_sqrt`.
    """
    r = _safe_sqrt((x * x).mean(dim=-1))
    c = torch.cos(2.0 * math.pi * x).mean(dim=-1)
    return -20.0 * torch.exp(-0.2 * r) - torch.exp(c) + 20.0 + math.e


FUNCTIONS = {
    # name: (function, dimension, action bound)
    "dejong": (dejong, 1, 5.12),
    "dejong64": (dejong, 64, 5.12),
    "ackley": (ackley, 1, 32.768),
    "ackley64": (ackley, 64, 32.768),
}


class FunctionEnv(DiffEnv):
    """Batched one-step function-optimisation task; reward = -f(bound * clip(action, -1, 1))."""

    episode_length = 1
    obs_dim = 1
    family = "functions"

    def __init__(
        self,
        name: str,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
    ):
        if name not in FUNCTIONS:
            raise ValueError(f"unknown function task {name!r}; choose from {sorted(FUNCTIONS)}")
        self._name = name
        self.fn, self.act_dim, self.bound = FUNCTIONS[name]
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        # The task itself is deterministic; the generator exists so that state_dict is uniform.
        self.gen = make_generator(self.device, seed)
        self._obs = torch.zeros(self.num_envs, 1, device=self.device, dtype=dtype)

    @property
    def name(self) -> str:
        return self._name

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(int(seed))
        return self._obs.clone()

    def objective(self, action: torch.Tensor) -> torch.Tensor:
        """f at the point the action maps to, ``[num_envs]`` (lower is better)."""
        return self.fn(torch.clamp(action, -1.0, 1.0) * self.bound)

    def step(self, action: torch.Tensor) -> StepResult:
        action = check_action(self, action)
        reward = -self.objective(action)
        done = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        obs = self._obs.clone()
        info: dict[str, Any] = {
            "final_obs": self._obs.clone(),
            "episode_return": reward.detach().clone(),
            "episode_length": torch.ones(self.num_envs, dtype=torch.long, device=self.device),
        }
        return obs, reward, torch.zeros_like(done), done, info

    def detach(self) -> None:
        """Nothing is carried between steps."""

    def state_dict(self) -> dict[str, Any]:
        return {"task": self._name, "rng": rng_state(self.gen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("task") != self._name:
            raise ValueError(f"state is for task {state.get('task')!r}, not {self._name!r}")
        self.gen.set_state(state["rng"].cpu())
