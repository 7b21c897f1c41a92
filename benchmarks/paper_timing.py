"""Paper Table 2: training wall-clock of each learner on each traffic scenario, extrapolated to 500 epochs.

    .venv/bin/python benchmarks/paper_timing.py                           # 4 scenarios x 5 learners, 3 epochs
    .venv/bin/python benchmarks/paper_timing.py --epochs 10 --scenarios 1lane,10lane --learners rp,gippo
    python benchmarks/paper_timing.py --device cuda --json table2.json       # the same on a GPU, plus JSON

Runs every (scenario, learner) one after another in this process on one CPU thread: ``--warmup`` epochs
first (not timed), then ``--epochs`` timed epochs on 64 envs with the learner's default (paper) config.
Seconds for 500 epochs = mean seconds per timed epoch x 500 (the paper's whole traffic run). The ratios
to RP are measured in the same run, so they are what to compare on a shared, noisy machine; the paper's
absolute seconds come from an Intel Xeon W-2255 + RTX A5000. For whole runs (process start, evaluation
and checkpoints included) use ``difftraffic sweep --preset timing``. ``--device cuda`` trains on the GPU;
``--json PATH`` writes every (scenario, learner) figure beside the paper's, rewritten after each one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from difftraffic.registry import TIMING_BASELINE, TIMING_EPOCHS, learner_title, paper_timing, problem_title
from difftraffic.sweep.presets import PRESETS
from learners import make_learner, make_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_timing import device_arg, device_info, write_json  # noqa: E402


def seconds_per_epoch(
    task: str, learner_name: str, epochs: int, warmup: int, num_envs: int, seed: int, device: str = "cpu"
) -> float:
    """Mean wall-clock seconds of ``epochs`` training epochs after ``warmup`` untimed ones."""
    torch.manual_seed(seed)
    env = make_task(task, num_envs=num_envs, seed=seed, device=device)
    learner = make_learner(learner_name, env, config=None, seed=seed)
    times = []
    t = time.perf_counter()
    for i, _ in enumerate(learner.train(warmup + epochs)):
        now = time.perf_counter()
        if i >= warmup:
            times.append(now - t)
        t = now
    if hasattr(env, "close"):
        env.close()
    return statistics.fmean(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    grid = PRESETS["timing"]
    p.add_argument("--scenarios", default=",".join(grid.tasks), help="comma-separated traffic scenarios")
    p.add_argument("--learners", default=",".join(grid.learners), help="comma-separated learners")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per (scenario, learner) (default: 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default: 1)")
    p.add_argument("--num-envs", type=int, default=64, help="parallel envs (default: 64, the paper's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", type=device_arg, default=torch.device("cpu"), help="cpu (default), cuda, cuda:N")
    p.add_argument("--json", metavar="PATH", help="also write the figures to PATH (JSON)")
    args = p.parse_args(argv)
    device = str(args.device)
    torch.set_num_threads(1)
    scenarios, learners = args.scenarios.split(","), args.learners.split(",")
    where = "" if args.device.type == "cpu" else f" on {device}"
    print(
        f"paper_timing: {len(scenarios)} scenarios x {len(learners)} learners, {args.warmup} warm-up + "
        f"{args.epochs} timed epochs each, {args.num_envs} envs, 1 thread, torch {torch.__version__}{where}"
    )
    secs: dict[tuple[str, str], float] = {}
    report = {"benchmark": "paper_timing", **device_info(device), "epochs": TIMING_EPOCHS, "rows": []}
    for task in scenarios:
        for name in learners:
            spe = seconds_per_epoch(task, name, args.epochs, args.warmup, args.num_envs, args.seed, device)
            secs[(task, name)] = spe
            rp = secs.get((task, "rp"))
            report["rows"].append(
                {
                    "problem": task,
                    "learner": name,
                    "timed_epochs": args.epochs,
                    "s_per_epoch": spe,
                    f"s_per_{TIMING_EPOCHS}_epochs_extrapolated": spe * TIMING_EPOCHS,
                    "x_rp": spe / rp if rp else None,
                    "paper_s": paper_timing(task, name),
                }
            )
            write_json(args.json, report)
            print(f"  {task:>8} {name:>6}: {spe:8.3f} s/epoch -> {spe * TIMING_EPOCHS:8.1f} s for {TIMING_EPOCHS}")
            sys.stdout.flush()
    print(
        f"\nseconds for {TIMING_EPOCHS} epochs (ratio to {learner_title(TIMING_BASELINE)}), extrapolated from "
        f"{args.epochs} timed epochs; paper: Table 2"
    )
    head = f"{'problem':<12} {'source':<6}" + "".join(f"{learner_title(n):>16}" for n in learners)
    print(head)
    print("-" * len(head))
    for task in scenarios:
        for source in ("ours", "paper"):
            cells = []
            for name in learners:
                if source == "ours":
                    value, base = secs[(task, name)] * TIMING_EPOCHS, secs.get((task, TIMING_BASELINE))
                    base = base * TIMING_EPOCHS if base else None
                else:
                    value, base = paper_timing(task, name), paper_timing(task, TIMING_BASELINE)
                if value is None:
                    cells.append(f"{'-':>16}")
                else:
                    ratio = f" ({value / base:.2f}x)" if base else ""
                    cells.append(f"{value:>8.0f}{ratio:>8}")
            label = problem_title(task) if source == "ours" else ""
            print(f"{label:<12} {source:<6}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
