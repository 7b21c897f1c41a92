"""Detector definitions: induction loops (SUMO's E1) and road segments; plain frozen data with checks.

Positions are road coordinates s (m) along the lanes (the simulator's longitudinal coordinate; on a
ring in [0, length)); periods are aggregation intervals (s), whole multiples of the step length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LoopSpec:
    """An induction loop on ``lane`` at ``position`` (m) aggregating every ``period`` s (SUMO E1).

    ``length`` (m, default 0) is SUMO's E1 ``length``: a vehicle is on the loop from its front passing
    ``position`` until its rear passes ``position + length``."""

    name: str
    lane: int
    position: float
    period: float
    length: float = 0.0

    def validate(self) -> None:
        if int(self.lane) != self.lane or self.lane < 0:
            raise ValueError(f"detector {self.name}: lane must be an integer >= 0, got {self.lane}")
        if not math.isfinite(self.position):
            raise ValueError(f"detector {self.name}: position must be finite, got {self.position}")
        if not (self.period > 0 and math.isfinite(self.period)):
            raise ValueError(f"detector {self.name}: period must be > 0 s, got {self.period}")
        if not (self.length >= 0 and math.isfinite(self.length)):
            raise ValueError(f"detector {self.name}: length must be >= 0 m, got {self.length}")


@dataclass(frozen=True)
class SegmentSpec:
    """A road segment ``[start, end)`` (m) of ``lane`` (None = all lanes) aggregated every ``period`` s.

    Measured with Edie's definitions over the segment's space-time region: density = time spent / area,
    flow = distance driven / area, space-mean speed = distance / time (see docs/model.md)."""

    name: str
    lane: int | None
    start: float
    end: float
    period: float

    def validate(self) -> None:
        if self.lane is not None and (int(self.lane) != self.lane or self.lane < 0):
            raise ValueError(f"detector {self.name}: lane must be an integer >= 0 or None (all), got {self.lane}")
        if not (math.isfinite(self.start) and math.isfinite(self.end) and self.start < self.end):
            raise ValueError(f"detector {self.name}: needs finite start < end (m), got [{self.start}, {self.end})")
        if not (self.period > 0 and math.isfinite(self.period)):
            raise ValueError(f"detector {self.name}: period must be > 0 s, got {self.period}")


Spec = LoopSpec | SegmentSpec


def period_steps(spec: Spec, dt: float) -> int:
    """The period as a whole number of steps of ``dt`` s; ValueError when it is not one."""
    steps = round(spec.period / dt)
    if steps < 1 or abs(steps * dt - spec.period) > 1e-9 * max(1.0, spec.period):
        raise ValueError(f"detector {spec.name}: period {spec.period:g} s is not a whole number of {dt:g} s steps")
    return int(steps)


def check_on_road(spec: Spec, num_lanes: int, length: float, ring: bool) -> None:
    """ValueError when ``spec`` lies off a road of ``num_lanes`` lanes and ``length`` m."""
    spec.validate()
    lane = spec.lane
    if lane is not None and lane >= num_lanes:
        raise ValueError(f"detector {spec.name}: lane {lane} does not exist (the road has {num_lanes})")
    lo, hi = (spec.position, spec.position) if isinstance(spec, LoopSpec) else (spec.start, spec.end)
    if lo < 0 or hi > length or (ring and isinstance(spec, LoopSpec) and lo >= length):
        where = f"[0, {length:g})" if ring else f"[0, {length:g}]"
        raise ValueError(f"detector {spec.name}: must lie on the road, s in {where} m")
