"""``difftraffic sweep``: train a grid of (task × learner × seed) runs as independent, resumable jobs.

Each job is exactly a user's run — ``difftraffic run TASK --learner L --seed S --epochs E --threads 1
--out <sweep>/<task>/<learner>/s<seed>`` in a subprocess — so any job can also be inspected, plotted or
resumed by hand. Jobs run on Ray (extra ``[sweep]``; a local cluster using every core by default, or
``--address`` for an existing cluster), else in a local process pool. Re-running a sweep skips finished
jobs, resumes interrupted ones from their checkpoints and starts the rest. ``--aggregate DIR...`` turns
sweeps into docs/results (see :mod:`difftraffic.sweep.results`). ``python -m difftraffic.sweep`` is the same
command; the lead wires :func:`register` into ``difftraffic``'s subcommands.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from difftraffic.errors import UserError
from difftraffic.registry import BASELINE_LEARNER, DEFAULT_LEARNER, budget_text
from difftraffic.run.commandline import HelpFormatter, OneLineParser, run_main
from difftraffic.sweep.aggregate_flags import add_aggregate_flags
from difftraffic.sweep.grid import LEARNERS, SweepPlan, plan_sweep
from difftraffic.sweep.jobs import Job
from difftraffic.sweep.presets import FUNCTION_TASKS, MUJOCO_TASKS, PRESETS

DESCRIPTION = """Run a grid of training runs (task x learner x seed) as independent jobs, each a
'difftraffic run ... --threads 1 --out SWEEP/<task>/<learner>/s<seed>' subprocess, on Ray if installed
(local cluster using every core, or --address), else in a local process pool. Re-running the same command
skips finished jobs and resumes interrupted ones from their checkpoints. Ctrl-C stops cleanly: running
jobs get SIGTERM, finish their epoch and checkpoint.

presets:
""" + "\n".join(f"  {p.name:<8} {p.description}" for p in PRESETS.values())

# The examples' names come from the registry and the presets.
_T1 = PRESETS["table1"]
_T1_GRID = f"{len(_T1.tasks)} tasks x {len(_T1.learners)} learners x seeds 1-3, {_T1.epochs_for(_T1.tasks[0])} epochs"
_CAPS = " ".join(f"--max-epochs-per-task {task}=300" for task in MUJOCO_TASKS)
_GRID = f"--tasks {' '.join(FUNCTION_TASKS[:2])} --learners {BASELINE_LEARNER} {DEFAULT_LEARNER}"
EPILOG = f"""examples:
  difftraffic sweep --preset table1                      # {_T1_GRID}
  difftraffic sweep --preset physics {_CAPS}
  difftraffic sweep --preset timing --epochs 50           # Table 2, extrapolated to 500 epochs
  difftraffic sweep {_GRID} --seeds 1-5 --epochs 500 --out runs/sweeps/mine
  difftraffic sweep --preset table1 --dry-run            # list the jobs and what each would do
  difftraffic sweep --aggregate runs/sweeps/table1       # summary.csv, tables and figures in docs/results"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to run")
    g.add_argument("--preset", metavar="NAME", help=f"a named sweep: {', '.join(PRESETS)} (see above)")
    g.add_argument(
        "--tasks",
        nargs="+",
        metavar="TASK",
        help="tasks or scenarios (names or .yaml paths; space or comma separated) (default: the preset's)",
    )
    g.add_argument(
        "--learners", nargs="+", metavar="NAME", help=f"learners: {', '.join(LEARNERS)} (default: the preset's)"
    )
    g.add_argument(
        "--seeds", nargs="+", metavar="S", help="seeds, e.g. 1-3 or 1,2,5 (default: the preset's; 1-3 without one)"
    )
    g.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="epochs per run for every task (default: the preset's; the paper's budget per task without one: "
        f"{budget_text()})",
    )
    g.add_argument(
        "--max-epochs-per-task",
        action="append",
        default=[],
        metavar="TASK=N",
        help=f"cap one task's epochs (repeatable), e.g. {MUJOCO_TASKS[0]}=300; recorded in sweep.yaml "
        "(default: no caps)",
    )
    g.add_argument(
        "--config-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to every job's 'difftraffic run' (repeatable) (default: none, the paper's values)",
    )
    g.add_argument(
        "--run-args",
        default="",
        metavar="'FLAGS'",
        help="more 'difftraffic run' flags for every job, one quoted string, e.g. '--eval-episodes 4' "
        "(default: none; the timing preset adds '--eval-every 0 --record-every 0 --no-tensorboard')",
    )
    g.add_argument("--device", metavar="DEV", help="device of every job: cpu, cuda or cuda:N (default: cpu)")
    g = p.add_argument_group("where and how")
    g.add_argument("--out", metavar="DIR", help="sweep directory (default: runs/sweeps/<preset or experiment>)")
    g.add_argument(
        "--experiment",
        metavar="NAME",
        help="experiment name of the rows in summary.csv, also with --aggregate (default: the preset's name, "
        "else 'custom'; with --aggregate: the name in each DIR/sweep.yaml)",
    )
    g.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="jobs at a time, one CPU each (default: all cores, or the cluster's CPUs; timing: 1, in a local "
        "process pool unless --backend ray)",
    )
    g.add_argument(
        "--backend",
        choices=("auto", "ray", "local"),
        default="auto",
        help="auto: Ray if installed, else a local process pool (default: auto)",
    )
    g.add_argument("--address", metavar="ADDR", help="connect to an existing Ray cluster (default: start a local one)")
    g.add_argument(
        "--gpus-per-job", type=float, default=0.0, metavar="F", help="GPUs Ray reserves per job, e.g. 0.25 (default: 0)"
    )
    g.add_argument("--dry-run", action="store_true", help="list the jobs, their state and command, and exit")
    g.add_argument(
        "--status-every",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between status lines when the output is not a terminal (default: 30)",
    )
    g = p.add_argument_group("aggregation")
    g.add_argument(
        "--aggregate",
        nargs="+",
        metavar="DIR",
        help="instead of running: aggregate these sweep directories into --results-dir",
    )
    add_aggregate_flags(g, experiment=False)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to ``difftraffic``'s subparsers (its handler returns the exit code)."""
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of task x learner x seed jobs (Ray or local), resumable; aggregate results",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=cmd_sweep)
    return p


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="difftraffic sweep", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_arguments(p)
    return p


