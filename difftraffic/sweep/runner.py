"""Running a planned sweep: launch jobs up to the concurrency, watch them, report, stop cleanly on signals.

First SIGINT/SIGTERM: no new jobs start; every running job gets SIGTERM, finishes its epoch, writes its
checkpoint and exits (re-running the same sweep command resumes it). Second: the jobs get SIGTERM again and
abort their epoch (the last checkpoint on disk is kept). Third: the sweep exits at once.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from difftraffic.errors import UserError
from difftraffic.run.commandline import SignalTrap
from difftraffic.run.progress import fmt_duration, fmt_num
from difftraffic.run.rundir import RunDir, load_checkpoint
from difftraffic.sweep.jobs import Job, clear_run_dir, last_progress
from difftraffic.sweep.status import EpochClock, SweepDisplay, status_text


class StopSignals(SignalTrap):
    """Counts SIGINT/SIGTERM while active (the main thread only); the third one raises KeyboardInterrupt."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_signal(self, signum: int, first: bool) -> None:
        self.count += 1
        if self.count >= 3:
            raise KeyboardInterrupt


@dataclass
class Outcome:
    done: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)
    stopped: list[Job] = field(default_factory=list)
    not_started: list[Job] = field(default_factory=list)
    user_error: str | None = None


def _log_error_line(job: Job) -> str:
    """The job's last 'difftraffic: error:' line (else its last non-empty line) from its log file."""
    try:
        lines = [x.strip() for x in job.log.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return f"see {job.log}"
    errors = [x for x in lines if x.startswith("difftraffic: error:")]
    return (errors or lines or [f"see {job.log}"])[-1]


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _checkpoint_epoch(job: Job) -> int:
    path = RunDir(job.run_dir).checkpoint("latest")
    if not path.is_file():
        return 0
    try:
        return int(load_checkpoint(path)["epoch"])
    except UserError:
        return 0


def _best_return(job: Job) -> float | None:
    from difftraffic.sweep.results import read_returns

    try:
        returns = read_returns(job.run_dir / "progress.csv")
    except UserError:
        return None
    finite = [r for r in returns if r == r]
    return max(finite) if finite else None


class SweepRunner:
    """Drives ``jobs`` (already inspected) on ``executor`` with ``display``."""

    def __init__(self, jobs: list[Job], executor: Any, display: SweepDisplay, job_args: Any, concurrency: int):
        self.jobs = jobs
        self.executor = executor
        self.display = display
        self.job_args = job_args  # callable Job -> list[str]
        self.concurrency = concurrency
        self.clock = EpochClock()
        self.outcome = Outcome()
        self.started_at: list[float] = []

    def run(self) -> Outcome:
        out = self.outcome
        out.skipped = [j for j in self.jobs if j.state == "done"]
        for job in self.jobs:  # seed the ETA with every run's speed so far
            prog = last_progress(job.run_dir / "progress.csv")
            if prog is not None:
                self.clock.observe(job, prog[0], prog[2])
        pending = deque(j for j in self.jobs if j.state != "done")
        running: dict[int, Job] = {}
        sent = 0
        with StopSignals() as stop:
            self.signals = stop
            while pending or running:
                if stop.count > sent:
                    if sent == 0:
                        name = signal.Signals(stop.signum).name
                        self.display.event(
                            f"received {name}: no new jobs; sending SIGTERM to {len(running)} running job(s), "
                            "which finish their epoch, checkpoint and exit (send it again to abort their epochs)"
                        )
                        out.not_started += list(pending)
                        pending.clear()
                    else:
                        self.display.event("stopping now: the jobs abort their epoch and keep their last checkpoint")
                    self.executor.stop()
                    sent = stop.count
                while pending and len(running) < self.concurrency and not stop.count and out.user_error is None:
                    self._start(len(self.started_at), pending.popleft(), running)
                for key, code, error in self.executor.poll(0.5):
                    stopping = bool(stop.count) or out.user_error is not None
                    self._finished(key, running.pop(key), code, error, stopping)
                    if out.user_error is not None and pending:
                        out.not_started += list(pending)
                        pending.clear()
                        self.executor.stop()
                counts = {"done": len(out.done) + len(out.skipped), "failed": len(out.failed)}
                self.display.status(
                    status_text(counts, list(running.values()), self.clock, list(pending), self.concurrency),
                    force=False,
                )
        self.display.finish()
        return out

    def _start(self, key: int, job: Job, running: dict[int, Job]) -> None:
        if job.state == "restart":
            clear_run_dir(job)
            job.state = "new"
            what = f"restart {job.label} (no checkpoint yet; {job.epochs} epochs)"
        elif job.state == "resume":
            what = f"resume  {job.label} from epoch {job.start_epoch} to {job.epochs}"
        else:
            what = f"start   {job.label} ({job.epochs} epochs)"
        self.executor.submit(key, self.job_args(job), job.log)
        self.started_at.append(time.monotonic())
        running[key] = job
        self.display.event(what)

    def _finished(self, key: int, job: Job, code: int | None, error: str | None, stopping: bool) -> None:
        out = self.outcome
        took = fmt_duration(time.monotonic() - self.started_at[key])
        epoch = _checkpoint_epoch(job)
        prog = last_progress(job.run_dir / "progress.csv")
        if prog is not None:
            self.clock.observe(job, prog[0], prog[2])
            if code == 0 and job.state == "new":  # process start, setup and final evaluation
                self.clock.overheads.append(max(0.0, time.monotonic() - self.started_at[key] - prog[2]))
        if error is not None:
            out.failed.append((job, f"Ray task failed: {error}"))
            self.display.event(f"FAILED  {job.label}: Ray task failed: {error}")
        elif code is None:
            out.not_started.append(job)
        elif code == 0 and epoch >= job.epochs:
            out.done.append(job)
            best = _best_return(job)
            self.display.event(
                f"done    {job.label}: epoch {epoch}/{job.epochs} in {took}, best return {fmt_num(best)}"
                f" [{len(out.done) + len(out.skipped)}/{len(self.jobs)}]"
            )
        elif code == 2:
            line = _log_error_line(job)
            if out.user_error is None:
                why = line.removeprefix("difftraffic: error: ")
                out.user_error = f"sweep: job {job.label}: {why}"
            out.failed.append((job, line))
            self.display.event(f"FAILED  {job.label}: {line}")
        elif stopping and code in (130, 143, -15, -2):
            out.stopped.append(job)
            self.display.event(f"stopped {job.label} at epoch {epoch}/{job.epochs} (checkpoint saved)")
        else:
            if code < 0:
                why = f"killed by {_signal_name(-code)}"
            elif code == 0:
                why = f"exited at epoch {epoch} < {job.epochs}"
            else:
                why = f"exit code {code}: {_log_error_line(job)}"
            out.failed.append((job, f"{why} (checkpoint at epoch {epoch}; re-run the sweep to resume)"))
            self.display.event(f"FAILED  {job.label}: {why}; log {job.log}")


def report(out: Outcome, jobs: list[Job], wall: float, sweep_dir: Any, rerun: str, signals: StopSignals | None) -> int:
    """Print the end-of-sweep summary; returns the exit code."""
    trained = len(out.done)
    lines = [
        f"sweep {'stopped' if signals and signals.count else 'finished'} after {fmt_duration(wall)}: "
        f"{trained + len(out.skipped)}/{len(jobs)} jobs done ({trained} trained now, {len(out.skipped)} were "
        f"already finished), {len(out.failed)} failed, {len(out.stopped)} stopped with a checkpoint, "
        f"{len(out.not_started)} not started"
    ]
    for job, why in out.failed:
        lines.append(f"  failed {job.label}: {why}")
        lines.append(f"         log: {job.log}")
    if out.failed or out.stopped or out.not_started:
        lines.append(f"  continue (finished jobs are skipped, interrupted ones resume): {rerun}")
    if trained + len(out.skipped):
        lines.append(f"  aggregate: difftraffic sweep --aggregate {sweep_dir}")
    print("\n".join(lines), flush=True)
    if signals is not None and signals.count:
        return signals.exit_code
    if out.user_error is not None:
        raise UserError(out.user_error)
    return 1 if out.failed else 0
