"""Sweep jobs: one ``difftraffic run`` per (task, learner, seed), its state on disk and its command line.

A job's run directory is ``<sweep>/<task>/<learner>/s<seed>``; its console output is appended to
``<sweep>/logs/<task>__<learner>__s<seed>.log``. What a job does next follows from that directory:

* ``new``      nothing there yet: ``difftraffic run TASK --learner L --seed S --epochs E --threads 1 --out DIR``
* ``resume``   ``checkpoints/latest.pt`` is below the target epoch: ``difftraffic run --resume --out DIR``
* ``restart``  config.yaml but no checkpoint (killed in its first epochs): emptied and started again
* ``done``     ``latest.pt`` reached the target epoch: skipped

The sweep manifest ``<sweep>/sweep.yaml`` records the experiment, grid, epoch budgets, caps and sessions.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from difftraffic.errors import UserError
from difftraffic.run.rundir import CONFIG_FILE, RunDir, atomic_open, load_checkpoint, read_config

MANIFEST = "sweep.yaml"
MANIFEST_MARKER = "difftraffic_sweep"
LOCK_FILE = ".sweep.lock"
LOG_DIR = "logs"


@dataclass
class Job:
    """One (task, learner, seed) cell of a sweep."""

    task: str
    """What ``difftraffic run`` is given: a task or scenario name, or an absolute scenario path."""
    name: str
    """The task's short name (directory name, ``problem`` in summary.csv)."""
    learner: str
    seed: int
    epochs: int
    """Target epochs of this sweep (after any --max-epochs-per-task cap)."""
    run_dir: Path
    log: Path
    cap: int | None = None
    """The cap that lowered ``epochs`` (None if uncapped)."""
    state: str = "new"
    start_epoch: int = 0
    """Epoch of the run's latest checkpoint (0 for new runs)."""
    saved_epochs: int | None = None
    """``epochs`` in an existing run's config.yaml."""

    @property
    def label(self) -> str:
        return f"{self.name}/{self.learner}/s{self.seed}"

    def run_args(self, overrides: list[str], extra: list[str], device: str | None) -> list[str]:
        """Arguments after ``difftraffic`` for this job's next session (``state`` new/restart/resume)."""
        if self.state == "resume":
            total = max(self.epochs, self.saved_epochs or 0)
            args = ["run", "--resume", "--out", str(self.run_dir), "--epochs", str(total)]
            if total > self.epochs:  # the run was started with a larger budget: stop at ours, same decay schedule
                args += ["--stop-after", str(self.epochs - self.start_epoch)]
            return args + list(extra)
        args = ["run", self.task, "--learner", self.learner, "--seed", str(self.seed)]
        args += ["--epochs", str(self.epochs), "--threads", "1", "--out", str(self.run_dir)]
        if device:
            args += ["--device", device]
        for item in overrides:
            args += ["--config-override", item]
        return args + list(extra)


def make_jobs(
    sweep_dir: Path,
    tasks: list[tuple[str, str]],
    learners: list[str],
    seeds: list[int],
    epochs: dict[str, int],
    caps: dict[str, int],
) -> list[Job]:
    """The grid in task-major order; ``tasks`` are (spec, name) pairs, ``epochs``/``caps`` keyed by name."""
    jobs = []
    for spec, name in tasks:
        cap = caps.get(name)
        target = epochs[name] if cap is None else min(epochs[name], cap)
        for learner in learners:
            for seed in seeds:
                jobs.append(
                    Job(
                        spec,
                        name,
                        learner,
                        seed,
                        target,
                        sweep_dir / name / learner / f"s{seed}",
                        sweep_dir / LOG_DIR / f"{name}__{learner}__s{seed}.log",
                        cap=cap if cap is not None and cap < epochs[name] else None,
                    )
                )
    return jobs