# ---------------------------------------------------------------------------------------------- commands
def _describe(job: Job) -> str:
    if job.state == "done":
        return f"done (epoch {job.start_epoch}), skipped"
    if job.state == "resume":
        return f"resume from epoch {job.start_epoch}"
    if job.state == "restart":
        return "restart (no checkpoint)"
    return "new"


def _dry_run(plan: SweepPlan) -> int:
    from difftraffic.sweep.executors import job_command

    grid = f"{len(plan.tasks)} tasks x {len(plan.learners)} learners x {len(plan.seeds)} seeds"
    print(f"sweep {plan.experiment} -> {plan.sweep_dir}: {len(plan.jobs)} jobs ({grid})")
    for t, c in plan.caps.items():
        if c < plan.epochs[t]:
            print(f"  {t}: capped at {c} epochs (of {plan.epochs[t]})")
    width = max(len(j.label) for j in plan.jobs)
    for job in plan.jobs:
        line = f"  {job.label:<{width}}  {job.epochs:>5} epochs  {_describe(job):<28}"
        if job.state != "done":
            line += "  " + shlex.join(["difftraffic", *job_command(plan.job_args(job))[3:]])
        print(line)
    todo = sum(j.state != "done" for j in plan.jobs)
    print(f"would run {todo} job(s); {len(plan.jobs) - todo} already finished")
    return 0


def check_backend(args: argparse.Namespace) -> None:
    """UserError if the requested backend cannot be used (before anything is created)."""
    from difftraffic.sweep.executors import ray_available

    if args.backend == "local" and args.address:
        raise UserError("--address: needs the Ray backend (drop --backend local)")
    if (args.backend == "ray" or args.address) and not ray_available():
        flag = "--address" if args.address else "--backend ray"
        raise UserError(f"{flag}: Ray is not installed (pip install 'difftraffic[sweep]')")


