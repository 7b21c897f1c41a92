"""OpenGL renderer of a :class:`~viewer.scene.Scene` (pyglet 2.1). Needs a current GL context.

Shapes of each layer become one triangle vertex list (numpy-tessellated, one draw call); pictures are
sprites cached by key; labels are cached by content (text, size, colour, anchor) and only moved when
the text stays the same, so a frame re-lays out only the text that changed. Pixel y is flipped here:
the scene's origin is top-left, OpenGL's bottom-left.
"""

from __future__ import annotations

import numpy as np

from .fonts import FONT_FAMILY
from .scene import Scene, triangles

_VERTEX = """#version 150 core
in vec2 position;
in vec4 colors;
out vec4 vertex_colors;
uniform WindowBlock { mat4 projection; mat4 view; } window;
void main() {
    gl_Position = window.projection * window.view * vec4(position, 0.0, 1.0);
    vertex_colors = colors;
}
"""
_FRAGMENT = """#version 150 core
in vec4 vertex_colors;
out vec4 final_color;
void main() { final_color = vertex_colors; }
"""
PT_PER_PX = 0.75  # pyglet font sizes are points at 96 dpi


class GLRenderer:
    """Draws scenes into the current GL context (a window or a headless EGL surface)."""

    def __init__(self) -> None:
        from pyglet.graphics.shader import Shader, ShaderProgram

        self.program = ShaderProgram(Shader(_VERTEX, "vertex"), Shader(_FRAGMENT, "fragment"))
        self._vlists: list = []  # one reusable vertex list per layer index
        self._labels: dict = {}  # (text, size, color, anchor) -> [Label, ...]
        self._sprites: dict = {}  # picture key -> Sprite

    def draw(self, scene: Scene) -> None:
        """Clear and draw ``scene`` (its size must be the framebuffer's size)."""
        from pyglet import gl

        r, g, b, a = (c / 255.0 for c in scene.background)
        gl.glClearColor(r, g, b, a)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        gl.glEnable(gl.GL_BLEND)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        used_labels: dict = {}
        used_sprites = set()
        for li, layer in enumerate(scene.layers):
            verts, cols = triangles(layer)
            if len(verts):
                self._draw_triangles(li, verts, cols, scene.height)
            for pic in layer.pictures:
                used_sprites.add(pic.key)
                self._sprite(pic, scene.height).draw()
            for text in layer.texts:
                self._label(text, scene.height, used_labels).draw()
        for key in [k for k in self._sprites if k not in used_sprites]:
            self._sprites.pop(key).delete()
        for key, labels in list(self._labels.items()):  # drop labels whose text was not shown this frame
            keep = used_labels.get(key, 0)
            for label in labels[keep:]:
                label.delete()
            if keep:
                self._labels[key] = labels[:keep]
            else:
                del self._labels[key]

    def _draw_triangles(self, li: int, verts: np.ndarray, cols: np.ndarray, height: int) -> None:
        from pyglet import gl

        verts = verts.copy()
        verts[:, 1] = height - verts[:, 1]
        while len(self._vlists) <= li:
            self._vlists.append(None)
        vl = self._vlists[li]
        n = len(verts)
        if vl is None or vl.count != n:
            if vl is not None:
                vl.delete()
            vl = self.program.vertex_list(
                n, gl.GL_TRIANGLES, position=("f", verts.ravel()), colors=("Bn", cols.ravel())
            )
            self._vlists[li] = vl
        else:
            vl.position[:] = verts.ravel()
            vl.colors[:] = cols.ravel()
        self.program.use()
        vl.draw(gl.GL_TRIANGLES)
        self.program.stop()

    def _sprite(self, pic, height: int):
        import pyglet

        h, w, _ = pic.rgb.shape
        y = height - pic.y - h
        sprite = self._sprites.get(pic.key)
        if sprite is None:
            data = pyglet.image.ImageData(w, h, "RGB", np.ascontiguousarray(pic.rgb).tobytes(), pitch=-w * 3)
            sprite = pyglet.sprite.Sprite(data.get_texture(), x=pic.x, y=y)
            self._sprites[pic.key] = sprite
        elif sprite.position[:2] != (pic.x, y):
            sprite.position = (pic.x, y, 0)
        return sprite

    def _label(self, text, height: int, used: dict):
        """A label showing ``text`` (reused when the same text was shown last frame, else created)."""
        import pyglet

        key = (text.text, text.size, text.color, text.anchor)
        i = used.get(key, 0)
        used[key] = i + 1
        labels = self._labels.setdefault(key, [])
        pos = (text.x, height - text.y, 0)
        if i < len(labels):
            if labels[i].position != pos:
                labels[i].position = pos
            return labels[i]
        label = pyglet.text.Label(
            text.text, font_name=FONT_FAMILY, font_size=text.size * PT_PER_PX, x=pos[0], y=pos[1],
            anchor_x=text.anchor, anchor_y="top", color=text.color,
        )  # fmt: skip
        labels.append(label)
        return label

    def delete(self) -> None:
        """Free GL objects (call with the context current)."""
        for vl in self._vlists:
            if vl is not None:
                vl.delete()
        for sprite in self._sprites.values():
            sprite.delete()
        for labels in self._labels.values():
            for label in labels:
                label.delete()
        self._vlists, self._sprites, self._labels = [], {}, {}


def read_pixels(width: int, height: int) -> np.ndarray:
    """The back buffer as RGB ``[height, width, 3]`` uint8, row 0 at the top. Call before ``flip()``."""
    import pyglet

    buf = pyglet.image.get_buffer_manager().get_color_buffer()
    data = buf.get_image_data().get_data("RGBA", width * 4)
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)[::-1, :, :3].copy()
