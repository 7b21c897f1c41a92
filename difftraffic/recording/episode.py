"""Recorded traffic episodes (``.npz``) for the viewer and the exporter.

An :class:`Episode` holds T steps of a batch of B envs with N vehicles each. Frame ``t`` is the
state after ``t`` steps (frame 0 = after reset), so per-vehicle arrays have T+1 frames and
per-step arrays (reward) have T. Each env is recorded for its first episode only: ``valid[t, b]``
is False after env ``b`` ended (its final frame, the pre-reset state, is still valid), and
``termination[b]`` says why it ended.

Units: positions m, speeds m/s, accelerations m/s^2, headings rad, time s.
Files are written atomically (temp file, fsync, rename) and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difftraffic.tasks.traffic import TERMINATION_CAUSES

FRAME_KEYS = ("s", "x", "y", "heading", "speed", "accel", "lane")
"""Per-frame ``[T+1, B, N]`` arrays. s: road longitudinal coordinate (m); x, y: world position of the
vehicle centre (m); heading: world heading (rad); lane: lane index, -1 = off the road."""

FORMAT_VERSION = 1


class EpisodeError(ValueError):
    """A recorded episode file is missing, unreadable or not an episode."""


@dataclass
class Episode:
    """A recorded batch of traffic episodes; see the module docstring for the frame convention."""

    s: np.ndarray  # [T+1, B, N] float32, m
    x: np.ndarray  # [T+1, B, N] float32, m
    y: np.ndarray  # [T+1, B, N] float32, m
    heading: np.ndarray  # [T+1, B, N] float32, rad
    speed: np.ndarray  # [T+1, B, N] float32, m/s
    accel: np.ndarray  # [T+1, B, N] float32, m/s^2 (acceleration applied in the step that led to the frame)
    lane: np.ndarray  # [T+1, B, N] int16, -1 = off road
    reward: np.ndarray  # [T, B] float32, reward of the step from frame t to t+1
    valid: np.ndarray  # [T+1, B] bool
    termination: np.ndarray  # [B] int8, index into TERMINATION_CAUSES
    controlled: np.ndarray  # [N] bool, True for the learned (pace) car(s)
    length: np.ndarray  # [N] float32, m
    width: np.ndarray  # [N] float32, m
    grad: np.ndarray | None = None  # [T+1, B, N] float32: |d speed_i / d (controlled actions in window)|
    meta: dict[str, Any] = field(default_factory=dict)  # scenario, dt, road, target_speed, learner, ...

    def __post_init__(self) -> None:
        t1, b, n = self.x.shape
        for key in FRAME_KEYS:
            arr = getattr(self, key)
            if arr.shape != (t1, b, n):
                raise EpisodeError(f"episode: {key} has shape {arr.shape}, expected {(t1, b, n)}")
        if self.grad is not None and self.grad.shape != (t1, b, n):
            raise EpisodeError(f"episode: grad has shape {self.grad.shape}, expected {(t1, b, n)}")
        checks = {
            "reward": (t1 - 1, b),
            "valid": (t1, b),
            "termination": (b,),
            "controlled": (n,),
            "length": (n,),
            "width": (n,),
        }
        for key, shape in checks.items():
            if getattr(self, key).shape != shape:
                raise EpisodeError(f"episode: {key} has shape {getattr(self, key).shape}, expected {shape}")

    @property
    def num_steps(self) -> int:
        """T, the number of recorded steps."""
        return self.x.shape[0] - 1

    @property
    def num_envs(self) -> int:
        return self.x.shape[1]

    @property
    def num_vehicles(self) -> int:
        return self.x.shape[2]

    @property
    def dt(self) -> float:
        """Simulation step (s)."""
        return float(self.meta.get("dt", 0.1))

    def last_frame(self, env: int) -> int:
        """Index of the last valid frame of env ``env``."""
        idx = np.flatnonzero(self.valid[:, env])
        return int(idx[-1]) if idx.size else 0

    def episode_return(self, env: int) -> float:
        """Undiscounted return of env ``env`` over its valid steps."""
        return float(self.reward[: self.last_frame(env), env].sum())

    def termination_cause(self, env: int) -> str:
        return TERMINATION_CAUSES[int(self.termination[env])]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the episode to ``path`` (``.npz``) atomically and return the path."""
        path = Path(path)
        arrays = {key: getattr(self, key) for key in FRAME_KEYS}
        arrays.update(
            reward=self.reward,
            valid=self.valid,
            termination=self.termination,
            controlled=self.controlled,
            length=self.length,
            width=self.width,
        )
        if self.grad is not None:
            arrays["grad"] = self.grad
        meta = dict(self.meta, format_version=FORMAT_VERSION)
        arrays["meta"] = np.array(json.dumps(meta))
        atomic_savez(path, arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Episode:
        """Read an episode written by :meth:`save`; raises EpisodeError with the file name on failure."""
        path = Path(path)
        if not path.is_file():
            raise EpisodeError(f"{path}: no such episode file")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # zip/npz/pickle errors all mean "not an episode"
            raise EpisodeError(f"{path}: not a readable .npz episode ({exc.__class__.__name__})") from None
        missing = [k for k in (*FRAME_KEYS, "reward", "valid", "termination", "meta") if k not in arrays]
        if missing:
            raise EpisodeError(f"{path}: not a difftraffic episode (missing {', '.join(missing)})")
        meta = json.loads(str(arrays.pop("meta")))
        grad = arrays.pop("grad", None)
        try:
            return cls(**arrays, grad=grad, meta=meta)
        except (TypeError, EpisodeError) as exc:
            raise EpisodeError(f"{path}: {exc}") from None


def atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed to a temp file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
