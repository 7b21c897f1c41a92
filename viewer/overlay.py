"""Gradient-flow overlay (the paper's Fig. 9, interactive): where the pace car's actions reach other cars.

``Episode.grad[t, b, i]`` = |d speed_i(t) / d (pace-car actions over the recent window)|. The overlay
draws, per vehicle, a halo coloured on a log scale (legend in the corner); green arrows from a
leader to its follower in the same lane when both carry gradient (IDM passes it back along the
lane); red arrows for recent lane changes and red rings on cars with no gradient: lane membership
is discrete, so it cuts the flow (only the longitudinal part of the dynamics is differentiable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difftraffic.recording.episode import Episode

from . import colors as C
from .camera import Camera, RoadGeom
from .replay import Frame
from .scene import Layer

MAX_DECADES = 6  # the log colour scale spans at most this many powers of ten below the maximum
LANE_CHANGE_WINDOW = 1.0  # s: a lane change is marked this long after it happened


@dataclass(frozen=True)
class GradScale:
    """Log colour scale ``[vmin, vmax]`` of an episode's gradient magnitudes (units of d(m/s)/d(action))."""

    vmin: float
    vmax: float

    @classmethod
    def of(cls, episode: Episode) -> GradScale | None:
        """Scale over all valid frames of all envs; None if the episode has no (non-zero) gradient data."""
        if episode.grad is None:
            return None
        g = episode.grad[episode.valid]
        g = g[np.isfinite(g) & (g > 0)]
        if not g.size:
            return None
        vmax = float(g.max())
        decades = int(np.clip(np.ceil(np.log10(vmax / float(g.min()))), 1, MAX_DECADES))
        return cls(vmax / 10.0**decades, vmax)

    def unit(self, g: np.ndarray) -> np.ndarray:
        """Position of ``g`` on the scale in [0, 1] (values below vmin map to 0)."""
        g = np.maximum(np.nan_to_num(np.asarray(g, dtype=np.float64)), self.vmin)
        return np.clip(np.log10(g / self.vmin) / np.log10(self.vmax / self.vmin), 0.0, 1.0)

    def flows(self, g: np.ndarray) -> np.ndarray:
        """True where the gradient is on the scale (>= vmin): the car is reached by the pace car's actions."""
        return np.nan_to_num(np.asarray(g, dtype=np.float64)) >= self.vmin


def _lane_pairs(frame: Frame, road: RoadGeom) -> tuple[np.ndarray, np.ndarray]:
    """(leader, follower) index pairs of consecutive cars in the same lane (ring roads wrap)."""
    leaders, followers = [], []
    for lane in np.unique(frame.lane[frame.lane >= 0]):
        idx = np.flatnonzero(frame.lane == lane)
        idx = idx[np.argsort(frame.s[idx], kind="stable")]
        if len(idx) < 2:
            continue
        followers.extend(idx[:-1])
        leaders.extend(idx[1:])
        if road.ring and (frame.s[idx[0]] + road.length - frame.s[idx[-1]]) < 0.5 * road.length:
            followers.append(idx[-1])
            leaders.append(idx[0])
    return np.asarray(leaders, int), np.asarray(followers, int)


def draw_halos(layer: Layer, frame: Frame, length: np.ndarray, scale: GradScale, cam: Camera) -> None:
    """Coloured halos under the cars the gradient reaches; thin red rings around cars it does not."""
    g = frame.grad
    px, py = cam.to_pixel(frame.x, frame.y)
    radius = np.maximum(0.5 * length * cam.scale * 1.35, 7.0)
    on = scale.flows(g) & frame.active
    layer.discs(np.stack([px[on], py[on]], -1), radius[on], C.grad_colors(scale.unit(g[on]), alpha=200))
    off = np.flatnonzero(~on & frame.active)
    for i in off:
        a = np.linspace(0.0, 2.0 * np.pi, 25)
        layer.polyline(np.stack([px[i] + radius[i] * np.cos(a), py[i] + radius[i] * np.sin(a)], -1), 1.5, C.CUT_RING)


def draw_flow_arrows(
    layer: Layer, episode: Episode, env: int, frame: Frame, length: np.ndarray, scale: GradScale,
    road: RoadGeom, cam: Camera,
) -> None:  # fmt: skip
    """Green leader->follower arrows along lanes where both carry gradient; red arrows for recent lane changes."""
    g = frame.grad
    leaders, followers = _lane_pairs(frame, road)
    keep = scale.flows(g[leaders]) & scale.flows(g[followers]) if len(leaders) else np.zeros(0, bool)
    leaders, followers = leaders[keep], followers[keep]
    if len(leaders):
        p0 = np.stack(cam.to_pixel(*_car_end(frame, leaders, length, -1.0)), -1)  # leader's rear
        p1 = np.stack(cam.to_pixel(*_car_end(frame, followers, length, 1.0)), -1)  # follower's nose
        near = np.linalg.norm(p1 - p0, axis=1) < 0.45 * road.length * cam.scale
        width = 2.0 + 2.0 * scale.unit(g[followers][near]).mean() if near.any() else 2.0
        layer.arrows(p0[near], p1[near], width, C.FLOW_GREEN)
    _draw_lane_changes(layer, episode, env, frame, road, cam)


