"""Floating-car data of a simulation: our CSV (``fcd.csv``) and SUMO's FCD XML (``--fcd-output``).

Both describe each occupied vehicle slot at each frame; ``position`` / ``pos`` is SUMO's convention, the
front bumper's road coordinate (m; centre + length / 2, on a ring wrapped into [0, length)).

* CSV, one row per env, frame and vehicle: ``env,time,vehicle_id,lane,position,speed,accel`` (s, m, m/s,
  m/s^2; accel = the acceleration applied in the step that led to the frame, 0 in frame 0).
* SUMO FCD XML (one file per env): ``<fcd-export><timestep time="..."><vehicle id x y angle type speed pos
  lane slope/>`` with SUMO's default attributes, names and conventions: ``x``, ``y`` the front bumper's
  world position (m), ``angle`` the heading in degrees, 0 = north (+y), clockwise (so +x is 90), ``lane``
  ``<edge>_<index>``, ``slope`` 0, two decimals. World coordinates are the simulator's (``Road.to_world``).
"""

from __future__ import annotations

import math
from typing import TextIO
from xml.sax.saxutils import quoteattr

import numpy as np
import torch

from difftraffic.sim.road import Road

FCD_COLUMNS = ("env", "time", "vehicle_id", "lane", "position", "speed", "accel")
SUMO_ATTRIBUTES = ("id", "x", "y", "angle", "type", "speed", "pos", "lane", "slope")
"""SUMO 1.28's default FCD vehicle attributes, in its order."""


def front_positions(road: Road, x: np.ndarray, length: np.ndarray, ring_length: np.ndarray | None = None) -> np.ndarray:
    """Front-bumper road coordinates (m) of centres ``x`` ``[..., B, N]`` (wrapped on a ring; ``ring_length`` [B])."""
    front = np.asarray(x, np.float64) + 0.5 * np.asarray(length, np.float64)
    if road.ring:
        L = road.length if ring_length is None else np.asarray(ring_length, np.float64)[:, None]
        front = np.mod(front, L)
    return front


class FcdCsvWriter:
    """Streams ``fcd.csv`` rows frame by frame into an open text file."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.rows = 0
        fh.write(",".join(FCD_COLUMNS) + "\n")

    def write(self, time: float, pos, speed, accel, lane, active, ids) -> None:
        """One frame: ``[B, N]`` arrays (pos = front bumper, m); inactive slots are left out."""
        env, slot = np.nonzero(np.asarray(active, bool))
        if not len(env):
            return
        cols = [
            env.astype(np.int64),
            np.full(len(env), time),
            np.asarray(ids)[env, slot],
            np.asarray(lane)[env, slot],
            np.asarray(pos, np.float64)[env, slot],
            np.asarray(speed, np.float64)[env, slot],
            np.asarray(accel, np.float64)[env, slot],
        ]
        table = np.empty((len(env), len(cols)), dtype=object)
        for j, c in enumerate(cols):
            table[:, j] = c
        np.savetxt(self.fh, table, fmt=["%d", "%.4f", "%d", "%d", "%.6f", "%.6f", "%.6f"], delimiter=",")
        self.rows += len(env)


def sumo_angle(heading: np.ndarray) -> np.ndarray:
    """SUMO's angle (degrees, 0 = north, clockwise) of world headings (rad, counter-clockwise from +x)."""
    return np.mod(90.0 - np.degrees(heading), 360.0)


class SumoFcdWriter:
    """Streams one env's SUMO FCD XML: ``write`` per frame, ``close`` ends the document."""

    def __init__(self, fh: TextIO, road: Road, types: list[str], edge: str | None = None) -> None:
        self.fh, self.road, self.types = fh, road, types
        self.edge = edge or ("ring" if road.ring else "road")
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n\n')
        fh.write('<fcd-export xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                 'xsi:noNamespaceSchemaLocation="http://sumo.dlr.de/xsd/fcd_file.xsd">\n')  # fmt: skip

    def write(self, time: float, pos, speed, lane, active, ids) -> None:
        """One frame of one env: ``[N]`` arrays (pos = front bumper road coordinate, m)."""
        pos = np.asarray(pos, np.float64)
        lane = np.asarray(lane)
        lat = np.where(lane >= 0, lane, 0) * self.road.lane_width
        x, y, heading = (t.numpy() for t in self.road.to_world(torch.from_numpy(pos), torch.from_numpy(lat * 1.0)))
        angle = sumo_angle(heading)
        lines = [f'    <timestep time="{time:.2f}">\n']
        for i in np.flatnonzero(np.asarray(active, bool)):
            lane_id = f"{self.edge}_{int(lane[i])}" if lane[i] >= 0 else ""
            lines.append(
                f'        <vehicle id="{int(ids[i])}" x="{x[i]:.2f}" y="{y[i]:.2f}" angle="{_two(angle[i])}" '
                f'type={quoteattr(self.types[i])} speed="{float(speed[i]):.2f}" pos="{pos[i]:.2f}" '
                f'lane="{lane_id}" slope="0.00"/>\n'
            )
        lines.append("    </timestep>\n")
        self.fh.write("".join(lines))

    def close(self) -> None:
        self.fh.write("</fcd-export>\n")


def _two(value: float) -> str:
    """Two decimals, with 360.00 written as 0.00 (SUMO's angles lie in [0, 360))."""
    text = f"{value:.2f}"
    return "0.00" if text == "360.00" or math.isclose(float(text), 0.0) else text
