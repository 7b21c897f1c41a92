"""Per-epoch wall time of every learner and its split (simulation forward/backward, actor, critic).

    .venv/bin/python benchmarks/learner_cost.py                      # 10lane (if available), dejong64, cartpole
    .venv/bin/python benchmarks/learner_cost.py --tasks dejong64 --epochs 20 --threads 1,2
    .venv/bin/python benchmarks/learner_cost.py --full-run 10lane    # a whole GI-PPO run (max_epochs) vs 533 s
    python benchmarks/learner_cost.py --tasks 10lane --learners rp,gippo --epochs 10 --device cuda --json lc.json

Each learner runs ``--warmup`` epochs first, then ``--epochs`` timed epochs on 64 envs with its task's
default config. Ratios are against RP measured in the same run (the machine is shared and noisy:
compare ratios, not absolute seconds). ``lrp-loop`` is LR+RP with one backward per sample/trajectory
(the reference implementation's method); ``lrp`` is the batched one.

``--device cuda`` trains on the GPU; ``--json PATH`` writes every row (seconds per epoch, the split,
the ratio to RP, the seconds 500 epochs would take at that rate, and the paper's Table 2 figures for
the problem) as JSON, rewritten after each learner.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from difftraffic.registry import TIMING_EPOCHS, paper_timing
from learners import make_learner, make_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_timing import device_arg, device_info, write_json  # noqa: E402

SPLIT = ("time/fwd_sim", "time/bwd_sim", "time/actor_update", "time/critic_update")
PAPER_RATIOS = "paper Table 2 (GPU, traffic): GI-PPO 1.07-1.26x RP, LR+RP 4.2-4.7x RP"


def build_task(spec: str, num_envs: int, device: str = "cpu"):
    """A task by name; ``10lane`` etc. fall back to the paper's pace-car layout if no scenario file exists yet."""
    try:
        path = spec if not spec.endswith("lane") else f"scenarios/{spec}.yaml"
        return make_task(path, num_envs=num_envs, seed=0, device=device)
    except (ImportError, OSError, ValueError) as exc:
        if not spec.endswith("lane"):
            raise
        try:
            from difftraffic.tasks.pacecar.layout import PaceCarConfig
            from difftraffic.tasks.pacecar.task import PaceCarEnv
        except ImportError:
            raise exc from None
        lanes = int(spec[: -len("lane")])
        cars = {1: 1, 2: 4, 3: 9, 4: 16, 10: 10}[lanes]
        return PaceCarEnv(PaceCarConfig.paper(lanes, cars), num_envs=num_envs, seed=0, device=device)


def time_learner(task: str, name: str, epochs: int, warmup: int, num_envs: int, device: str = "cpu") -> dict:
    config = {"lrp_method": "loop"} if name == "lrp-loop" else None
    env = build_task(task, num_envs, device)
    learner = make_learner("lrp" if name == "lrp-loop" else name, env, config=config, seed=0)
    it = learner.train(warmup + epochs)
    for _ in range(warmup):
        next(it)
    rows = []
    t0 = time.perf_counter()
    for m in it:
        rows.append(m)
    wall = (time.perf_counter() - t0) / epochs
    out = {"epoch": wall, "median": statistics.median(m["time/epoch"] for m in rows)}
    for key in SPLIT:
        out[key] = sum(m[key] for m in rows) / epochs
    out["other"] = wall - sum(out[k] for k in SPLIT)
    return out


