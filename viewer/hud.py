"""The heads-up display (time, step, pace car, IDM mean vs target, reward, return, termination) and help."""

from __future__ import annotations

import numpy as np

from . import colors as C
from .controls import BINDINGS, ViewOptions
from .replay import Frame, ReplayController
from .scene import Layer

HUD_SIZE = 15  # px text height
LINE = HUD_SIZE + 5


def hud_height() -> int:
    """Height (px) of the HUD strip at the top of the picture."""
    return 3 * LINE + 10


def hud_lines(ctrl: ReplayController, frame: Frame, opts: ViewOptions) -> list[tuple[str, tuple]]:
    """The HUD's three lines of text with their colours."""
    ep = ctrl.episode
    state = f"PLAY x{ctrl.speed:g}" if ctrl.playing else f"PAUSE x{ctrl.speed:g}"
    line1 = f"t={frame.time:7.2f} s  step {frame.index}/{ctrl.last}  [{state}]  env {ctrl.env} (of {ep.num_envs})"
    if ctrl.num_episodes > 1:
        line1 += f"  episode {ctrl.episode_index + 1}/{ctrl.num_episodes} {ctrl.episode_name}"
    ctrl_idx = np.flatnonzero(ep.controlled)
    parts = []
    if len(ctrl_idx):
        p = int(ctrl_idx[0])
        lane = int(frame.lane[p])
        parts.append(f"pace car {frame.speed[p]:5.2f} m/s lane {lane if lane >= 0 else 'off'}")
    idm = ~ep.controlled & frame.active
    if idm.any():
        target = ep.meta.get("target_speed")
        tgt = f" (target {float(target):.1f})" if target is not None else ""
        parts.append(f"IDM mean {float(frame.speed[idm].mean()):5.2f} m/s{tgt}")
    reward = "   -   " if frame.reward is None else f"{frame.reward:+.3f}"
    parts.append(f"reward {reward}  return {frame.ret:+.2f}")
    line2 = "   ".join(parts)
    cause = ctrl.termination
    if cause is not None:
        line3, col3 = f"EPISODE ENDED at step {ctrl.last}: {cause.replace('_', ' ')}", C.HUD_ALERT
    else:
        flags = [f"overlay {'on' if opts.overlay else 'off'} (G)", f"follow {'on' if opts.follow else 'off'} (F)"]
        scen = ep.meta.get("scenario")
        line3 = ("scenario " + str(scen) + "   " if scen else "") + "   ".join(flags) + "   H: help"
        col3 = C.HUD_DIM
    return [(line1, C.HUD_TEXT), (line2, C.HUD_TEXT), (line3, col3)]


def draw_hud(layer: Layer, width: int, ctrl: ReplayController, frame: Frame, opts: ViewOptions) -> None:
    layer.rect(0, 0, width, hud_height(), C.HUD_BG)
    for i, (text, color) in enumerate(hud_lines(ctrl, frame, opts)):
        layer.text(10, 6 + i * LINE, text, HUD_SIZE, color)


def draw_help(layer: Layer, x: float, y: float, size: int = 14) -> None:
    """The controls table in a translucent box with its top-left corner at (x, y)."""
    row = size + 6
    w, h = 470, (len(BINDINGS) + 1) * row + 14
    layer.rect(x, y, w, h, (0, 0, 0, 215))
    layer.text(x + 12, y + 8, "controls", size, C.HUD_TEXT)
    for i, (keys, what) in enumerate(BINDINGS):
        layer.text(x + 12, y + 8 + (i + 1) * row, keys, size, C.IDM_YELLOW)
        layer.text(x + 190, y + 8 + (i + 1) * row, what, size, C.HUD_TEXT)
