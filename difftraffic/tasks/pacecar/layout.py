"""Pace-car task configuration (plain values) and its initial-state layout (device tensors).

Vehicle 0 is the pace car; the IDM cars follow in the shared placement order and positions of
:class:`difftraffic.tasks.placement.Fleet` (lane by lane, each lane rear to front, groups in their listed
order): the rearmost car of each lane at ``start`` (m), the others every ``spacing`` m, all at ``speed``
(m/s). The pace car starts
``pace_ahead`` m ahead of the front car of its lane (of ``start`` if the lane is empty), on the
lane centre, heading along the road, at ``pace_speed``; its lane is drawn uniformly at each reset
(or fixed by ``pace_lane``). With the defaults this is exactly the paper's reset
(docs/reference.md §C3): cars at x = 0, 10, 20, ... at rest, pace car 50 m ahead.

Optional randomisation adds, at each reset, independent uniform noise in [-w, +w] to each IDM
car's start position (m), start speed (m/s, floored at 0) and any IDM parameter (its units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from difftraffic.sim.bicycle import PAPER_MAX_ACCEL, PAPER_MAX_STEER
from difftraffic.sim.idm import IDM_FIELDS, IDMParams
from difftraffic.sim.road import Road
from difftraffic.tasks.pacecar.rules import PaceCarRules
from difftraffic.tasks.pacecar.state import PaceCarState
from difftraffic.tasks.placement import DriverGroup, Fleet, Randomisation, perturb, round_robin


@dataclass(frozen=True)
class PaceCarConfig:
    """Everything that defines a pace-car task; the scenario YAML maps onto it one to one."""

    road: Road = field(default_factory=lambda: Road(num_lanes=3, length=1.0e6))
    groups: tuple[DriverGroup, ...] = (DriverGroup(per_lane=(3, 3, 3)),)
    start: float = 0.0
    spacing: float = 10.0
    speed: float = 0.0
    randomise: Randomisation = Randomisation()
    pace_length: float = 5.0
    pace_width: float = 2.0
    max_steer: float = PAPER_MAX_STEER
    max_accel: float = PAPER_MAX_ACCEL
    pace_ahead: float = 50.0
    pace_lane: int | None = None
    pace_speed: float = 0.0
    rules: PaceCarRules = PaceCarRules()
    dt: float = 0.03
    episode_length: int = 1000
    integrator: str = "explicit"
    sstar_clip: str = "total"
    name: str = "pacecar"

    @classmethod
    def paper(cls, num_lanes: int, num_cars: int, **kw) -> PaceCarConfig:
        """The paper's setup with ``num_lanes`` lanes and ``num_cars`` IDM cars (round robin over lanes)."""
        road = Road(num_lanes=num_lanes, length=1.0e6, ring=False, lane_width=4.0)
        group = DriverGroup(per_lane=round_robin(num_cars, num_lanes))
        return cls(road=road, groups=(group,), name=kw.pop("name", f"{num_lanes}lane"), **kw)

    @property
    def num_cars(self) -> int:
        return sum(sum(g.per_lane) for g in self.groups)

    def validate(self) -> None:
        """Raise ValueError ("key: why") on impossible settings."""
        lanes = self.road.num_lanes
        if not self.groups or self.num_cars < 1:
            raise ValueError("drivers: at least one IDM car is needed")
        for gi, g in enumerate(self.groups):
            if len(g.per_lane) != lanes:
                raise ValueError(
                    f"drivers.groups[{gi}].per_lane: needs {lanes} counts (one per lane), got {len(g.per_lane)}"
                )
            if any(c < 0 for c in g.per_lane):
                raise ValueError(f"drivers.groups[{gi}].per_lane: counts must be >= 0")
            try:
                g.idm.validate()
            except ValueError as exc:
                raise ValueError(f"drivers.groups[{gi}].idm.{exc}") from None
            if not g.width > 0:
                raise ValueError(f"drivers.groups[{gi}].width: must be > 0 m")
            if g.accel_noise:
                raise ValueError(f"drivers.groups[{gi}].noise: acceleration noise is only supported by ring tasks")
        lengths = [g.idm.length for g in self.groups]
        rnd = self.randomise
        if rnd.position < 0 or rnd.speed < 0 or any(w < 0 for _, w in rnd.idm):
            raise ValueError("drivers.randomise: half-widths must be >= 0")
        for name, w in rnd.idm:
            if name not in IDM_FIELDS:
                raise ValueError(f"drivers.randomise.idm.{name}: unknown IDM parameter")
            if w > 0 and name != "T" and name != "s0":
                low = min(float(getattr(g.idm, name)) for g in self.groups)
                if low - w <= 0:
                    raise ValueError(f"drivers.randomise.idm.{name}: half-width {w} would make {name} <= 0")
        need = max(lengths) + 2.0 * rnd.position
        if self.spacing < need:
            raise ValueError(
                f"drivers.placement.spacing: {self.spacing:g} m makes cars overlap (needs >= {need:g} m: "
                "car length plus twice the position noise)"
            )
        if self.speed < 0:
            raise ValueError("drivers.placement.speed: must be >= 0 m/s")
        gap = self.pace_ahead - 0.5 * (self.pace_length + max(lengths)) - rnd.position
        if gap < 0:
            raise ValueError(
                f"pacecar.start.ahead: {self.pace_ahead:g} m puts the pace car on top of a car (gap {gap:g} m)"
            )
        if self.pace_lane is not None and not 0 <= self.pace_lane < lanes:
            raise ValueError(f"pacecar.start.lane: must be 'random' or in [0, {lanes - 1}], got {self.pace_lane}")
        for key in ("pace_length", "pace_width", "max_steer", "max_accel", "dt"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}: must be > 0, got {getattr(self, key)}")
        if self.max_steer >= 0.5 * math.pi:
            raise ValueError(f"pacecar.max_steer_deg: must be < 90, got {math.degrees(self.max_steer):g}")
        if self.episode_length < 1:
            raise ValueError(f"task.episode_length: must be >= 1 step, got {self.episode_length}")
        if self.road.ring:
            per_lane = [sum(g.per_lane[i] for g in self.groups) for i in range(lanes)]
            span = max(per_lane) * self.spacing + self.pace_ahead
            if span > self.road.length:
                raise ValueError(f"road.length: {self.road.length} m ring is too short for the placement ({span:g} m)")
        self.rules.validate(ring=self.road.ring)


