"""difftraffic viewer: replay recorded episodes (pyglet), gradient-flow overlay, GIF/MP4/PNG export.

Importing this package is cheap and never imports pyglet (training code may import it freely).

    from viewer import view, export
    view("runs/RUN")                                        # interactive window (needs a display)
    view("runs/RUN", screenshot="shot.png", frames=50)      # no interaction; headless without a display
    export("runs/RUN/episodes/ep.npz", "ep.gif", fps=10)    # no display needed

GL-free building blocks: ReplayController (playback state), ViewerModel (what is drawn), render_pil.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "view": "viewer.app",
    "export": "viewer.export",
    "ViewerError": "viewer.source",
    "EpisodeSource": "viewer.source",
    "load_episode": "viewer.source",
    "ReplayController": "viewer.replay",
    "ViewOptions": "viewer.controls",
    "ViewerModel": "viewer.model",
    "render_pil": "viewer.draw_pil",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'viewer' has no attribute {name!r}")
