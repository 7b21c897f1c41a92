"""Task throughput: env-steps/s forward (no graph) and forward+backward for a 32-step x 64-env window.

Each window runs a small tanh MLP policy ([64, 64], like the learners') on the observations, steps the
task, and for the fwd+bwd figure backpropagates the window's summed reward to the policy (the cost a
BPTT learner pays per window). Figures are the median over ``--repeats`` windows; the machine is shared
and noisy, so compare tasks within one run.

    .venv/bin/python benchmarks/task_throughput.py [--tasks dejong cartpole hopper ...] [--envs 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from learners.tasks import TASK_NAMES, make_task, scenario_tasks


def default_tasks() -> list[str]:
    """Every task name, plus two pace-car scenarios (2 and 10 lanes) when they are available."""
    bundled = {p.stem: str(p) for p in scenario_tasks()}
    return [*TASK_NAMES, *(bundled[n] for n in ("2lane", "10lane") if n in bundled)]


def window(env, policy, steps: int, grad: bool, obs: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Run one window; returns (seconds, last obs)."""
    t0 = time.perf_counter()
    env.detach()
    obs = obs.detach()
    with torch.set_grad_enabled(grad):
        total = 0.0
        for _ in range(steps):
            obs, reward, _, _, _ = env.step(torch.tanh(policy(obs)))
            total = total + reward.sum()
        if grad:
            total.backward()
    return time.perf_counter() - t0, obs


def measure(spec: str, num_envs: int, steps: int, repeats: int, dtype: torch.dtype, **kw) -> dict[str, float]:
    env = make_task(spec, num_envs=num_envs, dtype=dtype, seed=0, **kw)
    policy = torch.nn.Sequential(
        torch.nn.Linear(env.obs_dim, 64),
        torch.nn.ELU(),
        torch.nn.Linear(64, 64),
        torch.nn.ELU(),
        torch.nn.Linear(64, env.act_dim),
    ).to(dtype)
    obs = env.reset(seed=0)
    out = {}
    for grad in (False, True):
        _, obs = window(env, policy, steps, grad, obs)  # warm-up
        times = []
        for _ in range(repeats):
            dt, obs = window(env, policy, steps, grad, obs)
            times.append(dt)
        out["fwd+bwd" if grad else "fwd"] = steps * num_envs / statistics.median(times)
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for small tensors)")
    parser.add_argument("--mj-threads", type=int, default=None, help="MuJoCo Jacobian threads (hopper/ant)")
    parser.add_argument("--frame-skip", type=int, default=4, help="MuJoCo substeps per 1/60 s step (hopper/ant)")
    parser.add_argument("--jacobians", default="auto", help="MuJoCo Jacobian backend: auto, chain or batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.float64 else torch.float32
    print(f"window {args.steps} steps x {args.envs} envs, {dtype}, torch threads {args.threads}", end="")
    print(f", median of {args.repeats} windows; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'task':<28} {'fwd env-steps/s':>16} {'fwd+bwd env-steps/s':>20}")
    for spec in args.tasks or default_tasks():
        kw = {}
        if spec in ("hopper", "ant"):
            kw = {"frame_skip": args.frame_skip, "threads": args.mj_threads, "jacobians": args.jacobians}
        r = measure(spec, args.envs, args.steps, args.repeats, dtype, **kw)
        print(f"{Path(spec).stem if spec.endswith('.yaml') else spec:<28} {r['fwd']:>16,.0f} {r['fwd+bwd']:>20,.0f}")


if __name__ == "__main__":
    main()
