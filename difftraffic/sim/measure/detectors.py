"""Detectors stepped alongside a rollout (:class:`Detectors`) or run over a finished one (:func:`measure`).

    dets = Detectors(sim, state, [LoopSpec("up", lane=0, position=100.0, period=60.0)])
    for _ in range(steps):
        state = sim.step(state)
        dets.observe(state)
    readings = dets.readings()            # Readings: one Series per detector

    readings = measure(sim, sim.rollout(state, steps), specs)   # the same numbers from a Trajectory

A step is tensor operations on (vehicle, detector) pairs: on CUDA with static shapes and no host
synchronisation; on CPU loops evaluate only the vehicles near a loop (see ``loops.py``). Intervals close on
the host's step counter. Intervals are aligned to
multiples of each detector's period from time 0; frame k is at ``start_time + k dt`` (s), so the step
from frame k to k+1 is ``[start_time + k dt, start_time + (k+1) dt]``. SUMO stamps the move that leads
to its output at time t with t itself (its detectors add the passing time to the move's SIMTIME), so
``start_time = dt`` reproduces SUMO's E1 intervals when frame 0 is SUMO's state at t = 0.

Readings keep autograd history: loop occupancy and speeds and all segment outputs are differentiable
w.r.t. positions and speeds; counts and flows of loops are integers / piecewise constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from difftraffic.sim.measure.loops import LOOP_FIELDS, LoopBank
from difftraffic.sim.measure.segments import SEGMENT_FIELDS, SegmentBank
from difftraffic.sim.measure.slots import Frame, frame_of, ring_lengths, step_geometry, vehicle_lengths
from difftraffic.sim.measure.specs import LoopSpec, SegmentSpec, Spec, check_on_road, period_steps


@dataclass
class Series:
    """The intervals of one detector: ``begin``/``end`` (s, ``[I]`` lists) and ``values[field]`` ``[I, B]``."""

    spec: Spec
    begin: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    values: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "loop" if isinstance(self.spec, LoopSpec) else "segment"


@dataclass
class Readings:
    """All detectors' series, in the order of the specs."""

    series: list[Series]

    def __getitem__(self, name: str) -> Series:
        for s in self.series:
            if s.spec.name == name:
                return s
        raise KeyError(name)

    @property
    def loops(self) -> list[Series]:
        return [s for s in self.series if s.kind == "loop"]

    @property
    def segments(self) -> list[Series]:
        return [s for s in self.series if s.kind == "segment"]


