"""PaceCarEnv: the GI-PPO paper's pace-car traffic task (sec. 5.3, appendix 7.5.2) as a batched DiffEnv.

One controlled pace car (vehicle 0, kinematic bicycle; action = [steering, acceleration] in [-1, 1],
scaled to +-20 degrees and +-8 m/s^2) drives on a multi-lane road among IDM cars; it must make
them drive at the target speed (10 m/s) by blocking their lanes. IDM cars treat the pace car as
their leader only while it is in their lane, so analytical gradients reach exactly the cars
behind it (the paper's Fig. 9). See :mod:`difftraffic.tasks.pacecar.dynamics` for the step order,
:mod:`difftraffic.tasks.pacecar.rules` for observation / reward / termination and
:mod:`difftraffic.tasks.pacecar.layout` for the reset placement.

    env = PaceCarEnv(PaceCarConfig.paper(num_lanes=10, num_cars=10), num_envs=64, seed=0)
    obs = env.reset()                                   # [64, 44]
    obs, reward, terminated, truncated, info = env.step(torch.tanh(raw_action))

``info``: ``final_obs`` (pre-reset observation, differentiable), ``episode_return``,
``episode_length`` (valid where an episode ended) and ``termination`` (long cause codes of
:data:`difftraffic.tasks.traffic.TERMINATION_CAUSES`, incl. 5 = time limit; 0 where still running).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import torch

from difftraffic.env import StepResult, check_action, make_generator
from difftraffic.tasks.draws import ChunkedDraws
from difftraffic.tasks.pacecar.dynamics import PaceCarKernel
from difftraffic.tasks.pacecar.layout import PaceCarConfig, PaceCarLayout
from difftraffic.tasks.pacecar.state import PaceCarState
from difftraffic.tasks.traffic import TrafficEnv, check_env_args

RESET_DRAW_CHUNK = 128
"""Random numbers for autoresets are drawn for this many steps at a time (one generator call)."""
COMPILE_AUTO_AFTER = 2000
"""With ``compile="auto"`` an env switches to the compiled step after this many eager steps (CPU only), so
short runs and tests never pay the one-off compile while training runs get the fast step."""


@lru_cache(maxsize=32)
def shared_kernel(config: PaceCarConfig, device: torch.device, dtype: torch.dtype) -> PaceCarKernel:
    """One (stateless) kernel per task, device and dtype, shared by all envs: compiled graphs are reused
    instead of recompiled per env instance."""
    layout = PaceCarLayout(config, device, dtype)
    return PaceCarKernel(layout, config.dt, config.episode_length, config.rules, config.integrator, config.sstar_clip)


def resolve_compile(compile: bool | str | None, device: torch.device) -> bool | str:
    """True, False or "auto" from the argument and the DIFFTRAFFIC_COMPILE environment variable (0/1/auto)."""
    if compile is None or compile == "auto":
        env = os.environ.get("DIFFTRAFFIC_COMPILE", "auto").strip().lower()
        if env in ("1", "true", "yes"):
            return True
        if env in ("0", "false", "no"):
            return False
        return "auto" if device.type == "cpu" else False
    if isinstance(compile, bool):
        return compile
    raise ValueError(f"compile must be True, False or 'auto', got {compile!r}")


class PaceCarEnv(TrafficEnv):
    """Batched pace-car task; see the module docstring.

    Args:
        config: the task (road, drivers, pace car, rules); default: 3 lanes, 9 IDM cars (paper scenario C).
        num_envs: batch size B. device, dtype: where and in which float type to simulate
            (positions are float64 whatever ``dtype``).
        seed: seeds the env's own generator (pace-car start lanes, optional reset noise).
        compile: run the step through ``torch.compile`` (about 4-5x faster on CPU once compiled; each
            autograd mode pays a one-off compile of ~10 s, cached on disk by inductor). "auto" (default)
            compiles on CPU after :data:`COMPILE_AUTO_AFTER` steps; the DIFFTRAFFIC_COMPILE environment
            variable (0/1) overrides "auto". Results equal the eager step up to float rounding.
    """

    act_dim = 2

    def __init__(
        self,
        config: PaceCarConfig | None = None,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
        compile: bool | str | None = "auto",
    ):
        self.num_envs = check_env_args(num_envs, dtype)
        self.config = config if config is not None else PaceCarConfig.paper(3, 9)
        self.device = torch.device(device)
        self.dtype = dtype
        self.kernel = shared_kernel(self.config, self.device, dtype)
        self.layout = self.kernel.layout
        cfg = self.config
        self.compile = resolve_compile(compile, self.device)
        self.steps_taken = 0
        self.record_pre_reset = False  # set by the recorder: keep the state before each autoreset
        self.pre_reset_state: PaceCarState | None = None
        self.num_vehicles = self.layout.num_vehicles
        self.obs_dim = 4 * self.num_vehicles
        self.episode_length = int(cfg.episode_length)
        self.gen = make_generator(self.device, seed)
        self.reset_draws = ChunkedDraws(self.gen, RESET_DRAW_CHUNK, self._draw_chunk)
        self.state: PaceCarState | None = None

    # -------------------------------------------------------------- randomness
    def _draw(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pace-car start lanes ``[*shape]`` and reset noise ``[*shape, N, C]`` from the env's generator."""
        cfg, dev = self.config, self.device
        if cfg.pace_lane is None:
            lanes = torch.randint(0, cfg.road.num_lanes, shape, generator=self.gen, device=dev)
        else:
            lanes = torch.full(shape, int(cfg.pace_lane), dtype=torch.long, device=dev)
        noise = None
        if self.layout.noise_channels:
            size = (*shape, self.num_vehicles, self.layout.noise_channels)
            noise = torch.rand(size, generator=self.gen, device=dev, dtype=self.dtype)
        return lanes, noise

    def _draw_chunk(self, steps: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._draw((steps, self.num_envs))

    def _next_reset_draw(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        (lanes, noise), i = self.reset_draws.take()
        return lanes[i], (None if noise is None else noise[i])

    # --------------------------------------------------------------- DiffEnv
    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(int(seed))
        lanes, noise = self._draw((self.num_envs,))
        self.reset_draws.restart()
        self.state = self.layout.initial_state(lanes, noise, self.dtype)
        return self.kernel.observe(self.state)

    def step(self, action: torch.Tensor) -> StepResult:
        if self.state is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        action = check_action(self, action)
        lanes, noise = self._next_reset_draw()
        compiled = self.compile is True or (self.compile == "auto" and self.steps_taken >= COMPILE_AUTO_AFTER)
        self.state, out, pre = self.kernel.step(self.state, action, lanes, noise, compiled, self.record_pre_reset)
        self.pre_reset_state = pre
        self.steps_taken += 1
        info = {
            "final_obs": out.final_obs,
            "episode_return": out.episode_return,
            "episode_length": out.episode_length,
            "termination": out.cause,
        }
        return out.obs, out.reward, out.terminated, out.truncated, info

    def detach(self) -> None:
        if self.state is not None:
            self.state = self.state.detach()

    def state_dict(self) -> dict[str, Any]:
        if self.state is None:
            raise RuntimeError(f"{self.name}: call reset() before state_dict()")
        return {
            "state": self.state.as_dict(),
            **self.reset_draws.state_dict(),
            "num_envs": self.num_envs,
            "name": self.name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["num_envs"]) != self.num_envs:
            raise ValueError(f"{self.name}: state has {state['num_envs']} envs, this env has {self.num_envs}")
        self.state = PaceCarState.from_dict(state["state"], self.layout.idm_const, self.device, self.dtype)
        self.reset_draws.load_state_dict(state)

    # ------------------------------------------------------------- rendering
    @torch.no_grad()
    def render_state(self, pre_reset: bool = False) -> dict[str, torch.Tensor]:
        """Current step for the recorder/viewer: ``[B, N]`` tensors s, x, y (m), heading (rad), speed (m/s),
        accel (m/s^2), lane (long, -1 off road); vehicle 0 is the pace car. ``pre_reset=True`` draws the state
        before the last step's autoreset (needs ``record_pre_reset``)."""
        st = self.which_state(pre_reset)
        wx, wy, wh, _, _ = self.kernel.world(st)
        return {
            "s": st.s.clone(),
            "x": wx,
            "y": wy,
            "heading": wh,
            "speed": st.v.detach().clone(),
            "accel": st.accel.detach().clone(),
            "lane": st.lane.clone(),
        }

    def speeds(self, pre_reset: bool = False) -> torch.Tensor:
        """Speeds ``[B, N]`` (m/s) of the current (or pre-reset) state, differentiable."""
        return self.which_state(pre_reset).v

    def vehicle_info(self) -> dict[str, torch.Tensor]:
        """Per-vehicle constants ``[N]`` (CPU): controlled (bool), length and width (m)."""
        controlled = torch.zeros(self.num_vehicles, dtype=torch.bool)
        controlled[0] = True
        return {"controlled": controlled, "length": self.layout.length.clone(), "width": self.layout.width.clone()}

    def meta(self) -> dict[str, Any]:
        """Plain-data description for recorded episodes."""
        cfg = self.config
        return {
            "scenario": cfg.name,
            "task": "pacecar",
            "dt": float(cfg.dt),
            "road": cfg.road.as_dict(),
            "target_speed": float(cfg.rules.target_speed),
            "episode_length": int(cfg.episode_length),
            "num_cars": int(self.layout.num_cars),
        }

    @contextlib.contextmanager
    def eager(self) -> Iterator[None]:
        """Step without torch.compile inside this context (the recorder's tangent twin is eager)."""
        mode, self.compile = self.compile, False
        try:
            yield
        finally:
            self.compile = mode

    def tangent_twin(self, num_envs: int) -> PaceCarEnv:
        twin = PaceCarEnv(self.config, num_envs=num_envs, device=self.device, dtype=self.dtype, seed=0, compile=False)
        twin.reset()
        return twin
