"""Induction loops (SUMO's E1, ``MSInductLoop``), batched over envs, loops and vehicle slots.

Per (vehicle, loop) pair a loop keeps whether the vehicle is on it and when it entered (``[B, D, N]``); the
events of a step are :func:`~difftraffic.sim.measure.loop_events.pair_events`. Interval outputs (SUMO
``writeXMLOutput``): flow = n 3600 / T (veh/h), occupancy = 100 sum(time on the loop within the interval) / T
(%), speed = mean of the vehicle speeds (time-mean, m/s), harmonicMeanSpeed = n / sum(1 / speed) (space-mean
estimate), length = mean vehicle length (m); -1 for speeds and length when n = 0; nVehEntered counts entries.

Two ways to run a step, with identical results: ``dense`` evaluates every pair (static shapes, no host
synchronisation: the choice on CUDA); ``sparse`` first finds, per vehicle and with a sorted search, whether any
loop lies within its reach this step (from ``dx + L_veh + L_loop`` behind its front to its front) or it is on a
loop, and evaluates only those vehicles' pairs (a few per step; the choice on CPU, where it is many times faster).
"""

from __future__ import annotations

import torch

from difftraffic.sim.measure.loop_events import ACCUMULATORS, pair_events, wrap_centered
from difftraffic.sim.measure.slots import StepGeometry
from difftraffic.sim.measure.specs import LoopSpec

LOOP_FIELDS = ("n_contrib", "flow", "occupancy", "speed", "harmonic_speed", "length", "n_entered")
"""Per-interval outputs of a loop, in SUMO's order (nVehContrib, flow, occupancy, speed, harmonicMeanSpeed,
length, nVehEntered)."""

MODES = ("auto", "dense", "sparse")
SEARCH_ABOVE = 16  # loops: the sparse step finds the vehicles near loops by comparisons up to this many, else by search
_VEHICLE_KEYS = ("dx", "v0", "v1", "length", "lane0", "lane1", "same", "removed", "inserted")


