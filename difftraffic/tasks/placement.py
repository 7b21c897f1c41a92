"""Driver groups and where their cars start: the one placement every traffic task and scenario uses.

A :class:`DriverGroup` is a set of IDM cars sharing one parameter set, ``per_lane[i]`` of them on lane i.
:class:`Fleet` lays groups out in one fixed vehicle order: lane by lane (lane 0 first), on each lane group
by group in their listed order, each lane from the rear to the front. It holds the per-vehicle constants
(lane, rank in the lane, IDM parameters, width, acceleration-noise std) and places the cars

* on a straight road (:meth:`Fleet.line_up`): the rearmost car of every lane at ``start`` (m), the others
  every ``spacing`` m ahead of it;
* on a single-lane ring (:meth:`Fleet.spread_on_ring`): car k of n at ``k / n * (L - bunching)`` for a ring
  of length L (m) per env, i.e. evenly spaced over the ring minus an empty stretch of ``bunching`` m (Flow's
  reset);

and :func:`perturb` adds the optional uniform reset noise of a :class:`Randomisation` (position m, speed m/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from difftraffic.sim.idm import IDM_FIELDS, IDMParams

PAPER_IDM = IDMParams(v0=20.0, T=0.4, a=35.0, b=25.0, s0=1.5, delta=4.0, length=5.0)
"""IDM parameters of the paper's human drivers (docs/reference.md §C3, variant (i): a = 1.75 v_lim,
b = 1.25 v_lim, v0 = v_lim = 20 m/s, s0 = 0.3 L, T = 0.4 s, L = 5 m)."""


@dataclass(frozen=True)
class DriverGroup:
    """IDM cars sharing one parameter set: ``per_lane[i]`` cars on lane i; ``width`` (m) for drawing;
    ``accel_noise``: std of Flow-style Gaussian acceleration noise sqrt(dt) N(0, sigma) (ring tasks only)."""

    per_lane: tuple[int, ...]
    idm: IDMParams = PAPER_IDM
    width: float = 2.0
    name: str = "human"
    accel_noise: float = 0.0


def round_robin(count: int, num_lanes: int) -> tuple[int, ...]:
    """``count`` cars spread over lanes: floor(count / lanes) each, the remainder to the lowest lanes."""
    base, rem = divmod(int(count), int(num_lanes))
    return tuple(base + (1 if i < rem else 0) for i in range(num_lanes))


@dataclass(frozen=True)
class Randomisation:
    """Half-widths of the uniform reset noise: position (m), speed (m/s), idm {param: half-width}."""

    position: float = 0.0
    speed: float = 0.0
    idm: tuple[tuple[str, float], ...] = ()

    @property
    def channels(self) -> int:
        """Number of noise channels per vehicle (0 when nothing is randomised)."""
        active = 2 + len(self.idm)
        return active if (self.position or self.speed or self.idm) else 0


class Fleet:
    """Per-vehicle constants (plain lists, in vehicle order) of ``groups`` laid out on ``num_lanes`` lanes."""

    def __init__(self, groups: tuple[DriverGroup, ...], num_lanes: int):
        self.lane: list[int] = []
        self.rank: list[int] = []  # position in its lane, 0 = rearmost
        self.group: list[int] = []
        self.idm_rows: list[list[float]] = []  # [N][7] in IDM_FIELDS order
        self.width: list[float] = []
        self.accel_noise: list[float] = []
        for li in range(num_lanes):
            rank = 0
            for gi, g in enumerate(groups):
                for _ in range(g.per_lane[li]):
                    self.lane.append(li)
                    self.rank.append(rank)
                    self.group.append(gi)
                    self.idm_rows.append([float(getattr(g.idm, k)) for k in IDM_FIELDS])
                    self.width.append(float(g.width))
                    self.accel_noise.append(float(g.accel_noise))
                    rank += 1
        self.num_lanes = num_lanes

    def __len__(self) -> int:
        return len(self.lane)

    def column(self, name: str) -> list[float]:
        """One IDM parameter of every car, e.g. ``column("length")`` (m)."""
        k = IDM_FIELDS.index(name)
        return [row[k] for row in self.idm_rows]

    def line_up(self, start: float, spacing: float) -> list[float]:
        """Straight-road start positions (m): the rearmost car of each lane at ``start``, then every ``spacing``
        (accumulated car by car, so the values are bit-for-bit those of a running sum)."""
        pos = [float(start)] * self.num_lanes
        out = []
        for li in self.lane:
            out.append(pos[li])
            pos[li] += spacing
        return out

    def fronts(self, start: float, spacing: float) -> list[float]:
        """Per lane, the position (m) of its front car after :meth:`line_up` (``start - spacing`` if empty)."""
        front = [start - spacing] * self.num_lanes
        for li, s in zip(self.lane, self.line_up(start, spacing)):
            front[li] = s
        return front

    def spread_on_ring(self, lengths: torch.Tensor, bunching: float) -> torch.Tensor:
        """Single-lane ring start positions ``[B, N]`` (m, float64) for ring lengths ``lengths`` ``[B]`` (m)."""
        n = len(self)
        frac = torch.arange(n, device=lengths.device, dtype=torch.float64) / n
        return frac[None, :] * (lengths[:, None] - bunching)

    def idm(self, device, dtype) -> IDMParams:
        """IDM parameters: floats when every car shares them, else per-vehicle ``[N]`` tensors."""
        cols = {k: [row[i] for row in self.idm_rows] for i, k in enumerate(IDM_FIELDS)}
        if all(len(set(c)) == 1 for c in cols.values()):
            return IDMParams(**{k: c[0] for k, c in cols.items()})
        return IDMParams(**{k: torch.tensor(c, dtype=dtype, device=device) for k, c in cols.items()})


def perturb(x: torch.Tensor, v: torch.Tensor, rnd: Randomisation, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reset noise: ``x + position * u[..., 0]`` (m, float64) and ``max(0, v + speed * u[..., 1])`` (m/s), with
    ``u`` ``[B, N, >= 2]`` uniform in [-1, 1) (any float dtype)."""
    x = x + rnd.position * u[..., 0].to(torch.float64)
    v = torch.clamp(v + rnd.speed * u[..., 1].to(v.dtype), min=0.0)
    return x, v
