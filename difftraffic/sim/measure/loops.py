"""Induction loops (SUMO's E1, ``MSInductLoop``), batched over envs, loops and vehicle slots.

Per vehicle a loop keeps whether it is on the loop and when it entered (``[B, D, N]``). In every step:

1. a vehicle on the loop that is no longer on its lane leaves early: by a lane change at the step's start
   (our lane changes happen before the move), or, when its slot emptied, at the step's end;
2. a vehicle that changed onto the lane with its front past the loop and its rear not, or a vehicle
   inserted so, enters at that moment (SUMO's ``notifyEnter``);
3. moving along the lane, the front passing ``position`` enters at ``t + passing time`` and the rear
   passing ``position + length`` leaves at ``t + passing time`` (SUMO's ``notifyMove``).

A vehicle that left by moving contributes to the interval in which it left: count ``nVehContrib``, speed
``(L_veh + L_loop) / max(t_leave - t_enter, 0.001)``, length. Early leavers add only their time on the loop
(and, if they entered in the interval, ``nVehEntered``). Interval outputs (SUMO ``writeXMLOutput``):
flow = n 3600 / T (veh/h), occupancy = 100 sum(time on the loop within the interval) / T (%), speed =
mean of the vehicle speeds (time-mean, m/s), harmonicMeanSpeed = n / sum(1 / speed) (space-mean estimate),
length = mean vehicle length (m); -1 for speeds and length when n = 0.
"""

from __future__ import annotations

import torch

from difftraffic.sim.measure.passing import NUMERICAL_EPS, passing_time
from difftraffic.sim.measure.slots import StepGeometry
from difftraffic.sim.measure.specs import LoopSpec

LOOP_FIELDS = ("n_contrib", "flow", "occupancy", "speed", "harmonic_speed", "length", "n_entered")
"""Per-interval outputs of a loop, in SUMO's order (nVehContrib, flow, occupancy, speed, harmonicMeanSpeed,
length, nVehEntered)."""


