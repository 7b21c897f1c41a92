"""The road (lanes, markings, extent; straight or ring) and the vehicles, drawn into scene layers."""

from __future__ import annotations

import numpy as np

from . import colors as C
from .camera import Camera, RoadGeom
from .replay import Frame
from .scene import Layer

DASH = 3.0  # m, length of a lane-separator dash
DASH_PERIOD = 9.0  # m, dash + gap
TICK_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)  # m


def draw_road(layer: Layer, road: RoadGeom, cam: Camera) -> None:
    """Asphalt, solid edges, dashed lane separators (solid when dashes would be under 6 px)."""
    if road.ring:
        _draw_ring(layer, road, cam)
    else:
        _draw_straight(layer, road, cam)


def _draw_straight(layer: Layer, road: RoadGeom, cam: Camera) -> None:
    xmin, xmax, _, _ = cam.visible_world_box()
    a, b = max(0.0, xmin - 1.0), min(road.length, xmax + 1.0)
    if a >= b:
        return
    if road.partial_lanes:
        _draw_lanes(layer, road, cam, a, b)
        return
    w = road.lane_width
    lo, hi = -0.5 * w, (road.num_lanes - 0.5) * w
    (pa, pb), (py_lo, py_hi) = cam.to_pixel([a, b], [lo, hi])
    layer.polys([[[pa, py_hi], [pb, py_hi], [pb, py_lo], [pa, py_lo]]], C.ASPHALT)
    layer.lines([[pa, py_lo], [pa, py_hi]], [[pb, py_lo], [pb, py_hi]], 2.0, C.EDGE)  # edges of the world
    for lat in (lo, hi):
        _, py = cam.to_pixel(0.0, lat)
        layer.lines([[pa, py]], [[pb, py]], 2.0, C.EDGE)
    dashed = DASH_PERIOD * cam.scale >= 6.0
    for i in range(road.num_lanes - 1):
        lat = (i + 0.5) * w
        _, py = cam.to_pixel(0.0, lat)
        if not dashed:
            layer.lines([[pa, py]], [[pb, py]], 1.0, (*C.MARKING[:3], 120))
            continue
        starts = np.arange(np.floor(a / DASH_PERIOD) * DASH_PERIOD, b, DASH_PERIOD)
        px0, _ = cam.to_pixel(starts, lat)
        px1, _ = cam.to_pixel(np.minimum(starts + DASH, b), lat)
        ys = np.full_like(px0, py)
        layer.lines(np.stack([px0, ys], -1), np.stack([px1, ys], -1), 1.5, C.MARKING)


def _dashes(layer: Layer, cam: Camera, lat: float, a: float, b: float) -> None:
    """A dashed lane separator at ``lat`` over ``[a, b]`` (solid and faint when dashes would be under 6 px)."""
    _, py = cam.to_pixel(0.0, lat)
    if DASH_PERIOD * cam.scale < 6.0:
        pa, _ = cam.to_pixel(a, lat)
        pb, _ = cam.to_pixel(b, lat)
        layer.lines([[pa, py]], [[pb, py]], 1.0, (*C.MARKING[:3], 120))
        return
    starts = np.arange(np.floor(a / DASH_PERIOD) * DASH_PERIOD, b, DASH_PERIOD)
    starts = starts[starts + DASH > a]
    px0, _ = cam.to_pixel(np.maximum(starts, a), lat)
    px1, _ = cam.to_pixel(np.minimum(starts + DASH, b), lat)
    ys = np.full_like(px0, py)
    layer.lines(np.stack([px0, ys], -1), np.stack([px1, ys], -1), 1.5, C.MARKING)


def _minus(lo: float, hi: float, cut: tuple[float, float]) -> list[tuple[float, float]]:
    """``[lo, hi]`` without the interval ``cut`` (which may be empty)."""
    if cut[0] >= cut[1]:
        return [(lo, hi)]
    return [(a, b) for a, b in ((lo, min(hi, cut[0])), (max(lo, cut[1]), hi)) if a < b]


