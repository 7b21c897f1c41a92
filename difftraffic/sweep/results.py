"""Aggregating sweeps into the paper's tables and figures (``difftraffic sweep --aggregate DIR...`` or
``python -m difftraffic.sweep.results DIR...``).

The metric is the paper's: for each run, the maximum over training of ``episode_return`` (the running mean of
the last 100 finished episodes); then the mean and the sample standard deviation (ddof = 1; empty for one
seed) over seeds. Written into ``--results-dir`` (default ``docs/results``):

* ``summary.csv`` — columns ``experiment, problem, learner, seeds, epochs, metric_mean, metric_std, paper``;
  ``seeds`` = number of runs, ``epochs`` = epochs actually run (the fewest among the seeds), ``paper`` = the
  paper's value (empty where it has none). Re-aggregating an experiment replaces only that experiment's rows.
* ``<experiment>.md`` — ours beside the paper's, best per row in bold (:mod:`difftraffic.sweep.tables`).
* ``<experiment>_curves.png`` (``_curves_steps.png`` with ``--x steps``) and ``<experiment>_gippo_<problem>.png``
  (:mod:`difftraffic.sweep.figures`).
* For a timing experiment (preset ``timing``): ``timing.csv`` and ``timing.md`` instead (Table 2).

A DIR is a sweep directory (its ``sweep.yaml`` names the experiment) or any directory holding run
directories (then ``--experiment NAME`` names it).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from difftraffic.errors import UserError
from difftraffic.registry import paper_metric, paper_rank
from difftraffic.run.csvlog import parse_value, read_csv
from difftraffic.run.rundir import CONFIG_FILE, CONFIG_MARKER, atomic_open
from difftraffic.sweep.jobs import read_manifest
from difftraffic.sweep.tables import publish

SUMMARY_COLUMNS = ("experiment", "problem", "learner", "seeds", "epochs", "metric_mean", "metric_std", "paper")
DEFAULT_RESULTS_DIR = Path("docs/results")
_SKIP_DIRS = {"checkpoints", "episodes", "tb", "plots", "logs"}


def read_returns(path: Path) -> list[float]:
    """The ``episode_return`` column of a progress.csv (NaN where no episode had finished)."""
    header, rows = read_csv(path)
    if "episode_return" not in header:
        raise UserError(f"{path}: not a difftraffic progress log (no episode_return column)")
    return [parse_value(r.get("episode_return") or "") for r in rows]


def run_metric(returns: Sequence[float]) -> float:
    """The paper's per-run metric: the maximum of the running-mean return over training (NaN if none)."""
    finite = [r for r in returns if math.isfinite(r)]
    return max(finite) if finite else math.nan


def seed_stats(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof = 1; NaN for a single value)."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return mean, std


