"""Collect an H-step window from a DiffEnv, with or without the autograd graph (docs/reference.md §A1-§A3).

Graph modes:

* ``"none"``     no graph at all (LR, PPO).
* ``"actions"``  graph through the simulator and the policy's dependence on the observation, but not
                 to the actor parameters: enough for dA/da (GI-PPO).
* ``"params"``   full graph down to the actor parameters (RP, LR+RP): backpropagation through time
                 inside the window, SHAC style.
* ``"one_step"`` the env is detached after every step and the actor sees detached observations, so
                 each reward/next value depends on its own action only (PE's one-step gradients).

``env.detach()`` is called first, so gradients are truncated to the window. Observations are
normalised with a frozen copy of the running statistics; values come from the target critic on the
pre-reset ``final_obs`` and are set to 0 where the episode terminated (true end) or that observation
is non-finite or larger than ``invalid_obs`` in magnitude; truncated episodes bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from difftraffic.env import DiffEnv

from .advantages import segment_starts
from .distributions import neglogp
from .rms import RunningMeanStd

GRAPH_MODES = ("none", "actions", "params", "one_step")


@dataclass
class Rollout:
    """One window. Time-major ``[H, B, ...]``; detached unless stated."""

    obs: torch.Tensor  # [H, B, D] normalised observations fed to the actor
    raw_obs: torch.Tensor  # [H, B, D] raw observations (for the running statistics)
    eps: torch.Tensor  # [H, B, A] the stored standard-normal noise
    actions: torch.Tensor  # [H, B, A] pre-tanh actions a = mu + sigma * eps
    mu: torch.Tensor  # [H, B, A]
    logstd: torch.Tensor  # [H, B, A]
    neglogp: torch.Tensor  # [H, B] -log pi_old(a|s)
    rewards: torch.Tensor  # [H, B] (in the graph for graph modes)
    values: torch.Tensor  # [H, B] V_target(s_t) (in the graph for graph modes)
    next_values: torch.Tensor  # [H, B] V_target(s_{t+1}), 0 on termination/invalid obs (graph)
    done: torch.Tensor  # [H, B] bool, episode ended at step t
    terminated: torch.Tensor  # [H, B] bool, true end (no bootstrap)
    starts: torch.Tensor  # [H, B] bool, a differentiable segment starts at t
    episode_return: torch.Tensor  # [H, B] return of the episode ending at t (valid where done)
    episode_length: torch.Tensor  # [H, B] long
    action_nodes: list | None = None  # H tensors [B, A] in the graph (modes actions/one_step/params)
    actor_out: list | None = None  # H (mu, logstd) pairs in the graph (mode params)
    last_obs: torch.Tensor | None = None  # [B, D] raw observation after the window (detached)

    @property
    def horizon(self) -> int:
        return self.obs.shape[0]

    @property
    def num_envs(self) -> int:
        return self.obs.shape[1]


def invalid_rows(x: torch.Tensor, limit: float) -> torch.Tensor:
    """Rows ``[N]`` of ``x [N, D]`` containing NaN/inf or an entry with |x| > limit."""
    return ~(torch.isfinite(x) & (x.abs() <= limit)).all(-1)


def collect(
    env: DiffEnv,
    obs: torch.Tensor,
    actor: Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor]],
    value_fn: Callable[[torch.Tensor], torch.Tensor],
    obs_rms: RunningMeanStd | None,
    horizon: int,
    generator: torch.Generator,
    graph: str = "none",
    invalid_obs: float = 1e6,
) -> Rollout:
    """Roll out ``horizon`` steps from the raw observation ``obs`` ``[B, D]``.

    ``actor(nobs, with_params)`` returns ``(mu, logstd)``; ``with_params=False`` must give outputs that
    do not require grad w.r.t. the parameters. ``value_fn(nobs)`` is the (target) critic in raw units.
    ``obs_rms`` is the frozen normaliser (None = no normalisation).
    """
    if graph not in GRAPH_MODES:
        raise ValueError(f"graph: unknown mode {graph!r}; choose from {GRAPH_MODES}")
    B, D = env.num_envs, env.obs_dim
    assert obs.shape == (B, D), f"rollout: obs must be [{B}, {D}], got {list(obs.shape)}"
    grad_on = graph != "none"
    norm = obs_rms.normalize if obs_rms is not None else (lambda x: x)
    env.detach()
    obs = obs.detach()

    keep = {k: [] for k in ("obs_g", "eps", "act", "mu", "logstd", "rew", "fin_g", "term", "done", "ret", "len")}
    action_nodes, actor_out = [], []
    with torch.set_grad_enabled(grad_on):
        for _ in range(horizon):
            nobs = norm(obs)
            actor_in = nobs.detach() if graph == "one_step" else nobs
            mu, logstd = actor(actor_in, graph == "params")
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            if graph == "one_step":
                action = (mu + torch.exp(logstd) * eps).detach().requires_grad_(True)
            else:
                action = mu + torch.exp(logstd) * eps
                if grad_on and not action.requires_grad:  # e.g. "actions" mode from a detached obs
                    action.requires_grad_(True)
            if grad_on:
                action_nodes.append(action)
            if graph == "params":
                actor_out.append((mu, logstd))
            next_obs, reward, terminated, truncated, info = env.step(torch.tanh(action))
            _check_step(env, next_obs, reward, terminated, truncated, info)
            keep["obs_g"].append(obs)
            keep["eps"].append(eps)
            keep["act"].append(action.detach())
            keep["mu"].append(mu.detach())
            keep["logstd"].append(logstd.detach())
            keep["rew"].append(reward if grad_on else reward.detach())
            keep["fin_g"].append(info["final_obs"])
            keep["term"].append(terminated)
            keep["done"].append(terminated | truncated)
            keep["ret"].append(info["episode_return"].detach())
            keep["len"].append(info["episode_length"])
            if graph == "one_step":
                env.detach()
                next_obs = next_obs.detach()
            obs = next_obs

        # V(s_t) and V(s_{t+1}) from one batched critic call; rows with invalid raw observations are
        # replaced by zeros before the critic (so no NaN reaches its backward) and get value 0
        raw = torch.stack(keep["obs_g"] + keep["fin_g"]).reshape(2 * horizon * B, D)
        bad = invalid_rows(raw.detach(), invalid_obs)
        safe = torch.where(bad.unsqueeze(-1), torch.zeros_like(raw), raw)
        v = value_fn(norm(safe))
        v = torch.where(bad, torch.zeros_like(v), v).reshape(2, horizon, B)
        terminated = torch.stack(keep["term"])
        values = v[0]
        next_values = torch.where(terminated, torch.zeros_like(v[1]), v[1])

    raw_obs = torch.stack(keep["obs_g"]).detach()
    done = torch.stack(keep["done"])
    mu = torch.stack(keep["mu"])
    logstd = torch.stack(keep["logstd"])
    actions = torch.stack(keep["act"])
    rollout = Rollout(
        obs=norm(raw_obs).detach(),
        raw_obs=raw_obs,
        eps=torch.stack(keep["eps"]),
        actions=actions,
        mu=mu,
        logstd=logstd,
        neglogp=neglogp(actions, mu, logstd),
        rewards=torch.stack(keep["rew"]),
        values=values,
        next_values=next_values,
        done=done,
        terminated=terminated,
        starts=segment_starts(done),
        episode_return=torch.stack(keep["ret"]),
        episode_length=torch.stack(keep["len"]),
        action_nodes=action_nodes if grad_on else None,
        actor_out=actor_out if graph == "params" else None,
        last_obs=obs.detach(),
    )
    return rollout


def _check_step(env: DiffEnv, obs, reward, terminated, truncated, info) -> None:
    """Shapes of one ``env.step`` result (the DiffEnv contract); a clear error instead of a deep traceback."""
    B, D = env.num_envs, env.obs_dim
    problems = []
    if obs.shape != (B, D):
        problems.append(f"obs {list(obs.shape)} (expected [{B}, {D}])")
    if reward.shape != (B,):
        problems.append(f"reward {list(reward.shape)} (expected [{B}])")
    for name, flag in (("terminated", terminated), ("truncated", truncated)):
        if flag.shape != (B,) or flag.dtype != torch.bool:
            problems.append(f"{name} {list(flag.shape)} {flag.dtype} (expected bool [{B}])")
    for key in ("final_obs", "episode_return", "episode_length"):
        if key not in info:
            problems.append(f"info[{key!r}] missing")
    if problems:
        raise ValueError(f"{env.name}: step() breaks the DiffEnv contract: " + "; ".join(problems))