class PaceCarLayout:
    """Device tensors of a :class:`PaceCarConfig` and the pure :meth:`initial_state` builder."""

    def __init__(self, cfg: PaceCarConfig, device: torch.device, dtype: torch.dtype):
        cfg.validate()
        self.cfg = cfg
        self.road = cfg.road
        self.device = device
        self.pace_length = float(cfg.pace_length)
        self.max_steer = float(cfg.max_steer)
        self.max_accel = float(cfg.max_accel)
        fleet = Fleet(cfg.groups, cfg.road.num_lanes)
        s, lane, width = fleet.line_up(cfg.start, cfg.spacing), fleet.lane, fleet.width
        params = {k: fleet.column(k) for k in IDM_FIELDS}
        self.num_cars = len(fleet)
        self.num_vehicles = self.num_cars + 1
        # The authors' code places the pace car 50 m ahead of an empty lane's (non-existent) front car at 0.
        pace_s = [max(f, cfg.start) + cfg.pace_ahead for f in fleet.fronts(cfg.start, cfg.spacing)]
        self.car_s = torch.tensor(s, dtype=torch.float64, device=device)
        self.car_lane = torch.tensor(lane, dtype=torch.long, device=device)
        self.pace_s = torch.tensor(pace_s, dtype=torch.float64, device=device)
        self.length = torch.tensor([cfg.pace_length, *params["length"]], dtype=torch.float32)
        self.width = torch.tensor([cfg.pace_width, *width], dtype=torch.float32)
        # IDM parameters: floats when every vehicle (incl. the pace car's length) shares them.
        pace_col = {k: params[k][0] for k in IDM_FIELDS}
        pace_col["length"] = cfg.pace_length
        self.uniform_idm = all(len(set(params[k] + [pace_col[k]])) == 1 for k in IDM_FIELDS) and not cfg.randomise.idm
        self.idm_const = IDMParams(**{k: pace_col[k] for k in IDM_FIELDS})
        rows = [[pace_col[k] for k in IDM_FIELDS]] + [[params[k][j] for k in IDM_FIELDS] for j in range(self.num_cars)]
        self.idm_rows = torch.tensor(rows, dtype=dtype, device=device)  # [N, 7]
        self.idm_jitter_cols = [IDM_FIELDS.index(name) for name, _ in cfg.randomise.idm]
        self.noise_channels = cfg.randomise.channels

    def initial_state(self, pace_lane: torch.Tensor, noise: torch.Tensor | None, dtype: torch.dtype) -> PaceCarState:
        """Fresh states for ``pace_lane`` ``[B]`` (long) and uniform ``noise`` ``[B, N, C]`` in [0, 1) (or None)."""
        cfg, road = self.cfg, self.road
        b = pace_lane.shape[0]
        n = self.num_cars
        car_s = self.car_s.expand(b, n)
        car_v = torch.full((b, n), float(cfg.speed), dtype=dtype, device=self.device)
        table = None if self.uniform_idm else self.idm_rows.expand(b, n + 1, len(IDM_FIELDS)).clone()
        if noise is not None:
            u = 2.0 * noise[:, 1:, :] - 1.0  # [B, n, C] in [-1, 1)
            car_s, car_v = perturb(car_s, car_v, cfg.randomise, u)
            if self.idm_jitter_cols:
                widths = torch.zeros(len(IDM_FIELDS), dtype=dtype, device=self.device)
                jit = torch.zeros((b, n, len(IDM_FIELDS)), dtype=dtype, device=self.device)
                for c, (col, (_, w)) in enumerate(zip(self.idm_jitter_cols, cfg.randomise.idm)):
                    widths[col] = w
                    jit[:, :, col] = u[..., 2 + c].to(dtype)
                jit = torch.cat([torch.zeros_like(jit[:, :1]), jit * widths], dim=1)
                table = table + jit
        pace_s = self.pace_s[pace_lane]
        pace_lat = road.lane_center(pace_lane).to(torch.float64)
        px, py, ph = road.to_world(pace_s, pace_lat)
        s = road.wrap(torch.cat([pace_s[:, None], car_s], dim=1))
        v = torch.cat([torch.full((b, 1), float(cfg.pace_speed), dtype=dtype, device=self.device), car_v], dim=1)
        return PaceCarState.pack(
            s=s,
            px=px,
            py=py,
            v=v,
            accel=torch.zeros((b, n + 1), dtype=dtype, device=self.device),
            heading=ph.to(dtype),
            ret=torch.zeros(b, dtype=dtype, device=self.device),
            lane=torch.cat([pace_lane[:, None], self.car_lane.expand(b, n)], dim=1),
            t=torch.zeros(b, dtype=torch.long, device=self.device),
            idm_table=table,
            idm_const=self.idm_const,
        )
