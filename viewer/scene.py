"""A renderer-independent display list in pixel coordinates (origin top-left, y down).

Everything the viewer shows (road, vehicles, gradient overlay, HUD, plots) is first described as a
:class:`Scene`: ordered layers of filled convex polygons, thick line segments, discs, images and
text. ``draw_gl`` and ``draw_pil`` turn the same scene into pixels, so the window, the exporter and
the Pillow fallback show the same picture. Within a layer, shapes are drawn in insertion order,
then the layer's images, then its text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Color = tuple[int, int, int, int]


@dataclass(frozen=True)
class Text:
    x: float  # px
    y: float  # px, top of the line
    text: str
    size: int  # px (font height)
    color: Color
    anchor: str = "left"  # left | center | right


@dataclass(frozen=True)
class Picture:
    x: int  # px, top-left corner
    y: int
    rgb: np.ndarray  # [h, w, 3] uint8
    key: object  # stable id for texture caches (same key = same pixels)


def _colors(colors, m: int) -> np.ndarray:
    """``[m, 4]`` uint8 from one RGBA tuple or an ``[m, 4]`` array."""
    arr = np.asarray(colors, dtype=np.uint8)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (m, 4))
    if arr.shape != (m, 4):
        raise ValueError(f"colors: expected shape {(m, 4)}, got {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass
class Layer:
    """One drawing layer. ``shapes`` holds ("poly", pts[M,k,2], rgba[M,4]) / ("line", p0, p1, width, rgba)."""

    shapes: list[tuple] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)

    def polys(self, pts, colors) -> None:
        """Filled convex polygons ``pts`` [M, k, 2] (px)."""
        pts = np.asarray(pts, dtype=np.float64)
        if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[1] < 3:
            raise ValueError(f"pts: expected [M, k>=3, 2], got {pts.shape}")
        if len(pts):
            self.shapes.append(("poly", pts, _colors(colors, len(pts))))

    def rect(self, x: float, y: float, w: float, h: float, color) -> None:
        """Axis-aligned filled rectangle with top-left corner (x, y)."""
        self.polys([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], color)

    def boxes(self, cx, cy, length, width, angle, colors) -> None:
        """Oriented rectangles: centres (px), sizes along/across ``angle`` (rad, counter-clockwise on screen)."""
        arrays = (np.asarray(a, np.float64) for a in (cx, cy, length, width, angle))
        cx, cy, length, width, angle = np.broadcast_arrays(*arrays)
        ux, uy = np.cos(angle), -np.sin(angle)  # screen y points down
        vx, vy = -uy, ux
        hl, hw = 0.5 * length, 0.5 * width
        corners = np.stack(
            [
                np.stack([cx + ux * hl + vx * hw, cy + uy * hl + vy * hw], -1),
                np.stack([cx - ux * hl + vx * hw, cy - uy * hl + vy * hw], -1),
                np.stack([cx - ux * hl - vx * hw, cy - uy * hl - vy * hw], -1),
                np.stack([cx + ux * hl - vx * hw, cy + uy * hl - vy * hw], -1),
            ],
            axis=-2,
        )
        self.polys(corners.reshape(-1, 4, 2), colors)

    def lines(self, p0, p1, width: float, colors) -> None:
        """Thick segments from ``p0`` [M, 2] to ``p1`` [M, 2] (px), ``width`` px."""
        p0 = np.asarray(p0, dtype=np.float64).reshape(-1, 2)
        p1 = np.asarray(p1, dtype=np.float64).reshape(-1, 2)
        if len(p0):
            self.shapes.append(("line", p0, p1, float(width), _colors(colors, len(p0))))

    def polyline(self, pts, width: float, color, closed: bool = False) -> None:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        if closed:
            pts = np.concatenate([pts, pts[:1]])
        self.lines(pts[:-1], pts[1:], width, color)

    def discs(self, centres, radii, colors, segments: int = 24) -> None:
        """Filled discs (as ``segments``-gons) at ``centres`` [M, 2] with ``radii`` [M] px."""
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(centres),))
        a = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
        ring = np.stack([np.cos(a), np.sin(a)], -1)
        self.polys(centres[:, None, :] + radii[:, None, None] * ring[None], colors)

    def arrows(self, p0, p1, width: float, colors, head: float | None = None) -> None:
        """Arrows from ``p0`` to ``p1`` [M, 2] (px): a shaft of ``width`` px and a triangular head."""
        p0 = np.asarray(p0, dtype=np.float64).reshape(-1, 2)
        p1 = np.asarray(p1, dtype=np.float64).reshape(-1, 2)
        if not len(p0):
            return
        head = 3.0 * width if head is None else head
        d = p1 - p0
        norm = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        u = d / norm
        n = np.stack([-u[:, 1], u[:, 0]], -1)
        base = p1 - u * np.minimum(head, 0.6 * norm)
        cols = _colors(colors, len(p0))
        self.lines(p0, base, width, cols)
        self.polys(np.stack([p1, base + n * 0.5 * head, base - n * 0.5 * head], axis=1), cols)

    def text(self, x: float, y: float, text: str, size: int, color, anchor: str = "left") -> None:
        self.texts.append(Text(float(x), float(y), text, int(size), tuple(int(c) for c in color), anchor))

    def picture(self, x: int, y: int, rgb: np.ndarray, key: object) -> None:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"picture: expected [h, w, 3] uint8, got {rgb.shape} {rgb.dtype}")
        self.pictures.append(Picture(int(x), int(y), rgb, key))


@dataclass
class Scene:
    """Ordered layers over a background colour, for an image of ``width`` x ``height`` px."""

    width: int
    height: int
    background: Color
    layers: list[Layer] = field(default_factory=list)

    def layer(self) -> Layer:
        """A new layer drawn above all existing ones."""
        self.layers.append(Layer())
        return self.layers[-1]

    @property
    def texts(self) -> list[Text]:
        return [t for layer in self.layers for t in layer.texts]


def triangles(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """All shapes of ``layer`` as triangles: vertices ``[V, 2]`` float32 (px) and colours ``[V, 4]`` uint8."""
    verts, cols = [], []
    for shape in layer.shapes:
        if shape[0] == "poly":
            _, pts, rgba = shape
        else:
            _, p0, p1, width, rgba = shape
            d = p1 - p0
            norm = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
            n = np.stack([-d[:, 1], d[:, 0]], -1) / norm * (0.5 * width)
            pts = np.stack([p0 + n, p1 + n, p1 - n, p0 - n], axis=1)
        k = pts.shape[1]
        fan = np.array([[0, j, j + 1] for j in range(1, k - 1)]).reshape(-1)
        verts.append(pts[:, fan, :].reshape(-1, 2))
        cols.append(np.repeat(rgba, len(fan), axis=0))
    if not verts:
        return np.zeros((0, 2), np.float32), np.zeros((0, 4), np.uint8)
    return np.concatenate(verts).astype(np.float32), np.concatenate(cols)
