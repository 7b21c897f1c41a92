"""Gradient checks: ``detach()`` cuts the history and gradients flow without it; action gradients agree with
central finite differences in float64 (one step and a window; entries at episode ends are excluded)."""

from __future__ import annotations

import math

import torch

from difftraffic.conformance.context import CheckContext
from difftraffic.conformance.findings import FAIL, PASS, SKIP, WARN, Finding
from difftraffic.conformance.snapshots import roundtrip
from difftraffic.env import DiffEnv


def check_detach(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    """Gradient must reach the previous step's action without detach() and must not reach it after."""
    found = []
    for cut in (False, True):
        env.reset(seed=ctx.seed)
        a1 = ctx.actions(env, bound=0.8).requires_grad_(True)
        env.step(a1)
        if cut:
            env.detach()
        a2 = ctx.actions(env, bound=0.8).requires_grad_(True)
        obs, reward, _, _, info = env.step(a2)
        w = torch.randn(obs.shape, generator=ctx.gen, dtype=torch.float64).to(obs.device, obs.dtype)
        loss = reward.sum() + (info["final_obs"] * w).sum() + (obs * w).sum()
        if not loss.requires_grad:
            return [Finding("detach", FAIL, "reward/obs do not require grad when the action does")]
        loss.backward()
        reached = a1.grad is not None and bool((a1.grad != 0).any())
        if cut and reached:
            found.append(Finding("detach", FAIL, "after detach() a backward still reaches the previous step's action"))
        elif cut:
            found.append(Finding("detach", PASS, "detach() cuts the history: no gradient reaches earlier actions"))
        elif not reached and env.episode_length > 1:
            found.append(Finding("history", FAIL, "without detach() no gradient flows to the previous action"))
        elif reached:
            found.append(Finding("history", PASS, "gradients flow through the carried state across steps"))
        if a2.grad is None or not bool((a2.grad != 0).any()):
            found.append(Finding("action-grad", WARN, "reward/obs have zero gradient w.r.t. the current action"))
    env.detach()
    return found


def check_grad(ctx: CheckContext, window: int, n_envs: int, warmup: int, eps: float, rtol: float, max_bad: float):
    """Autograd d(sum_t reward_t + w . final_obs_t)/d action_t vs central finite differences (float64)."""
    check = f"grad-{window}step"
    env = ctx.make64(n_envs)
    if env is None:
        return [Finding(check, SKIP, "needs float64: pass a factory (or a float64 env) to check gradients")]
    env.reset(seed=ctx.seed)
    with torch.no_grad():
        for _ in range(max(0, min(warmup, env.episode_length - window - 1))):
            env.step(ctx.actions(env))
    sd0 = roundtrip(env.state_dict())
    acts = ctx.actions(env, n=window, bound=0.8)
    w = torch.randn(env.num_envs, env.obs_dim, generator=ctx.gen, dtype=torch.float64).to(env.device)
    w = w / math.sqrt(env.obs_dim)

    def rollout(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env.load_state_dict(sd0)
        env.detach()
        loss, dones = 0.0, []
        for t in range(window):
            _, r, te, tr, info = env.step(a[t])
            loss = loss + r + (info["final_obs"] * w).sum(-1)
            dones.append(te | tr)
        return loss, torch.stack(dones)

    leaf = acts.clone().requires_grad_(True)
    loss, done0 = rollout(leaf)
    loss.sum().backward()
    g = leaf.grad if leaf.grad is not None else torch.zeros_like(acts)
    if not bool(torch.isfinite(g).all()):
        return [Finding(check, FAIL, "autograd gradient has non-finite entries")]
    fd = torch.zeros_like(acts)
    usable = torch.ones_like(acts, dtype=torch.bool)
    with torch.no_grad():
        for t in range(window):
            for j in range(env.act_dim):
                vals = []
                for sign in (1.0, -1.0):
                    a = acts.clone()
                    a[t, :, j] += sign * eps
                    val, dones = rollout(a)
                    usable[t, :, j] &= (dones == done0).all(dim=0)
                    vals.append(val)
                fd[t, :, j] = (vals[0] - vals[1]) / (2.0 * eps)
    env.detach()
    scale = float(fd[usable].abs().max()) if bool(usable.any()) else 0.0
    err = (g - fd).abs()
    tol = rtol * torch.maximum(g.abs(), fd.abs()) + 1e-6 * scale + 1e-10
    bad = (err > tol) & usable
    n_use, n_bad = int(usable.sum()), int(bad.sum())
    if n_use == 0:
        return [Finding(check, WARN, "every finite difference crossed an episode end; nothing compared")]
    rel = err / torch.maximum(torch.maximum(g.abs(), fd.abs()), torch.full_like(err, 1e-12))
    worst = torch.where(usable, rel, torch.zeros_like(rel)).flatten().argmax()
    t, b, j = (int(x) for x in torch.unravel_index(worst, rel.shape))
    detail = (
        f"max rel err {float(rel.flatten()[worst]):.2e} at t={t} env={b} dim={j} "
        f"(autograd {float(g[t, b, j]):.6g}, FD {float(fd[t, b, j]):.6g}); |g|max {float(g.abs().max()):.3g}"
    )
    skipped = f", {acts.numel() - n_use} skipped at episode ends" if n_use < acts.numel() else ""
    summary = f"{n_use - n_bad}/{n_use} entries agree with central FD (eps {eps:g}, rtol {rtol:g}{skipped}); {detail}"
    if scale == 0.0 and float(g.abs().max()) == 0.0:
        return [Finding(check, WARN, "reward and final_obs have zero gradient w.r.t. actions: " + summary)]
    if n_bad > max_bad * n_use:
        return [Finding(check, FAIL, summary)]
    return [Finding(check, WARN if n_bad else PASS, summary)]