def _draw_lanes(layer: Layer, road: RoadGeom, cam: Camera, a: float, b: float) -> None:
    """A straight road whose lanes begin and end along it (lane drops, ramps): each lane's asphalt over its
    extent, solid edges where no neighbour lane runs alongside, dashes where one does, a barrier at a lane end."""
    w = road.lane_width
    ext = [road.extent(i) for i in range(road.num_lanes)]
    for i, e in enumerate(ext):
        lo, hi = max(a, e.start), min(b, e.end)
        if lo < hi:
            (pa, pb), (py0, py1) = cam.to_pixel([lo, hi], [(i - 0.5) * w, (i + 0.5) * w])
            layer.polys([[[pa, py1], [pb, py1], [pb, py0], [pa, py0]]], C.RAMP_ASPHALT if e.is_ramp else C.ASPHALT)
    for i, e in enumerate(ext):
        for j, lat in ((i - 1, (i - 0.5) * w), (i + 1, (i + 0.5) * w)):
            near = ext[j] if 0 <= j < road.num_lanes else None
            shared = (max(e.start, near.start), min(e.end, near.end)) if near is not None else (0.0, 0.0)
            if j > i and shared[0] < shared[1] and max(a, shared[0]) < min(b, shared[1]):
                _dashes(layer, cam, lat, max(a, shared[0]), min(b, shared[1]))
            for lo, hi in _minus(e.start, e.end, shared):
                lo, hi = max(a, lo), min(b, hi)
                if lo < hi:
                    (pa, pb), (py, _) = cam.to_pixel([lo, hi], [lat, lat])
                    layer.lines([[pa, py]], [[pb, py]], 2.0, C.EDGE)
        for s_, barrier in ((e.start, False), (e.end, True)):
            if 0.0 < s_ < road.length and a <= s_ <= b:
                (ps, _), (py0, py1) = cam.to_pixel([s_, s_], [(i - 0.5) * w, (i + 0.5) * w])
                layer.lines([[ps, py0]], [[ps, py1]], 4.0 if barrier else 2.0, C.LANE_END if barrier else C.EDGE)


def _draw_ring(layer: Layer, road: RoadGeom, cam: Camera) -> None:
    w, R = road.lane_width, road.radius
    r_in, r_out = R - 0.5 * w, R + (road.num_lanes - 0.5) * w
    n = int(np.clip(2 * np.pi * r_out * cam.scale / 6.0, 64, 720))
    phi = np.linspace(0.0, 2.0 * np.pi, n + 1)
    xi, yi = cam.to_pixel(r_in * np.cos(phi), r_in * np.sin(phi))
    xo, yo = cam.to_pixel(r_out * np.cos(phi), r_out * np.sin(phi))
    quads = np.stack(
        [np.stack([xi[:-1], yi[:-1]], -1), np.stack([xo[:-1], yo[:-1]], -1),
         np.stack([xo[1:], yo[1:]], -1), np.stack([xi[1:], yi[1:]], -1)],
        axis=1,
    )  # fmt: skip
    layer.polys(quads, C.ASPHALT)
    layer.polyline(np.stack([xi, yi], -1), 2.0, C.EDGE)
    layer.polyline(np.stack([xo, yo], -1), 2.0, C.EDGE)
    for i in range(road.num_lanes - 1):
        r = R + (i + 0.5) * w
        if DASH_PERIOD * cam.scale < 6.0:
            x, y = cam.to_pixel(r * np.cos(phi), r * np.sin(phi))
            layer.polyline(np.stack([x, y], -1), 1.0, (*C.MARKING[:3], 120))
            continue
        a0 = np.arange(0.0, 2.0 * np.pi * r, DASH_PERIOD) / r
        a1 = a0 + DASH / r
        x0, y0 = cam.to_pixel(r * np.cos(a0), r * np.sin(a0))
        x1, y1 = cam.to_pixel(r * np.cos(a1), r * np.sin(a1))
        layer.lines(np.stack([x0, y0], -1), np.stack([x1, y1], -1), 1.5, C.MARKING)
    (sx0, sx1), (sy0, sy1) = cam.to_pixel([r_in, r_out], [0.0, 0.0])  # s = 0 line
    layer.lines([[sx0, sy0]], [[sx1, sy1]], 2.0, (*C.EDGE[:3], 160))