def inspect_job(job: Job, overrides: list[str], device: str | None) -> Job:
    """Set ``job.state``/``start_epoch`` from its run directory; UserError if the directory holds another run."""
    path = job.run_dir
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a directory (the sweep keeps job {job.label} there)")
    if not path.is_dir() or not any(path.iterdir()):
        job.state, job.start_epoch = "new", 0
        return job
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not empty and not a run directory (no {CONFIG_FILE}); move it away")
    cfg = read_config(run.config)
    wanted = {"task_name": job.name, "learner": job.learner, "seed": job.seed}
    for key, value in wanted.items():
        if cfg.get(key) != value:
            raise UserError(f"{path}: holds a run with {key} {cfg.get(key)!r}, not {value!r}; use another --out")
    saved = sorted(str(x) for x in cfg.get("config_overrides") or [])
    if saved != sorted(overrides):
        raise UserError(
            f"{path}: was trained with --config-override {saved or 'none'}, the sweep asks for "
            f"{sorted(overrides) or 'none'}; use another --out"
        )
    if device and cfg.get("device") != device:
        raise UserError(f"{path}: was trained on device {cfg.get('device')!r}, not {device!r}; use another --out")
    job.saved_epochs = int(cfg.get("epochs") or 0)
    latest = run.checkpoint("latest")
    if not latest.is_file():
        job.state, job.start_epoch = "restart", 0
        return job
    job.start_epoch = int(load_checkpoint(latest)["epoch"])
    job.state = "done" if job.start_epoch >= job.epochs else "resume"
    return job


def clear_run_dir(job: Job) -> None:
    """Empty a run directory that has no checkpoint (state ``restart``) so ``difftraffic run`` accepts it."""
    if RunDir(job.run_dir).checkpoint("latest").exists():
        raise UserError(f"{job.run_dir}: has a checkpoint now; refusing to clear it")
    shutil.rmtree(job.run_dir)


def last_progress(path: Path) -> tuple[int, int, float] | None:
    """``(epoch, env_steps, wall_s)`` of the last complete row of a progress.csv, or None.

    Reads only the file's tail, so it is cheap to call every second on many runs."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = tail.split("\n")
    for line in reversed(lines[:-1] if not tail.endswith("\n") else lines):
        cells = line.strip().split(",")
        if len(cells) >= 3:
            try:
                return int(cells[0]), int(cells[1]), float(cells[2])
            except ValueError:
                continue  # the header (or a partial first line of the tail)
    return None


# ---------------------------------------------------------------------------------------------- manifest
def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    """The sweep's manifest, or None if the directory has none; UserError if it is not one."""
    path = sweep_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: unreadable sweep manifest ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or MANIFEST_MARKER not in data:
        raise UserError(f"{path}: not a difftraffic sweep manifest (no '{MANIFEST_MARKER}' key)")
    return data


def merged_manifest(old: dict[str, Any] | None, new: dict[str, Any], sweep_dir: Path) -> dict[str, Any]:
    """``new`` merged into the existing manifest: same experiment, kind and overrides; grids united."""
    if old is None:
        return new
    for key in ("experiment", "kind"):
        if old.get(key) != new[key]:
            raise UserError(f"{sweep_dir}: holds sweep {key} {old.get(key)!r}, not {new[key]!r}; choose another --out")
    if sorted(old.get("config_overrides") or []) != sorted(new["config_overrides"]):
        raise UserError(
            f"{sweep_dir}: its runs use --config-override {old.get('config_overrides') or 'none'}; "
            "a sweep directory holds one configuration (choose another --out)"
        )
    out = dict(old)
    for key in ("tasks", "learners", "seeds"):
        out[key] = list(old.get(key) or []) + [x for x in new[key] if x not in (old.get(key) or [])]
    for key in ("task_specs", "epochs", "caps"):
        out[key] = {**(old.get(key) or {}), **new[key]}
    for key in ("preset", "run_args", "device"):
        out[key] = new[key]
    out["sessions"] = list(old.get("sessions") or []) + list(new["sessions"])
    return out


def write_manifest(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=None, width=110)
    with atomic_open(sweep_dir / MANIFEST, "w") as fh:
        fh.write(text)


def now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path):
    """Hold an exclusive lock on the sweep directory; UserError if another sweep holds it."""
    import fcntl

    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        fh = open(sweep_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise UserError(f"--out {sweep_dir}: cannot create the sweep directory ({exc.strerror})") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"{sweep_dir}: another 'difftraffic sweep' is running there") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()
