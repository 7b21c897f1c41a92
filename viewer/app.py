"""Entry point of ``difftraffic view RUN|EPISODE [--screenshot out.png --frames N]``: :func:`view`."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from difftraffic.recording.episode import Episode

from .export import _check_size, _GLUnavailable, make_options, run_gl_worker
from .model import ViewerModel
from .replay import ReplayController
from .source import EpisodeSource, ViewerError

DEFAULT_SIZE = (1280, 720)


def has_display() -> bool:
    """True where a window can be opened: always on macOS/Windows, with $DISPLAY or $WAYLAND_DISPLAY on Linux."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def view(
    src: Episode | str | os.PathLike,
    screenshot: str | os.PathLike | None = None,
    frames: int | None = None,
    env: int = 0,
    size: tuple[int, int] = DEFAULT_SIZE,
    **options,
) -> Path | None:
    """Open the viewer on ``src`` (Episode, episode ``.npz``, or run directory: its latest episode).

    Without ``screenshot``/``frames``: an interactive window until it is closed (needs a display).
    With them: renders ``frames`` frames (default 1) without interaction, frame k showing episode frame
    k (clamped to the env's last frame), and saves the last one to ``screenshot`` (PNG), which is
    returned. With no display this renders headless (EGL), or with Pillow if OpenGL is unavailable.
    ``options`` are :class:`~viewer.controls.ViewOptions` fields (``overlay=True`` ...).
    Bad input raises :class:`ViewerError` (one line; the CLI prints it and exits 2).
    """
    size = _check_size(size)
    opts = make_options(**options)
    if frames is not None and int(frames) < 1:
        raise ViewerError(f"frames: must be >= 1, got {frames}")
    if screenshot is not None and Path(screenshot).suffix.lower() != ".png":
        raise ViewerError(f"{screenshot}: the screenshot must be a .png file")
    source = EpisodeSource(src)
    ctrl = ReplayController(source, env)
    interactive = screenshot is None and frames is None
    if importlib.util.find_spec("pyglet") is None and (interactive or has_display()):
        raise ViewerError("the viewer needs pyglet: pip install 'difftraffic[viewer]'")
    if interactive:
        if not has_display():
            raise ViewerError("no display ($DISPLAY is not set): use --screenshot, or `difftraffic export` for GIF/MP4")
        window = _open_window(ViewerModel(ctrl, size, opts), visible=True)
        window.run()
        return None
    n = int(frames or 1)
    if has_display():
        return _screenshot_window(ViewerModel(ctrl, size, opts), n, screenshot)
    return _screenshot_headless(source, ctrl, size, opts, n, screenshot)


def _open_window(model: ViewerModel, visible: bool):
    import pyglet

    from .window import make_window

    try:
        return make_window(model, visible=visible)
    except (pyglet.window.NoSuchDisplayException, pyglet.window.NoSuchConfigException) as exc:
        raise ViewerError(f"cannot open a window: {str(exc).splitlines()[0]}") from None


def _screenshot_window(model: ViewerModel, n: int, screenshot) -> Path | None:
    """Pump ``n`` frames in a hidden window (one episode frame each) and save the last one."""
    from PIL import Image

    window = _open_window(model, visible=False)
    shot = {}
    try:
        for k in range(n):
            model.ctrl.seek_to(k)
            window.pump(1, 0.0, before_flip=lambda w: shot.__setitem__("rgb", w.grab()))
    finally:
        window.close()
    if screenshot is None:
        return None
    path = Path(screenshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(shot["rgb"]).save(path)
    return path


def _screenshot_headless(source: EpisodeSource, ctrl: ReplayController, size, opts, n: int, screenshot) -> Path | None:
    """No display: the last of the ``n`` frames rendered by the headless GL worker, else by Pillow."""
    from .export import render_to

    index = min(n - 1, ctrl.last)
    with tempfile.TemporaryDirectory(prefix="dtview-") as tmp:
        out = Path(screenshot) if screenshot is not None else Path(tmp) / "still.png"
        try:
            run_gl_worker(source, ctrl.episode_index, out, size, ctrl.env, opts, [index], 1.0)
        except _GLUnavailable:
            render_to(ViewerModel(ctrl, size, opts), [index], out, 1.0, renderer="pillow")
    return None if screenshot is None else Path(screenshot)


__all__ = ["view", "has_display", "ViewerError"]
