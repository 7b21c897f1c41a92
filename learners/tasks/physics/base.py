"""PhysicsEnv: the DiffEnv plumbing shared by the SHAC physics tasks (Cartpole, Hopper, Ant).

Subclasses supply the physics through five hooks (all batched over ``[num_envs, ...]``):

* ``_initial_state(n)`` -> dict of state tensors for n fresh episodes (drawn from ``self.gen``);
* ``_advance(state, action)`` -> next state dict (``action`` already clipped to [-1, 1]);
* ``_observe(state, action)`` -> obs ``[B, obs_dim]``; ``action`` is the action just applied
  (zeros right after a reset, as in SHAC);
* ``_reward(state, obs, action)`` -> ``[B]``;
* ``_terminated(state, obs)`` -> bool ``[B]`` (early termination; the time limit is handled here).

This class does the rest of the contract: clipping, the step counter and time limit
(``truncated`` when ``episode_length`` steps were taken and the episode did not terminate),
same-step autoreset with ``info["final_obs"]``, episode statistics, ``detach`` and
``state_dict``/``load_state_dict`` including the reset generator.
"""

from __future__ import annotations

from typing import Any

import torch

from difftraffic.env import AutoresetBookkeeping, DiffEnv, StepResult, check_action, make_generator, rng_state

State = dict[str, torch.Tensor]


class PhysicsEnv(DiffEnv):
    """Base of the batched physics tasks; see the module docstring for the subclass hooks."""

    task_name: str = "physics"
    family = "physics"

    def __init__(
        self,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"{self.task_name}: num_envs must be >= 1, got {num_envs}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{self.task_name}: dtype must be torch.float32 or torch.float64, got {dtype}")
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        self.gen = make_generator(self.device, seed)
        self.book = AutoresetBookkeeping(self.num_envs, self.device, dtype)
        self.progress = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self.state: State = {}
        self.last_action = torch.zeros(self.num_envs, self.act_dim, device=self.device, dtype=dtype)
        self.reset()

    @property
    def name(self) -> str:
        return self.task_name

    # ----- hooks -------------------------------------------------------------------------------
    def _initial_state(self, n: int) -> State:
        raise NotImplementedError

    def _advance(self, state: State, action: torch.Tensor) -> State:
        raise NotImplementedError

    def _observe(self, state: State, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _reward(self, state: State, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _terminated(self, state: State, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    # ----- DiffEnv -----------------------------------------------------------------------------
    def uniform(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """U(0, 1) samples from the env's own generator (for ``_initial_state``)."""
        return torch.rand(shape, generator=self.gen, device=self.device, dtype=dtype or self.dtype)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(int(seed))
        self.state = self._initial_state(self.num_envs)
        self.progress.zero_()
        self.book.reset()
        self.last_action = torch.zeros(self.num_envs, self.act_dim, device=self.device, dtype=self.dtype)
        return self._observe(self.state, self.last_action)

    def step(self, action: torch.Tensor) -> StepResult:
        action = torch.clamp(check_action(self, action), -1.0, 1.0)
        state = self._advance(self.state, action)
        self.progress = self.progress + 1
        obs = self._observe(state, action)
        reward = self._reward(state, obs, action)
        with torch.no_grad():
            terminated = self._terminated(state, obs)
        truncated = (self.progress >= self.episode_length) & ~terminated
        done = terminated | truncated
        ep_return, ep_length = self.book.update(reward, done)
        final_obs = obs
        if bool(done.any()):
            fresh = self._initial_state(self.num_envs)
            mask = done[:, None]
            state = {k: torch.where(mask, fresh[k].to(v.dtype), v) for k, v in state.items()}
            action = torch.where(mask, torch.zeros_like(action), action)
            self.progress = torch.where(done, torch.zeros_like(self.progress), self.progress)
            obs = torch.where(mask, self._observe(state, action), obs)
        self.state, self.last_action = state, action
        info = {"final_obs": final_obs, "episode_return": ep_return, "episode_length": ep_length}
        return obs, reward, terminated, truncated, info

    def detach(self) -> None:
        self.state = {k: v.detach() for k, v in self.state.items()}
        self.last_action = self.last_action.detach()

    def state_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_name,
            "state": {k: v.detach().clone() for k, v in self.state.items()},
            "last_action": self.last_action.detach().clone(),
            "progress": self.progress.clone(),
            "book": self.book.state_dict(),
            "rng": rng_state(self.gen),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("task") != self.task_name:
            raise ValueError(f"state is for task {state.get('task')!r}, not {self.task_name!r}")
        if set(state["state"]) != set(self.state):
            raise ValueError(f"{self.task_name}: state keys {sorted(state['state'])} != {sorted(self.state)}")
        for key, value in state["state"].items():
            if value.shape != self.state[key].shape:
                raise ValueError(
                    f"{self.task_name}: state[{key!r}] has shape {list(value.shape)}, "
                    f"this env needs {list(self.state[key].shape)} (num_envs={self.num_envs})"
                )
        self.state = {k: v.to(self.device, self.state[k].dtype).clone() for k, v in state["state"].items()}
        self.last_action = state["last_action"].to(self.device, self.dtype).clone()
        self.progress = state["progress"].to(self.device).clone()
        self.book.load_state_dict(state["book"])
        self.gen.set_state(state["rng"].cpu())
