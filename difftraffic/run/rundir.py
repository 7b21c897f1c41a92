"""Run directories: layout, atomic writes, checkpoints and the config file.

A run directory (``runs/<task>__<learner>__s<seed>__<timestamp>/`` or ``--out DIR``) holds::

    config.yaml            the fully resolved run configuration (written first, YAML safe_dump)
    progress.csv           one row per epoch (see difftraffic.csvlog)
    eval.csv               deterministic-policy evaluations
    checkpoints/latest.pt  everything needed to continue the run (atomic: temp file, fsync, rename)
    checkpoints/best.pt    the policy with the best running-mean return (the paper's metric)
    episodes/*.npz         recorded episodes (traffic tasks) for ``difftraffic view``
    plots/*.png            figures written by ``difftraffic plot``
    tb/                    TensorBoard events (when the optional ``tensorboard`` package is installed)

Checkpoints are plain dicts of tensors/numbers/strings loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from difftraffic.errors import UserError

CONFIG_FILE = "config.yaml"
PROGRESS_FILE = "progress.csv"
EVAL_FILE = "eval.csv"
CHECKPOINT_DIR = "checkpoints"
EPISODE_DIR = "episodes"
PLOT_DIR = "plots"
TB_DIR = "tb"
CONFIG_MARKER = "difftraffic_run"
"""Key present in every run's config.yaml (its value is the config format version)."""
CHECKPOINT_FORMAT = "difftraffic-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAMES = ("latest", "best")


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory (nothing is created by constructing it)."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def progress(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def eval(self) -> Path:
        return self.path / EVAL_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINT_DIR

    @property
    def episodes(self) -> Path:
        return self.path / EPISODE_DIR

    @property
    def plots(self) -> Path:
        return self.path / PLOT_DIR

    @property
    def tb(self) -> Path:
        return self.path / TB_DIR

    def checkpoint(self, which: str) -> Path:
        """``checkpoints/<which>.pt`` for which in ('latest', 'best')."""
        if which not in CHECKPOINT_NAMES:
            raise UserError(f"--checkpoint {which}: choose one of {', '.join(CHECKPOINT_NAMES)}")
        return self.checkpoints / f"{which}.pt"

    def episode_files(self) -> list[Path]:
        """Recorded episodes, oldest first (names sort by epoch)."""
        return sorted(self.episodes.glob("*.npz")) if self.episodes.is_dir() else []

    def exists(self) -> bool:
        return self.config.is_file()

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        """An existing run directory; UserError naming the path if it is not one."""
        p = Path(path)
        if not p.exists():
            raise UserError(f"{p}: no such run directory")
        if not p.is_dir():
            raise UserError(f"{p}: not a run directory (it is a file)")
        run = cls(p)
        if not run.exists():
            raise UserError(f"{p}: not a run directory (no {CONFIG_FILE})")
        return run


def run_name(task: str, learner: str, seed: int, now: _dt.datetime | None = None) -> str:
    """``<task>__<learner>__s<seed>__<YYYYmmdd-HHMMSS>``; the task name is reduced to a file-safe stem."""
    stem = Path(task).stem if task.endswith((".yaml", ".yml")) else task
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "task"
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{stem}__{learner}__s{seed}__{stamp}"


def unique_path(path: Path) -> Path:
    """``path`` itself if it does not exist, else ``path-2``, ``path-3``, ..."""
    if not path.exists():
        return path
    k = 2
    while (candidate := path.with_name(f"{path.name}-{k}")).exists():
        k += 1
    return candidate


@contextlib.contextmanager
def removed_on_failure(path: Path) -> Iterator[Path]:
    """Create ``path`` (and missing parents); remove everything this created if the block raises.

    Used around run setup so that a failure before training starts leaves no half-written directory.
    An existing (empty) directory is kept but emptied of what the block wrote into it.
    """
    path = Path(path)
    existed = path.exists()
    top = path  # the highest directory this call creates
    while not top.parent.exists():
        top = top.parent
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if not existed:
            shutil.rmtree(top, ignore_errors=True)
        else:
            for child in path.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem supports fsync on directories
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb", **kwargs: Any) -> Iterator[Any]:
    """Write to a temp file in ``path``'s directory; on success fsync it and rename it over ``path``.

    ``kwargs`` go to ``open`` (e.g. ``newline=""`` for CSV)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Write ``config`` as YAML (safe_dump, keys in insertion order), atomically."""
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    with atomic_open(path, "w") as fh:
        fh.write(text)


def read_config(path: Path) -> dict[str, Any]:
    """Read a run's config.yaml; UserError naming the file if it is unreadable or not a run config."""
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or CONFIG_MARKER not in data:
        raise UserError(f"{path}: not a difftraffic run config (no '{CONFIG_MARKER}' key)")
    return data


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` a checkpoint dict atomically (temp file in the same directory, fsync, rename)."""
    import torch

    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    with atomic_open(path, "wb") as fh:
        torch.save(data, fh)


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; UserError (one line) if missing, corrupt or foreign."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip/pickle/EOF errors all mean "not a readable checkpoint"
        raise UserError(f"{path}: corrupt or unreadable checkpoint ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not a difftraffic checkpoint")
    if data.get("version") != CHECKPOINT_VERSION:
        raise UserError(f"{path}: checkpoint format version {data.get('version')} is not supported")
    return data
