"""Cost of live detectors: a simulation step alone against the same step plus ``Detectors.observe``.

    .venv/bin/python benchmarks/detector_cost.py [--steps 200] [--loops 4] [--segments 2]

For each workload (envs x cars; a 3-lane straight road, IDM, float32, Euler, no graph) it prints the
process CPU time per step of ``sim.step`` and of ``sim.step`` + ``Detectors.observe`` with the given loops
and segments, and their ratio. Fastest of 5 rounds; the machine is shared, so compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch

import difftraffic as dt
from difftraffic.sim.measure import Detectors, LoopSpec, SegmentSpec

WORKLOADS = [(64, 22), (1024, 100), (1, 10_000)]


def setup(b: int, n: int, loops: int, segments: int):
    g = torch.Generator().manual_seed(0)
    sim = dt.TrafficSim(dt.Road(num_lanes=3, length=1e6), dt=0.1)
    lane = torch.arange(n).remainder(3).expand(b, n).contiguous()
    x = (torch.arange(n) // 3).to(torch.float64).expand(b, n) * 25.0
    x = x + torch.rand(b, n, generator=g, dtype=torch.float64)
    state = sim.init_state(x, 10.0 + 5.0 * torch.rand(b, n, generator=g), lane)
    span = 25.0 * n / 3
    specs = [LoopSpec(f"l{i}", i % 3, span * (i + 1) / (loops + 1), 30.0) for i in range(loops)]
    specs += [SegmentSpec(f"s{i}", None, span * i / (segments + 1), span * (i + 1) / (segments + 1), 30.0)
              for i in range(segments)]  # fmt: skip
    return sim, state, specs


def per_step(fn, steps: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        fn(steps)
        best = min(best, (time.process_time() - t0) / steps)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--loops", type=int, default=4)
    ap.add_argument("--segments", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'envs x cars':>14} | {'step':>10} | {'step + detectors':>16} | ratio  ({args.loops} loops, "
          f"{args.segments} segments)")  # fmt: skip
    for b, n in WORKLOADS:
        sim, state0, specs = setup(b, n, args.loops, args.segments)
        plain = functools.partial(run, sim, state0, None)
        measured = functools.partial(run, sim, state0, specs)
        plain(5)
        measured(5)
        a, c = per_step(plain, args.steps), per_step(measured, args.steps)
        print(f"{b:>6} x {n:<6} | {a * 1e6:8.0f} us | {c * 1e6:13.0f} us | {c / a:5.2f}")


def run(sim, state, specs, steps: int) -> None:
    """``steps`` steps from ``state``, with live detectors of ``specs`` (None: none)."""
    with torch.no_grad():
        det = Detectors(sim, state, specs) if specs is not None else None
        for _ in range(steps):
            state = sim.step(state)
            if det is not None:
                det.observe(state)


if __name__ == "__main__":
    main()
