"""Viewer speed figures: ``python -m viewer.bench [--steps 1000 --lanes 10 --per-lane 4]``.

Prints the scene-building cost per frame, Pillow rendering fps, window draw fps (needs a display,
e.g. under ``xvfb-run``), and GIF export frames/s with the Pillow and the headless-GL renderers.
The episode is the real-simulator demo (``viewer.sample``). Figures are noisy on shared machines:
compare the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from .app import has_display
from .draw_pil import render_pil
from .export import export
from .model import ViewerModel
from .replay import ReplayController
from .sample import demo_episode


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer.bench")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lanes", type=int, default=4)
    p.add_argument("--per-lane", type=int, default=6)
    p.add_argument("--frames", type=int, default=100)
    args = p.parse_args(argv)
    ep = demo_episode(lanes=args.lanes, per_lane=args.per_lane, steps=args.steps, num_envs=2, grad_window=20)
    print(f"episode: {ep.num_steps} steps, {ep.num_envs} envs, {ep.num_vehicles} vehicles (overlay on)")
    model = ViewerModel(ReplayController(ep), (1280, 720))
    model.opts.overlay = True
    t0 = time.perf_counter()
    model.panel()
    print(f"side panel (plots + time-space diagram): {1e3 * (time.perf_counter() - t0):.1f} ms once per env")

    def scene(i):
        model.ctrl.seek_to(i % (ep.num_steps + 1))
        return model.scene()

    print(f"scene building: {1e3 / _rate(scene, args.frames):.2f} ms/frame")
    pil = _rate(lambda i: render_pil(scene(i)), args.frames)
    print(f"Pillow render 1280x720: {pil:.1f} frames/s")
    if has_display():
        from .window import make_window

        win = make_window(model, visible=False)
        win.pump(2, 0.0)
        gl = _rate(lambda i: (model.ctrl.seek_to(i), win.pump(1, 0.0)), args.frames)
        print(f"window draw+flip 1280x720: {gl:.1f} frames/s ({gl / pil:.1f}x Pillow)")
        win.close()
    else:
        print("window: no display (run under xvfb-run for the window figure)")
    with tempfile.TemporaryDirectory() as tmp:
        stop = min(args.frames - 1, ep.num_steps)
        for renderer in ("pillow", "gl"):
            t0 = time.perf_counter()
            export(ep, Path(tmp) / f"{renderer}.gif", size=(960, 540), renderer=renderer, stop=stop)
            dt = time.perf_counter() - t0
            print(f"GIF export 960x540, {stop + 1} frames, {renderer}: {dt:.2f} s ({(stop + 1) / dt:.1f} frames/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