def _executor(plan: SweepPlan, args: argparse.Namespace):
    from difftraffic.sweep.executors import LocalPool, RayPool, ray_available

    cwd = os.getcwd()
    jobs = 1 if plan.sequential else args.jobs
    check_backend(args)
    if args.backend == "local" or (plan.sequential and args.backend == "auto" and not args.address):
        # One job at a time gains nothing from Ray, whose workers also run at a lower priority (nice 15).
        return LocalPool(cwd, jobs or os.cpu_count() or 1)
    if not ray_available():
        pool = LocalPool(cwd, jobs or os.cpu_count() or 1)
        print(
            f"difftraffic sweep: Ray is not installed; running the jobs in {pool.description} instead "
            "(pip install 'difftraffic[sweep]' for Ray)",
            flush=True,
        )
        return pool
    return RayPool(cwd, jobs, args.address, args.gpus_per_job)


def cmd_sweep(args: argparse.Namespace) -> int:
    """The ``sweep`` subcommand (also behind :func:`main`); returns the exit code."""
    if args.aggregate:
        return _aggregate(args)
    from difftraffic.sweep.jobs import inspect_job, merged_manifest, read_manifest, sweep_lock, write_manifest
    from difftraffic.sweep.runner import SweepRunner, report
    from difftraffic.sweep.status import SweepDisplay

    plan = plan_sweep(args)
    old = read_manifest(plan.sweep_dir) if plan.sweep_dir.is_dir() else None
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    command = "difftraffic sweep " + shlex.join(argv[1:] if argv[:1] == ["sweep"] else argv)
    merged_manifest(old, plan.manifest(command, "?"), plan.sweep_dir)  # refuse a mismatching directory early
    check_backend(args)
    if args.dry_run:
        for job in plan.jobs:
            inspect_job(job, plan.overrides, plan.device)
        return _dry_run(plan)
    with sweep_lock(plan.sweep_dir):
        for job in plan.jobs:
            inspect_job(job, plan.overrides, plan.device)
        todo = [j for j in plan.jobs if j.state != "done"]
        head = f"sweep {plan.experiment}: {len(plan.jobs)} jobs in {plan.sweep_dir}"
        if not todo:
            print(f"{head}: all finished, nothing to do")
            print(f"  aggregate: difftraffic sweep --aggregate {plan.sweep_dir}")
            return 0
        executor = _executor(plan, args)
        try:
            new = plan.manifest(command, executor.description)
            write_manifest(plan.sweep_dir, merged_manifest(read_manifest(plan.sweep_dir), new, plan.sweep_dir))
            states = {s: sum(j.state == s for j in plan.jobs) for s in ("done", "resume", "restart", "new")}
            print(
                f"{head}: {states['done']} finished (skipped), {states['resume']} to resume, "
                f"{states['new'] + states['restart']} to start; on {executor.description}",
                flush=True,
            )
            t0 = time.monotonic()
            display = SweepDisplay(every=args.status_every)
            runner = SweepRunner(plan.jobs, executor, display, plan.job_args, executor.concurrency)
            outcome = runner.run()
        finally:
            executor.close()
        if outcome.user_error and not any((j.run_dir / "config.yaml").exists() for j in plan.jobs):
            _restore_manifest(plan.sweep_dir, old)  # nothing was trained with these arguments
        return report(outcome, plan.jobs, time.monotonic() - t0, plan.sweep_dir, command, runner.signals)


def _restore_manifest(sweep_dir: Path, old: dict[str, Any] | None) -> None:
    from difftraffic.sweep.jobs import MANIFEST, write_manifest

    if old is None:
        (sweep_dir / MANIFEST).unlink(missing_ok=True)
    else:
        write_manifest(sweep_dir, old)


def _aggregate(args: argparse.Namespace) -> int:
    from difftraffic.sweep.results import aggregate

    grid = ("preset", "tasks", "learners", "seeds", "epochs", "out", "jobs", "address", "device")
    used = [f"--{k.replace('_', '-')}" for k in grid if getattr(args, k, None)]
    if used or args.dry_run or args.config_override or args.max_epochs_per_task or args.run_args:
        raise UserError(
            f"--aggregate: takes only --experiment, --results-dir and --x (got {', '.join(used) or 'more'})"
        )
    for path in aggregate(args.aggregate, args.experiment, args.results_dir, args.x):
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``difftraffic sweep ...`` / ``python -m difftraffic.sweep ...``; returns the exit code."""
    return run_main(build_parser(), argv, cmd_sweep, interrupted="difftraffic: sweep interrupted")


if __name__ == "__main__":
    sys.exit(main())