@dataclass
class Experiment:
    """The runs of one experiment, loaded with ``difftraffic plot``'s loader (``difftraffic.run.curves.RunData``)."""

    name: str
    kind: str  # "returns" or "timing"
    runs: list  # list[difftraffic.run.curves.RunData]
    order: list[str]  # problems in the sweep's order


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories (with a difftraffic config.yaml) at or below ``root``, sorted."""
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        if CONFIG_FILE in files:
            try:
                with open(Path(here) / CONFIG_FILE) as fh:
                    head = fh.read(4096)
            except OSError:
                continue
            if CONFIG_MARKER in head:
                found.append(Path(here))
                dirs[:] = []
    return found


def load_experiments(dirs: Sequence[str | os.PathLike], experiment: str | None) -> list[Experiment]:
    """Group the runs under ``dirs`` by experiment (from each sweep.yaml, or ``experiment``)."""
    from difftraffic.run.curves import load_run

    groups: dict[str, Experiment] = {}
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise UserError(f"--aggregate {root}: no such directory")
        manifest = read_manifest(root)
        name = experiment or (manifest or {}).get("experiment")
        if not name:
            raise UserError(f"--aggregate {root}: no sweep.yaml there; name the experiment with --experiment NAME")
        kind = (manifest or {}).get("kind") or ("timing" if name == "timing" else "returns")
        exp = groups.setdefault(name, Experiment(name, kind, [], []))
        if exp.kind != kind:
            raise UserError(f"--aggregate {root}: experiment {name!r} mixes {exp.kind} and {kind} sweeps")
        for task in (manifest or {}).get("tasks") or []:
            if task not in exp.order:
                exp.order.append(task)
        paths = find_run_dirs(root)
        if not paths:
            raise UserError(f"--aggregate {root}: no run directories found")
        for path in paths:
            if not (path / "progress.csv").is_file():
                print(f"note: {path}: no progress.csv yet; skipped", file=sys.stderr)
                continue
            try:
                run = load_run(path)
            except UserError as err:
                print(f"note: {err}; skipped", file=sys.stderr)
                continue
            exp.runs.append(run)
    for exp in groups.values():
        seen: dict[tuple[str, str, int], Path] = {}
        for run in exp.runs:
            key = (run.task, run.learner, run.seed)
            if key in seen:
                raise UserError(
                    f"--aggregate: two runs of {run.task}/{run.learner}/seed {run.seed} in experiment "
                    f"{exp.name!r}: {seen[key]} and {run.path}"
                )
            seen[key] = run.path
            if run.task not in exp.order:
                exp.order.append(run.task)
    return list(groups.values())


def _epochs_run(run) -> int:
    epochs = run.columns["epoch"]
    return int(np.nanmax(epochs)) if epochs.size else 0


def summary_rows(exp: Experiment) -> list[dict[str, object]]:
    """One summary.csv row per (problem, learner) of ``exp``, in problem then learner order."""
    cells: dict[tuple[str, str], list] = defaultdict(list)
    for run in exp.runs:
        cells[(run.task, run.learner)].append(run)
    rank = {p: i for i, p in enumerate(exp.order)}
    rows = []
    for (problem, learner), runs in sorted(
        cells.items(), key=lambda kv: (rank.get(kv[0][0], 1e9), kv[0][0], paper_rank(kv[0][1]), kv[0][1])
    ):
        metrics = [run_metric(r.columns["episode_return"]) for r in runs]
        finite = [m for m in metrics if math.isfinite(m)]
        if not finite:
            print(f"note: {problem}/{learner}: no finished episode in any run; left out", file=sys.stderr)
            continue
        epochs = [_epochs_run(r) for r in runs]
        if len(set(epochs)) > 1:
            print(
                f"note: {exp.name} {problem}/{learner}: runs have {min(epochs)}..{max(epochs)} epochs; "
                "the epochs column shows the fewest",
                file=sys.stderr,
            )
        mean, std = seed_stats(finite)
        rows.append(
            {
                "experiment": exp.name,
                "problem": problem,
                "learner": learner,
                "seeds": len(finite),
                "epochs": min(epochs),
                "metric_mean": mean,
                "metric_std": std,
                "paper": paper_metric(problem, learner),
            }
        )
    return rows


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def merge_summary(path: Path, experiment: str, rows: list[dict[str, object]]) -> list[dict[str, str]]:
    """Replace ``experiment``'s rows of summary.csv (kept in place, else appended); returns all rows."""
    old: list[dict[str, str]] = []
    if path.exists():
        header, old = read_csv(path)
        if tuple(header) != SUMMARY_COLUMNS:
            raise UserError(f"{path}: unexpected columns {header}; expected {', '.join(SUMMARY_COLUMNS)}")
    new = [{k: _cell(r[k]) for k in SUMMARY_COLUMNS} for r in rows]
    merged: list[dict[str, str]] = []
    inserted = False
    for row in old:
        if row["experiment"] == experiment:
            if not inserted:
                merged += new
                inserted = True
            continue
        merged.append(row)
    if not inserted:
        merged += new
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(merged)
    publish(path)
    return merged


def aggregate(
    dirs: Sequence[str | os.PathLike],
    experiment: str | None = None,
    results_dir: str | os.PathLike = DEFAULT_RESULTS_DIR,
    x: str = "epoch",
    figures: bool = True,
) -> list[Path]:
    """Aggregate the runs under ``dirs``; write summary.csv, tables and figures; return the written paths."""
    from difftraffic.sweep.tables import returns_table, timing_rows, timing_table, write_timing_csv

    out = Path(results_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--results-dir {out}: exists and is not a directory")
    written: list[Path] = []
    for exp in load_experiments(dirs, experiment):
        if not exp.runs:
            raise UserError(f"--aggregate: experiment {exp.name!r} has no run with a progress.csv yet")
        out.mkdir(parents=True, exist_ok=True)
        if exp.kind == "timing":
            rows = timing_rows(exp)
            written.append(write_timing_csv(out / "timing.csv", rows))
            written.append(_write_text(out / "timing.md", timing_table(rows)))
            continue
        rows = summary_rows(exp)
        merge_summary(out / "summary.csv", exp.name, rows)
        written.append(out / "summary.csv")
        written.append(_write_text(out / f"{exp.name}.md", returns_table(exp.name, rows)))
        if figures:
            from difftraffic.sweep.figures import write_figures

            written += write_figures(exp, out, x)
    return written


def _write_text(path: Path, text: str) -> Path:
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return publish(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m difftraffic.sweep.results DIR...``: aggregate sweeps; returns the exit code."""
    from difftraffic.run.commandline import OneLineParser, run_main
    from difftraffic.sweep.aggregate_flags import add_aggregate_flags

    p = OneLineParser(
        prog="python -m difftraffic.sweep.results",
        description="Aggregate sweep directories into docs/results (summary.csv, tables, figures).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep directories (or directories of run directories)")
    add_aggregate_flags(p)
    return run_main(p, argv, _cmd_aggregate)


def _cmd_aggregate(args: argparse.Namespace) -> int:
    for path in aggregate(args.dirs, args.experiment, args.results_dir, args.x):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
