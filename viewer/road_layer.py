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
    """Lane numbers at the viewport's left edge and distance ticks (m) under a straight road."""
    if road.ring:
        return
    x0, y0, w, h = cam.viewport
    for i in range(road.num_lanes):
        _, py = cam.to_pixel(0.0, i * road.lane_width)
        if y0 <= py - 0.5 * size and py + 0.5 * size <= y0 + h and road.lane_width * cam.scale >= size:
            layer.text(x0 + 4, py - 0.5 * size, f"L{i}", size, C.HUD_DIM)
    step = next((s for s in TICK_STEPS if s * cam.scale >= 90.0), TICK_STEPS[-1])
    xmin, xmax, _, _ = cam.visible_world_box()
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
    """Oriented rectangles (at least 4 x 2 px) with a dark rim; off-road vehicles get a red rim."""
    px, py = cam.to_pixel(frame.x, frame.y)
    lp = np.maximum(length * cam.scale, 4.0)
    wp = np.maximum(width * cam.scale, 2.0)
    rim = np.where((frame.lane < 0)[:, None], np.array(C.OFFROAD_RED, np.uint8), np.array((10, 10, 12, 255), np.uint8))
    pad = np.where(frame.lane < 0, 4.0, 2.0)
    layer.boxes(px, py, lp + pad, wp + pad, frame.heading, rim)
    layer.boxes(px, py, lp, wp, frame.heading, cols)
    # windscreen: a dark band at the front, so the driving direction is visible
    fx = px + np.cos(frame.heading) * 0.22 * lp
    fy = py - np.sin(frame.heading) * 0.22 * lp
    layer.boxes(fx, fy, np.maximum(0.12 * lp, 1.0), 0.7 * wp, frame.heading, (20, 24, 40, 200))