class LoopBank:
    """The state of ``D`` loops over a ``[B, N]`` batch; ``step`` per simulation step, ``close`` per interval."""

    def __init__(self, specs: tuple[LoopSpec, ...], batch: int, slots: int, device: torch.device) -> None:
        self.specs = specs
        f64 = {"dtype": torch.float64, "device": device}
        self.lane = torch.tensor([s.lane for s in specs], dtype=torch.long, device=device)[None, :, None]
        self.pos = torch.tensor([s.position for s in specs], **f64)[None, :, None]
        self.det_len = torch.tensor([s.length for s in specs], **f64)[None, :, None]
        d = len(specs)
        self.on = torch.zeros((batch, d, slots), dtype=torch.bool, device=device)
        self.entry = torch.zeros((batch, d, slots), **f64)
        self._zero = torch.zeros((batch, d), **f64)
        self.n = torch.zeros((batch, d), dtype=torch.long, device=device)
        self.entered = torch.zeros_like(self.n)
        self.occ = self.vsum = self.inv = self.lsum = self._zero

    def _rel(self, front: torch.Tensor, ring: torch.Tensor | None) -> torch.Tensor:
        """Front position relative to each loop ``[B, D, N]`` (m; on a ring in [-L/2, L/2))."""
        rel = front[:, None, :] - self.pos
        if ring is not None:
            L = ring[:, :, None]
            rel = rel - torch.floor((rel.detach() + 0.5 * L) / L) * L
        return rel

    def observe_start(self, front: torch.Tensor, length: torch.Tensor, lane: torch.Tensor, active: torch.Tensor,
                      ring: torch.Tensor | None, t: float) -> None:  # fmt: skip
        """Vehicles on a loop in the first frame enter at time ``t`` (as vehicles inserted onto it)."""
        rel = self._rel(front, ring)
        here = active[:, None, :] & (lane[:, None, :] == self.lane) & (rel >= 0) & (rel - length[:, None, :] < 0)
        self._enter(here, t)

    def _enter(self, mask: torch.Tensor, t) -> None:
        self.entry = torch.where(mask, t, self.entry)
        self.on = self.on | mask
        self.entered = self.entered + mask.sum(-1)

    def _leave(self, mask: torch.Tensor, t_leave, istart: torch.Tensor, length: torch.Tensor, moved: bool) -> None:
        """Record the vehicles of ``mask`` leaving at ``t_leave``; ``moved``: left by driving off (they count)."""
        zero = self._zero[:, :, None]
        on_time = t_leave - torch.maximum(self.entry, istart)
        self.occ = self.occ + torch.where(mask, on_time, zero).sum(-1)
        if moved:
            speed = (length[:, None, :] + self.det_len) / (t_leave - self.entry).clamp(min=NUMERICAL_EPS)
            self.n = self.n + mask.sum(-1)
            self.vsum = self.vsum + torch.where(mask, speed, zero).sum(-1)
            self.inv = self.inv + torch.where(mask, 1.0 / speed, zero).sum(-1)
            self.lsum = self.lsum + torch.where(mask, length[:, None, :], zero).sum(-1)
        self.on = self.on & ~mask

    def step(self, g: StepGeometry, t: float, dt: float, integrator: str, istart: torch.Tensor) -> None:
        """Process the step ``[t, t + dt]`` (s) of geometry ``g``; ``istart`` ``[D]``: interval starts (s)."""
        istart = istart[None, :, None]
        length = g.length
        rel1 = self._rel(g.front1, g.ring)
        rel0 = rel1 - g.dx[:, None, :]
        here1 = g.lane1[:, None, :] == self.lane
        here0 = g.lane0[:, None, :] == self.lane
        driving = g.same[:, None, :] & here1
        # 1. early leavers: changed lanes at the step's start, or their slot emptied during the step
        gone = self.on & ~driving
        t_gone = t + dt * g.removed[:, None, :].to(torch.float64)
        self._leave(gone, t_gone, istart, length, moved=False)
        # 2. entering without crossing: a lane change onto the loop, or an insertion onto it
        back = length[:, None, :]
        lc_in = driving & ~here0 & (rel0 >= 0) & (rel0 - back < 0)
        new_in = g.inserted[:, None, :] & here1 & (rel1 >= 0) & (rel1 - back < 0)
        self._enter(lc_in, t)
        self._enter(new_in, t + dt)
        # 3. driving over the loop: the front enters, the rear leaves
        v0, v1, dx = g.v0[:, None, :], g.v1[:, None, :], g.dx[:, None, :]
        cross_in = driving & (rel0 < 0) & (rel1 >= 0)
        t_in = t + passing_time(-rel0, v0, v1, dx, dt, integrator)
        self.entry = torch.where(cross_in, t_in, self.entry)
        self.on = self.on | cross_in
        self.entered = self.entered + cross_in.sum(-1)
        b0, b1 = rel0 - back, rel1 - back
        past = driving & (b1 > self.det_len)
        out = past & (b0 <= self.det_len) & self.on
        t_out = t + passing_time(self.det_len - b0, v0, v1, dx, dt, integrator)
        self._leave(out, t_out, istart, length, moved=True)
        self.on = self.on & ~past

    def values(self, istart: torch.Tensor, iend: torch.Tensor) -> dict[str, torch.Tensor]:
        """The outputs ``[B, D]`` of the intervals ``[istart, iend)`` (s, ``[D]``) so far."""
        still_on = torch.where(self.on, iend[None, :, None] - torch.maximum(self.entry, istart[None, :, None]), 0.0)
        occ_time = self.occ + still_on.sum(-1)
        T = (iend - istart)[None, :]
        n = self.n.to(torch.float64)
        some = self.n > 0
        none = torch.full_like(occ_time, -1.0)
        return {
            "n_contrib": self.n.clone(),
            "flow": n / T * 3600.0,
            "occupancy": occ_time * 100.0 / T,
            "speed": torch.where(some, self.vsum / n.clamp(min=1.0), none),
            "harmonic_speed": torch.where(some, n / torch.where(some, self.inv, torch.ones_like(self.inv)), none),
            "length": torch.where(some, self.lsum / n.clamp(min=1.0), none),
            "n_entered": self.entered.clone(),
        }

    def reset(self, mask: torch.Tensor) -> None:
        """Start new intervals for the loops of ``mask`` (``[D]`` bool)."""
        keep = ~mask[None, :]
        self.n = torch.where(keep, self.n, 0)
        self.entered = torch.where(keep, self.entered, 0)
        self.occ, self.vsum, self.inv, self.lsum = (
            torch.where(keep, acc, self._zero) for acc in (self.occ, self.vsum, self.inv, self.lsum)
        )
