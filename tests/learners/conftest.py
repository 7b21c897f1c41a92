"""A small multi-step differentiable DiffEnv for the learner tests (terminations, truncations, resets)."""

from __future__ import annotations

import pytest
import torch

from difftraffic.env import AutoresetBookkeeping, DiffEnv, check_action, make_generator, rng_state


class PointMassEnv(DiffEnv):
    """Batched 2-D point masses pushed towards the origin; differentiable in state and action.

    x' = x + dt v, v' = v + dt * 2 u (u = clipped action), reward = -|x'|^2 - 0.1 |u|^2 (differentiable).
    Terminated (no bootstrap) when |x'|_inf > ``limit``; truncated after ``episode_length`` steps.
    Reset draws x ~ U(-1, 1)^2, v = 0 from the env's own generator, under no_grad. ``nan_after``: the
    reward becomes NaN from that global step count on (for NaN-guard tests).
    """

    obs_dim = 4
    act_dim = 2

    def __init__(self, num_envs=8, device="cpu", dtype=torch.float64, seed=0, episode_length=5, limit=1.6,
                 nan_after=None):  # fmt: skip
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.dtype = dtype
        self.episode_length = episode_length
        self.limit = limit
        self.nan_after = nan_after
        self.dt = 0.5
        self.gen = make_generator(self.device, seed)
        self.book = AutoresetBookkeeping(num_envs, self.device, dtype)
        self.t = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.steps = 0
        self.x = torch.zeros(num_envs, 2, dtype=dtype, device=self.device)
        self.v = torch.zeros_like(self.x)
        self.reset()

    @property
    def name(self) -> str:
        return "pointmass"

    def _draw(self, n):
        return 2.0 * torch.rand(n, 2, generator=self.gen, device=self.device, dtype=self.dtype) - 1.0

    def _obs(self):
        return torch.cat([self.x, self.v], -1)

    def reset(self, seed=None):
        if seed is not None:
            self.gen.manual_seed(int(seed))
        with torch.no_grad():
            self.x = self._draw(self.num_envs)
            self.v = torch.zeros_like(self.x)
        self.t.zero_()
        self.book.reset()
        return self._obs()

    def step(self, action):
        u = torch.clamp(check_action(self, action), -1.0, 1.0)
        x = self.x + self.dt * self.v
        v = self.v + self.dt * 2.0 * u
        self.x, self.v = x, v
        reward = -(x * x).sum(-1) - 0.1 * (u * u).sum(-1)
        self.steps += 1
        if self.nan_after is not None and self.steps > self.nan_after:
            reward = reward * float("nan")
        self.t = self.t + 1
        terminated = (x.detach().abs() > self.limit).any(-1)
        truncated = (self.t >= self.episode_length) & ~terminated
        done = terminated | truncated
        final_obs = self._obs()
        ep_ret, ep_len = self.book.update(reward, done)
        with torch.no_grad():
            fresh_x = self._draw(self.num_envs)
        keep = (~done).unsqueeze(-1)
        self.x = torch.where(keep, self.x, fresh_x)
        self.v = torch.where(keep, self.v, torch.zeros_like(self.v))
        self.t = torch.where(done, torch.zeros_like(self.t), self.t)
        info = {"final_obs": final_obs, "episode_return": ep_ret, "episode_length": ep_len}
        return self._obs(), reward, terminated, truncated, info

    def detach(self):
        self.x = self.x.detach()
        self.v = self.v.detach()

    def state_dict(self):
        return {"x": self.x.detach().clone(), "v": self.v.detach().clone(), "t": self.t.clone(),
                "steps": self.steps, "rng": rng_state(self.gen), "book": self.book.state_dict()}  # fmt: skip

    def load_state_dict(self, state):
        self.x = state["x"].clone()
        self.v = state["v"].clone()
        self.t = state["t"].clone()
        self.steps = int(state["steps"])
        self.gen.set_state(state["rng"])
        self.book.load_state_dict(state["book"])


@pytest.fixture
def point_env():
    """Factory: ``point_env(**kwargs)`` -> a fresh PointMassEnv."""
    return PointMassEnv
