"""Road geometry as the viewer needs it, and the world -> pixel mapping shared by every renderer.

World coordinates are metres with y up (``Episode.x``, ``Episode.y``); pixel coordinates have their
origin at the image's top-left corner with y down (like Pillow and numpy images). The OpenGL
renderer flips y itself, so both renderers place every shape at the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difftraffic.recording.episode import Episode


@dataclass(frozen=True)
class LaneExtent:
    """Where a lane of a straight road exists: ``[start, end]`` (m, road coordinate s) and its ``kind``
    (e.g. "main", "onramp", "offramp", "drop"; free text, kinds containing "ramp" are drawn as ramps)."""

    start: float
    end: float
    kind: str = "main"

    @property
    def is_ramp(self) -> bool:
        return "ramp" in self.kind


@dataclass(frozen=True)
class RoadGeom:
    """The recorded road: ``num_lanes`` lanes of ``lane_width`` m; straight along +x, or a ring around (0, 0).

    ``lanes``: per-lane extents of an open road with lanes that begin or end along it (``meta["road"]["lanes"]``
    = ``[{start, end, kind}, ...]``); empty = every lane spans the whole road."""

    num_lanes: int
    length: float  # m (a ring's lane-0 circumference)
    ring: bool
    lane_width: float  # m
    lanes: tuple[LaneExtent, ...] = ()

    def extent(self, lane: int) -> LaneExtent:
        """Where lane ``lane`` exists (the whole road unless ``lanes`` says otherwise)."""
        if lane < len(self.lanes):
            return self.lanes[lane]
        return LaneExtent(0.0, self.length)

    @property
    def partial_lanes(self) -> bool:
        """True when some lane of a straight road does not span the whole road."""
        return not self.ring and any(e.start > 0.0 or e.end < self.length or e.kind != "main" for e in self.lanes)

    @property
    def radius(self) -> float:
        """Radius (m) of lane 0's centreline on a ring."""
        return self.length / (2.0 * np.pi)

    @property
    def width(self) -> float:
        """Paved width (m) of all lanes together."""
        return self.num_lanes * self.lane_width

    def to_world(self, s, lat) -> tuple[np.ndarray, np.ndarray]:
        """World position (m) of road coordinates ``(s, lat)`` (same convention as ``difftraffic.Road``)."""
        s, lat = np.asarray(s, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        if not self.ring:
            return s, lat
        r, phi = self.radius + lat, s / self.radius
        return r * np.cos(phi), r * np.sin(phi)

    @classmethod
    def from_dict(cls, road: dict) -> RoadGeom:
        """From ``Road.as_dict()``; unknown keys are ignored, malformed ``lanes`` entries fall back to full lanes."""
        num_lanes = int(road.get("num_lanes", 1))
        length = float(road.get("length", 1.0e6))
        lanes = []
        raw = road.get("lanes")
        for item in raw if isinstance(raw, list) else []:
            item = item if isinstance(item, dict) else {}
            start, end = _number(item.get("start"), 0.0), _number(item.get("end"), length)
            lanes.append(LaneExtent(max(0.0, start), min(length, end), str(item.get("kind") or "main")))
        return cls(num_lanes=num_lanes, length=length, ring=bool(road.get("ring", False)),
                   lane_width=float(road.get("lane_width", 4.0)), lanes=tuple(lanes[:num_lanes]))  # fmt: skip

    @classmethod
    def from_episode(cls, episode: Episode) -> RoadGeom:
        """``meta["road"]`` (``Road.as_dict()``); without it, a straight road covering the recorded lanes."""
        road = episode.meta.get("road")
        if isinstance(road, dict):
            return cls.from_dict(road)
        lanes = int(max(1, episode.lane.max() + 1))
        return cls(num_lanes=lanes, length=float(max(1.0, episode.s.max())), ring=False, lane_width=4.0)


def _number(value, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


@dataclass
class Camera:
    """Maps world metres to the pixels of a viewport ``(x0, y0, w, h)`` (top-left origin) at ``scale`` px/m."""

    cx: float  # m, world point shown at the viewport centre
    cy: float  # m
    scale: float  # px per m
    viewport: tuple[int, int, int, int]  # x0, y0, w, h in px

    MIN_SCALE = 0.05
    MAX_SCALE = 200.0

    def to_pixel(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of world points ``(x, y)`` (arrays of any matching shape)."""
        x0, y0, w, h = self.viewport
        px = x0 + 0.5 * w + (np.asarray(x, dtype=np.float64) - self.cx) * self.scale
        py = y0 + 0.5 * h - (np.asarray(y, dtype=np.float64) - self.cy) * self.scale
        return px, py

    def to_world(self, px, py) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`to_pixel`."""
        x0, y0, w, h = self.viewport
        x = self.cx + (np.asarray(px, dtype=np.float64) - x0 - 0.5 * w) / self.scale
        y = self.cy - (np.asarray(py, dtype=np.float64) - y0 - 0.5 * h) / self.scale
        return x, y

    def contains(self, px: float, py: float) -> bool:
        x0, y0, w, h = self.viewport
        return x0 <= px < x0 + w and y0 <= py < y0 + h

    def zoom(self, factor: float, about: tuple[float, float] | None = None) -> None:
        """Multiply the scale by ``factor``, keeping the world point under pixel ``about`` in place."""
        x0, y0, w, h = self.viewport
        px, py = about if about is not None else (x0 + 0.5 * w, y0 + 0.5 * h)
        wx, wy = self.to_world(px, py)
        self.scale = float(np.clip(self.scale * factor, self.MIN_SCALE, self.MAX_SCALE))
        nx, ny = self.to_world(px, py)
        self.cx += float(wx - nx)
        self.cy += float(wy - ny)

    def pan(self, dx: float, dy: float) -> None:
        """Drag the picture by ``(dx, dy)`` pixels (y down)."""
        self.cx -= dx / self.scale
        self.cy += dy / self.scale

    def visible_world_box(self) -> tuple[float, float, float, float]:
        """World ``(xmin, xmax, ymin, ymax)`` covered by the viewport."""
        x0, y0, w, h = self.viewport
        xa, ya = self.to_world(x0, y0 + h)
        xb, yb = self.to_world(x0 + w, y0)
        return float(xa), float(xb), float(ya), float(yb)


def fit_camera(road: RoadGeom, x: np.ndarray, viewport: tuple[int, int, int, int]) -> Camera:
    """Default view: a whole ring, or a straight road's lanes around the recorded vehicles ``x`` [N] (m)."""
    _, _, w, h = viewport
    if road.ring:
        outer = road.radius + (road.num_lanes - 0.5) * road.lane_width + 2.0
        return Camera(0.0, 0.0, min(w, h) * 0.94 / (2.0 * outer), viewport)
    span = float(np.ptp(x)) if len(x) else 0.0
    visible = float(np.clip(span + 50.0, 60.0, 150.0))  # m: cars stay at least ~25 px long
    scale = min(w / visible, 0.8 * h / (road.width + 6.0))
    cx = 0.5 * (float(np.min(x)) + float(np.max(x))) if len(x) else 0.0
    cy = 0.5 * (road.num_lanes - 1) * road.lane_width
    return Camera(cx, cy, scale, viewport)
