"""Car-following rows: the checked trajectories laid out as ``[B, N, K+1]`` tensors for batched replay.

A *row* is one independent simulation of ``N`` vehicle slots over ``K`` steps of ``dt``:

* open loop (default): one row per car-following *segment* -- a maximal run of samples in which a follower
  keeps the same leader -- with slot 0 the recorded leader (replayed) and slot 1 the simulated follower; a
  follower contributes one row per leader it had (and, with ``free_road``, one per run without a leader);
* platoon (closed loop): one row per platoon -- the vehicles linked by the leader relation -- where only the
  vehicles without a leader are replayed and every other vehicle follows its *simulated* leader.

A simulated slot starts at its first sample from the observed position and speed and is compared with
the observations after every step. Positions are front bumpers (m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from difftraffic.calibration.csv_io import TrajectoryError
from difftraffic.calibration.validation import CheckedTable


@dataclass
class Rows:
    """Batched car-following rows; tensors are ``[B, N]`` or ``[B, N, K+1]`` (slots of padding are inactive).

    ``x``, ``v``: observed front-bumper position (m) and speed (m/s); ``active``: a sample exists;
    ``length`` (m); ``leader``: the slot each slot follows (itself when ``has_leader`` is False);
    ``replayed``: slots that replay their observations; ``first``: index of each slot's first sample;
    ``vehicle``: vehicle index of each slot (-1 = padding); ``table_row``: the checked table's row of each
    sample (-1 = none); ``time``: ``[B, K+1]`` time of each step (s).
    """

    x: torch.Tensor
    v: torch.Tensor
    active: torch.Tensor
    length: torch.Tensor
    leader: torch.Tensor
    has_leader: torch.Tensor
    replayed: torch.Tensor
    first: torch.Tensor
    vehicle: torch.Tensor
    table_row: np.ndarray
    time: torch.Tensor
    dt: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """(B rows, N slots, K steps)."""
        b, n, k1 = self.x.shape
        return b, n, k1 - 1

    @property
    def simulated(self) -> torch.Tensor:
        """``[B, N]`` slots driven by IDM (not replayed, not padding)."""
        return ~self.replayed & (self.vehicle >= 0)

    def take(self, index: torch.Tensor) -> Rows:
        """The rows ``index`` (long ``[n]``) as a new batch."""
        pick = index.cpu().numpy()
        return Rows(
            x=self.x[index], v=self.v[index], active=self.active[index], length=self.length[index],
            leader=self.leader[index], has_leader=self.has_leader[index], replayed=self.replayed[index],
            first=self.first[index], vehicle=self.vehicle[index], table_row=self.table_row[pick],
            time=self.time[index], dt=self.dt,
        )  # fmt: skip

    def compared(self) -> torch.Tensor:
        """``[B, N, K+1]`` samples where a simulated slot is compared with its observation (after its start)."""
        k = torch.arange(self.x.shape[2], device=self.x.device)
        return self.active & self.simulated[..., None] & (k > self.first[..., None])


def component_roots(n: int, links) -> list[int]:
    """Union-find: for nodes ``0..n-1`` joined by the ``(i, j)`` pairs in ``links``, each node's component
    label (one member of it: equal labels = same component)."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in links:
        parent[root(int(i))] = root(int(j))
    return [root(i) for i in range(n)]


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b)`` of equal values."""
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    edges = np.concatenate(([0], cut, [len(values)]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _pack(ct: CheckedTable, slots: list[list[tuple[int, int]]], spec: list[dict], device, dtype) -> Rows:
    """Lay out rows: ``slots[b]`` lists (first table row, number of samples) per slot, ``spec[b]`` holds the
    row's ``offset`` (step of its k = 0), ``leader`` (slot list), ``replayed`` (bool list)."""
    t = ct.table
    nb, nn = len(slots), max(len(s) for s in slots)
    steps = [max(ct.step[a] + c - 1 - sp["offset"] for a, c in row) + 1 for row, sp in zip(slots, spec)]
    k1 = max(steps)
    x = np.zeros((nb, nn, k1))
    v = np.zeros((nb, nn, k1))
    rows = np.full((nb, nn, k1), -1, dtype=np.int64)
    length = np.ones((nb, nn))
    leader = np.tile(np.arange(nn), (nb, 1))
    has_leader = np.zeros((nb, nn), dtype=bool)
    replayed = np.zeros((nb, nn), dtype=bool)
    first = np.zeros((nb, nn), dtype=np.int64)
    vehicle = np.full((nb, nn), -1, dtype=np.int64)
    time = np.zeros((nb, k1))
    for b, (row, sp) in enumerate(zip(slots, spec)):
        time[b] = ct.t0 + (sp["offset"] + np.arange(k1)) * ct.dt
        for i, (a, count) in enumerate(row):
            k0 = ct.step[a] - sp["offset"]
            sl = slice(k0, k0 + count)
            x[b, i, sl] = t.position[a : a + count]
            v[b, i, sl] = t.speed[a : a + count]
            x[b, i, k0 + count :] = t.position[a + count - 1]  # padding holds the last sample
            v[b, i, k0 + count :] = t.speed[a + count - 1]
            x[b, i, :k0] = t.position[a]
            v[b, i, :k0] = t.speed[a]
            rows[b, i, sl] = np.arange(a, a + count)
            length[b, i] = float(np.median(t.length[a : a + count]))
            first[b, i] = k0
            vehicle[b, i] = ct.vindex[a]
            replayed[b, i] = sp["replayed"][i]
            if sp["leader"][i] is not None:
                leader[b, i] = sp["leader"][i]
                has_leader[b, i] = True

    def f(a):
        return torch.as_tensor(a, dtype=dtype, device=device)

    def i64(a):
        return torch.as_tensor(a, dtype=torch.long, device=device)

    return Rows(
        x=f(x),
        v=f(v),
        active=torch.as_tensor(rows >= 0, device=device),
        length=f(length),
        leader=i64(leader),
        has_leader=torch.as_tensor(has_leader, device=device),
        replayed=torch.as_tensor(replayed, device=device),
        first=i64(first),
        vehicle=i64(vehicle),
        table_row=rows,
        time=f(time),
        dt=ct.dt,
    )


