"""Planning a sweep: the flags of ``difftraffic sweep`` turned into a validated job grid (nothing is created).

:func:`plan_sweep` resolves the preset and explicit ``--tasks/--learners/--seeds/--epochs``, applies
``--max-epochs-per-task`` caps, checks every value (one-line UserErrors) and builds the :class:`SweepPlan`
with one :class:`~difftraffic.sweep.jobs.Job` per (task, learner, seed).
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from difftraffic.errors import UserError
from difftraffic.registry import learner_names, paper_epochs
from difftraffic.run.factory import MAX_SEED
from difftraffic.sweep.jobs import Job, make_jobs
from difftraffic.sweep.presets import PRESETS, Preset, get_preset

LEARNERS = learner_names()
RESERVED_RUN_FLAGS = ("--out", "--resume", "--seed", "--learner", "--epochs", "--threads", "--stop-after", "--device")
"""`difftraffic run` flags the sweep sets itself (not allowed in --run-args)."""


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x for x in re.split(r"[,\s]+", v) if x]
    return list(dict.fromkeys(out))


def _names(flag: str, given: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    """The names given to ``flag`` (space or comma separated), else ``default``; UserError if given empty."""
    if given is None:
        return list(default)
    names = _split(given)
    if not names:
        raise UserError(f"{flag}: no {flag[2:]} given")
    return names


MAX_SEEDS = 1000


def parse_seeds(values: Sequence[str]) -> list[int]:
    """``['1-3', '7']`` → [1, 2, 3, 7]; UserError on anything else (seeds 0 to MAX_SEED, at most MAX_SEEDS)."""
    seeds: dict[int, None] = {}
    for item in _split(values):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise UserError(f"--seeds {item}: expected non-negative integers or ranges like 1-3")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi > MAX_SEED or hi - lo + len(seeds) >= MAX_SEEDS:
            raise UserError(f"--seeds {item}: seeds go from 0 to {MAX_SEED}, at most {MAX_SEEDS} of them")
        seeds.update(dict.fromkeys(range(lo, hi + 1)))
    return list(seeds)


def parse_caps(items: Sequence[str], names: list[str]) -> dict[str, int]:
    caps = {}
    for item in items:
        task, sep, value = item.partition("=")
        task = task.strip()
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise UserError(f"--max-epochs-per-task {item}: expected TASK=N with N >= 1")
        if task not in names:
            raise UserError(f"--max-epochs-per-task {item}: {task} is not a task of this sweep ({', '.join(names)})")
        caps[task] = int(value)
    return caps


def _run_args(text: str) -> list[str]:
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise UserError(f"--run-args {text!r}: {exc}") from None
    for a in args:
        flag = a.split("=", 1)[0]
        if flag in RESERVED_RUN_FLAGS:
            raise UserError(f"--run-args: {flag} is set by the sweep for each job")
        if flag == "--config-override":
            raise UserError("--run-args: pass --config-override to the sweep itself")
    return args


@dataclass
class SweepPlan:
    experiment: str
    kind: str
    preset: str | None
    sweep_dir: Path
    jobs: list[Job]
    tasks: list[tuple[str, str]]
    learners: list[str]
    seeds: list[int]
    epochs: dict[str, int]
    caps: dict[str, int]
    overrides: list[str]
    run_args: list[str]
    device: str | None
    sequential: bool

    def job_args(self, job: Job) -> list[str]:
        return job.run_args(self.overrides, self.run_args, self.device)

    def manifest(self, command: str, backend: str) -> dict[str, Any]:
        from difftraffic.sweep.jobs import MANIFEST_MARKER, now

        return {
            MANIFEST_MARKER: 1,
            "experiment": self.experiment,
            "kind": self.kind,
            "preset": self.preset,
            "tasks": [name for _, name in self.tasks],
            "task_specs": {name: spec for spec, name in self.tasks},
            "learners": list(self.learners),
            "seeds": list(self.seeds),
            "epochs": dict(self.epochs),
            "caps": {t: {"epochs": c, "uncapped": self.epochs[t]} for t, c in self.caps.items()},
            "config_overrides": list(self.overrides),
            "run_args": list(self.run_args),
            "device": self.device,
            "sessions": [{"started": now(), "command": command, "backend": backend, "code": code_version()}],
        }


def code_version() -> str:
    """The package version plus, in a git checkout, the commit (``+dirty`` with uncommitted changes)."""
    import subprocess

    from difftraffic import __version__

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__} ({commit}{'+dirty' if dirty else ''})" if commit else __version__


def plan_sweep(args: argparse.Namespace) -> SweepPlan:
    """Validate the flags and build the job list (nothing is created or started)."""
    from difftraffic.run.factory import resolve_task

    preset: Preset | None = None
    if args.preset:
        try:
            preset = get_preset(args.preset)
        except KeyError:
            raise UserError(f"--preset {args.preset}: unknown preset (choose one of {', '.join(PRESETS)})") from None
    elif not (args.tasks and args.learners):
        raise UserError("sweep: give --preset NAME, or --tasks and --learners (see difftraffic sweep --help)")
    tasks: list[tuple[str, str]] = []
    for spec in _names("--tasks", args.tasks, preset.tasks if preset else ()):
        try:
            task, name, _family = resolve_task(spec)
        except UserError as err:
            raise UserError(f"--tasks {err}") from None
        same = [t for t, n in tasks if n == name]
        if same and same[0] != task:
            raise UserError(f"--tasks {spec}: another task is also named {name!r} ({same[0]}); rename one file")
        if not same:
            tasks.append((task, name))
    learners = _names("--learners", args.learners, preset.learners if preset else ())
    for name in learners:
        if name not in LEARNERS:
            raise UserError(f"--learners {name}: unknown learner (choose from {', '.join(LEARNERS)})")
    seeds = parse_seeds(args.seeds) if args.seeds else list(preset.seeds if preset else (1, 2, 3))
    if not seeds:
        raise UserError("--seeds: no seeds given")
    for flag, value, low in (("--epochs", args.epochs, 1), ("--jobs", args.jobs, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag} {value}: must be >= {low}")
    if args.gpus_per_job < 0:
        raise UserError(f"--gpus-per-job {args.gpus_per_job}: must be >= 0")
    if args.status_every <= 0:
        raise UserError(f"--status-every {args.status_every}: must be > 0")
    names = [n for _, n in tasks]
    epochs = {n: args.epochs or (preset.epochs_for(n) if preset else paper_epochs(n)) for n in names}
    caps = parse_caps(args.max_epochs_per_task, names)
    sequential = bool(preset and preset.sequential)
    if sequential and args.jobs not in (None, 1):
        raise UserError(f"--jobs {args.jobs}: the {preset.name} preset runs one job at a time (comparable wall-clock)")
    if args.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?", args.device):
        raise UserError(f"--device {args.device}: expected cpu, cuda or cuda:N")
    for item in args.config_override:
        if "=" not in item:
            raise UserError(f"--config-override {item}: expected KEY=VALUE")
    run_args = (list(preset.run_args) if preset else []) + _run_args(args.run_args)
    experiment = args.experiment if args.experiment is not None else (preset.name if preset else "custom")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", experiment):
        raise UserError(f"--experiment {experiment}: use letters, digits, '.', '_' or '-'")
    sweep_dir = Path(args.out or Path("runs") / "sweeps" / experiment).absolute()
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise UserError(f"--out {sweep_dir}: exists and is not a directory")
    jobs = make_jobs(sweep_dir, tasks, learners, seeds, epochs, caps)
    return SweepPlan(
        experiment,
        preset.kind if preset else "returns",
        preset.name if preset else None,
        sweep_dir,
        jobs,
        tasks,
        learners,
        seeds,
        epochs,
        caps,
        list(args.config_override),
        run_args,
        args.device,
        sequential,
    )
