"""``check_scenario(path)``: validate a scenario file and run a short float64 gradient/finiteness check."""

from __future__ import annotations

from pathlib import Path

import torch

from difftraffic.scenario.loader import load_scenario
from difftraffic.scenario.schema import ScenarioError
from difftraffic.sim.simstate import SimState


def check_scenario(path: str | Path, steps: int = 20) -> str:
    """Validate a scenario and run a short float64 gradient/finiteness check; returns a one-line summary.

    Raises ScenarioError for invalid files and for non-finite values or gradients in the check.
    """
    sc = load_scenario(path)
    label = str(sc.path)
    if sc.kind == "none":
        sim, state = sc.make_sim(num_envs=2, dtype=torch.float64, seed=0)
        v0 = state.v.clone().requires_grad_(True)
        state = SimState(x=state.x, v=v0, lane=state.lane, idm=state.idm)
        traj = sim.rollout(state, steps)
        if not bool(torch.isfinite(traj.x).all() & torch.isfinite(traj.v).all()):
            raise ScenarioError(f"{label}: check: non-finite positions or speeds within {steps} steps")
        (grad,) = torch.autograd.grad(traj.v[-1].sum(), v0)
        if not bool(torch.isfinite(grad).all()):
            raise ScenarioError(f"{label}: check: non-finite gradient d speed / d initial speed")
        n = state.v.shape[1]
        return (
            f"{sc.name}: ok (pure simulation, {n} cars, ring {sim.road.length:g} m, dt {sim.dt:g} s); "
            f"{steps}-step check: finite, |d v(T) / d v(0)| = {grad.norm().item():.3g}"
        )
    env = sc.make_env(num_envs=2, dtype=torch.float64, seed=0, compile=False)
    obs = env.reset()
    gen = torch.Generator().manual_seed(0)
    actions, total = [], 0.0
    for t in range(steps):
        a = (torch.rand((2, env.act_dim), generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
        actions.append(a)
        obs, reward, _, _, info = env.step(a)
        if not bool(torch.isfinite(obs).all() & torch.isfinite(reward).all()):
            raise ScenarioError(f"{label}: check: non-finite observation or reward at step {t + 1}")
        total = total + reward.sum() + info["final_obs"].sum() * 1e-3
    grads = torch.autograd.grad(total, actions, allow_unused=True)
    flat = torch.cat([torch.zeros(1, dtype=torch.float64)] + [g.flatten() for g in grads if g is not None])
    if not bool(torch.isfinite(flat).all()):
        raise ScenarioError(f"{label}: check: non-finite gradient d (rewards, observations) / d actions")
    return (
        f"{sc.name}: ok ({sc.kind} task, obs {env.obs_dim}, act {env.act_dim}, dt {env.dt:g} s, "
        f"{env.episode_length} steps); {steps}-step check: finite, |d return / d actions| = {flat.norm().item():.3g}"
    )
