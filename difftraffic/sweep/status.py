"""The sweep's progress display: event lines plus a status line (done / running / pending, each running
job's epoch read from its progress.csv, and an ETA).

On a terminal the status line is redrawn in place once a second; in a pipe or log file it is printed as a
plain line every ``every`` seconds (default 30 s) and after each finished job.

The ETA assumes each (task, learner) keeps the seconds per epoch measured so far (``wall_s / epoch`` of
its runs; falling back to the task's, then the sweep's average) and that jobs share ``concurrency`` slots.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from difftraffic.run.progress import fmt_duration
from difftraffic.sweep.jobs import Job, last_progress


@dataclass
class EpochClock:
    """Seconds per epoch observed per (task, learner), from the runs' progress.csv files."""

    rates: dict[tuple[str, str], float] = field(default_factory=dict)
    overheads: list[float] = field(default_factory=list)
    """Seconds per job outside the training loop (process start, setup, final evaluation)."""

    def observe(self, job: Job, epoch: int, wall_s: float) -> None:
        if epoch > 0 and wall_s > 0:
            self.rates[(job.name, job.learner)] = wall_s / epoch

    def seconds_per_epoch(self, job: Job) -> float | None:
        own = self.rates.get((job.name, job.learner))
        if own is not None:
            return own
        same_task = [r for (task, _), r in self.rates.items() if task == job.name]
        pool = same_task or list(self.rates.values())
        return sum(pool) / len(pool) if pool else None


def estimate_eta(remaining: list[tuple[Job, int, bool]], clock: EpochClock, concurrency: int) -> float:
    """Seconds until ``remaining`` (job, epochs left, already started) are done on ``concurrency`` slots.

    NaN while no speed has been observed yet."""
    costs = []
    overhead = sum(clock.overheads) / len(clock.overheads) if clock.overheads else 0.0
    for job, left, started in remaining:
        spe = clock.seconds_per_epoch(job)
        if spe is None:
            return math.nan
        costs.append(left * spe + (0.0 if started else overhead))
    if not costs:
        return 0.0
    return max(sum(costs) / max(1, concurrency), max(costs))


class SweepDisplay:
    """Event lines and the periodically refreshed status line."""

    def __init__(self, stream: TextIO | None = None, every: float = 30.0, tty: bool | None = None):
        self.stream = stream or sys.stdout
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.every = 1.0 if tty else every
        self._last = -math.inf
        self._drawn = False

    def event(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        if self.tty:
            width = 200
            self.stream.write("\r" + text[:width] + "\x1b[K")
            self._drawn = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False


def status_text(
    counts: dict[str, int], running: list[Job], clock: EpochClock, pending: list[Job], concurrency: int
) -> str:
    """``sweep: 3 done, 2 running (TASK/LEARNER/s1 40/100, ...), 5 pending, 0 failed | ETA 1:02``.

    Also feeds ``clock`` with the running jobs' latest epoch times."""
    parts, remaining = [], []
    for job in running:
        prog = last_progress(job.run_dir / "progress.csv")
        epoch = job.start_epoch
        if prog is not None:
            epoch = prog[0]
            clock.observe(job, prog[0], prog[2])
        parts.append(f"{job.label} {epoch}/{job.epochs}")
        remaining.append((job, max(0, job.epochs - epoch), True))
    remaining += [(job, job.epochs - job.start_epoch, False) for job in pending]
    eta = estimate_eta(remaining, clock, concurrency)
    shown = ", ".join(parts[:6]) + (f", +{len(parts) - 6} more" if len(parts) > 6 else "")
    text = f"sweep: {counts['done']} done, {len(running)} running"
    text += f" ({shown})" if shown else ""
    text += f", {len(pending)} pending, {counts['failed']} failed | ETA {fmt_duration(eta)}"
    return text