def open_loop_rows(
    ct: CheckedTable, min_steps: int = 1, free_road: bool = False, device="cpu", dtype=torch.float64
) -> Rows:
    """One row per car-following segment of at least ``min_steps`` steps (see the module docstring)."""
    lead_v = np.where(ct.leader_row >= 0, ct.vindex[np.maximum(ct.leader_row, 0)], -1)
    slots, spec = [], []
    for vi in range(len(ct.vehicles)):
        a0, b0 = int(ct.start[vi]), int(ct.stop[vi])
        for a, b in _runs(lead_v[a0:b0]):
            a, b = a + a0, b + a0
            if b - a - 1 < min_steps:
                continue
            offset = int(ct.step[a])
            if lead_v[a] >= 0:
                slots.append([(int(ct.leader_row[a]), b - a), (a, b - a)])
                spec.append({"offset": offset, "leader": [None, 0], "replayed": [True, False]})
            elif free_road:
                slots.append([(a, b - a)])
                spec.append({"offset": offset, "leader": [None], "replayed": [False]})
    if not slots:
        what = "car-following or free-road" if free_road else "car-following"
        raise TrajectoryError(f"{ct.table.source}: no {what} segment of at least {min_steps} steps to calibrate on")
    return _pack(ct, slots, spec, device, dtype)


def platoon_rows(ct: CheckedTable, device="cpu", dtype=torch.float64) -> Rows:
    """One row per platoon (see the module docstring); every vehicle must keep one leader (or none) throughout."""
    t = ct.table
    nveh = len(ct.vehicles)
    lead_of = np.full(nveh, -1, dtype=np.int64)
    for vi in range(nveh):
        a, b = int(ct.start[vi]), int(ct.stop[vi])
        lr = ct.leader_row[a:b]
        lv = np.where(lr >= 0, ct.vindex[np.maximum(lr, 0)], -1)
        change = np.flatnonzero(lv[1:] != lv[:-1])
        if change.size:
            i = a + int(change[0]) + 1
            names = [ct.vehicles[x] if x >= 0 else "none" for x in (lv[change[0]], lv[change[0] + 1])]
            raise TrajectoryError(
                f"{t.source}: vehicle {ct.vehicles[vi]}: leader changes from {names[0]} to {names[1]} at row "
                f"{t.row[i]}; --platoon needs a fixed leader per vehicle (the default open loop handles changes)"
            )
        lead_of[vi] = lv[0]
    label = component_roots(nveh, [(vi, li) for vi, li in enumerate(lead_of) if li >= 0])
    comps: dict[int, list[int]] = {}
    for vi in range(nveh):
        comps.setdefault(label[vi], []).append(vi)
    slots, spec = [], []
    for members in comps.values():
        if len(members) < 2:
            continue
        depth = {}
        for m in members:  # order slots leaders-first (depth in the leader tree)
            d, x = 0, m
            while lead_of[x] >= 0:
                d, x = d + 1, int(lead_of[x])
            depth[m] = d
        members = sorted(members, key=lambda m: (depth[m], m))
        slot = {m: i for i, m in enumerate(members)}
        offset = min(int(ct.step[ct.start[m]]) for m in members)
        slots.append([(int(ct.start[m]), int(ct.stop[m] - ct.start[m])) for m in members])
        spec.append(
            {
                "offset": offset,
                "leader": [slot[int(lead_of[m])] if lead_of[m] >= 0 else None for m in members],
                "replayed": [bool(lead_of[m] < 0) for m in members],
            }
        )
    if not slots:
        raise TrajectoryError(f"{t.source}: no platoon (a vehicle with a leader) to calibrate on")
    return _pack(ct, slots, spec, device, dtype)
