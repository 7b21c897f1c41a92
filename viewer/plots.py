"""Side panel beside the road: speed and acceleration time series, and a time-space diagram.

The panel is rasterised once per (episode, env, size, lane filter) with Pillow and cached by the
caller; only the time cursor changes per frame (drawn into the scene on top of the picture).
Speed plot: pace car (blue), mean of the IDM cars (yellow), target speed (dashed). Acceleration plot:
the same two series. Time-space diagram: longitudinal position s (m) against time (s) of every car
(or of one lane), coloured by speed on the red (stopped) to green (fast) map; the pace car in blue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difftraffic.recording.episode import Episode

from . import colors as C
from .camera import RoadGeom
from .fonts import pil_font

LEFT, RIGHT, TITLE, BOTTOM = 46, 10, 18, 18  # px margins of each plot


@dataclass(frozen=True)
class PanelImage:
    """The rendered panel and where its plots are (panel-local px), for drawing the time cursor."""

    rgb: np.ndarray  # [h, w, 3] uint8
    t_max: float  # s, right end of every time axis
    plots: tuple[tuple[int, int, int, int], ...]  # (x0, y0, x1, y1) plot areas: speed, accel, time-space
    key: tuple

    def cursor_x(self, t: float) -> float:
        """Panel-local x (px) of time ``t`` (s) on the plots' shared time axis."""
        x0, _, x1, _ = self.plots[0]
        return x0 + (x1 - x0) * min(max(t / max(self.t_max, 1e-9), 0.0), 1.0)


def nice_ticks(lo: float, hi: float, n: int = 4) -> np.ndarray:
    """About ``n`` round tick values (1, 2 or 5 times a power of ten apart) inside [lo, hi]."""
    span = max(hi - lo, 1e-9)
    raw = span / max(n, 1)
    mag = 10.0 ** np.floor(np.log10(raw))
    step = mag * min((m for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw), default=10.0)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9 * span, step)


def _series(episode: Episode, env: int) -> dict[str, np.ndarray]:
    last = episode.last_frame(env)
    ctrl = episode.controlled
    sl = slice(0, last + 1)
    speed, accel = episode.speed[sl, env], episode.accel[sl, env]
    out = {"t": np.arange(last + 1) * episode.dt}
    if ctrl.any():
        pace = int(np.flatnonzero(ctrl)[0])
        out["pace_v"], out["pace_a"] = speed[:, pace], accel[:, pace]
    if (~ctrl).any():
        if episode.active is None:
            out["idm_v"], out["idm_a"] = speed[:, ~ctrl].mean(1), accel[:, ~ctrl].mean(1)
        else:  # the mean over the vehicles on the road (NaN while there are none)
            on = episode.active[sl, env][:, ~ctrl]
            count = on.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["idm_v"] = np.where(on, speed[:, ~ctrl], 0.0).sum(1) / count
                out["idm_a"] = np.where(on, accel[:, ~ctrl], 0.0).sum(1) / count
    return out


class _Axes:
    """One plot area of the panel image: data -> pixel mapping and Pillow drawing helpers."""

    def __init__(self, draw, box, t_max, ylo, yhi, title):
        self.draw, self.box, self.t_max, self.ylo, self.yhi = draw, box, t_max, ylo, yhi
        x0, y0, x1, y1 = box
        draw.rectangle(box, fill=(14, 15, 18))
        draw.text((x0, y0 - TITLE + 2), title, font=pil_font(12), fill=C.HUD_TEXT[:3])
        for v in nice_ticks(ylo, yhi):
            py = self.py(v)
            draw.line([(x0, py), (x1, py)], fill=(45, 48, 55))
            draw.text((x0 - 4, py), f"{v:g}", font=pil_font(11), fill=C.HUD_DIM[:3], anchor="rm")
        for v in nice_ticks(0.0, t_max, 5):
            px = self.px(v)
            draw.line([(px, y0), (px, y1)], fill=(45, 48, 55))

    def px(self, t):
        x0, _, x1, _ = self.box
        return x0 + (x1 - x0) * np.asarray(t, np.float64) / max(self.t_max, 1e-9)

    def py(self, v):
        _, y0, _, y1 = self.box
        return y1 - (y1 - y0) * (np.asarray(v, np.float64) - self.ylo) / max(self.yhi - self.ylo, 1e-9)

    def line(self, t, v, color, width=2):
        pts = list(zip(self.px(t).tolist(), self.py(np.clip(v, self.ylo, self.yhi)).tolist()))
        if len(pts) >= 2:
            self.draw.line(pts, fill=color[:3], width=width, joint="curve")

    def hdash(self, v, color):
        x0, _, x1, _ = self.box
        py = float(self.py(v))
        for a in np.arange(x0, x1, 10.0):
            self.draw.line([(a, py), (min(a + 5.0, x1), py)], fill=color[:3], width=1)

    def time_labels(self):
        _, _, _, y1 = self.box
        for v in nice_ticks(0.0, self.t_max, 5):
            self.draw.text((float(self.px(v)), y1 + 3), f"{v:g}", font=pil_font(11), fill=C.HUD_DIM[:3], anchor="ma")


