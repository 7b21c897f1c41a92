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

    def step(self, g: StepGeometry, dt: float) -> None:
        """Accumulate the step of ``dt`` s with geometry ``g``.

        Per (segment, vehicle) the front's path ``[r0, r1]`` (relative to the segment's start, m) is clipped to
        ``[0, size]``: its clipped length is the distance driven inside and, as a share of the path, of ``dt`` spent
        inside. A vehicle that moves less than MIN_MOVE spends ``dt`` inside if its front is. Float masks and
        clamps only (torch.where is slow on CPU)."""
        moving = g.dx > MIN_MOVE
        counts = self._counts(g)
        per_m = counts * torch.where(moving, dt / torch.where(moving, g.dx, 1.0), 0.0)[:, None, :]  # s per m inside
        still = counts * (~moving)[:, None, :].to(torch.float64)
        zero = self._zero[:1, :, None]
        r1 = g.front1[:, None, :] - self.start
        if g.ring is not None:
            L = g.ring[:, :, None]
            r1 = r1 - torch.floor(r1.detach() / L) * L  # [0, L)
        r0 = r1 - g.dx[:, None, :]
        dist = torch.clamp(r1, zero, self.size) - torch.clamp(r0, zero, self.size)
        if g.ring is not None:  # the part of the path driven before crossing s = 0 (r0 < 0): [L + r0, L] in the segment
            dist = dist + torch.clamp(self.size - L - r0, min=0.0)
        inside = ((r1 >= 0) & (r1 < self.size)).to(torch.float64)
        self.td = self.td + (dist * counts).sum(-1)
        self.tt = self.tt + (dist * per_m).sum(-1) + dt * (inside * still).sum(-1)

    def _counts(self, g: StepGeometry) -> torch.Tensor:
        """``[B, S, N]`` float: 1 where the slot holds the same vehicle before and after the step, on the segment's
        lane (any lane for an all-lanes segment)."""
        lane1 = g.lane1[:, None, :]
        ok = g.same[:, None, :] & (lane1 >= 0) & ((self.lane < 0) | (lane1 == self.lane))
        return ok.to(torch.float64)

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
