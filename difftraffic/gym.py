"""Gymnasium and Stable-Baselines3 adapters for any DiffEnv (extra ``[gym]``).

    vec = difftraffic.gym.make_vec("scenarios/2lane.yaml", num_envs=8)   # gymnasium.vector.VectorEnv
    model = stable_baselines3.PPO("MlpPolicy", difftraffic.gym.to_sb3(vec)).learn(10_000)

``make_vec`` wraps a task name, scenario path/name or DiffEnv instance as a ``VectorEnv`` with numpy
in/out, Box spaces (actions in [-1, 1]) and Gymnasium's ``SAME_STEP`` autoreset mode (declared in
``metadata["autoreset_mode"]``): where an episode ended, ``infos["final_obs"]``/``infos["final_info"]``
hold its last observation and info (with masks ``_final_obs``/``_final_info``), and ``infos["episode"]``
has its return ``r``, length ``l`` and wall time ``t`` (the RecordEpisodeStatistics layout). Steps run
under ``torch.no_grad()``. ``single_env`` is a one-env ``gymnasium.Env`` view (no autoreset, for
``gymnasium.utils.env_checker.check_env``); ``to_sb3`` gives an SB3 ``VecEnv``.

Only imported on demand: ``import difftraffic`` never imports gymnasium. The named tasks of
``difftraffic.registry.TASKS`` are built through ``learners.tasks.make_task`` (imported lazily).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from difftraffic import registry
from difftraffic.env import DiffEnv

STAT_KEYS = ("final_obs", "episode_return", "episode_length")


def build_env(
    spec: str | Path | DiffEnv, num_envs: int | None = None, device="cpu", dtype=torch.float32, seed=0, **kw
) -> DiffEnv:
    """A DiffEnv from a task name or scenario path/name (``num_envs`` defaults to 1), or an existing instance."""
    if isinstance(spec, DiffEnv):
        if num_envs is not None and spec.num_envs != num_envs:
            raise ValueError(f"{spec.name} has {spec.num_envs} envs, {num_envs} requested")
        return spec
    num_envs = 1 if num_envs is None else num_envs
    if str(spec) in registry.TASKS:
        from learners.tasks import make_task

        return make_task(str(spec), num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kw)
    from difftraffic.scenario.loader import make_env

    return make_env(spec, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kw)


def _spaces(env: DiffEnv) -> tuple[spaces.Box, spaces.Box]:
    np_dtype = np.float32 if env.dtype == torch.float32 else np.float64
    obs = spaces.Box(-np.inf, np.inf, shape=(env.obs_dim,), dtype=np_dtype)
    act = spaces.Box(-1.0, 1.0, shape=(env.act_dim,), dtype=np_dtype)
    return obs, act


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class DiffVectorEnv(VectorEnv):
    """A batched DiffEnv as a Gymnasium VectorEnv (same-step autoreset, numpy in/out)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: DiffEnv):
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space, self.single_action_space = _spaces(env)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self._t0 = time.perf_counter()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        with torch.no_grad():
            obs = self.env.reset(seed=seed)
        self._t0 = time.perf_counter()
        return _numpy(obs), {}

    def step(self, actions):
        actions = np.asarray(actions).reshape(self.num_envs, self.env.act_dim)
        action = torch.as_tensor(actions, device=self.env.device).to(self.env.dtype)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self.env.step(action)
        term, trunc = _numpy(terminated), _numpy(truncated)
        done = term | trunc
        infos: dict[str, Any] = {}
        for key, value in info.items():  # task-specific per-env extras (e.g. termination causes)
            if key not in STAT_KEYS and isinstance(value, torch.Tensor) and value.shape[:1] == (self.num_envs,):
                infos[key], infos[f"_{key}"] = _numpy(value), np.ones(self.num_envs, dtype=bool)
        if done.any():
            episode = {
                "r": np.where(done, _numpy(info["episode_return"]).astype(np.float64), 0.0),
                "l": np.where(done, _numpy(info["episode_length"]).astype(np.int64), 0),
                "t": np.where(done, round(time.perf_counter() - self._t0, 6), 0.0),
            }
            final_obs = np.full(self.num_envs, None, dtype=object)
            last = _numpy(info["final_obs"])
            for i in np.flatnonzero(done):
                final_obs[i] = last[i]
            infos["episode"], infos["_episode"] = episode, done.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"] = {"episode": episode, "_episode": done.copy()}
            infos["_final_info"] = done.copy()
        return _numpy(obs), _numpy(reward).astype(np.float64), term, trunc, infos

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()