def render_panel(episode: Episode, env: int, width: int, height: int, lane: int | None = None) -> PanelImage:
    """The side panel (``width`` x ``height`` px) for env ``env``; ``lane`` limits the time-space diagram."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), C.PANEL_BG[:3])
    draw = ImageDraw.Draw(img)
    ser = _series(episode, env)
    t_max = max(float(ser["t"][-1]), episode.dt)
    target = episode.meta.get("target_speed")
    last = episode.last_frame(env)
    speeds = episode.speed[: last + 1, env]
    vmax_all = float(np.nanmax(speeds)) if speeds.size else 1.0
    vtop = max(vmax_all, float(target or 0.0), 1.0) * 1.1
    vbottom = min(float(np.nanmin(speeds)) if speeds.size else 0.0, 0.0) * 1.1  # a pace car may reverse
    h_speed, h_acc = int(0.30 * height), int(0.22 * height)
    boxes = (
        (LEFT, TITLE, width - RIGHT, h_speed - 6),
        (LEFT, h_speed + TITLE, width - RIGHT, h_speed + h_acc - 6),
        (LEFT, h_speed + h_acc + TITLE, width - RIGHT, height - BOTTOM),
    )
    ax = _Axes(draw, boxes[0], t_max, vbottom, vtop, "speed (m/s): pace car, IDM mean" + (", target" if target else ""))
    if target:
        ax.hdash(float(target), C.HUD_TEXT)
    if "idm_v" in ser:
        ax.line(ser["t"], ser["idm_v"], C.IDM_YELLOW)
    if "pace_v" in ser:
        ax.line(ser["t"], ser["pace_v"], C.PACE_BLUE)
    acc = [ser[k] for k in ("pace_a", "idm_a") if k in ser]
    alo = min(-1.0, *(float(np.nanmin(a)) for a in acc)) if acc else -1.0
    ahi = max(1.0, *(float(np.nanmax(a)) for a in acc)) if acc else 1.0
    ax = _Axes(draw, boxes[1], t_max, alo * 1.1, ahi * 1.1, "acceleration (m/s^2)")
    if "idm_a" in ser:
        ax.line(ser["t"], ser["idm_a"], C.IDM_YELLOW)
    if "pace_a" in ser:
        ax.line(ser["t"], ser["pace_a"], C.PACE_BLUE)
    _time_space(draw, img, episode, env, boxes[2], t_max, vtop, lane)
    key = ("panel", id(episode), env, width, height, lane)
    return PanelImage(np.asarray(img, dtype=np.uint8).copy(), t_max, boxes, key)


def _time_space(draw, img, episode: Episode, env: int, box, t_max: float, vtop: float, lane: int | None) -> None:
    from PIL import Image

    road = RoadGeom.from_episode(episode)
    last = episode.last_frame(env)
    s = episode.s[: last + 1, env].astype(np.float64)  # [T+1, N]
    speed = episode.speed[: last + 1, env]
    member = np.ones_like(s, bool) if lane is None else episode.lane[: last + 1, env] == lane
    active = np.ones_like(s, bool) if episode.active is None else episode.active[: last + 1, env]
    member = member & active
    if road.ring:
        slo, shi = 0.0, road.length
    else:
        s_on = s[active]
        slo, shi = (float(s_on.min()), float(s_on.max())) if s_on.size else (0.0, 1.0)
        pad = 0.02 * max(shi - slo, 1.0)
        slo, shi = slo - pad, shi + pad
    title = "time-space: " + ("all lanes" if lane is None else f"lane {lane}") + " (s in m vs t in s)"
    ax = _Axes(draw, box, t_max, slo, shi, title)
    ax.time_labels()
    x0, y0, x1, y1 = box
    canvas = np.asarray(img).copy()
    t = np.arange(last + 1) * episode.dt
    ds = np.diff(s, axis=0)
    if road.ring:
        ds = (ds + 0.5 * road.length) % road.length - 0.5 * road.length
    ds = np.where(active[1:] & active[:-1], ds, 0.0)
    jump_px = np.abs(ds) * (y1 - y0) / max(shi - slo, 1e-9)
    step_px = (x1 - x0) * episode.dt / max(t_max, 1e-9)
    k = int(np.clip(np.ceil(max(float(jump_px.max()) if jump_px.size else 0.0, step_px)), 1, 12))
    pace = episode.controlled
    for group in (~pace, pace):  # IDM cars first, pace car on top
        if not group.any():
            continue
        pts_t, pts_s, pts_v = [t[-1:].repeat(group.sum())], [s[-1, group]], [speed[-1, group]]
        mask = [member[-1, group]]
        for f in np.arange(k) / k:
            pts_t.append(np.repeat(t[:-1] + f * episode.dt, group.sum()))
            si = s[:-1, group] + f * ds[:, group]
            pts_s.append((si % road.length if road.ring else si).reshape(-1))
            pts_v.append((speed[:-1, group] + f * np.diff(speed, axis=0)[:, group]).reshape(-1))
            mask.append((member[:-1, group] & active[1:, group]).reshape(-1))  # no trace into or out of a slot
        tt, ss, vv, mm = (np.concatenate(a) for a in (pts_t, pts_s, pts_v, mask))
        cols = np.round(ax.px(tt[mm])).astype(int)
        rows = np.round(ax.py(ss[mm])).astype(int)
        inside = (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
        rgb = C.PACE_BLUE[:3] if group is pace else C.speed_colors(vv[mm][inside], vtop)[:, :3]
        canvas[rows[inside], cols[inside]] = rgb
        if group is pace:  # a 2-px wide pace-car trace
            canvas[np.minimum(rows[inside] + 1, y1), cols[inside]] = rgb
    img.paste(Image.fromarray(canvas, "RGB"))
