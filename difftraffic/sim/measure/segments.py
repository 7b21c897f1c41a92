"""Segment measures with Edie's generalised definitions, batched over envs, segments and vehicle slots.

Within a step a vehicle's front bumper moves linearly from its position before the step to the one after
it (exact for the euler and explicit integrators; a chord of the parabola for ballistic). Over a segment
``[start, end)`` of length ``X`` (m) and an interval of ``T`` s, with TT the vehicle time spent in the
segment (veh s) and TD the distance driven in it (veh m), summed over vehicles and steps:

    density = TT / (X T) * 1000 / lanes     (veh/km/lane)
    flow    = TD / (X T) * 3600 / lanes     (veh/h/lane)
    speed   = TD / TT                        (m/s, space-mean; -1 when TT = 0)

``lanes`` is 1 for a one-lane segment and the road's lane count for an all-lanes one. A vehicle counts
on the lane it drives the step on (lane changes take effect at the step's start); a slot counts only
for steps in which it holds the same vehicle before and after. TT and TD are continuous, piecewise
differentiable functions of the positions, so all three outputs are differentiable.
"""

from __future__ import annotations

import torch

from difftraffic.sim.measure.slots import StepGeometry
from difftraffic.sim.measure.specs import SegmentSpec

SEGMENT_FIELDS = ("density", "flow", "speed", "vehicle_time", "distance")
"""Per-interval outputs of a segment: density (veh/km/lane), flow (veh/h/lane), space-mean speed (m/s),
vehicle time TT (veh s), distance TD (veh m)."""

MIN_MOVE = 1e-9  # m: a step shorter than this counts as standing still (time in segment = dt if inside)


class SegmentBank:
    """The accumulators of ``S`` segments over a ``[B, N]`` batch."""

    def __init__(self, specs: tuple[SegmentSpec, ...], batch: int, num_lanes: int, device: torch.device) -> None:
        self.specs = specs
        f64 = {"dtype": torch.float64, "device": device}
        self.lane = torch.tensor([-1 if s.lane is None else s.lane for s in specs], device=device)[None, :, None]
        self.start = torch.tensor([s.start for s in specs], **f64)[None, :, None]
        self.size = torch.tensor([s.end - s.start for s in specs], **f64)[None, :, None]
        self.lanes = torch.tensor([num_lanes if s.lane is None else 1 for s in specs], **f64)
        self._zero = torch.zeros((batch, len(specs)), **f64)
        self.tt = self.td = self._zero

    def _overlap(self, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Length (m) of ``[lo, hi]`` inside ``[0, size]``."""
        return torch.minimum(torch.maximum(hi, lo.new_zeros(())), self.size) - torch.minimum(
            torch.maximum(lo, lo.new_zeros(())), self.size
        )

    def step(self, g: StepGeometry, dt: float) -> None:
        """Accumulate the step of ``dt`` s with geometry ``g``."""
        r1 = g.front1[:, None, :] - self.start
        if g.ring is not None:
            L = g.ring[:, :, None]
            r1 = r1 - torch.floor(r1.detach() / L) * L  # [0, L)
        dx = g.dx[:, None, :]
        r0 = r1 - dx
        dist = self._overlap(r0, r1)
        inside = (r1 >= 0) & (r1 < self.size)
        if g.ring is not None:
            dist = dist + self._overlap(r0 + L, r1 + L)  # the part of the step driven before crossing s = 0
        moving = dx > MIN_MOVE
        frac = torch.where(moving, dist / torch.where(moving, dx, torch.ones_like(dx)), inside.to(dist.dtype))
        counts = g.same[:, None, :] & ((self.lane < 0) | (g.lane1[:, None, :] == self.lane))
        zero = self._zero[:, :, None]
        self.tt = self.tt + torch.where(counts, dt * frac, zero).sum(-1)
        self.td = self.td + torch.where(counts, dist, zero).sum(-1)

    def values(self, istart: torch.Tensor, iend: torch.Tensor) -> dict[str, torch.Tensor]:
        """The outputs ``[B, S]`` of the intervals ``[istart, iend)`` (s, ``[S]``) so far."""
        area = (self.size[0, :, 0] * (iend - istart) * self.lanes)[None, :]
        some = self.tt > 0
        return {
            "density": self.tt / area * 1000.0,
            "flow": self.td / area * 3600.0,
            "speed": torch.where(some, self.td / torch.where(some, self.tt, torch.ones_like(self.tt)), -1.0),
            "vehicle_time": self.tt,
            "distance": self.td,
        }

    def reset(self, mask: torch.Tensor) -> None:
        """Start new intervals for the segments of ``mask`` (``[S]`` bool)."""
        keep = ~mask[None, :]
        self.tt = torch.where(keep, self.tt, self._zero)
        self.td = torch.where(keep, self.td, self._zero)
