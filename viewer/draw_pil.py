"""Pure-Pillow renderer of a :class:`~viewer.scene.Scene`: no OpenGL, no display; the export fallback."""

from __future__ import annotations

import numpy as np

from .fonts import pil_font
from .scene import Scene

_ANCHORS = {"left": "la", "center": "ma", "right": "ra"}


def render_pil(scene: Scene) -> np.ndarray:
    """The scene as an RGB image ``[height, width, 3]`` uint8 (row 0 at the top)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (scene.width, scene.height), tuple(scene.background[:3]))
    draw = ImageDraw.Draw(img, "RGBA")  # RGBA fills blend onto the RGB image
    for layer in scene.layers:
        for shape in layer.shapes:
            if shape[0] == "poly":
                _, pts, rgba = shape
                for poly, col in zip(pts.tolist(), rgba.tolist()):
                    draw.polygon([tuple(p) for p in poly], fill=tuple(col))
            else:
                _, p0, p1, width, rgba = shape
                w = max(1, int(round(width)))
                for a, b, col in zip(p0.tolist(), p1.tolist(), rgba.tolist()):
                    draw.line([tuple(a), tuple(b)], fill=tuple(col), width=w)
        for pic in layer.pictures:
            img.paste(Image.fromarray(pic.rgb, "RGB"), (pic.x, pic.y))
        for text in layer.texts:
            font = pil_font(text.size)
            draw.text((text.x, text.y), text.text, font=font, fill=tuple(text.color), anchor=_ANCHORS[text.anchor])
    return np.asarray(img, dtype=np.uint8).copy()
