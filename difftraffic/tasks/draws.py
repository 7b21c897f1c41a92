"""Per-step random numbers drawn many steps at a time, with a bit-exact ``state_dict`` round trip.

One generator call per chunk of ``size`` steps is far cheaper than one per step. To resume exactly in
the middle of a chunk, the saved state keeps the generator state the chunk in use was drawn from
(``chunk_rng``) and the position in it (``chunk_pos``); loading re-draws that chunk and then restores
the generator's current state (``rng``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from difftraffic.env import rng_state


class ChunkedDraws:
    """``draw(size)`` fills a chunk of ``size`` steps from ``gen``; :meth:`take` hands out one step at a time."""

    def __init__(self, gen: torch.Generator, size: int, draw: Callable[[int], Any]):
        self.gen, self.size, self._draw = gen, int(size), draw
        self.chunk: Any = None
        self.restart()

    def restart(self) -> None:
        """Discard the chunk in use (after a reset): the next :meth:`take` draws a fresh one."""
        self.chunk_rng = rng_state(self.gen)
        self.pos = self.size

    def take(self) -> tuple[Any, int]:
        """The chunk in use and this step's index in it (drawing a new chunk when the last is used up)."""
        if self.pos >= self.size:
            self.chunk_rng = rng_state(self.gen)
            self.chunk = self._draw(self.size)
            self.pos = 0
        i = self.pos
        self.pos += 1
        return self.chunk, i

    def state_dict(self) -> dict[str, Any]:
        """``rng`` (the generator now), ``chunk_rng`` and ``chunk_pos``; cloned, never aliasing live state."""
        return {"rng": rng_state(self.gen), "chunk_rng": self.chunk_rng.clone(), "chunk_pos": int(self.pos)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (extra keys are ignored)."""
        self.pos = int(state["chunk_pos"])
        self.chunk_rng = state["chunk_rng"].clone()
        if self.pos < self.size:  # re-draw the chunk in use from the generator state it was drawn with
            self.gen.set_state(self.chunk_rng)
            self.chunk = self._draw(self.size)
        self.gen.set_state(state["rng"].clone())
