"""The training progress line and the end-of-run summary.

On a terminal the progress line is redrawn in place (carriage return + erase-line, at most 10 times/s)
and event messages (evaluations, checkpoints) are printed above it. In a pipe or log file there are no
control characters: one plain line every ``every`` epochs (default: about 20 lines per run), at least
every 30 s, and on the last epoch.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def command_name() -> str:
    """How the user should type ``difftraffic`` in this shell: the name when it is on PATH, else the path
    of this interpreter's script (e.g. ``.venv/bin/difftraffic`` after ``make demo``)."""
    script = Path(sys.executable).parent / "difftraffic"
    if not script.exists() or shutil.which("difftraffic") == str(script):
        return "difftraffic"
    try:
        rel = os.path.relpath(script)
    except ValueError:  # another drive on Windows
        return str(script)
    return str(script) if rel.startswith("..") else rel


def command_lines(steps: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """``(command, comment)`` pairs as lines with the ``# comment`` column aligned."""
    width = max(len(c) for c, _ in steps)
    return [f"{indent}{c:<{width}}  # {what}" for c, what in steps]


def fmt_num(x: float | None, digits: int = 4) -> str:
    """Compact number: 943.5, 0.1234, -3.8e-10, 1.2e+05; 'n/a' for None/NaN/inf."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def fmt_count(n: float) -> str:
    """Human count: 950, 12.3k, 1.02M."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}" if n == int(n) else f"{n:.3g}"


def fmt_duration(seconds: float) -> str:
    """12.3 s below a minute, else m:ss or h:mm:ss."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class ProgressLine:
    """Progress display for epochs ``start_epoch+1 .. total_epochs`` of one training session."""

    total_epochs: int
    start_epoch: int = 0
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    quiet: bool = False
    every: int | None = None
    tty: bool | None = None
    max_silence_s: float = 30.0

    def __post_init__(self) -> None:
        if self.tty is None:
            isatty = getattr(self.stream, "isatty", None)
            self.tty = bool(isatty and isatty())
        if self.every is None:
            self.every = max(1, math.ceil(self.total_epochs / 20))
        self._t0 = time.monotonic()
        self._last_draw = -math.inf
        self._drawn = False  # a TTY progress line is currently on screen

    def update(
        self,
        epoch: int,
        env_steps: int,
        steps_per_s: float,
        episode_return: float,
        best: float,
        alpha: float | None = None,
    ) -> None:
        """Show the state after ``epoch`` (1-based count of finished epochs)."""
        if self.quiet:
            return
        width = len(str(self.total_epochs))
        parts = [
            f"epoch {epoch:>{width}}/{self.total_epochs}",
            f"{fmt_count(env_steps)} steps",
            f"{fmt_count(steps_per_s)} steps/s",
            f"return {fmt_num(episode_return)} (best {fmt_num(best)})",
        ]
        if alpha is not None:
            parts.append(f"alpha {fmt_num(alpha, 3)}")
        parts.append(f"ETA {self.eta(epoch)}")
        self.show(epoch, " | ".join(parts))

    def eta(self, done: int) -> str:
        """Estimated time left after unit ``done`` of ``start_epoch+1 .. total_epochs`` ('?' before the first)."""
        finished = done - self.start_epoch
        if finished <= 0:
            return fmt_duration(math.nan)
        return fmt_duration((time.monotonic() - self._t0) / finished * (self.total_epochs - done))

    def show(self, epoch: int, text: str) -> None:
        """Show ``text`` as the progress line after unit ``epoch`` (an epoch, or a step of any other loop):
        redrawn at most 10 times/s on a terminal, else a plain line every ``every`` units or 30 s, and the last."""
        if self.quiet:
            return
        now = time.monotonic()
        last = epoch >= self.total_epochs
        if self.tty:
            if last or now - self._last_draw >= 0.1:
                self.stream.write("\r" + text + "\x1b[K")
                self._drawn = True
                self._last_draw = now
                if last:
                    self.finish()
                self.stream.flush()
        elif last or epoch % self.every == 0 or now - self._last_draw >= self.max_silence_s:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_draw = now

    def message(self, text: str) -> None:
        """An event line (evaluation, checkpoint, ...), printed above a TTY progress line."""
        if self.quiet:
            return
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = -math.inf if self.tty else self._last_draw

    def finish(self) -> None:
        """End a TTY progress line with a newline (no-op otherwise)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