class _Clock:
    """Host-side interval bookkeeping of detectors with periods of ``steps`` steps each."""

    def __init__(self, steps: list[int], k0: int) -> None:
        self.steps = steps
        self.begin = [(k0 // p) * p for p in steps]  # step index where each current interval began

    def closing(self, e: int) -> list[bool]:
        return [e % p == 0 for p in self.steps]


def _specs(specs) -> tuple[tuple[LoopSpec, ...], tuple[SegmentSpec, ...], list[Spec]]:
    specs = list(specs)
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValueError(f"detector {dup}: names must be unique")
    for s in specs:
        if not isinstance(s, LoopSpec | SegmentSpec):
            raise TypeError(f"detectors must be LoopSpec or SegmentSpec, got {type(s).__name__}")
    loops = tuple(s for s in specs if isinstance(s, LoopSpec))
    segs = tuple(s for s in specs if isinstance(s, SegmentSpec))
    return loops, segs, [*loops, *segs]


class Detectors:
    """Loops and segments of ``specs`` measuring a batch of ``sim`` from frame 0 ``first``.

    ``first``: a SimState, or a :class:`Frame` together with ``length`` (vehicle lengths, m, float or
    ``[B, N]``) and, on a ring with per-env lengths, ``ring_length`` (``[B]``, m). ``mode``: how loops run a
    step, ``"dense"``, ``"sparse"`` or ``"auto"`` (see :mod:`~difftraffic.sim.measure.loops`; same results)."""

    def __init__(self, sim, first, specs, start_time: float = 0.0, length=None, ring_length=None,
                 mode: str = "auto") -> None:  # fmt: skip
        self.dt, self.integrator = float(sim.dt), sim.integrator
        loops, segs, self.order = _specs(specs)
        k0 = round(float(start_time) / self.dt)
        if k0 < 0 or abs(k0 * self.dt - start_time) > 1e-9 * max(1.0, abs(start_time)):
            raise ValueError(f"start_time must be a whole number of {self.dt:g} s steps >= 0, got {start_time}")
        if isinstance(first, Frame):
            if length is None:
                raise ValueError("length: the vehicle lengths are needed with a Frame")
            frame, ring = first, (ring_length if ring_length is not None else sim.ring_length)
        else:
            frame, ring, length = frame_of(first), sim.ring(first), first.idm.length
        b, n = frame.v.shape
        self.device = frame.v.device
        self.ring = ring_lengths(ring, b, self.device) if sim.road.ring else None
        road_len = float(self.ring.min()) if self.ring is not None else float(sim.road.length)
        for s in self.order:
            check_on_road(s, sim.road.num_lanes, road_len, self.ring is not None)
        self.k0, self.k = k0, 0
        self.clock = _Clock([period_steps(s, self.dt) for s in self.order], k0)
        self.loops = LoopBank(loops, b, n, self.device, mode) if loops else None
        self.segs = SegmentBank(segs, b, sim.road.num_lanes, self.device) if segs else None
        self.n_loops = len(loops)
        self._parts: list[dict[str, list[torch.Tensor]]] = [{} for _ in self.order]
        self._spans: list[list[tuple[float, float]]] = [[] for _ in self.order]
        self._length = length
        self.prev = frame
        if self.loops is not None:
            lengths = vehicle_lengths(length, frame.v.shape, self.device)
            front = frame.x.to(torch.float64) + 0.5 * lengths
            self.loops.observe_start(front, lengths, frame.lane, frame.active, self.ring, self._time(0))
        self._istart = self._starts()

    def _time(self, k: int) -> float:
        return (self.k0 + k) * self.dt

    def _starts(self) -> torch.Tensor:
        return torch.tensor([b * self.dt for b in self.clock.begin], dtype=torch.float64, device=self.device)

    def observe(self, state, length=None) -> None:
        """Account for the step from the previous frame to ``state`` (a SimState, or a Frame with optional new
        vehicle ``length``; default: the last lengths)."""
        if isinstance(state, Frame):
            frame = state
        else:
            frame, length = frame_of(state), state.idm.length
        if length is not None:
            self._length = length
        if frame.v.shape != self.prev.v.shape:
            raise ValueError(f"state has shape {list(frame.v.shape)}, the detectors measure {list(self.prev.v.shape)}")
        geom = step_geometry(self.prev, frame, vehicle_lengths(self._length, frame.v.shape, self.device), self.ring)
        if self.loops is not None:
            self.loops.step(geom, self._time(self.k), self.dt, self.integrator, self._istart[: self.n_loops])
        if self.segs is not None:
            self.segs.step(geom, self.dt)
        self.k += 1
        self.prev = frame
        e = self.k0 + self.k
        closing = self.clock.closing(e)
        if any(closing):
            for i, vals in self._values(e, closing):
                self._append(i, e, vals)
            mask = torch.tensor(closing, dtype=torch.bool, device=self.device)
            if self.loops is not None:
                self.loops.reset(mask[: self.n_loops])
            if self.segs is not None:
                self.segs.reset(mask[self.n_loops :])
            self.clock.begin = [e if c else b for c, b in zip(closing, self.clock.begin)]
            self._istart = self._starts()

    def _values(self, e: int, which: list[bool]):
        """``(i, {field: [B]})`` of the detectors ``i`` in ``which`` for their intervals ending at step ``e``."""
        iend = torch.full_like(self._istart, e * self.dt)
        nl = self.n_loops
        outs = []
        if self.loops is not None:
            outs += [(self.loops.values(self._istart[:nl], iend[:nl]), j) for j in range(nl)]
        if self.segs is not None:
            seg = self.segs.values(self._istart[nl:], iend[nl:])
            outs += [(seg, j) for j in range(len(self.order) - nl)]
        return [(i, {k: v[:, j] for k, v in out.items()}) for i, (out, j) in enumerate(outs) if which[i]]

    def _append(self, i: int, e: int, vals: dict[str, torch.Tensor]) -> None:
        self._spans[i].append((self.clock.begin[i] * self.dt, e * self.dt))
        for key, val in vals.items():
            self._parts[i].setdefault(key, []).append(val)

    def readings(self, partial: bool = True) -> Readings:
        """The series so far; with ``partial`` also each unfinished interval that has seen a step (as SUMO writes
        at the end of a simulation). Does not change the detectors' state."""
        e = self.k0 + self.k
        pending = [partial and e > max(b, self.k0) for b in self.clock.begin]
        extra = dict(self._values(e, pending)) if any(pending) else {}
        b = self.prev.v.shape[0]
        out = []
        for i, spec in enumerate(self.order):
            spans = list(self._spans[i])
            fields_ = LOOP_FIELDS if isinstance(spec, LoopSpec) else SEGMENT_FIELDS
            values = {}
            for key in fields_:
                parts = list(self._parts[i].get(key, []))
                if i in extra:
                    parts.append(extra[i][key])
                dtype = torch.long if key.startswith("n_") else torch.float64
                values[key] = torch.stack(parts) if parts else torch.zeros((0, b), dtype=dtype, device=self.device)
            if i in extra:
                spans.append((self.clock.begin[i] * self.dt, e * self.dt))
            out.append(Series(spec, [s for s, _ in spans], [t for _, t in spans], values))
        return Readings(out)


def measure(sim, traj, specs, start_time: float = 0.0, mode: str = "auto") -> Readings:
    """The detectors of ``specs`` over a finished rollout ``traj`` (a Trajectory of ``sim``), partial last
    intervals included. Vehicle lengths are those of ``traj.final.idm``; slots come from ``traj.active`` /
    ``traj.vehicle_id`` when present."""
    final = traj.final
    dets = Detectors(sim, frame_of(traj, 0), specs, start_time, length=final.idm.length,
                     ring_length=getattr(final, "ring_length", None), mode=mode)  # fmt: skip
    for k in range(1, traj.x.shape[0]):
        dets.observe(frame_of(traj, k))
    return dets.readings()