class LoopBank:
    """The state of ``D`` loops over a ``[B, N]`` batch; ``step`` per simulation step, ``values``/``reset`` per
    interval. ``mode``: ``dense``, ``sparse`` or ``auto`` (sparse on CPU, dense elsewhere)."""

    def __init__(self, specs: tuple[LoopSpec, ...], batch: int, slots: int, device: torch.device,
                 mode: str = "auto") -> None:  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.specs = specs
        self.sparse = mode == "sparse" or (mode == "auto" and torch.device(device).type == "cpu")
        f64 = {"dtype": torch.float64, "device": device}
        self.lane = torch.tensor([s.lane for s in specs], dtype=torch.long, device=device)
        self.pos = torch.tensor([s.position for s in specs], **f64)
        self.det_len = torch.tensor([s.length for s in specs], **f64)
        self.sorted_pos = torch.sort(self.pos).values
        self.max_len = float(self.det_len.max())
        d = len(specs)
        self.on = torch.zeros((batch, d, slots), dtype=torch.bool, device=device)
        self.entry = torch.zeros((batch, d, slots), **f64)
        self.on_any = torch.zeros((batch, slots), dtype=torch.bool, device=device)  # on some loop (sparse step)
        self._zero = torch.zeros((batch, d, len(ACCUMULATORS)), **f64)
        self.acc = self._zero.clone()

    def observe_start(self, front: torch.Tensor, length: torch.Tensor, lane: torch.Tensor, active: torch.Tensor,
                      ring: torch.Tensor | None, t: float) -> None:  # fmt: skip
        """Vehicles on a loop in the first frame enter at time ``t`` (as vehicles inserted onto it)."""
        rel = wrap_centered(front[:, None, :] - self.pos[None, :, None], None if ring is None else ring[:, :, None])
        here = active[:, None, :] & (lane[:, None, :] == self.lane[None, :, None])
        here = here & (rel >= 0) & (rel - length[:, None, :] < 0)
        self.entry = torch.where(here, t, self.entry)
        self.on = self.on | here
        self.on_any = self.on.any(1)
        counts = torch.zeros_like(self.acc)
        counts[..., 0] = here.sum(-1)
        self.acc = self.acc + counts

    def step(self, g: StepGeometry, t: float, dt: float, integrator: str, istart: torch.Tensor) -> None:
        """Process the step ``[t, t + dt]`` (s) of geometry ``g``; ``istart`` ``[D]``: interval starts (s)."""
        if self.sparse:
            self._step_sparse(g, t, dt, integrator, istart)
            return
        veh = {k: getattr(g, k)[:, None, :] for k in _VEHICLE_KEYS}
        ring = None if g.ring is None else g.ring[:, :, None]
        rel1 = wrap_centered(g.front1[:, None, :] - self.pos[None, :, None], ring)
        self.on, self.entry, contrib = pair_events(
            self.on, self.entry, rel1, veh, self.lane[None, :, None], self.det_len[None, :, None],
            istart[None, :, None], t, dt, integrator,
        )  # fmt: skip
        self.acc = self.acc + contrib.sum(2)

    def _candidates(self, g: StepGeometry) -> torch.Tensor:
        """Flat indices (into ``[B * N]``) of the vehicles that may meet a loop in this step or are on one."""
        reach = g.dx + g.length + self.max_len + 1e-6
        hi = g.front1 + 1e-9
        if g.ring is not None:
            hi = hi - torch.floor(hi.detach() / g.ring) * g.ring
        lo = hi - reach
        if len(self.specs) <= SEARCH_ABOVE:  # a few loops: one comparison each beats a sorted search on CPU
            near = torch.zeros_like(g.same)
            for p in self.sorted_pos.tolist():
                near |= (lo <= p) & (hi >= p)
                if g.ring is not None:  # the part of the reach behind s = 0
                    near |= lo <= p - g.ring
        else:
            ss = torch.searchsorted
            count = ss(self.sorted_pos, hi, right=True) - ss(self.sorted_pos, lo)
            if g.ring is not None:
                count = count + torch.where(lo < 0, len(self.specs) - ss(self.sorted_pos, lo + g.ring), 0)
            near = count > 0
        return ((near & (g.lane1 >= 0)) | self.on_any).flatten().nonzero().squeeze(1)

    def _step_sparse(self, g: StepGeometry, t: float, dt: float, integrator: str, istart: torch.Tensor) -> None:
        idx = self._candidates(g)
        if idx.numel() == 0:
            return
        b, n = g.front1.shape
        env, slot = idx // n, idx % n
        veh = {k: getattr(g, k).reshape(-1)[idx][:, None] for k in _VEHICLE_KEYS}
        ring = None if g.ring is None else g.ring[env]
        rel1 = wrap_centered(g.front1.reshape(-1)[idx][:, None] - self.pos[None, :], ring)
        on, entry, contrib = pair_events(
            self.on[env, :, slot], self.entry[env, :, slot], rel1, veh, self.lane[None, :], self.det_len[None, :],
            istart[None, :], t, dt, integrator,
        )  # fmt: skip
        tracked = (entry, self.entry, contrib, self.acc)
        if torch.is_grad_enabled() and any(x.requires_grad for x in tracked):  # out of place: autograd keeps history
            where = (env[:, None], torch.arange(len(self.specs), device=env.device)[None, :], slot[:, None])
            self.on = self.on.index_put(where, on)
            self.entry = self.entry.index_put(where, entry)
            self.acc = self.acc.index_add(0, env, contrib)
        else:
            self.on[env, :, slot] = on
            self.entry[env, :, slot] = entry
            self.acc.index_add_(0, env, contrib)
        self.on_any[env, slot] = on.any(1)

    def values(self, istart: torch.Tensor, iend: torch.Tensor) -> dict[str, torch.Tensor]:
        """The outputs ``[B, D]`` of the intervals ``[istart, iend)`` (s, ``[D]``) so far."""
        still_on = torch.where(self.on, iend[None, :, None] - torch.maximum(self.entry, istart[None, :, None]), 0.0)
        entered, occupied, count, vsum, inv, lsum = self.acc.unbind(-1)
        occ_time = occupied + still_on.sum(-1)
        T = (iend - istart)[None, :]
        some = count > 0
        n = count.clamp(min=1.0)
        none = torch.full_like(occ_time, -1.0)
        return {
            "n_contrib": count.round().long(),
            "flow": count.detach() / T * 3600.0,
            "occupancy": occ_time * 100.0 / T,
            "speed": torch.where(some, vsum / n, none),
            "harmonic_speed": torch.where(some, count.detach() / torch.where(some, inv, torch.ones_like(inv)), none),
            "length": torch.where(some, lsum / n, none),
            "n_entered": entered.round().long(),
        }

    def reset(self, mask: torch.Tensor) -> None:
        """Start new intervals for the loops of ``mask`` (``[D]`` bool)."""
        self.acc = torch.where(mask[None, :, None], self._zero, self.acc)
