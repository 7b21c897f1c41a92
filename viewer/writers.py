"""Frame sinks for export: animated GIF (Pillow), MP4 (imageio-ffmpeg) and a directory of PNGs (Pillow)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .source import ViewerError

FORMATS = ("gif", "mp4", "frames")


def output_format(out: str | os.PathLike) -> str:
    """ "gif", "mp4", or "frames" (a directory: no suffix, or an existing directory)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return "gif"
    if suffix == ".mp4":
        return "mp4"
    if suffix == "" or path.is_dir():
        return "frames"
    raise ViewerError(f"{path}: unsupported output '{suffix}' (use .gif, .mp4, or a directory for PNG frames)")


def check_writer(fmt: str, size: tuple[int, int]) -> None:
    """Fail early, with the fix in the message, when ``fmt`` cannot be written."""
    if importlib.util.find_spec("PIL") is None:
        raise ViewerError("export needs Pillow: pip install 'difftraffic[viewer]'")
    if fmt == "mp4":
        if size[0] % 2 or size[1] % 2:
            raise ViewerError(f"size: MP4 needs an even width and height, got {size[0]}x{size[1]}")
        if importlib.util.find_spec("imageio_ffmpeg") is None:
            raise ViewerError("MP4 export needs imageio-ffmpeg: pip install 'difftraffic[mp4]' (or export a .gif)")


class FrameWriter:
    """Write RGB frames ``[h, w, 3]`` uint8 to ``out`` at ``fps`` frames per second; use as a context manager.

    GIF: each frame is quantised to 256 colours; identical consecutive frames are merged into one longer
    frame by Pillow (the timing is unchanged). The GIF is written to a temp file and renamed at the end.
    MP4: H.264, yuv420p, through imageio-ffmpeg's ffmpeg. Frames: ``out/frame_00000.png``, ...
    """

    def __init__(self, out: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(out)
        self.fmt = output_format(self.path)
        self.fps = float(fps)
        self.size = (int(size[0]), int(size[1]))
        check_writer(self.fmt, self.size)
        self.count = 0
        self._frames: list = []
        self._ffmpeg = None
        if self.fmt == "frames":
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "mp4":
            import imageio_ffmpeg

            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(self.path), self.size, fps=self.fps, codec="libx264", pix_fmt_in="rgb24", macro_block_size=2,
                ffmpeg_log_level="error",
            )  # fmt: skip
            self._ffmpeg.send(None)

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if (w, h) != self.size or rgb.shape[2:] != (3,) or rgb.dtype != np.uint8:
            raise ValueError(f"frame: expected [{self.size[1]}, {self.size[0]}, 3] uint8, got {rgb.shape} {rgb.dtype}")
        from PIL import Image

        if self.fmt == "gif":
            self._frames.append(Image.fromarray(rgb, "RGB").quantize(256, method=Image.Quantize.MEDIANCUT))
        elif self.fmt == "mp4":
            self._ffmpeg.send(np.ascontiguousarray(rgb))
        else:
            Image.fromarray(rgb, "RGB").save(self.path / f"frame_{self.count:05d}.png")
        self.count += 1

    def close(self) -> Path:
        if self.fmt == "gif" and self._frames:
            tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.gif")
            try:
                first, rest = self._frames[0], self._frames[1:]
                duration = max(10, int(round(1000.0 / self.fps)))
                first.save(tmp, save_all=True, append_images=rest, duration=duration, loop=0, disposal=1)
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            self._frames = []
        if self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
        return self.path

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
