"""Monospace font lookup for the Pillow renderer (the OpenGL renderer asks fontconfig for the same family)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FONT_FAMILY = "DejaVu Sans Mono"
_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
    "/Library/Fonts/DejaVuSansMono.ttf",
    "C:/Windows/Fonts/consola.ttf",
)


@lru_cache(maxsize=32)
def pil_font(size: int):
    """A Pillow font ``size`` px high: DejaVu Sans Mono if installed, else Pillow's built-in scalable font."""
    from PIL import ImageFont

    for path in _CANDIDATES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.truetype("DejaVuSansMono.ttf", size)
    except OSError:
        return ImageFont.load_default(size)
