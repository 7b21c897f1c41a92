"""RingWaveEnv: Flow's wave-attenuation task ("stabilizing the ring", Wu et al. 2017) as a batched DiffEnv.

One controlled car (vehicle 0, the AV) among N cars on a single-lane ring whose length is drawn from
U[lo, hi] (220-270 m) at every reset, independently per env. Human cars drive IDM (Flow's
parameters v0 = 30, T = 1, a = 1, b = 1.5, s0 = 2, delta = 4, L = 5) plus Gaussian acceleration
noise sqrt(dt) * N(0, sigma). At reset the cars stand evenly spaced over the ring minus a
``bunching`` gap (Flow's reset: 50 m), then ``warmup_steps`` steps run with the AV driving its own
IDM (no gradient), so stop-and-go waves have formed when control starts.

* action ``[B, 1]`` in [-1, 1], scaled to the AV's acceleration in [-max_accel, max_accel] m/s^2;
* observation ``[B, 3]`` = (v_AV / 15, (v_lead - v_AV) / 15, headway / max ring length), headway the
  centre-to-centre (= front-to-front) distance to the AV's leader (Flow's WaveAttenuationPOEnv);
* reward = 4 mean_i(v_i) / 20 - 4 |a_AV| (a_AV the commanded acceleration, m/s^2); on a collision
  (some net gap < 0 after the step) the reward is 0 and the episode terminates (cause "collision");
* the time limit (``episode_length`` control steps) truncates.

Dynamics: every car follows the next one around the ring (positions are kept unwrapped in float64,
so the cyclic order never jumps); IDM via :func:`difftraffic.idm.idm_acceleration`, integration via
``TrafficSim.integrate`` (Flow's SUMO uses "euler": v first, clamped at 0, then x += v dt).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from difftraffic.env import DiffEnv, StepResult, check_action, make_generator
from difftraffic.sim.idm import IDMParams, idm_acceleration
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import SimState, TrafficSim
from difftraffic.tasks.draws import ChunkedDraws
from difftraffic.tasks.pacecar.layout import DriverGroup, Randomisation
from difftraffic.tasks.pacecar.rules import CAUSE

FLOW_HUMAN = IDMParams(v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0, delta=4.0, length=5.0)
NOISE_CHUNK = 128


@dataclass(frozen=True)
class RingWaveConfig:
    """Everything that defines a ring-wave task; see the module docstring for the semantics."""

    length_range: tuple[float, float] = (220.0, 270.0)
    groups: tuple[DriverGroup, ...] = (
        DriverGroup(per_lane=(1,), idm=FLOW_HUMAN, name="av"),
        DriverGroup(per_lane=(21,), idm=FLOW_HUMAN, accel_noise=0.2, name="human"),
    )
    bunching: float = 50.0
    randomise: Randomisation = Randomisation()
    dt: float = 0.1
    integrator: str = "euler"
    sstar_clip: str = "dynamic"
    warmup_steps: int = 750
    episode_length: int = 3000
    max_accel: float = 1.0
    speed_scale: float = 15.0
    headway_scale: float | None = None  # None: the largest ring length
    speed_weight: float = 4.0
    speed_norm: float = 20.0
    accel_weight: float = 4.0
    name: str = "ring_wave"

    @property
    def num_cars(self) -> int:
        return sum(g.per_lane[0] for g in self.groups)

    def validate(self) -> None:
        """Raise ValueError ("key: why") on impossible settings."""
        lo, hi = self.length_range
        if not 0 < lo <= hi:
            raise ValueError(f"road.length: range must satisfy 0 < lo <= hi, got [{lo:g}, {hi:g}]")
        if self.num_cars < 2:
            raise ValueError("drivers: a ring task needs at least 2 cars (the controlled one and a leader)")
        for gi, g in enumerate(self.groups):
            if len(g.per_lane) != 1:
                raise ValueError(f"drivers.groups[{gi}].per_lane: the ring has one lane")
            try:
                g.idm.validate()
            except ValueError as exc:
                raise ValueError(f"drivers.groups[{gi}].idm.{exc}") from None
        if self.randomise.idm:
            raise ValueError("drivers.randomise.idm: IDM parameter noise is only supported by the pacecar task")
        lengths = [float(g.idm.length) for g in self.groups]
        spacing = (lo - self.bunching) / self.num_cars
        need = max(lengths) + 2.0 * self.randomise.position
        if self.bunching < 0:
            raise ValueError("drivers.placement.bunching: must be >= 0 m")
        if spacing < need:
            raise ValueError(
                f"drivers.placement.bunching: {self.num_cars} cars over {lo:g} - {self.bunching:g} m are "
                f"{spacing:.3g} m apart, cars overlap (need >= {need:g} m)"
            )
        for key in ("dt", "max_accel", "speed_scale", "speed_norm"):
            if not getattr(self, key) > 0:
                raise ValueError(f"task.{key}: must be > 0, got {getattr(self, key)}")
        if self.episode_length < 1 or self.warmup_steps < 0:
            raise ValueError("task.episode_length must be >= 1 and task.warmup_steps >= 0")


@dataclass
class RingState:
    """x: unwrapped positions ``[B, N]`` (m, float64); v ``[B, N]`` (m/s); accel ``[B, N]`` (m/s^2);
    length ``[B]`` ring lengths (m, float64); t ``[B]`` steps since control started; ret ``[B]``."""

    x: torch.Tensor
    v: torch.Tensor
    accel: torch.Tensor
    length: torch.Tensor
    t: torch.Tensor
    ret: torch.Tensor

    FIELDS = ("x", "v", "accel", "length", "t", "ret")

    def where(self, mask: torch.Tensor, other: RingState) -> RingState:
        out = {}
        for k in self.FIELDS:
            a, b = getattr(self, k), getattr(other, k)
            out[k] = torch.where(mask[:, None] if a.dim() == 2 else mask, b, a)
        return RingState(**out)

    def detach(self) -> RingState:
        return RingState(**{k: getattr(self, k).detach() for k in self.FIELDS})


class RingWaveEnv(DiffEnv):
    """Batched wave-attenuation task; see the module docstring."""

    act_dim = 1
    obs_dim = 3
    family = "traffic"

    def __init__(
        self,
        config: RingWaveConfig | None = None,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
    ):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.config = cfg = config if config is not None else RingWaveConfig()
        cfg.validate()
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        self.episode_length = int(cfg.episode_length)
        self.num_vehicles = cfg.num_cars
        # Positions are unwrapped, so the integrator runs on an open road; wrapping is per env.
        self.sim = TrafficSim(Road(1, length=1.0e12), dt=cfg.dt, integrator=cfg.integrator, sstar_clip=cfg.sstar_clip)
        rows = {k: [] for k in ("v0", "T", "a", "b", "s0", "delta", "length")}
        noise, width = [], []
        for g in cfg.groups:
            for _ in range(g.per_lane[0]):
                for k in rows:
                    rows[k].append(float(getattr(g.idm, k)))
                noise.append(float(g.accel_noise))
                width.append(float(g.width))
        self.idm = IDMParams(**{k: torch.tensor(r, dtype=dtype, device=self.device) for k, r in rows.items()})
        self.car_length = torch.tensor(rows["length"], dtype=torch.float64, device=self.device)
        self.noise_std = torch.tensor(noise, dtype=dtype, device=self.device) * math.sqrt(cfg.dt)
        self.noise_std[0] = 0.0  # the AV is never noisy once controlled
        self.has_noise = bool(any(noise))
        self.width = torch.tensor(width, dtype=torch.float32)
        self.headway_scale = float(cfg.headway_scale or cfg.length_range[1])
        self.gen = make_generator(self.device, seed)
        self.noise_draws = ChunkedDraws(self.gen, NOISE_CHUNK, self._draw_noise)
        self.state: RingState | None = None
        self.record_pre_reset = False
        self.pre_reset_state: RingState | None = None
        self.last_noise: torch.Tensor | None = None  # the noise of the last step
        self.forced_noise: torch.Tensor | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dt(self) -> float:
        return float(self.config.dt)

    # ------------------------------------------------------------- dynamics
    def _gaps(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        """Net gap (m, float64) of every car to the next one around the ring."""
        ahead = torch.roll(x, -1, dims=1)
        ahead = torch.cat([ahead[:, :-1], ahead[:, -1:] + length[:, None]], dim=1)
        half = 0.5 * (self.car_length + torch.roll(self.car_length, -1))
        return ahead - x - half

    def _idm(self, st: RingState, noise: torch.Tensor | None) -> torch.Tensor:
        gap = self._gaps(st.x, st.length).to(st.v.dtype)
        v_lead = torch.roll(st.v, -1, dims=1)
        has = torch.ones_like(gap, dtype=torch.bool)
        acc = idm_acceleration(st.v, v_lead, gap, has, self.idm, self.sim.sstar_clip, self.sim.min_gap)
        if noise is not None:
            acc = acc + noise
        return acc

    def _advance(self, st: RingState, acc: torch.Tensor) -> RingState:
        moved = self.sim.integrate(SimState(x=st.x, v=st.v, lane=torch.zeros_like(st.t)[:, None], idm=self.idm), acc)
        return RingState(x=moved.x, v=moved.v, accel=moved.accel, length=st.length, t=st.t, ret=st.ret)

    def observe(self, st: RingState) -> torch.Tensor:
        v_av, v_lead = st.v[:, 0], st.v[:, 1]
        headway = (st.x[:, 1] - st.x[:, 0]).to(st.v.dtype)
        scale = self.config.speed_scale
        return torch.stack([v_av / scale, (v_lead - v_av) / scale, headway / self.headway_scale], dim=1)

    def reward(self, v_new: torch.Tensor, a_av: torch.Tensor) -> torch.Tensor:
        """4 mean(v) / 20 - 4 |a_AV| (Flow's weights by default)."""
        cfg = self.config
        return cfg.speed_weight * v_new.mean(dim=1) / cfg.speed_norm - cfg.accel_weight * torch.abs(a_av)

    # ------------------------------------------------------------- resets
    @torch.no_grad()
    def initial_states(self, count: int) -> RingState:
        """``count`` fresh, warmed-up states (ring lengths, placement and warm-up noise from the env's generator)."""
        cfg, dev, dt = self.config, self.device, self.dtype
        lo, hi = cfg.length_range
        length = lo + (hi - lo) * torch.rand(count, generator=self.gen, device=dev, dtype=torch.float64)
        n = self.num_vehicles
        frac = torch.arange(n, device=dev, dtype=torch.float64) / n
        x = frac[None, :] * (length[:, None] - cfg.bunching)
        v = torch.zeros((count, n), device=dev, dtype=dt)
        rnd = cfg.randomise
        if rnd.position or rnd.speed:
            u = 2.0 * torch.rand((count, n, 2), generator=self.gen, device=dev, dtype=torch.float64) - 1.0
            x = x + rnd.position * u[..., 0]
            v = torch.clamp(v + rnd.speed * u[..., 1].to(dt), min=0.0)
        zeros = torch.zeros(count, device=dev)
        st = RingState(
            x=x,
            v=v,
            accel=torch.zeros_like(v),
            length=length,
            t=zeros.long(),
            ret=zeros.to(dt),
        )
        warm_std = self.noise_std.clone()
        warm_std[0] = float(cfg.groups[0].accel_noise) * math.sqrt(cfg.dt)
        for _ in range(cfg.warmup_steps):
            noise = None
            if self.has_noise:
                noise = torch.randn((count, n), generator=self.gen, device=dev, dtype=dt) * warm_std
            st = self._advance(st, self._idm(st, noise))
        return st

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(int(seed))
        self.state = self.initial_states(self.num_envs)
        self.noise_draws.restart()
        return self.observe(self.state)

    def _next_noise(self) -> torch.Tensor | None:
        """This step's human acceleration noise ``[B, N]`` (m/s^2); ``forced_noise`` (set by the recorder's
        tangent twin) replaces one draw."""
        if not self.has_noise:
            return None
        if self.forced_noise is not None:
            self.last_noise, self.forced_noise = self.forced_noise, None
            return self.last_noise
        noise, i = self.noise_draws.take()
        self.last_noise = noise[i] * self.noise_std
        return self.last_noise

    def _draw_noise(self, steps: int) -> torch.Tensor:
        """Standard normal noise ``[steps, B, N]`` from the env's generator."""
        shape = (steps, self.num_envs, self.num_vehicles)
        return torch.randn(shape, generator=self.gen, device=self.device, dtype=self.dtype)

    # ------------------------------------------------------------- DiffEnv
    def step(self, action: torch.Tensor) -> StepResult:
        if self.state is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        action = check_action(self, action)
        st = self.state
        a_av = torch.clamp(action[:, 0], -1.0, 1.0) * self.config.max_accel
        acc = self._idm(st, self._next_noise())
        acc = torch.cat([a_av[:, None], acc[:, 1:]], dim=1)
        new = self._advance(st, acc)
        t = st.t + 1
        with torch.no_grad():
            collided = (self._gaps(new.x, new.length) < 0).any(dim=1)
        reward = torch.where(collided, torch.zeros_like(a_av), self.reward(new.v, a_av))
        truncated = (t >= self.episode_length) & ~collided
        done = collided | truncated
        ep_ret = st.ret + reward.detach()
        new = RingState(x=new.x, v=new.v, accel=new.accel, length=new.length, t=t, ret=ep_ret)
        final_obs = self.observe(new)
        cause = torch.where(collided, CAUSE["collision"], torch.where(truncated, CAUSE["time_limit"], 0))
        self.pre_reset_state = new if self.record_pre_reset else None
        obs = final_obs
        if bool(done.any()):
            idx = done.nonzero().flatten()
            fresh = self.initial_states(int(idx.numel()))
            full = RingState(**{k: getattr(new, k).detach().clone() for k in RingState.FIELDS})
            for k in RingState.FIELDS:
                getattr(full, k)[idx] = getattr(fresh, k)
            new = new.where(done, full)
            obs = torch.where(done[:, None], self.observe(full), final_obs)
        self.state = new
        info = {"final_obs": final_obs, "episode_return": ep_ret, "episode_length": t, "termination": cause}
        return obs, reward, collided, truncated, info

    def detach(self) -> None:
        if self.state is not None:
            self.state = self.state.detach()

    def state_dict(self) -> dict[str, Any]:
        if self.state is None:
            raise RuntimeError(f"{self.name}: call reset() before state_dict()")
        return {
            "state": {k: getattr(self.state, k).detach().clone() for k in RingState.FIELDS},
            **self.noise_draws.state_dict(),
            "num_envs": self.num_envs,
            "name": self.name,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["num_envs"]) != self.num_envs:
            raise ValueError(f"{self.name}: state has {state['num_envs']} envs, this env has {self.num_envs}")
        d = state["state"]
        self.state = RingState(
            x=d["x"].to(self.device, torch.float64).clone(),
            v=d["v"].to(self.device, self.dtype).clone(),
            accel=d["accel"].to(self.device, self.dtype).clone(),
            length=d["length"].to(self.device, torch.float64).clone(),
            t=d["t"].to(self.device).clone(),
            ret=d["ret"].to(self.device, self.dtype).clone(),
        )
        self.noise_draws.load_state_dict(state)

    # ------------------------------------------------------------- rendering
    def _which(self, pre_reset: bool) -> RingState:
        st = self.pre_reset_state if pre_reset else self.state
        if st is None:
            raise RuntimeError(f"{self.name}: no {'pre-reset ' if pre_reset else ''}state to render")
        return st

    def speeds(self, pre_reset: bool = False) -> torch.Tensor:
        """Speeds ``[B, N]`` (m/s), differentiable."""
        return self._which(pre_reset).v

    @torch.no_grad()
    def render_state(self, pre_reset: bool = False) -> dict[str, torch.Tensor]:
        """``[B, N]`` tensors s (wrapped arc length, m), x, y (m), heading (rad), speed, accel, lane (0).

        Each env's ring (circumference ``length[b]``) is centred at the origin and driven counter-clockwise."""
        st = self._which(pre_reset)
        length = st.length[:, None]
        s = st.x - torch.floor(st.x / length) * length
        radius = length / (2.0 * math.pi)
        phi = s / radius
        return {
            "s": s,
            "x": radius * torch.cos(phi),
            "y": radius * torch.sin(phi),
            "heading": phi + 0.5 * math.pi,
            "speed": st.v.detach().clone(),
            "accel": st.accel.detach().clone(),
            "lane": torch.zeros_like(st.x, dtype=torch.long),
        }

    def vehicle_info(self) -> dict[str, torch.Tensor]:
        controlled = torch.zeros(self.num_vehicles, dtype=torch.bool)
        controlled[0] = True
        return {"controlled": controlled, "length": self.car_length.float().cpu(), "width": self.width.clone()}

    def meta(self) -> dict[str, Any]:
        cfg = self.config
        lengths = [] if self.state is None else [float(v) for v in self.state.length.cpu()]
        return {
            "scenario": cfg.name,
            "task": "ringwave",
            "dt": float(cfg.dt),
            "road": {
                "num_lanes": 1,
                "length": lengths[0] if lengths else cfg.length_range[0],
                "ring": True,
                "lane_width": 4.0,
            },
            "ring_lengths": lengths,
            "target_speed": None,
            "episode_length": int(cfg.episode_length),
            "warmup_steps": int(cfg.warmup_steps),
        }
