"""Everything the viewer shows, GL-free: playback + options + camera + layout, turned into a :class:`Scene`.

The pyglet window, the exporter and the Pillow fallback all hold a :class:`ViewerModel` and only
differ in how they put its scene on pixels.
"""

from __future__ import annotations

import numpy as np

from . import colors as C
from .camera import RoadGeom, fit_camera
from .controls import ViewOptions, handle_key
from .hud import draw_help, draw_hud, hud_height
from .overlay import GradScale, draw_flow_arrows, draw_halos, draw_legend
from .plots import PanelImage, render_panel
from .replay import ReplayController
from .road_layer import draw_loops, draw_road, draw_road_labels, draw_vehicles, loop_marks, vehicle_colors
from .scene import Scene

MIN_PANEL_WINDOW = 640  # px: narrower pictures have no plots panel


class ViewerModel:
    """Playback state, display options and camera of one picture of ``size = (w, h)`` px."""

    def __init__(self, ctrl: ReplayController, size: tuple[int, int], opts: ViewOptions | None = None) -> None:
        w, h = int(size[0]), int(size[1])
        if w < 64 or h < 64:
            raise ValueError(f"size: must be at least 64x64 px, got {w}x{h}")
        self.ctrl = ctrl
        self.opts = opts if opts is not None else ViewOptions()
        self.size = (w, h)
        self._panel: PanelImage | None = None
        self.episode_changed()

    # ---- layout --------------------------------------------------------------------------
    def panel_box(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, w, h) of the plots panel, or None when hidden."""
        w, h = self.size
        if not self.opts.panels or w < MIN_PANEL_WINDOW:
            return None
        pw = int(np.clip(0.36 * w, 260, 520))
        return (w - pw, hud_height(), pw, h - hud_height())

    def road_viewport(self) -> tuple[int, int, int, int]:
        w, h = self.size
        box = self.panel_box()
        return (0, hud_height(), w - (box[2] if box else 0), h - hud_height())

    # ---- state changes -------------------------------------------------------------------
    def episode_changed(self) -> None:
        """A (new) episode is shown: road, gradient scale, speed range and the view follow it."""
        ep = self.ctrl.episode
        self.road = RoadGeom.from_episode(ep)
        self.loops = loop_marks(ep.meta)
        self.grad_scale = GradScale.of(ep)
        target = float(ep.meta.get("target_speed") or 0.0)
        speeds = ep.speed if ep.active is None else ep.speed[ep.active]
        self.vmax = max(float(np.nanmax(speeds)) if speeds.size else 1.0, 1.5 * target, 1.0)
        self._panel = None
        if self.road.ring:
            self.opts.follow = False  # a ring is shown whole; F still centres on the pace car
        self.reset_view()

    def reset_view(self) -> None:
        """The default view of the road (a whole ring, or the lanes around the recorded cars)."""
        self.camera = fit_camera(self.road, self._start_positions(), self.road_viewport())

    def _start_positions(self) -> np.ndarray:
        """World x (m) of the vehicles in the first frame that has any (open roads may start empty)."""
        ep, b = self.ctrl.episode, self.ctrl.env
        if ep.active is None:
            return self.ctrl.frame(0).x
        occupied = np.flatnonzero(ep.active[:, b].any(axis=1))
        t = int(occupied[0]) if len(occupied) else 0
        return ep.x[t, b][ep.active[t, b]]

    def resize(self, width: int, height: int) -> None:
        """New picture size: keep the camera's centre and scale."""
        self.size = (max(64, int(width)), max(64, int(height)))
        self.camera.viewport = self.road_viewport()

    def key(self, name: str, shift: bool = False) -> str | None:
        """Handle a key by name (see controls.handle_key); view-level actions are carried out here."""
        action = handle_key(name, shift, self.ctrl, self.opts, self.road.num_lanes)
        if action == "episode":
            self.episode_changed()
        elif action == "reset_view":
            self.reset_view()
        elif action == "panels":
            self.camera.viewport = self.road_viewport()
        return action

    FOLLOW_AHEAD = 0.25  # straight roads: the followed car sits this fraction of the view right of centre

    def follow_target(self) -> tuple[float, float] | None:
        """World point (m) the camera centres on: the pace car (ring), or on a straight road the point
        ``FOLLOW_AHEAD`` of the view width behind it, so that the traffic behind the pace car is in view."""
        frame = self.ctrl.frame()
        if not len(frame.x):
            return None
        pace = np.flatnonzero(self.ctrl.episode.controlled & frame.active)
        cars = pace[:1] if len(pace) else np.flatnonzero(frame.active)  # no pace car: the mean of all cars
        if not len(cars):
            return None
        x, y = float(np.mean(frame.x[cars])), float(np.mean(frame.y[cars]))
        if self.road.ring:
            return x, y
        return x - self.FOLLOW_AHEAD * self.camera.viewport[2] / self.camera.scale, self.camera.cy

    # ---- drawing -------------------------------------------------------------------------
    def panel(self) -> PanelImage | None:
        box = self.panel_box()
        if box is None:
            return None
        key = ("panel", id(self.ctrl.episode), self.ctrl.env, box[2], box[3], self.opts.lane_filter)
        if self._panel is None or self._panel.key != key:
            self._panel = render_panel(self.ctrl.episode, self.ctrl.env, box[2], box[3], self.opts.lane_filter)
        return self._panel

    def scene(self) -> Scene:
        """The picture of the current frame."""
        if self.opts.follow:
            target = self.follow_target()
            if target is not None:
                self.camera.cx, self.camera.cy = target
        ctrl, ep, cam, opts = self.ctrl, self.ctrl.episode, self.camera, self.opts
        frame = ctrl.frame()
        w, h = self.size
        scene = Scene(w, h, C.BACKGROUND)
        draw_road(scene.layer(), self.road, cam)
        draw_loops(scene.layer(), self.road, self.loops, cam)
        overlay = opts.overlay and self.grad_scale is not None and frame.grad is not None
        if overlay:
            draw_halos(scene.layer(), frame, ep.length, self.grad_scale, cam)
        cols = vehicle_colors(frame, ep.controlled, opts.color_by_speed, self.vmax)
        draw_vehicles(scene.layer(), frame, ep.length, ep.width, cols, cam)
        top = scene.layer()
        if overlay:
            draw_flow_arrows(top, ep, ctrl.env, frame, ep.length, self.grad_scale, self.road, cam)
        draw_road_labels(top, self.road, cam)
        self._draw_panel(scene, frame.time)
        front = scene.layer()
        vx, vy, vw, vh = cam.viewport
        if opts.overlay:
            legend_h = 12 + 14 if self.grad_scale is None else 5 * 12 + 58
            draw_legend(front, self.grad_scale, vx + 10, vy + vh - legend_h - 10)
        if opts.help:
            draw_help(front, vx + max(10, 0.5 * vw - 235), vy + 10)
        draw_hud(scene.layer(), w, ctrl, frame, opts)
        return scene

    def _draw_panel(self, scene: Scene, t: float) -> None:
        panel, box = self.panel(), self.panel_box()
        if panel is None or box is None:
            return
        x0, y0, _, _ = box
        layer = scene.layer()
        layer.picture(x0, y0, panel.rgb, panel.key)
        cursor = scene.layer()
        cx = x0 + panel.cursor_x(t)
        for _, py0, _, py1 in panel.plots:
            cursor.lines([[cx, y0 + py0]], [[cx, y0 + py1]], 1.5, C.CURSOR)
