"""Torch intra-op threads per task family: GI-PPO seconds per epoch with 1 thread vs all cores.

The measurement behind ``difftraffic run``'s default ``--threads`` (difftraffic.run.factory.DEFAULT_THREADS).
Each configuration runs in its own subprocess (torch's thread pool is fixed once used); the threads
counts alternate and repeat so that load from other processes affects both alike. Prints seconds per
epoch (median of the repeats) and the ratio to the 1-thread time measured in the same run.

    python benchmarks/cli_threads.py [--epochs 6] [--repeats 3] [--tasks dejong64 cartpole 10lane]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, torch, learners
task, threads, epochs, num_envs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
env = learners.make_task(task, num_envs=num_envs, seed=0)
cfg = dict(learners.default_config("gippo", env), num_threads=threads, max_epochs=epochs + 1, num_envs=num_envs)
learner = learners.make_learner("gippo", env, cfg, seed=0)
it = learner.train(epochs + 1)
next(it)  # warm-up epoch (allocations, lazy imports)
t0 = time.perf_counter()
for _ in it:
    pass
print(json.dumps({"s_per_epoch": (time.perf_counter() - t0) / epochs}))
"""


def measure(task: str, threads: int, epochs: int, num_envs: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, task, str(threads), str(epochs), str(num_envs)],
        capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])["s_per_epoch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs per measurement (default: 6)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per configuration (default: 3)")
    parser.add_argument("--num-envs", type=int, default=64, help="envs per rollout (default: 64)")
    parser.add_argument("--tasks", nargs="+", default=["dejong64", "cartpole", "10lane"])
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    print(f"GI-PPO s/epoch, {args.num_envs} envs, median of {args.repeats}; threads {counts} ({cores} cores)")
    for task in args.tasks:
        times: dict[int, list[float]] = {n: [] for n in counts}
        try:
            for _ in range(args.repeats):
                for n in counts:
                    times[n].append(measure(task, n, args.epochs, args.num_envs))
        except subprocess.CalledProcessError as exc:
            print(f"{task:>10}: failed ({exc.stderr.strip().splitlines()[-1] if exc.stderr else exc})")
            continue
        base = statistics.median(times[1])
        cells = [f"{n} thr {statistics.median(times[n]):.4f} s ({statistics.median(times[n]) / base:.2f}x)"
                 for n in counts]  # fmt: skip
        print(f"{task:>10}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
