"""TrajectoryTable: measured vehicle trajectories in one long table (one row per vehicle and time).

Columns (numpy arrays of equal length): ``vehicle_id`` (str), ``time`` (s), ``lane`` (str; any label),
``position`` (m, front bumper along the road), ``speed`` (m/s), ``length`` (m), ``leader_id`` (str, "" = none;
None when the data has no leader column: leaders are then derived from lane and position), ``extra``
(other columns as str arrays, e.g. a vehicle class), ``source`` (the file name used in error messages) and
``row`` (each row's line number in that file, for error messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

REQUIRED_COLUMNS = ("vehicle_id", "time", "lane", "position", "speed", "length")
COLUMNS = (*REQUIRED_COLUMNS, "leader_id")


@dataclass
class TrajectoryTable:
    """Trajectories as columns; see the module docstring."""

    vehicle_id: np.ndarray
    time: np.ndarray
    lane: np.ndarray
    position: np.ndarray
    speed: np.ndarray
    length: np.ndarray
    leader_id: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<table>"
    row: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.vehicle_id = np.asarray(self.vehicle_id).astype(str)
        self.lane = np.asarray(self.lane).astype(str)
        for name in ("time", "position", "speed", "length"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if self.leader_id is not None:
            lid = np.asarray(self.leader_id, dtype=object)
            lid = np.where(lid == None, "", lid)  # noqa: E711 (elementwise)
            self.leader_id = lid.astype(str)
        self.extra = {k: np.asarray(v).astype(str) for k, v in self.extra.items()}
        n = len(self.vehicle_id)
        if self.row is None:
            self.row = np.arange(2, n + 2)  # as if read from a CSV with a header line
        self.row = np.asarray(self.row, dtype=np.int64)
        for name, col in self.columns().items():
            if len(col) != n:
                raise ValueError(f"{self.source}: column {name} has {len(col)} rows, vehicle_id has {n}")

    def __len__(self) -> int:
        return len(self.vehicle_id)

    def columns(self) -> dict[str, np.ndarray]:
        """Every column by name (the leader column only when present), extras last."""
        cols = {name: getattr(self, name) for name in REQUIRED_COLUMNS}
        if self.leader_id is not None:
            cols["leader_id"] = self.leader_id
        cols.update(self.extra)
        cols["row"] = self.row
        return cols

    def take(self, index: np.ndarray) -> TrajectoryTable:
        """The rows ``index`` (an index or bool array), in that order."""
        return replace(
            self,
            vehicle_id=self.vehicle_id[index],
            time=self.time[index],
            lane=self.lane[index],
            position=self.position[index],
            speed=self.speed[index],
            length=self.length[index],
            leader_id=None if self.leader_id is None else self.leader_id[index],
            extra={k: v[index] for k, v in self.extra.items()},
            row=self.row[index],
        )

    def sorted(self) -> TrajectoryTable:
        """Rows ordered by (vehicle, time): vehicles in :meth:`vehicles` order."""
        ids = self.vehicles()
        rank = {v: i for i, v in enumerate(ids)}
        key = np.array([rank[v] for v in self.vehicle_id], dtype=np.int64)
        return self.take(np.lexsort((self.time, key)))

    def vehicles(self) -> list[str]:
        """Distinct vehicle ids, numerically ordered when they are all integers, else as strings."""
        ids = list(dict.fromkeys(self.vehicle_id.tolist()))
        return sorted(ids, key=vehicle_sort_key)

    def with_leaders(self, leader_id: np.ndarray) -> TrajectoryTable:
        """A copy with the leader column replaced."""
        return replace(self, leader_id=np.asarray(leader_id).astype(str))

    def with_extra(self, extra: Mapping[str, np.ndarray]) -> TrajectoryTable:
        """A copy with more extra columns."""
        return replace(self, extra={**self.extra, **{k: np.asarray(v).astype(str) for k, v in extra.items()}})


def vehicle_sort_key(vid: str) -> tuple[int, float, str]:
    """Integers first in numeric order, then other ids alphabetically."""
    try:
        return (0, float(int(vid)), "")
    except ValueError:
        return (1, 0.0, vid)
