"""The pyglet window (imported lazily: ``import viewer`` never touches pyglet.window or a display).

``make_window(model)`` creates a :class:`ViewerWindow` (a ``pyglet.window.Window``) with an explicit
8-bit RGB, alpha-free GL config. Interactive use: ``win.run()``. Tests and screenshots drive it
deterministically with ``win.pump(n, dt)`` (events, fixed-dt playback, draw, flip) and ``win.grab()``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .model import ViewerModel

KEY_NAMES = (
    "SPACE", "LEFT", "RIGHT", "HOME", "END", "PLUS", "EQUAL", "NUM_ADD", "MINUS", "UNDERSCORE", "NUM_SUBTRACT",
    "N", "P", "G", "F", "H", "C", "D", "L", "R", "S", "Q", "ESCAPE", "BRACKETLEFT", "BRACKETRIGHT", "PAGEUP",
    "PAGEDOWN",
)  # fmt: skip
ZOOM_STEP = 1.15  # scale factor per mouse-wheel notch
_WINDOW_CLASS = None


def gl_config(samples: int = 4):
    """8 bits per RGB channel, no alpha (a transparent clear would spoil screenshots), double-buffered."""
    import pyglet

    extra = {"sample_buffers": 1, "samples": samples} if samples else {}
    return pyglet.gl.Config(red_size=8, green_size=8, blue_size=8, alpha_size=0, double_buffer=True, **extra)


SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "software")


def make_window(model: ViewerModel, visible: bool = True, caption: str | None = None, msaa: bool | None = None):
    """A :class:`ViewerWindow` showing ``model`` (size = ``model.size``).

    msaa: 4x multisampling; None = on with a GPU, off with software OpenGL (Mesa llvmpipe spends about
    as long resolving 4x MSAA at 1280x720 as drawing the whole frame).
    """
    import pyglet

    cls = _window_class()
    caption = caption or f"difftraffic viewer - {model.ctrl.episode_name}"
    if msaa is None and sys.platform.startswith("linux") and not os.path.exists("/dev/dri"):
        msaa = False  # no DRM device: Mesa renders in software
    if msaa is not False:
        try:
            win = cls(model, config=gl_config(4), visible=visible, caption=caption)
        except pyglet.window.NoSuchConfigException:
            win = None
        if win is not None and (msaa or not _is_software_gl()):
            return win
        if win is not None:
            win.close()
    return cls(model, config=gl_config(0), visible=visible, caption=caption)


def _is_software_gl() -> bool:
    from pyglet.gl import gl_info

    return any(name in gl_info.get_renderer().lower() for name in SOFTWARE_GL)


def _window_class():
    """Define ViewerWindow on first use, so that pyglet.window is only imported when a window is made."""
    global _WINDOW_CLASS
    if _WINDOW_CLASS is not None:
        return _WINDOW_CLASS
    import pyglet
    from pyglet.window import key, mouse

    from .draw_gl import GLRenderer, read_pixels

    symbols = {getattr(key, name): name for name in KEY_NAMES if hasattr(key, name)}

    class ViewerWindow(pyglet.window.Window):
        """Replay window: see ``viewer.controls.BINDINGS`` for the keys."""

        def __init__(self, model: ViewerModel, **kwargs) -> None:
            w, h = model.size
            super().__init__(width=w, height=h, resizable=True, **kwargs)
            self.model = model
            self.renderer = GLRenderer()
            self.last_action: str | None = None
            self.screenshot_dir = Path.cwd()

        # ---- events ----------------------------------------------------------------------
        def on_draw(self) -> None:
            self.renderer.draw(self.model.scene())

        def on_resize(self, width: int, height: int) -> None:
            super().on_resize(width, height)
            self.model.resize(width, height)

        def on_key_press(self, symbol: int, modifiers: int) -> None:
            name = symbols.get(symbol)
            if name is None:
                return
            action = self.model.key(name, bool(modifiers & key.MOD_SHIFT))
            self.last_action = action
            if action == "quit":
                self.close()
            elif action == "screenshot":
                print(f"saved {self.save_screenshot()}", flush=True)

        def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
            px, py = x, self.height - y
            if self.model.camera.contains(px, py):
                self.model.camera.zoom(ZOOM_STEP**scroll_y, about=(px, py))

        def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> None:
            if buttons & mouse.LEFT:
                self.model.camera.pan(dx, -dy)
                self.model.opts.follow = False  # dragging takes the camera off the pace car

        # ---- deterministic driving -------------------------------------------------------
        def tick(self, dt: float) -> None:
            """Advance playback by ``dt`` wall-clock seconds."""
            self.model.ctrl.advance(dt)

        def pump(self, frames: int = 1, dt: float = 0.0, before_flip=None) -> None:
            """Run ``frames`` frames: handle queued/OS events, advance ``dt`` s, draw, flip.

            ``before_flip(self)`` is called after drawing the last frame and before its flip (grab there).
            """
            for i in range(frames):
                self.switch_to()
                self.dispatch_events()
                self.tick(dt)
                self.on_draw()
                if before_flip is not None and i == frames - 1:
                    before_flip(self)
                self.flip()

        def grab(self) -> np.ndarray:
            """The current back buffer as RGB ``[h, w, 3]`` uint8 (row 0 at the top); call before ``flip()``."""
            w, h = self.get_framebuffer_size()
            return read_pixels(w, h)

        def render(self) -> np.ndarray:
            """Draw the current frame and return its pixels (the frame is not shown)."""
            self.switch_to()
            self.on_draw()
            return self.grab()

        def save_screenshot(self, path: str | Path | None = None) -> Path:
            """Draw the current frame and save it as a PNG (default: in the working directory)."""
            from PIL import Image

            ctrl = self.model.ctrl
            stem = Path(ctrl.episode_name).stem.strip("<>")
            path = Path(path) if path else self.screenshot_dir / f"{stem}-env{ctrl.env}-step{ctrl.index}.png"
            Image.fromarray(self.render()).save(path)
            return path

        def run(self, fps: float = 60.0) -> None:
            """Interactive loop until the window is closed."""
            pyglet.clock.schedule_interval(self.tick, 1.0 / fps)
            try:
                pyglet.app.run(1.0 / fps)
            finally:
                pyglet.clock.unschedule(self.tick)

    _WINDOW_CLASS = ViewerWindow
    return ViewerWindow