def table(
    task: str, learners: list[str], epochs: int, warmup: int, num_envs: int, device: str = "cpu", on_row=None
) -> dict:
    """Time every learner on ``task`` and print one row each; ``on_row(dict)`` gets each row as plain data too."""
    print(f"\n== {task}: {num_envs} envs, {warmup} warm-up + {epochs} timed epochs, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"{'learner':9s} {'s/epoch':>8s} {'median':>8s} {'fwd_sim':>8s} {'bwd_sim':>8s} {'actor':>8s} "
          f"{'critic':>8s} {'other':>8s} {'x RP':>6s}")  # fmt: skip
    results = {}
    for name in learners:
        try:
            r = time_learner(task, name, epochs, warmup, num_envs, device)
        except Exception as exc:  # a task that is not available here: report and go on
            print(f"{name:9s} skipped: {exc.__class__.__name__}: {exc}")
            if on_row is not None:
                on_row({"task": task, "learner": name, "error": f"{exc.__class__.__name__}: {exc}"})
            continue
        results[name] = r
        ratio = r["epoch"] / results["rp"]["epoch"] if "rp" in results else float("nan")
        print(f"{name:9s} {r['epoch']:8.4f} {r['median']:8.4f} {r['time/fwd_sim']:8.4f} {r['time/bwd_sim']:8.4f} "
              f"{r['time/actor_update']:8.4f} {r['time/critic_update']:8.4f} {r['other']:8.4f} {ratio:6.2f}",
              flush=True)  # fmt: skip
        if on_row is not None:
            on_row(json_row(task, name, r, ratio, epochs, warmup, num_envs))
    return results


def json_row(task: str, name: str, r: dict, ratio: float, epochs: int, warmup: int, num_envs: int) -> dict:
    """A plain row: s/epoch, the split, x RP, seconds for the paper's 500 epochs at this rate, Table 2's figures."""
    paper, paper_rp = paper_timing(task, name), paper_timing(task, "rp")
    return {
        "task": task,
        "learner": name,
        "num_envs": num_envs,
        "warmup_epochs": warmup,
        "timed_epochs": epochs,
        "s_per_epoch": r["epoch"],
        "median_s_per_epoch": r["median"],
        **{key.replace("time/", "s_"): r[key] for key in SPLIT},
        "s_other": r["other"],
        "x_rp": ratio,
        f"s_per_{TIMING_EPOCHS}_epochs_extrapolated": r["epoch"] * TIMING_EPOCHS,
        "paper_s": paper,
        "paper_x_rp": paper / paper_rp if paper is not None and paper_rp else None,
    }


def full_run(task: str, num_envs: int, device: str = "cpu") -> None:
    learner = make_learner("gippo", build_task(task, num_envs, device), seed=0)
    epochs = learner.config["max_epochs"]
    t0 = time.perf_counter()
    best = -float("inf")
    for m in learner.train(epochs):
        best = (
            max(best, m["charts/episode_return"]) if m["charts/episode_return"] == m["charts/episode_return"] else best
        )
        if m["epoch"] % 50 == 0:
            print(f"epoch {m['epoch']:4d}  {time.perf_counter() - t0:7.1f} s  return {m['charts/episode_return']:8.2f}"
                  f"  alpha {m['grad/alpha']:.3g}", flush=True)  # fmt: skip
    total = time.perf_counter() - t0
    print(f"GI-PPO {task}: {epochs} epochs in {total:.1f} s ({total / epochs:.3f} s/epoch; paper GPU time 533 s "
          f"for 10lane); best running-mean return {best:.1f}")  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default="10lane,dejong64,cartpole")
    p.add_argument("--learners", default="rp,gippo,lrp,lrp-loop,lr,ppo,pe")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--threads", default="1", help="comma-separated torch thread counts to compare")
    p.add_argument("--full-run", metavar="TASK", help="time a whole GI-PPO run of TASK instead")
    p.add_argument("--device", type=device_arg, default=torch.device("cpu"), help="cpu (default), cuda, cuda:N")
    p.add_argument("--json", metavar="PATH", help="also write the rows to PATH (JSON)")
    args = p.parse_args(argv)
    device = str(args.device)
    if args.full_run:
        torch.set_num_threads(int(args.threads.split(",")[0]))
        full_run(args.full_run, args.num_envs, device)
        return 0
    learners = args.learners.split(",")
    if "rp" in learners:  # the baseline first
        learners = ["rp"] + [n for n in learners if n != "rp"]
    report = {"benchmark": "learner_cost", **device_info(device), "rows": []}

    def on_row(row: dict) -> None:
        report["rows"].append({**row, "threads": torch.get_num_threads()})
        write_json(args.json, report)

    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for task in args.tasks.split(","):
            table(task, learners, args.epochs, args.warmup, args.num_envs, device, on_row)
    print(f"\nreference: the authors' code takes ~0.21 s/epoch for GI-PPO on the function tasks on this machine "
          f"kind (docs/reference.md §F); {PAPER_RATIOS}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
