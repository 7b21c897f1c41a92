"""Palette and colour maps (numpy only), shared by the OpenGL and Pillow renderers. Colours are RGBA uint8."""

from __future__ import annotations

import numpy as np

BACKGROUND = (34, 40, 34, 255)  # grass-dark
ASPHALT = (70, 70, 74, 255)
MARKING = (235, 235, 235, 255)
EDGE = (250, 250, 250, 255)
PACE_BLUE = (40, 110, 255, 255)  # the controlled (pace) car
IDM_YELLOW = (255, 205, 40, 255)  # IDM-driven cars
OFFROAD_RED = (230, 50, 50, 255)
RAMP_ASPHALT = (84, 80, 70, 255)  # on- and off-ramps: a warmer asphalt
LANE_END = (230, 60, 50, 255)  # the barrier where a lane ends
ENTERING = (70, 230, 110, 255)  # rim of a vehicle that just entered the road (open roads)
LEAVING = (255, 150, 40, 255)  # rim of a vehicle about to leave the road
LOOP = (80, 200, 255, 230)  # induction loop detectors
HUD_BG = (16, 18, 22, 255)
HUD_TEXT = (255, 255, 255, 255)
HUD_DIM = (170, 175, 185, 255)
HUD_ALERT = (255, 90, 80, 255)
PANEL_BG = (24, 26, 30, 255)
CURSOR = (255, 255, 255, 200)
FLOW_GREEN = (60, 220, 90, 235)  # gradient flowing along a lane
CUT_RED = (255, 60, 60, 235)
CUT_RING = (255, 70, 70, 170)  # lane change / no gradient: flow cut

# Speed: red (stopped) -> yellow -> green (fast); the time-space diagram and colour-by-speed use it.
_SPEED_STOPS = np.array([[200, 30, 30], [240, 140, 30], [240, 220, 60], [120, 210, 80], [40, 170, 90]], float)
# Gradient magnitude (log scale): dark teal (small) -> green -> pale lime (large); green = gradient flows
# (the paper's Fig. 9), so no red in it: red is kept for "flow cut".
_GRAD_STOPS = np.array([[25, 55, 85], [20, 110, 135], [40, 170, 140], [140, 220, 110], [235, 255, 190]], float)


def _ramp(stops: np.ndarray, u: np.ndarray, alpha: int) -> np.ndarray:
    """Piecewise-linear colour map: ``u`` in [0, 1] (any shape) -> RGBA uint8 ``[..., 4]``."""
    u = np.clip(np.nan_to_num(np.asarray(u, dtype=np.float64)), 0.0, 1.0)
    pos = u * (len(stops) - 1)
    i = np.minimum(pos.astype(int), len(stops) - 2)
    frac = (pos - i)[..., None]
    rgb = stops[i] * (1.0 - frac) + stops[i + 1] * frac
    out = np.empty(u.shape + (4,), dtype=np.uint8)
    out[..., :3] = np.round(rgb).astype(np.uint8)
    out[..., 3] = alpha
    return out


def speed_colors(speed: np.ndarray, vmax: float, alpha: int = 255) -> np.ndarray:
    """Colour of speeds (m/s) on the red-yellow-green map spanning ``[0, vmax]``."""
    return _ramp(_SPEED_STOPS, np.asarray(speed, dtype=np.float64) / max(vmax, 1e-6), alpha)


def grad_colors(u: np.ndarray, alpha: int = 255) -> np.ndarray:
    """Colour of a gradient already placed on the log scale, ``u`` in [0, 1] (see overlay.GradScale)."""
    return _ramp(_GRAD_STOPS, u, alpha)