def draw_road_labels(layer: Layer, road: RoadGeom, cam: Camera, size: int = 12) -> None:
    """Lane numbers at the viewport's left edge, where lanes start and end, and distance ticks (m) under a
    straight road."""
    if road.ring:
        return
    x0, y0, w, h = cam.viewport
    for i in range(road.num_lanes):
        _, py = cam.to_pixel(0.0, i * road.lane_width)
        if y0 <= py - 0.5 * size and py + 0.5 * size <= y0 + h and road.lane_width * cam.scale >= size:
            layer.text(x0 + 4, py - 0.5 * size, f"L{i}", size, C.HUD_DIM)
    xmin, xmax, _, _ = cam.visible_world_box()
    for i, e in enumerate(road.lanes):
        name = "lane" if e.kind == "main" else e.kind.replace("onramp", "on-ramp").replace("offramp", "off-ramp")
        for s, text in ((e.start, f"{name} starts"), (e.end, f"{name} ends")):
            if 0.0 < s < road.length and xmin <= s <= xmax:
                lx, ly = cam.to_pixel(s, (i + 0.5) * road.lane_width)
                layer.text(lx, ly - size - 2, text, size, C.HUD_DIM, anchor="center")
    step = next((s for s in TICK_STEPS if s * cam.scale >= 90.0), TICK_STEPS[-1])
    _, py = cam.to_pixel(0.0, -0.5 * road.lane_width)
    if py + size + 8 > y0 + h:
        return
    ticks = np.arange(np.ceil(max(xmin, 0.0) / step) * step, min(xmax, road.length) + 1e-9, step)
    px, _ = cam.to_pixel(ticks, 0.0)
    layer.lines(np.stack([px, np.full_like(px, py + 1)], -1), np.stack([px, np.full_like(px, py + 6)], -1), 1.0, C.EDGE)
    for tick, x in zip(ticks[:40], px[:40]):
        layer.text(x, py + 7, f"{tick:g} m", size, C.HUD_DIM, anchor="center")


def vehicle_colors(frame: Frame, controlled: np.ndarray, by_speed: bool, vmax: float) -> np.ndarray:
    """``[N, 4]``: pace car(s) blue; IDM cars yellow, or on the speed colour map when ``by_speed``."""
    n = len(frame.x)
    cols = np.empty((n, 4), np.uint8)
    cols[:] = C.speed_colors(frame.speed, vmax) if by_speed else np.array(C.IDM_YELLOW, np.uint8)
    cols[controlled] = C.PACE_BLUE
    return cols


def draw_vehicles(
    layer: Layer, frame: Frame, length: np.ndarray, width: np.ndarray, cols: np.ndarray, cam: Camera
) -> None:
    """Oriented rectangles (at least 4 x 2 px) with a dark rim; off-road vehicles get a red rim, vehicles that
    just entered the road a green one, vehicles about to leave it an orange one; empty slots are not drawn."""
    on = np.flatnonzero(frame.active)
    px, py = cam.to_pixel(frame.x[on], frame.y[on])
    heading = frame.heading[on]
    lp = np.maximum(length[on] * cam.scale, 4.0)
    wp = np.maximum(width[on] * cam.scale, 2.0)
    rim = np.empty((len(on), 4), np.uint8)
    rim[:] = (10, 10, 12, 255)
    marked = frame.lane[on] < 0
    for mask, col in ((frame.entering[on], C.ENTERING), (frame.leaving[on], C.LEAVING), (marked, C.OFFROAD_RED)):
        rim[mask] = col
    marked = marked | frame.entering[on] | frame.leaving[on]
    pad = np.where(marked, 4.0, 2.0)
    layer.boxes(px, py, lp + pad, wp + pad, heading, rim)
    layer.boxes(px, py, lp, wp, heading, cols[on])
    # windscreen: a dark band at the front, so the driving direction is visible
    fx = px + np.cos(heading) * 0.22 * lp
    fy = py - np.sin(heading) * 0.22 * lp
    layer.boxes(fx, fy, np.maximum(0.12 * lp, 1.0), 0.7 * wp, heading, (20, 24, 40, 200))


def loop_marks(meta: dict) -> list[tuple[int, float]]:
    """(lane, s) of the induction loops listed in an episode's ``meta["detectors"]`` (``difftraffic simulate``)."""
    out = []
    for d in meta.get("detectors") or []:
        if isinstance(d, dict) and d.get("kind") == "loop":
            lane, s = d.get("lane"), d.get("position")
            if isinstance(lane, int) and isinstance(s, int | float):
                out.append((lane, float(s)))
    return out


def draw_loops(layer: Layer, road: RoadGeom, loops: list[tuple[int, float]], cam: Camera) -> None:
    """Induction loops as bars across their lane at their position (m)."""
    if not loops:
        return
    lane = np.array([ln for ln, _ in loops], np.float64)
    s = np.array([p for _, p in loops], np.float64)
    w = road.lane_width
    x0, y0 = road.to_world(s, (lane - 0.4) * w)
    x1, y1 = road.to_world(s, (lane + 0.4) * w)
    p0, p1 = np.stack(cam.to_pixel(x0, y0), -1), np.stack(cam.to_pixel(x1, y1), -1)
    layer.lines(p0, p1, max(2.0, 0.6 * cam.scale), C.LOOP)
