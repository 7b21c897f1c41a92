"""Reader for NGSIM vehicle trajectories (US-101, I-80, Lankershim, Peachtree; data.transportation.gov layout).

Columns used (names matched case-insensitively): ``Vehicle_ID``, ``Frame_ID`` (0.1 s frames), ``Local_Y``
(longitudinal position of the front centre, ft, from the entry edge), ``v_Vel`` (ft/s), ``v_Length`` (ft),
``Lane_ID``, ``Preceding`` (the vehicle ahead, 0 = none), optional ``v_Class`` (1 motorcycle, 2 auto,
3 truck) and ``Location``. Feet are converted to metres (1 ft = 0.3048 m); ``Local_Y`` is already the front
bumper, so position = Local_Y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from difftraffic.calibration.csv_io import TrajectoryError, read_columns, to_float, to_id
from difftraffic.calibration.table import TrajectoryTable

FEET = 0.3048
"""Metres per foot."""
FRAME_S = 0.1
"""NGSIM frame period (s)."""
REQUIRED = ("vehicle_id", "frame_id", "local_y", "v_vel", "v_length", "lane_id", "preceding")
CLASSES = {"1": "motorcycle", "2": "auto", "3": "truck"}


def read_ngsim(path: str | Path, location: str | None = None) -> TrajectoryTable:
    """An NGSIM trajectory file as a :class:`TrajectoryTable` in SI units, with a ``class`` extra column when
    the file has ``v_Class``. Files holding several ``Location`` values need ``location`` to pick one."""
    cols, lines, name = read_columns(path, REQUIRED, optional=("v_class", "location"), lower=True)
    if "location" in cols:
        places = sorted(set(cols["location"].tolist()))
        if location is not None:
            keep = cols["location"] == location
            if not keep.any():
                raise TrajectoryError(f"{name}: Location: no rows for {location!r} (has {', '.join(places)})")
            cols = {k: v[keep] for k, v in cols.items()}
            lines = lines[keep]
        elif len(places) > 1:
            raise TrajectoryError(f"{name}: Location: the file mixes {', '.join(places)}; pick one (location=...)")
    num = {c: to_float(cols[c], c, lines, name) for c in ("frame_id", "local_y", "v_vel", "v_length")}
    extra = {}
    if "v_class" in cols:
        extra["class"] = np.array([CLASSES.get(c, c) for c in to_id(cols["v_class"])], dtype=str)
    leader = to_id(cols["preceding"])
    leader = np.where(leader == "0", "", leader)
    return TrajectoryTable(
        vehicle_id=to_id(cols["vehicle_id"]),
        time=num["frame_id"] * FRAME_S,
        lane=to_id(cols["lane_id"]),
        position=num["local_y"] * FEET,
        speed=num["v_vel"] * FEET,
        length=num["v_length"] * FEET,
        leader_id=leader,
        extra=extra,
        source=name,
        row=lines,
    )
