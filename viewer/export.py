"""Export an episode to GIF, MP4 or a directory of PNG frames, with no display.

    from viewer.export import export
    export("runs/x/episodes/ep.npz", "ep.gif", fps=10, size=(960, 540), env=0, renderer="auto")

Renderers: "gl" draws with pyglet in a headless-EGL subprocess (the viewer's exact pixels; the
subprocess keeps this process free to open normal windows); "pillow" draws the same scene with
Pillow (no OpenGL at all); "auto" tries "gl" and falls back to "pillow" with a warning when OpenGL is
unavailable. Frame k shows simulation time ``start * dt + k * speed / fps`` (speed = multiple of real
time); the last valid frame is always included. ``fps`` defaults to one frame per simulation step
at the given speed (``speed / dt``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np

from difftraffic.recording.episode import Episode

from .controls import ViewOptions
from .draw_pil import render_pil
from .model import ViewerModel
from .replay import ReplayController
from .source import EpisodeSource, ViewerError
from .writers import FrameWriter, check_writer, output_format

RENDERERS = ("auto", "gl", "pillow")
GL_UNAVAILABLE = 3  # exit code of the GL worker when no OpenGL context can be created


class GLUnavailableWarning(UserWarning):
    """renderer="auto" fell back to Pillow because OpenGL is unavailable."""


def frame_indices(last: int, dt: float, fps: float, speed: float = 1.0, start: int = 0, stop: int | None = None):
    """Episode frame shown by each output frame: frame k at time ``start*dt + k*speed/fps``, plus ``stop``."""
    stop = last if stop is None else int(min(max(stop, 0), last))
    start = int(min(max(start, 0), stop))
    n = int(np.floor((stop - start) * dt * fps / speed + 1e-9)) + 1
    idx = start + np.floor(np.arange(n) * (speed / fps) / dt + 1e-9).astype(int)
    idx = np.minimum(idx, stop)
    if idx[-1] != stop:
        idx = np.append(idx, stop)
    return idx


def make_options(**options) -> ViewOptions:
    """ViewOptions for export (defaults: no help overlay); unknown names raise ViewerError."""
    names = {f.name for f in fields(ViewOptions)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ViewerError(f"unknown view option(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return ViewOptions(**options)


def export(
    src: Episode | str | os.PathLike,
    out: str | os.PathLike,
    fps: float | None = None,
    size: tuple[int, int] = (960, 540),
    env: int = 0,
    renderer: str = "auto",
    speed: float = 1.0,
    start: int = 0,
    stop: int | None = None,
    **options,
) -> Path:
    """Render env ``env`` of ``src`` (Episode, episode file, or run directory: its latest episode) to ``out``.

    ``out``: ``*.gif``, ``*.mp4`` (needs the ``mp4`` extra, imageio-ffmpeg) or a directory for PNG frames.
    ``options`` are :class:`~viewer.controls.ViewOptions` fields, e.g. ``overlay=True, panels=False``.
    Returns the written path. Bad input raises :class:`ViewerError` (one line).
    """
    if renderer not in RENDERERS:
        raise ViewerError(f"renderer: must be one of {', '.join(RENDERERS)}, got {renderer!r}")
    size = _check_size(size)
    if not speed > 0:
        raise ViewerError(f"speed: must be > 0, got {speed}")
    opts = make_options(**options)
    source = EpisodeSource(src)
    ctrl = ReplayController(source, env)
    fmt = output_format(out)
    check_writer(fmt, size)
    fps = float(speed / ctrl.dt if fps is None else fps)
    if not fps > 0:
        raise ViewerError(f"fps: must be > 0, got {fps}")
    indices = frame_indices(ctrl.last, ctrl.dt, fps, speed, start, stop)
    if renderer != "pillow":
        try:
            if importlib.util.find_spec("pyglet") is None:
                raise _GLUnavailable("pyglet is not installed: pip install 'difftraffic[viewer]'")
            return run_gl_worker(source, ctrl.episode_index, out, size, env, opts, indices, fps)
        except _GLUnavailable as exc:
            if renderer == "gl":
                raise ViewerError(f"OpenGL rendering is unavailable ({exc}); use renderer='pillow'") from None
            warnings.warn(f"OpenGL unavailable ({exc}); rendering with Pillow", GLUnavailableWarning, stacklevel=2)
    return render_to(ViewerModel(ctrl, size, opts), indices, out, fps, renderer="pillow")


def _check_size(size) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ViewerError(f"size: expected (width, height) in px, got {size!r}") from None
    if w < 64 or h < 64 or w > 8192 or h > 8192:
        raise ViewerError(f"size: width and height must be in [64, 8192] px, got {w}x{h}")
    return w, h


def render_to(model: ViewerModel, indices, out, fps: float, renderer: str = "pillow", window=None) -> Path:
    """Render ``model`` at each episode frame of ``indices`` into ``out`` (gif/mp4/frames dir/.png still).

    ``renderer="gl"`` needs ``window`` (a ViewerWindow of the model) in a process that can draw.
    A ``.png`` ``out`` receives only the last frame.
    """
    out = Path(out)
    if out.suffix.lower() == ".png":
        model.ctrl.seek_to(int(indices[-1]))
        rgb = window.render() if renderer == "gl" else render_pil(model.scene())
        from PIL import Image

        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(out)
        return out
    with FrameWriter(out, fps, model.size) as writer:
        for i in indices:
            model.ctrl.seek_to(int(i))
            if renderer == "gl":
                writer.write(window.render())
                window.flip()
            else:
                writer.write(render_pil(model.scene()))
    return writer.path


class _GLUnavailable(RuntimeError):
    """The GL worker could not create an OpenGL context."""


def run_gl_worker(source: EpisodeSource, episode_index: int, out, size, env, opts, indices, fps) -> Path:
    """Render in a ``python -m viewer._gl_worker`` subprocess with pyglet in headless (EGL) mode."""
    with tempfile.TemporaryDirectory(prefix="dtview-") as tmp:
        path = source.paths[episode_index]
        if path is None:  # an in-memory Episode: hand it over as a file
            path = source.load(episode_index).save(Path(tmp) / "episode.npz")
        job = {
            "episode": str(path), "out": str(Path(out).resolve()), "size": list(size), "env": int(env),
            "options": {f.name: getattr(opts, f.name) for f in fields(ViewOptions)},
            "indices": [int(i) for i in indices], "fps": float(fps),
        }  # fmt: skip
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job))
        env_vars = dict(os.environ, PYGLET_HEADLESS="1", PYGLET_SHADOW_WINDOW="0")
        proc = subprocess.run(
            [sys.executable, "-m", "viewer._gl_worker", str(job_path)], env=env_vars, capture_output=True, text=True
        )
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit code {proc.returncode}"
    if proc.returncode == GL_UNAVAILABLE:
        raise _GLUnavailable(last)
    if proc.returncode != 0:
        raise ViewerError(f"export failed in the OpenGL worker: {last}")
    return Path(out)
