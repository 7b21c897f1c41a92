"""Reader for highD drone trajectories (``XX_tracks.csv``, with ``XX_tracksMeta.csv`` / ``XX_recordingMeta.csv``
beside it when present).

``XX_tracks.csv`` columns used: ``frame``, ``id``, ``x`` (m, the **upper-left corner** of the bounding box in image
coordinates), ``width`` (the vehicle's length along the road, m), ``xVelocity`` (m/s, negative for vehicles
driving to the left), ``laneId``, ``precedingId`` (0 = none). The frame rate is ``frameRate`` of the
recording meta file (highD records at 25 Hz; 25 when that file is absent). The driving direction is
``drivingDirection`` of the tracks meta file (1 = to the left, 2 = to the right), else the sign of the
vehicle's mean ``xVelocity``. Position runs along the direction of travel, front bumper:
``x + width`` to the right, ``-x`` to the left; speed = ``|xVelocity|``. ``class`` (Car/Truck) comes from the
tracks meta file when present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from difftraffic.calibration.csv_io import TrajectoryError, read_columns, to_float, to_id
from difftraffic.calibration.table import TrajectoryTable

REQUIRED = ("frame", "id", "x", "width", "xVelocity", "laneId", "precedingId")
DEFAULT_FRAME_RATE = 25.0
"""highD's frame rate (Hz), used when no recording meta file is found."""


def _sibling(tracks: Path, suffix: str) -> Path | None:
    stem = tracks.name
    if not stem.endswith("_tracks.csv"):
        return None
    other = tracks.with_name(stem[: -len("_tracks.csv")] + suffix)
    return other if other.exists() else None


def read_highd(path: str | Path, frame_rate: float | None = None) -> TrajectoryTable:
    """A highD ``XX_tracks.csv`` file as a :class:`TrajectoryTable` (see the module docstring)."""
    path = Path(path)
    cols, lines, name = read_columns(path, REQUIRED)
    rate = frame_rate
    rec = _sibling(path, "_recordingMeta.csv")
    if rate is None and rec is not None:
        meta, mlines, mname = read_columns(rec, ("frameRate",))
        rate = float(to_float(meta["frameRate"], "frameRate", mlines, mname)[0])
    rate = DEFAULT_FRAME_RATE if rate is None else float(rate)
    if not rate > 0:
        raise TrajectoryError(f"{name}: frame rate must be > 0 Hz, got {rate:g}")
    ids = to_id(cols["id"])
    num = {c: to_float(cols[c], c, lines, name) for c in ("frame", "x", "width", "xVelocity")}
    direction: dict[str, int] = {}
    vclass: dict[str, str] = {}
    tm = _sibling(path, "_tracksMeta.csv")
    if tm is not None:
        meta, mlines, mname = read_columns(tm, ("id", "drivingDirection"), optional=("class",))
        dirs = to_float(meta["drivingDirection"], "drivingDirection", mlines, mname)
        for vid, d, line in zip(to_id(meta["id"]), dirs, mlines):
            if d not in (1.0, 2.0):
                raise TrajectoryError(f"{mname}: row {line}: drivingDirection: {d:g} is not 1 or 2")
            direction[vid] = int(d)
        if "class" in meta:
            vclass = dict(zip(to_id(meta["id"]), meta["class"].tolist()))
    vx = num["xVelocity"]
    for vid in set(ids.tolist()) - set(direction):
        direction[vid] = 2 if vx[ids == vid].mean() >= 0 else 1
    to_right = np.array([direction[v] == 2 for v in ids])
    position = np.where(to_right, num["x"] + num["width"], -num["x"])
    leader = to_id(cols["precedingId"])
    leader = np.where(leader == "0", "", leader)
    extra = {"direction": np.where(to_right, "2", "1")}
    if vclass:
        extra["class"] = np.array([vclass.get(v, "") for v in ids], dtype=str)
    return TrajectoryTable(
        vehicle_id=ids,
        time=num["frame"] / rate,
        lane=to_id(cols["laneId"]),
        position=position,
        speed=np.abs(vx),
        length=num["width"],
        leader_id=leader,
        extra=extra,
        source=name,
        row=lines,
    )