class DiffGymEnv(gymnasium.Env):
    """A one-env DiffEnv as a plain ``gymnasium.Env``: returns the terminal observation when an episode ends
    (the inner env has already restarted; call ``reset()`` as usual)."""

    metadata = {"render_modes": []}

    def __init__(self, env: DiffEnv):
        if env.num_envs != 1:
            raise ValueError(f"single_env needs num_envs=1, got {env.num_envs}")
        self.env = env
        self.observation_space, self.action_space = _spaces(env)
        self.render_mode = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        with torch.no_grad():
            obs = self.env.reset(seed=seed)
        return _numpy(obs)[0], {}

    def step(self, action):
        action = torch.as_tensor(np.asarray(action), device=self.env.device).to(self.env.dtype).reshape(1, -1)
        with torch.no_grad():
            obs, reward, terminated, truncated, info = self.env.step(action)
        term, trunc = bool(terminated[0]), bool(truncated[0])
        out: dict[str, Any] = {}
        if term or trunc:
            obs = info["final_obs"]
            out["episode"] = {"r": float(info["episode_return"][0]), "l": int(info["episode_length"][0])}
        return _numpy(obs)[0], float(reward[0]), term, trunc, out

    def close(self) -> None:
        self.env.close()


def make_vec(spec: str | Path | DiffEnv, num_envs: int | None = None, **kwargs: Any) -> DiffVectorEnv:
    """Any task (name, scenario path/name or DiffEnv) as a Gymnasium VectorEnv.

    ``num_envs`` defaults to 1 (or to the instance's own count). Keyword arguments: ``device``, ``dtype``,
    ``seed`` and task options, as for ``make_task``.
    """
    return DiffVectorEnv(build_env(spec, num_envs, **kwargs))


def single_env(spec: str | Path | DiffEnv, **kwargs: Any) -> DiffGymEnv:
    """A one-env ``gymnasium.Env`` view of a task (for Gymnasium's env checker and single-env tools)."""
    return DiffGymEnv(spec if isinstance(spec, DiffEnv) else build_env(spec, 1, **kwargs))


def to_sb3(vec: DiffVectorEnv):
    """A Stable-Baselines3 ``VecEnv`` over ``vec`` (terminal_observation / TimeLimit.truncated / episode infos)."""
    return _sb3_class()(vec)


@functools.cache
def _sb3_class():
    from stable_baselines3.common.vec_env import VecEnv

    class SB3VecEnv(VecEnv):
        """SB3 view of a DiffVectorEnv: reset() -> obs, step -> (obs, rewards, dones, list of infos)."""

        def __init__(self, vec: DiffVectorEnv):
            self.vec = vec
            super().__init__(vec.num_envs, vec.single_observation_space, vec.single_action_space)
            self._actions: np.ndarray | None = None

        def reset(self):
            obs, _ = self.vec.reset(seed=self._seeds[0])
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self):
            obs, reward, term, trunc, infos = self.vec.step(self._actions)
            dones = term | trunc
            out = [{} for _ in range(self.num_envs)]
            for i in np.flatnonzero(dones):
                out[i]["terminal_observation"] = infos["final_obs"][i]
                out[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
                ep = infos["episode"]
                out[i]["episode"] = {"r": float(ep["r"][i]), "l": int(ep["l"][i]), "t": float(ep["t"][i])}
            return obs, reward.astype(np.float32), dones, out

        def close(self) -> None:
            self.vec.close()

        def get_attr(self, attr_name: str, indices=None) -> list[Any]:
            return [getattr(self.vec, attr_name)] * len(self._get_indices(indices))

        def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
            setattr(self.vec, attr_name, value)

        def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
            result = getattr(self.vec.env, method_name)(*method_args, **method_kwargs)
            return [result] * len(self._get_indices(indices))

        def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
            return [False] * len(self._get_indices(indices))

        def get_images(self) -> list[None]:
            return [None] * self.num_envs

    return SB3VecEnv
