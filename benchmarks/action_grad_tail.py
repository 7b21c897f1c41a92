"""How heavy is the tail of the analytic action gradients on the states a trained policy visits?

Loads a run's checkpoint, drives ``--warmup`` steps with its deterministic policy (no graph), then keeps a
``--window``-step graph with actions = policy mean + 0.1 N(0, 1) and backpropagates the window's summed
reward. Prints quantiles of the per-sample norm |d(sum of rewards)/d(action_t)| over all envs and steps, for
each task option set given (e.g. the finite-difference step of the MuJoCo tasks). The figures behind the
Hopper commentary in docs/RESULTS.md ("Hopper with a per-sample cap on dA/da"):

    .venv/bin/python benchmarks/action_grad_tail.py runs/sweeps/physics/hopper/ppo/s1 \
        --options "" fd_eps=1e-4 fd_eps=1e-3 fd_eps=1e-4,fd_centered=1 fd_eps=1e-3,fd_centered=1 frame_skip=2
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml

from difftraffic.run.evaluate import learner_from_state
from difftraffic.run.factory import make_env
from difftraffic.run.rundir import RunDir, load_checkpoint, read_config

QUANTILES = (0.5, 0.9, 0.99, 1.0)


def parse_options(text: str) -> dict:
    """``"fd_eps=1e-4,fd_centered=1"`` -> ``{"fd_eps": 1e-4, "fd_centered": 1}`` (values parsed as YAML)."""
    pairs = [p.split("=", 1) for p in text.split(",") if p]
    return {k: yaml.safe_load(v) for k, v in pairs}


def grad_norms(settings: dict, policy, options: dict, warmup: int, window: int) -> torch.Tensor:
    """Per-sample |dR/da_t| ``[window, num_envs]`` with ``options`` on top of the run's own task options."""
    env = make_env(dict(settings, task_options={**(settings.get("task_options") or {}), **options}), seed=0)
    gen = torch.Generator().manual_seed(1)
    obs = env.reset(seed=0)
    with torch.no_grad():
        for _ in range(warmup):
            obs = env.step(policy(obs))[0]
    env.detach()
    actions, total = [], 0.0
    for _ in range(window):
        with torch.no_grad():
            mean = policy(obs)
        a = (mean + 0.1 * torch.randn(mean.shape, generator=gen, dtype=mean.dtype)).requires_grad_(True)
        actions.append(a)
        obs, reward, *_ = env.step(a)
        total = total + reward.sum()
    total.backward()
    norms = torch.stack([torch.linalg.vector_norm(a.grad, dim=-1) for a in actions])
    assert norms.shape == (window, settings["num_envs"]), norms.shape
    return norms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run directory with checkpoints/latest.pt")
    ap.add_argument("--options", nargs="+", default=[""], help='task option sets, e.g. "" fd_eps=1e-3')
    ap.add_argument("--warmup", type=int, default=150, help="policy steps before the window (default 150)")
    ap.add_argument("--window", type=int, default=32, help="steps kept in the graph (default 32)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = RunDir.open(args.run)
    settings = read_config(run.config)
    settings = dict(settings, device="cpu")
    learner = learner_from_state(settings, load_checkpoint(run.checkpoint("latest"))["learner"])

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return learner.act(obs, deterministic=True)

    print(f"{args.run}: {settings['task_name']}, {settings['num_envs']} envs, window {args.window} after {args.warmup}")
    print(f"{'options':<32}" + "".join(f"{f'q{q:g}':>11}" for q in QUANTILES) + f"{'seconds':>9}")
    for text in args.options:
        t0 = time.perf_counter()
        norms = grad_norms(settings, policy, parse_options(text), args.warmup, args.window).flatten().double()
        qs = torch.quantile(norms, torch.tensor(QUANTILES, dtype=torch.float64))
        row = "".join(f"{float(q):>11.3g}" for q in qs)
        print(f"{text or '(defaults)':<32}{row}{time.perf_counter() - t0:>9.1f}")


if __name__ == "__main__":
    main()