def _car_end(frame: Frame, idx: np.ndarray, length: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """World point (m) of the front (side=+1) or rear (side=-1) bumper of cars ``idx``."""
    half = side * 0.5 * length[idx]
    h = frame.heading[idx]
    return frame.x[idx] + np.cos(h) * half, frame.y[idx] + np.sin(h) * half


def _draw_lane_changes(layer: Layer, episode: Episode, env: int, frame: Frame, road: RoadGeom, cam: Camera) -> None:
    width = episode.width
    """Red lateral arrow from the previous lane's centre to each car that changed lane in the last second."""
    t = frame.index
    k = max(1, int(round(LANE_CHANGE_WINDOW / episode.dt)))
    lanes = episode.lane[max(0, t - k) : t + 1, env].astype(int)  # [k+1, N]
    if len(lanes) < 2:
        return
    changed = (lanes[1:] != lanes[:-1]) & (lanes[1:] >= 0) & (lanes[:-1] >= 0)
    cars = np.flatnonzero(changed.any(axis=0) & (frame.lane >= 0))
    if not len(cars):
        return
    old = np.array([lanes[np.flatnonzero(changed[:, i])[-1], i] for i in cars])
    ox, oy = road.to_world(frame.s[cars], old * road.lane_width)
    p0 = np.stack(cam.to_pixel(ox, oy), -1)
    p1 = np.stack(cam.to_pixel(frame.x[cars], frame.y[cars]), -1)
    d = p1 - p0
    dist = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    stop = np.minimum(0.5 * width[cars, None] * cam.scale + 2.0, 0.5 * dist)  # end at the car's side
    p1 = p1 - d / dist * stop
    layer.arrows(p0, p1, 3.0, C.CUT_RED, head=max(8.0, 0.35 * road.lane_width * cam.scale))


def draw_legend(layer: Layer, scale: GradScale | None, x: float, y: float, size: int = 12) -> None:
    """Overlay legend with its top-left corner at (x, y): the log colour bar and what arrows/rings mean."""
    if scale is None:
        layer.rect(x, y, 250, size + 14, (0, 0, 0, 190))
        layer.text(x + 8, y + 7, "no gradient data in this episode", size, C.HUD_ALERT)
        return
    w, h = 250, 5 * size + 58
    layer.rect(x, y, w, h, (0, 0, 0, 190))
    layer.text(x + 8, y + 6, "|d speed / d pace actions| (log)", size, C.HUD_TEXT)
    bar_x, bar_y, bar_w, bar_h = x + 24, y + size + 12, w - 48, 10
    n = 64
    u = (np.arange(n) + 0.5) / n
    xs = bar_x + np.arange(n) * bar_w / n
    quads = np.stack([np.stack([xs, np.full(n, bar_y)], -1), np.stack([xs + bar_w / n + 0.5, np.full(n, bar_y)], -1),
                      np.stack([xs + bar_w / n + 0.5, np.full(n, bar_y + bar_h)], -1),
                      np.stack([xs, np.full(n, bar_y + bar_h)], -1)], axis=1)  # fmt: skip
    layer.polys(quads, C.grad_colors(u))
    lo, hi = np.log10(scale.vmin), np.log10(scale.vmax)
    for e in (lo, 0.5 * (lo + hi), hi):
        tx = bar_x + (e - lo) / max(hi - lo, 1e-9) * bar_w
        layer.text(tx, bar_y + bar_h + 2, f"{10.0**e:.0e}", size - 2, C.HUD_DIM, anchor="center")
    ly = bar_y + bar_h + size + 8
    layer.arrows([[x + 10, ly + 0.5 * size]], [[x + 40, ly + 0.5 * size]], 3.0, C.FLOW_GREEN, head=8.0)
    layer.text(x + 48, ly, "flows back along the lane", size, C.HUD_TEXT)
    ly += size + 6
    layer.arrows([[x + 25, ly + size]], [[x + 25, ly]], 3.0, C.CUT_RED, head=8.0)
    layer.text(x + 48, ly, "lane change: flow cut", size, C.HUD_TEXT)
    ly += size + 6
    a = np.linspace(0.0, 2.0 * np.pi, 25)
    layer.polyline(np.stack([x + 25 + 6 * np.cos(a), ly + 0.5 * size + 6 * np.sin(a)], -1), 1.5, C.CUT_RING)
    layer.text(x + 48, ly, "no gradient reaches this car", size, C.HUD_TEXT)
