"""TrafficEnv: what every traffic task offers beyond the DiffEnv contract, for the recorder and the viewer.

A traffic task (the pace car, the ring wave, a user's own) subclasses :class:`TrafficEnv`; the recorder
(:func:`difftraffic.recording.recorder.record_episode`) and everything that draws episodes rely on this
contract only, never on a concrete class:

* ``config``: the frozen (hashable) task configuration; ``type(env)(env.config, num_envs=, device=, dtype=,
  seed=)`` builds another env of the same task (see :meth:`TrafficEnv.tangent_twin`).
* ``num_vehicles``: N, vehicles per env (controlled ones included); ``dt`` (s) the step length.
* ``state``: the full dynamic state, a dataclass whose tensor fields are batched along dim 0 (``[B, ...]``);
  the recorder replicates it field by field and carries forward-mode tangents on its float fields.
* ``render_state(pre_reset=False)``: ``[B, N]`` tensors ``s`` (road coordinate, m), ``x``, ``y`` (world
  position of the vehicle centre, m), ``heading`` (rad), ``speed`` (m/s), ``accel`` (m/s^2), ``lane``
  (long, -1 = off the road).
* ``speeds(pre_reset=False)``: ``[B, N]`` speeds (m/s), differentiable w.r.t. the actions.
* ``vehicle_info()``: per-vehicle constants ``[N]`` (CPU): ``controlled`` (bool), ``length``, ``width`` (m).
* ``meta()``: plain data for recorded episodes: at least ``scenario``, ``task``, ``dt``, ``road``
  (``Road.as_dict()``), ``episode_length``.
* pre-reset state: with ``record_pre_reset = True`` the env keeps, after each step, the state *before* that
  step's autoresets in ``pre_reset_state`` (the recorder draws an episode's last frame from it).
* noise control: a task with stochastic dynamics exposes the noise its last step drew as ``last_noise``
  (``[B, ...]`` tensor, None for deterministic tasks) and uses ``forced_noise`` instead of drawing once when
  it is set (the recorder's tangent twin replays the recorded env's noise this way).
* :meth:`eager`: a context in which the env steps without ``torch.compile`` (the twin is eager, so the two
  stay bit-identical); :meth:`tangent_twin` builds the replicated env.

Termination causes are shared by all traffic tasks: :data:`TERMINATION_CAUSES` (index = code in
``info["termination"]`` and in recorded episodes).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from difftraffic.env import DiffEnv

TERMINATION_CAUSES = ("none", "collision", "out_of_lane", "too_far", "behind", "time_limit")
"""Cause codes of ``info["termination"]`` and ``Episode.termination``: index = code; 'none' = still running."""

CAUSE = {name: code for code, name in enumerate(TERMINATION_CAUSES)}
"""Cause name -> code, e.g. ``CAUSE["collision"] == 1``."""


def check_env_args(num_envs: int, dtype: torch.dtype) -> int:
    """The constructor checks every traffic task shares: ``num_envs`` >= 1 (returned as int), float32/float64."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if int(num_envs) < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    return int(num_envs)


class TrafficEnv(DiffEnv):
    """Base of the traffic tasks; see the module docstring for the contract."""

    family = "traffic"
    config: Any
    num_vehicles: int
    state: Any = None
    record_pre_reset: bool = False
    pre_reset_state: Any = None
    last_noise: torch.Tensor | None = None
    forced_noise: torch.Tensor | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dt(self) -> float:
        return float(self.config.dt)

    @abc.abstractmethod
    def render_state(self, pre_reset: bool = False) -> dict[str, torch.Tensor]:
        """``[B, N]`` drawing state of the current (or pre-reset) step; see the module docstring."""

    @abc.abstractmethod
    def speeds(self, pre_reset: bool = False) -> torch.Tensor:
        """Speeds ``[B, N]`` (m/s) of the current (or pre-reset) state, differentiable."""

    @abc.abstractmethod
    def vehicle_info(self) -> dict[str, torch.Tensor]:
        """Per-vehicle constants ``[N]`` (CPU): controlled (bool), length and width (m)."""

    @abc.abstractmethod
    def meta(self) -> dict[str, Any]:
        """Plain-data description for recorded episodes."""

    def which_state(self, pre_reset: bool) -> Any:
        """The current state, or the one before the last step's autoresets (needs ``record_pre_reset``)."""
        st = self.pre_reset_state if pre_reset else self.state
        if st is None:
            raise RuntimeError(
                f"{self.name}: no {'pre-reset ' if pre_reset else ''}state (call reset()/step()"
                f"{' with record_pre_reset = True' if pre_reset else ''})"
            )
        return st

    @contextlib.contextmanager
    def eager(self) -> Iterator[None]:
        """Step without torch.compile inside this context (tasks that compile override it)."""
        yield

    def tangent_twin(self, num_envs: int) -> TrafficEnv:
        """A fresh, reset, eager env of the same task with ``num_envs`` envs (its state is then overwritten)."""
        twin = type(self)(self.config, num_envs=num_envs, device=self.device, dtype=self.dtype, seed=0)
        twin.reset()
        return twin
