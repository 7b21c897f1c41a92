"""Deterministic-policy evaluation and episode recording for runs, and the ``difftraffic eval`` command.

An evaluation runs N episodes as N parallel envs of a dedicated env built with the run's evaluation
seed and reset with it, acting with ``learner.act(obs, deterministic=True)``; each env's first episode
counts. So the same weights always give the same returns, and ``difftraffic eval RUN`` reproduces the
evaluation recorded in eval.csv for a checkpoint exactly (same device, dtype and threads).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from difftraffic.errors import UserError

EVAL_COLUMNS = (
    "epoch",
    "env_steps",
    "policy",
    "episodes",
    "seed",
    "return_mean",
    "return_std",
    "return_min",
    "return_max",
    "length_mean",
)
"""eval.csv columns; policy is 'periodic', 'final' (the last epoch's policy) or 'best' (best.pt)."""


def evaluate(policy: Callable[[Any], Any], env: Any, seed: int) -> dict[str, float]:
    """Run every env of ``env`` (reset with ``seed``) for its first episode; returns/lengths statistics.

    ``policy`` maps raw observations ``[B, obs_dim]`` to actions ``[B, act_dim]`` in [-1, 1].
    """
    import torch

    obs = env.reset(seed=int(seed))
    b = env.num_envs
    total = torch.zeros(b, dtype=torch.float64, device=env.device)
    length = torch.zeros(b, dtype=torch.long, device=env.device)
    done = torch.zeros(b, dtype=torch.bool, device=env.device)
    max_steps = max(1, int(env.episode_length))
    with torch.no_grad():
        for _ in range(max_steps):
            action = policy(obs)
            assert action.shape == (b, env.act_dim), f"policy gave {tuple(action.shape)}, expected {(b, env.act_dim)}"
            obs, reward, terminated, truncated, _info = env.step(action)
            live = ~done
            total += torch.where(live, reward.detach().to(torch.float64), torch.zeros_like(total))
            length += live.long()
            done |= terminated | truncated
            if bool(done.all()):
                break
    returns = total.cpu()
    return {
        "episodes": b,
        "seed": int(seed),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std(unbiased=False)),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "length_mean": float(length.double().mean()),
    }


def deterministic_policy(learner: Any) -> Callable[[Any], Any]:
    def act(obs):
        return learner.act(obs, deterministic=True)

    return act


def learner_from_state(settings: dict[str, Any], state: dict[str, Any], device: str | None = None) -> Any:
    """A fresh learner for the run in ``settings`` with ``state`` (a learner state_dict) loaded."""
    from difftraffic.run.factory import make_env, make_learner

    if device is not None:
        settings = dict(settings, device=device)
    learner = make_learner(settings, make_env(settings))
    try:
        learner.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise UserError(
            f"checkpoint does not fit learner {settings['learner']} on {settings['task_name']}: "
            f"{exc.__class__.__name__}"
        ) from None
    return learner


def evaluate_learner(
    settings: dict[str, Any], learner: Any, episodes: int | None = None, seed: int | None = None
) -> dict[str, float]:
    """Evaluate ``learner`` on a dedicated env with the run's (or the given) episode count and seed."""
    from difftraffic.run.factory import make_env

    episodes = int(episodes or settings["eval_episodes"])
    seed = int(settings["eval_seed"] if seed is None else seed)
    env = make_env(settings, num_envs=episodes, seed=seed, device=str(learner_device(learner, settings)))
    try:
        return evaluate(deterministic_policy(learner), env, seed)
    finally:
        env.close()


def learner_device(learner: Any, settings: dict[str, Any]) -> str:
    env = getattr(learner, "env", None)
    return str(getattr(env, "device", settings["device"]))


def record(settings: dict[str, Any], learner: Any, path: Path, meta: dict[str, Any], grad_window: int) -> Path:
    """Record a traffic episode of the deterministic policy to ``path`` (.npz) via ``record_episode``;
    ``grad_window`` > 0 also stores the gradient-flow data (costly: see docs/cli.md)."""
    from difftraffic.recording.recorder import record_episode
    from difftraffic.run.factory import make_env

    seed = int(settings["record_seed"])
    env = make_env(settings, num_envs=settings["record_envs"], seed=seed, device=learner_device(learner, settings))
    try:
        steps = int(settings.get("record_steps") or env.episode_length)
        episode = record_episode(env, deterministic_policy(learner), steps=steps, grad_window=grad_window, seed=seed)
    finally:
        env.close()
    episode.meta.update(meta, grad_window=grad_window)
    return episode.save(path)


def _recorded(run_eval_csv: Path, epoch: int, episodes: int, seed: int, best: bool) -> dict[str, str] | None:
    """The eval.csv row for the policy after ``epoch`` with this episode count and seed (preferring the
    'best' row for best.pt and a periodic/final row for latest.pt; they evaluate the same weights)."""
    from difftraffic.run.csvlog import read_csv

    if not run_eval_csv.is_file():
        return None
    _, rows = read_csv(run_eval_csv)
    same = [r for r in rows if int(r["epoch"]) == epoch and int(r["episodes"]) == episodes and int(r["seed"]) == seed]
    preferred = [r for r in same if (r["policy"] == "best") == best]
    return (preferred or same or [None])[-1]


def cmd_eval(args: argparse.Namespace) -> int:
    """``difftraffic eval RUN``: evaluate a checkpoint; compare with the recorded evaluation."""
    import torch

    from difftraffic.run.factory import check_positive, resolve_device
    from difftraffic.run.progress import fmt_count, fmt_num
    from difftraffic.run.rundir import RunDir, load_checkpoint, read_config

    run = RunDir.open(args.run)
    settings = read_config(run.config)
    check_positive("--episodes", args.episodes)
    check_positive("--threads", args.threads)
    device = resolve_device(args.device) if args.device else settings["device"]
    path = run.checkpoint(args.checkpoint)
    if args.checkpoint == "best" and not path.exists() and run.checkpoint("latest").exists():
        raise UserError(f"{path}: no such checkpoint (no training episode had finished yet); use --checkpoint latest")
    ckpt = load_checkpoint(path, map_location=device)
    torch.set_num_threads(int(args.threads or settings["threads"]))
    learner = learner_from_state(dict(settings, device=device), ckpt["learner"])
    episodes = int(args.episodes or settings["eval_episodes"])
    seed = int(settings["eval_seed"] if args.seed is None else args.seed)
    result = evaluate_learner(settings, learner, episodes, seed)
    epoch = int(ckpt["epoch"])
    print(
        f"{path}: epoch {epoch}, {fmt_count(ckpt['env_steps'])} env steps, training return "
        f"{fmt_num(ckpt.get('episode_return', math.nan))} (running mean of the last 100 episodes)"
    )
    print(
        f"eval return {result['return_mean']:.6g} ± {result['return_std']:.3g} over {episodes} episodes "
        f"(deterministic policy, seed {seed}; min {fmt_num(result['return_min'])}, max "
        f"{fmt_num(result['return_max'])}, mean length {result['length_mean']:.1f} steps)"
    )
    row = _recorded(run.eval, epoch, episodes, seed, best=args.checkpoint == "best")
    if row is not None:
        recorded = float(row["return_mean"])
        same = recorded == result["return_mean"]
        print(
            f"recorded in eval.csv ({row['policy']}, epoch {epoch}): {recorded:.6g} -> "
            + ("reproduced exactly" if same else f"differs by {result['return_mean'] - recorded:.3g}")
        )
    return 0
