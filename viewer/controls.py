"""Display options and the keyboard bindings, GL-free (keys are pyglet key-constant names, e.g. "SPACE").

The window translates pyglet key symbols to these names and calls :func:`handle_key`; tests call it
directly. ``BINDINGS`` is the single source of the help overlay and of the docs' controls table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .replay import ReplayController


@dataclass
class ViewOptions:
    """What is drawn besides the road and the cars."""

    follow: bool = True  # keep the pace car centred
    overlay: bool = False  # gradient-flow overlay
    help: bool = False  # controls overlay
    color_by_speed: bool = False  # IDM cars on the speed colour map instead of yellow
    panels: bool = True  # plots and time-space diagram beside the road
    lane_filter: int | None = None  # time-space diagram: one lane, or None = all lanes


BINDINGS: tuple[tuple[str, str], ...] = (
    ("space", "play / pause (from the end: restart)"),
    ("\u2190 / \u2192", "step one frame back / forward"),
    ("shift+\u2190 / \u2192", "seek 1 s back / forward"),
    ("+ / \u2212", "playback speed x2 / /2"),
    ("Home / End", "first / last frame"),
    ("N / P", "next / previous env of the batch"),
    ("] / [  PgDn / PgUp", "next / previous episode of the run"),
    ("G", "gradient-flow overlay on / off"),
    ("F", "follow the pace car on / off"),
    ("wheel / drag", "zoom / pan (R resets the view)"),
    ("C", "colour IDM cars by speed"),
    ("D", "plots panel on / off"),
    ("L", "time-space diagram: next lane / all"),
    ("S", "save a screenshot (PNG)"),
    ("H", "this help"),
    ("Q / Esc", "quit"),
)

_PLUS = {"PLUS", "EQUAL", "NUM_ADD"}
_MINUS = {"MINUS", "UNDERSCORE", "NUM_SUBTRACT"}


def handle_key(name: str, shift: bool, ctrl: ReplayController, opts: ViewOptions, num_lanes: int = 1) -> str | None:
    """Apply key ``name`` to the playback state and options; returns the action's name, None if unbound.

    Actions the caller must carry out itself: "reset_view", "screenshot", "quit", and "episode"
    (a different episode is now loaded: refit the view, drop caches).
    """
    if name == "SPACE":
        ctrl.toggle_play()
        return "play" if ctrl.playing else "pause"
    if name in ("LEFT", "RIGHT"):
        sign = -1 if name == "LEFT" else 1
        if shift:
            ctrl.seek(sign * 1.0)
            return "seek"
        ctrl.step(sign)
        return "step"
    if name in _PLUS:
        ctrl.faster()
        return "faster"
    if name in _MINUS:
        ctrl.slower()
        return "slower"
    if name == "HOME":
        ctrl.home()
        return "home"
    if name == "END":
        ctrl.end()
        return "end"
    if name in ("N", "P"):
        ctrl.next_env() if name == "N" else ctrl.prev_env()
        return "env"
    if name in ("BRACKETRIGHT", "PAGEDOWN", "BRACKETLEFT", "PAGEUP"):
        forward = name in ("BRACKETRIGHT", "PAGEDOWN")
        changed = ctrl.next_episode() if forward else ctrl.prev_episode()
        return "episode" if changed else "episode_none"
    toggles = {"G": "overlay", "F": "follow", "H": "help", "C": "color_by_speed", "D": "panels"}
    if name in toggles:
        setattr(opts, toggles[name], not getattr(opts, toggles[name]))
        return toggles[name]
    if name == "L":
        lane = -1 if opts.lane_filter is None else opts.lane_filter
        opts.lane_filter = None if lane + 1 >= num_lanes else lane + 1
        return "lane_filter"
    return {"R": "reset_view", "S": "screenshot", "Q": "quit", "ESCAPE": "quit"}.get(name)
