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

Dynamics: the shared simulator (:class:`~difftraffic.sim.simulator.TrafficSim` on a one-lane ring road
whose length is per env, ``SimState.ring_length``): leaders, IDM and the integrator are the simulator's
(Flow's SUMO uses "euler": v first, clamped at 0, then x += v dt); the humans' noise is the step's additive
``noise``; the AV is the step's controlled vehicle. Positions are wrapped into [0, L) of each env's ring.
The initial placement is :meth:`difftraffic.tasks.placement.Fleet.spread_on_ring`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from difftraffic.env import StepResult, check_action, make_generator
from difftraffic.sim.idm import IDMParams
from difftraffic.sim.road import Road
from difftraffic.sim.simstate import SimState
from difftraffic.sim.simulator import TrafficSim
from difftraffic.tasks.draws import ChunkedDraws
from difftraffic.tasks.placement import DriverGroup, Fleet, Randomisation, perturb
from difftraffic.tasks.traffic import CAUSE, TrafficEnv, check_env_args

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
    """x: positions ``[B, N]`` on each env's ring (m, float64, wrapped into [0, length)); v ``[B, N]`` (m/s);
    accel ``[B, N]`` (m/s^2); length ``[B]`` ring lengths (m, float64); t ``[B]`` steps since control started;
    ret ``[B]`` return so far."""

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


class RingWaveEnv(TrafficEnv):
    """Batched wave-attenuation task; see the module docstring."""

    act_dim = 1
    obs_dim = 3

    def __init__(
        self,
        config: RingWaveConfig | None = None,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
        backend: str = "auto",
    ):
        self.num_envs = check_env_args(num_envs, dtype)
        self.config = cfg = config if config is not None else RingWaveConfig()
        cfg.validate()
        self.device = torch.device(device)
        self.dtype = dtype
        self.episode_length = int(cfg.episode_length)
        self.fleet = fleet = Fleet(cfg.groups, 1)
        self.num_vehicles = len(fleet)
        road = Road(1, length=float(cfg.length_range[1]), ring=True)  # each env's length lives in its state
        self.sim = TrafficSim(road, dt=cfg.dt, integrator=cfg.integrator, sstar_clip=cfg.sstar_clip, backend=backend)
        self.idm = IDMParams(**{k: torch.tensor(fleet.column(k), dtype=dtype, device=self.device)
                                for k in ("v0", "T", "a", "b", "s0", "delta", "length")})  # fmt: skip
        self.car_length = torch.tensor(fleet.column("length"), dtype=torch.float64, device=self.device)
        self.noise_std = torch.tensor(fleet.accel_noise, dtype=dtype, device=self.device) * math.sqrt(cfg.dt)
        self.noise_std[0] = 0.0  # the AV is never noisy once controlled
        self.has_noise = bool(any(fleet.accel_noise))
        self.width = torch.tensor(fleet.width, dtype=torch.float32)
        self.headway_scale = float(cfg.headway_scale or cfg.length_range[1])
        self.gen = make_generator(self.device, seed)
        self.noise_draws = ChunkedDraws(self.gen, NOISE_CHUNK, self._draw_noise)
        self.state: RingState | None = None
        self.record_pre_reset = False
        self.pre_reset_state: RingState | None = None
        self.last_noise: torch.Tensor | None = None  # the noise of the last step
        self.forced_noise: torch.Tensor | None = None
        self._lane: torch.Tensor | None = None
        self._topo = None  # the simulator's cached leader topology of the state self._topo_of
        self._topo_of: RingState | None = None
        self._av: torch.Tensor | None = None

    # ------------------------------------------------------------- dynamics
    def _sim_state(self, st: RingState, topo=None) -> SimState:
        b = st.x.shape[0]
        if self._lane is None or self._lane.shape[0] != b:
            self._lane = torch.zeros((b, self.num_vehicles), dtype=torch.long, device=self.device)
        return SimState(x=st.x, v=st.v, lane=self._lane, idm=self.idm, accel=st.accel, topo=topo,
                        ring_length=st.length)  # fmt: skip

    def _advance(self, st: RingState, noise: torch.Tensor | None, a_av: torch.Tensor | None, topo=None):
        """One simulator step; the AV drives ``a_av`` ``[B]`` (m/s^2), or its own IDM when None."""
        s = self._sim_state(st, topo)
        if a_av is None:
            new = self.sim.step(s, noise=noise)
        else:
            if self._av is None or self._av.shape != s.v.shape:
                self._av = torch.zeros_like(s.lane, dtype=torch.bool)
                self._av[:, 0] = True
            accel = torch.cat([a_av[:, None], torch.zeros_like(s.v[:, 1:])], dim=1)
            new = self.sim.step(s, accel=accel, controlled=self._av, noise=noise)
        return RingState(x=new.x, v=new.v, accel=new.accel, length=st.length, t=st.t, ret=st.ret), new.topo

    @torch.no_grad()
    def _gaps(self, st: RingState) -> torch.Tensor:
        """Net gap (m) of every car to its leader on the ring (the simulator's leader search)."""
        return self.sim.leaders(self._sim_state(st)).gap

    def observe(self, st: RingState) -> torch.Tensor:
        v_av, v_lead = st.v[:, 0], st.v[:, 1]
        raw = st.x[:, 1] - st.x[:, 0]
        headway = (raw - torch.floor(raw.detach() / st.length) * st.length).to(st.v.dtype)
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
        x = self.fleet.spread_on_ring(length, cfg.bunching)
        v = torch.zeros((count, n), device=dev, dtype=dt)
        rnd = cfg.randomise
        if rnd.position or rnd.speed:
            u = 2.0 * torch.rand((count, n, 2), generator=self.gen, device=dev, dtype=torch.float64) - 1.0
            x, v = perturb(x, v, rnd, u)
        zeros = torch.zeros(count, device=dev)
        st = RingState(x=x - torch.floor(x / length[:, None]) * length[:, None], v=v, accel=torch.zeros_like(v),
                       length=length, t=zeros.long(), ret=zeros.to(dt))  # fmt: skip
        warm_std = self.noise_std.clone()
        warm_std[0] = float(cfg.groups[0].accel_noise) * math.sqrt(cfg.dt)
        topo = None
        for _ in range(cfg.warmup_steps):
            noise = None
            if self.has_noise:
                noise = torch.randn((count, n), generator=self.gen, device=dev, dtype=dt) * warm_std
            st, topo = self._advance(st, noise, None, topo)
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
        topo = self._topo if self._topo_of is st else None  # the cache is only valid for the state it was built on
        new, topo = self._advance(st, self._next_noise(), a_av, topo)
        t = st.t + 1
        collided = (self._gaps(new) < 0).any(dim=1)
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
            topo = None
        self.state, self._topo, self._topo_of = new, topo, new
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
    def speeds(self, pre_reset: bool = False) -> torch.Tensor:
        """Speeds ``[B, N]`` (m/s), differentiable."""
        return self.which_state(pre_reset).v

    @torch.no_grad()
    def render_state(self, pre_reset: bool = False) -> dict[str, torch.Tensor]:
        """``[B, N]`` tensors s (wrapped arc length, m), x, y (m), heading (rad), speed, accel, lane (0).

        Each env's ring (circumference ``length[b]``) is centred at the origin and driven counter-clockwise."""
        st = self.which_state(pre_reset)
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
