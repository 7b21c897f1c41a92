"""Subprocess entry of the OpenGL exporter: ``python -m viewer._gl_worker JOB.json`` (see export.run_gl_worker).

Runs pyglet in headless mode (EGL, no display). Exit codes: 0 done, 3 no OpenGL context could be
created (the message is the last stderr line), 1 any other failure.
"""

from __future__ import annotations

import json
import sys

GL_UNAVAILABLE = 3


def main(job_path: str) -> int:
    try:
        import pyglet
    except ImportError as exc:
        print(f"pyglet is not installed ({exc})", file=sys.stderr)
        return GL_UNAVAILABLE

    pyglet.options["headless"] = True
    pyglet.options["shadow_window"] = False
    with open(job_path) as fh:
        job = json.load(fh)

    from .controls import ViewOptions
    from .export import render_to
    from .model import ViewerModel
    from .replay import ReplayController

    ctrl = ReplayController(job["episode"], job["env"])
    model = ViewerModel(ctrl, tuple(job["size"]), ViewOptions(**job["options"]))
    try:
        from .window import make_window

        window = make_window(model, visible=False)
    except Exception as exc:  # no EGL library, no config, no device: all mean "no OpenGL here"
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return GL_UNAVAILABLE
    try:
        render_to(model, job["indices"], job["out"], job["fps"], renderer="gl", window=window)
    finally:
        window.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
