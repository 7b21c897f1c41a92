"""Where episodes come from: an ``Episode`` object, an episode ``.npz`` file, or a run directory.

A run directory holds ``RUN/episodes/*.npz`` (written by the CLI); it is opened at its latest
episode (newest modification time, ties broken by name) and the viewer can step through the
others. Bad paths raise :class:`ViewerError` with a one-line message naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from difftraffic.recording.episode import Episode, EpisodeError


class ViewerError(ValueError):
    """A user-facing viewer/export problem (bad path, missing optional package, no display); one line."""


def find_episodes(src: str | os.PathLike) -> list[Path]:
    """Episode files of ``src``, oldest first: ``[src]`` for a file, ``src/episodes/*.npz`` for a run directory.

    A directory that itself contains ``*.npz`` files (an ``episodes/`` folder) is accepted too.
    """
    path = Path(src)
    if path.is_file():
        if path.suffix != ".npz":
            raise ViewerError(f"{path}: not an episode file (expected a .npz episode or a run directory)")
        return [path]
    if not path.exists():
        raise ViewerError(f"{path}: no such episode file or run directory")
    if not path.is_dir():
        raise ViewerError(f"{path}: not an episode file or a run directory")
    folder = path / "episodes" if (path / "episodes").is_dir() else path
    files = [p for p in folder.glob("*.npz") if p.is_file()]
    if not files:
        raise ViewerError(f"{path}: run directory has no recorded episodes (expected {folder}/*.npz)")
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


class EpisodeSource:
    """An ordered list of episodes (files or in-memory objects), loaded lazily, the current one cached.

    ``EpisodeSource(src)`` accepts an Episode, a path to an episode, or a run directory, and starts at
    the latest episode. ``len()`` is the number of episodes; ``load(i)`` returns episode ``i``.
    """

    def __init__(self, src: Episode | str | os.PathLike) -> None:
        if isinstance(src, Episode):
            self.paths: list[Path | None] = [None]
            self._cache: dict[int, Episode] = {0: src}
        else:
            self.paths = list(find_episodes(src))
            self._cache = {}
        self.start = len(self.paths) - 1

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, i: int) -> str:
        """Display name of episode ``i`` (file name, or "<memory>")."""
        path = self.paths[i]
        return path.name if path is not None else "<memory>"

    def load(self, i: int) -> Episode:
        """Episode ``i``; keeps only the most recently loaded file episode in memory."""
        if i in self._cache:
            return self._cache[i]
        path = self.paths[i]
        try:
            episode = Episode.load(path)
        except EpisodeError as exc:
            raise ViewerError(str(exc)) from None
        self._cache = {k: v for k, v in self._cache.items() if self.paths[k] is None}
        self._cache[i] = episode
        return episode


def load_episode(src: Episode | str | os.PathLike) -> Episode:
    """The episode ``src`` names: itself, the file, or a run directory's latest episode."""
    source = EpisodeSource(src)
    return source.load(source.start)
