"""OpenGL renderer of a :class:`~viewer.scene.Scene` (pyglet 2.1). Needs a current GL context.

Shapes of each layer become one triangle vertex list (numpy-tessellated, one draw call); pictures are
textures cached by key; text uses a pool of ``pyglet.text.Label``. Pixel y is flipped here: the
scene's origin is top-left, OpenGL's bottom-left.
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
        self._labels: list = []  # label pool: i-th text of a frame reuses label i
        self._label_state: list = []
        self._textures: dict = {}

    def draw(self, scene: Scene) -> None:
        """Clear and draw ``scene`` (its size must be the framebuffer's size)."""
        from pyglet import gl

        r, g, b, a = (c / 255.0 for c in scene.background)
        gl.glClearColor(r, g, b, a)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        gl.glEnable(gl.GL_BLEND)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        text_i = 0
        used_textures = set()
        for li, layer in enumerate(scene.layers):
            verts, cols = triangles(layer)
            if len(verts):
                self._draw_triangles(li, verts, cols, scene.height)
            for pic in layer.pictures:
                tex = self._texture(pic)
                used_textures.add(pic.key)
                tex.blit(pic.x, scene.height - pic.y - pic.rgb.shape[0])
            for text in layer.texts:
                self._label(text_i, text, scene.height).draw()
                text_i += 1
        for key in [k for k in self._textures if k not in used_textures]:
            self._textures.pop(key).delete()

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

    def _texture(self, pic):
        tex = self._textures.get(pic.key)
        if tex is None:
            import pyglet

            h, w, _ = pic.rgb.shape
            data = pyglet.image.ImageData(w, h, "RGB", np.ascontiguousarray(pic.rgb).tobytes(), pitch=-w * 3)
            tex = data.get_texture()
            self._textures[pic.key] = tex
        return tex

    def _label(self, i: int, text, height: int):
        import pyglet

        state = (text.text, text.size, text.color, text.anchor, text.x, text.y, height)
        if i < len(self._labels):
            if self._label_state[i] != state:
                label = self._labels[i]
                label.begin_update()
                label.text = text.text
                label.font_size = text.size * PT_PER_PX
                label.color = text.color
                label.anchor_x = text.anchor
                label.position = (text.x, height - text.y, 0)
                label.end_update()
                self._label_state[i] = state
            return self._labels[i]
        label = pyglet.text.Label(
            text.text,
            font_name=FONT_FAMILY,
            font_size=text.size * PT_PER_PX,
            x=text.x,
            y=height - text.y,
            anchor_x=text.anchor,
            anchor_y="top",
            color=text.color,
        )
        self._labels.append(label)
        self._label_state.append(state)
        return label

    def delete(self) -> None:
        """Free GL objects (call with the context current)."""
        for vl in self._vlists:
            if vl is not None:
                vl.delete()
        for tex in self._textures.values():
            tex.delete()
        for label in self._labels:
            label.delete()
        self._vlists, self._textures, self._labels, self._label_state = [], {}, [], []


def read_pixels(width: int, height: int) -> np.ndarray:
    """The back buffer as RGB ``[height, width, 3]`` uint8, row 0 at the top. Call before ``flip()``."""
    import pyglet

    buf = pyglet.image.get_buffer_manager().get_color_buffer()
    data = buf.get_image_data().get_data("RGBA", width * 4)
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)[::-1, :, :3].copy()
