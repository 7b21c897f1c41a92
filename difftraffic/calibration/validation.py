"""Checking a :class:`TrajectoryTable` before a fit: every problem is one line naming the file, the row or
vehicle and what is wrong (:class:`TrajectoryError`, exit code 2 on the command line)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difftraffic.calibration.csv_io import TrajectoryError
from difftraffic.calibration.leaders import derive_leaders
from difftraffic.calibration.table import TrajectoryTable

TIME_TOL = 0.01
"""Relative tolerance on time steps (fraction of dt): absorbs times rounded when written, catches gaps."""


@dataclass(frozen=True)
class CheckedTable:
    """A validated table, rows sorted by (vehicle, time), with integer indices the fit builds on.

    ``vehicles``: ids in order; ``vindex[r]``: row r's vehicle index; ``step[r]``: its time index on the
    file's common grid ``t0 + step * dt`` (s); ``leader_row[r]``: the row of its leader at the same time
    (-1 = none); ``start[v]``, ``stop[v]``: vehicle v's rows are ``start[v]:stop[v]``; ``derived_leaders``:
    True when leaders came from lane and position.
    """

    table: TrajectoryTable
    dt: float
    t0: float
    vehicles: list[str]
    vindex: np.ndarray
    step: np.ndarray
    leader_row: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    derived_leaders: bool


def _fail(table: TrajectoryTable, where: str, problem: str) -> None:
    raise TrajectoryError(f"{table.source}: {where}: {problem}")


def _check_values(t: TrajectoryTable) -> None:
    if len(t) == 0:
        raise TrajectoryError(f"{t.source}: no rows")
    for name in ("time", "position", "speed", "length"):
        col = getattr(t, name)
        bad = ~np.isfinite(col)
        if bad.any():
            i = int(np.argmax(bad))
            _fail(t, f"row {t.row[i]}", f"{name}: {col[i]} is not a finite number")
        if name == "speed" and (col < 0).any():
            i = int(np.argmax(col < 0))
            _fail(t, f"row {t.row[i]}", f"speed: {col[i]:g} m/s is negative")
        if name == "length" and (col <= 0).any():
            i = int(np.argmax(col <= 0))
            _fail(t, f"row {t.row[i]}", f"length: {col[i]:g} m must be > 0")
    empty = t.vehicle_id == ""
    if empty.any():
        _fail(t, f"row {t.row[int(np.argmax(empty))]}", "vehicle_id: empty")


def _check_times(t: TrajectoryTable, start: np.ndarray, stop: np.ndarray, vehicles: list[str]) -> float:
    """Per-vehicle checks (duplicates, one sample, uniform steps) and the file's common dt (s)."""
    steps = []
    for v, (a, b) in enumerate(zip(start, stop)):
        if b - a < 2:
            _fail(t, f"vehicle {vehicles[v]}", f"only one sample (row {t.row[a]}); a trajectory needs at least 2")
        d = np.diff(t.time[a:b])
        if (d <= 0).any():
            i = a + int(np.argmax(d <= 0))
            _fail(
                t, f"vehicle {vehicles[v]}", f"time {t.time[i]:g} s appears twice (rows {t.row[i]} and {t.row[i + 1]})"
            )
        ref = float(np.median(d))
        off = np.abs(d - ref) > TIME_TOL * ref
        if off.any():
            i = a + int(np.argmax(off))
            _fail(t, f"vehicle {vehicles[v]}",
                  f"times not uniform: a step of {d[i - a]:g} s between rows {t.row[i]} and {t.row[i + 1]} "
                  f"(its other steps are {ref:g} s)")  # fmt: skip
        steps.append(ref)
    dt = float(f"{float(np.median(steps)):.12g}")  # 0.1 rather than 0.10000000000000142 from float differences
    for v, ref in enumerate(steps):
        if abs(ref - dt) > TIME_TOL * dt:
            _fail(t, f"vehicle {vehicles[v]}", f"time step {ref:g} s differs from the file's {dt:g} s")
    return dt


def _grid(t: TrajectoryTable, dt: float) -> tuple[float, np.ndarray]:
    t0 = float(t.time.min())
    k = (t.time - t0) / dt
    step = np.rint(k).astype(np.int64)
    off = np.abs(k - step) > TIME_TOL
    if off.any():
        i = int(np.argmax(off))
        _fail(t, f"row {t.row[i]}", f"time {t.time[i]:g} s is off the file's grid ({t0:g} s + k x {dt:g} s)")
    return t0, step


def _leader_rows(t: TrajectoryTable, vindex: np.ndarray, step: np.ndarray, vehicles: list[str]) -> np.ndarray:
    rank = {v: i for i, v in enumerate(vehicles)}
    has = t.leader_id != ""
    lead_v = np.array([rank.get(x, -1) if x else -1 for x in t.leader_id.tolist()], dtype=np.int64)
    unknown = has & (lead_v < 0)
    if unknown.any():
        i = int(np.argmax(unknown))
        _fail(t, f"row {t.row[i]}", f"leader_id {t.leader_id[i]}: no such vehicle in the file")
    own = has & (lead_v == vindex)
    if own.any():
        i = int(np.argmax(own))
        _fail(t, f"row {t.row[i]}", f"leader_id: vehicle {t.vehicle_id[i]} cannot be its own leader")
    span = int(step.max()) + 1
    key = vindex * span + step  # rows are sorted by (vehicle, time), so keys are sorted
    want = lead_v * span + step
    pos = np.searchsorted(key, want)
    pos_c = np.minimum(pos, len(key) - 1)
    found = has & (key[pos_c] == want)
    missing = has & ~found
    if missing.any():
        i = int(np.argmax(missing))
        _fail(t, f"row {t.row[i]}", f"leader {t.leader_id[i]} has no sample at time {t.time[i]:g} s")
    leader_row = np.where(found, pos_c, -1)
    behind = found & (t.position[np.maximum(leader_row, 0)] <= t.position)
    if behind.any():
        i = int(np.argmax(behind))
        j = leader_row[i]
        _fail(t, f"row {t.row[i]}",
              f"leader {t.leader_id[i]} is not ahead at time {t.time[i]:g} s (front bumpers at "
              f"{t.position[j]:g} m and {t.position[i]:g} m)")  # fmt: skip
    return leader_row


def check_table(table: TrajectoryTable) -> CheckedTable:
    """Validate ``table`` (see the module docstring) and index it; leaders are derived when it has none."""
    _check_values(table)
    t = table.sorted()
    vehicles = t.vehicles()
    rank = {v: i for i, v in enumerate(vehicles)}
    vindex = np.array([rank[v] for v in t.vehicle_id.tolist()], dtype=np.int64)
    start = np.searchsorted(vindex, np.arange(len(vehicles)), side="left")
    stop = np.searchsorted(vindex, np.arange(len(vehicles)), side="right")
    dt = _check_times(t, start, stop, vehicles)
    t0, step = _grid(t, dt)
    derived = t.leader_id is None
    if derived:
        t = t.with_leaders(derive_leaders(t.vehicle_id, step, t.lane, t.position))
    leader_row = _leader_rows(t, vindex, step, vehicles)
    return CheckedTable(t, dt, t0, vehicles, vindex, step, leader_row, start, stop, derived)
