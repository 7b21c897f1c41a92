"""Record traffic episodes (:class:`~difftraffic.record.Episode`) with the paper's gradient-flow map (Fig. 9).

``record_episode(env, policy, steps, grad_window=32)`` resets a traffic env (PaceCarEnv or
RingWaveEnv), runs ``policy`` (callable: observation ``[B, obs_dim]`` -> action in [-1, 1]) and
records every env's first episode: frames, rewards, valid mask, termination causes, meta, and

    grad[t, b, i] = || d speed_i(t) / d (controlled car's actions a_{t-W}, ..., a_{t-1}) ||_2

for W = ``grad_window``: which vehicles the controlled car's last W actions reach through IDM
(in the pace-car task: the pace car itself and the cars behind it in its lane; lane changes cut
the flow, since lane membership is discrete).

How: the window must slide, but autograd graphs can only be cut at whole steps. Two copies of the
env run the same trajectory with the same action tensors; copy A cuts its graph (``detach``)
every 2W steps starting at 0, copy B every 2W steps starting at W. For frame t the copy whose
last cut is at most t - W holds the whole window in a graph of at most 2W steps, and one
vector-Jacobian product per vehicle (batched over vehicles with ``is_grads_batched``) gives
grad[t]. Cost per recorded step: two env steps plus a backward through <= 2W steps for N
vehicles (see docs/scenarios.md for measured figures); ``grad_window=0`` skips it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .env import DiffEnv
from .record import TERMINATION_CAUSES, Episode


def _clone_env(env: DiffEnv) -> DiffEnv:
    """A second env of the same task in the same state (eager step, same RNG)."""
    from .pacecar import PaceCarEnv

    kw = {"num_envs": env.num_envs, "device": env.device, "dtype": env.dtype, "seed": 0}
    if isinstance(env, PaceCarEnv):
        kw["compile"] = False
    twin = type(env)(env.config, **kw)
    twin.reset()
    twin.load_state_dict(env.state_dict())
    return twin


def _frame(render: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    out = {}
    for key, val in render.items():
        arr = val.detach().cpu()
        out[key] = arr.to(torch.int16).numpy() if key == "lane" else arr.to(torch.float32).numpy()
    return out


def _window_grad(speeds: torch.Tensor, window: list[torch.Tensor], batched: bool) -> tuple[torch.Tensor, bool]:
    """``[B, N]`` norms of d speeds[:, i] / d window actions (per env); returns (grad, batched still usable)."""
    b, n = speeds.shape
    if not speeds.requires_grad or not window:
        return torch.zeros(b, n, dtype=torch.float64), batched
    if batched:
        eye = torch.eye(n, dtype=speeds.dtype, device=speeds.device)[:, None, :].expand(n, b, n)
        try:
            grads = torch.autograd.grad(
                speeds, window, grad_outputs=eye, retain_graph=True, allow_unused=True, is_grads_batched=True
            )
            total = torch.zeros(n, b, dtype=torch.float64, device=speeds.device)
            for g in grads:
                if g is not None:
                    total = total + (g.double() ** 2).sum(dim=-1)
            return total.sqrt().T.cpu(), True
        except RuntimeError:
            batched = False  # some backward lacks a vmap rule: one backward per vehicle from now on
    out = torch.zeros(b, n, dtype=torch.float64)
    for i in range(n):
        grads = torch.autograd.grad(speeds[:, i].sum(), window, retain_graph=True, allow_unused=True)
        sq = sum((g.double() ** 2).sum(dim=-1) for g in grads if g is not None)
        if isinstance(sq, torch.Tensor):
            out[:, i] = sq.sqrt().cpu()
    return out, batched


def record_episode(
    env: DiffEnv,
    policy: Callable[[torch.Tensor], torch.Tensor],
    steps: int,
    grad_window: int = 32,
    seed: int | None = None,
) -> Episode:
    """Run ``policy`` in ``env`` for up to ``steps`` steps from a reset and record every env's first episode.

    Stops early once every env has ended its first episode. ``seed`` re-seeds the env at the reset.
    Returns an :class:`Episode` with ``grad`` (None when ``grad_window`` is 0).
    """
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    w = int(grad_window)
    if w < 0:
        raise ValueError(f"grad_window must be >= 0, got {grad_window}")
    obs = env.reset(seed=seed)
    env.record_pre_reset = True
    compile_mode = getattr(env, "compile", None)
    if compile_mode is not None:
        env.compile = False  # both copies must follow bit-identical (eager) trajectories
    twin = _clone_env(env) if w > 0 else None
    if twin is not None:
        twin.record_pre_reset = True
    b, n = env.num_envs, env.num_vehicles
    frames = [_frame(env.render_state())]
    grads = [np.zeros((b, n), dtype=np.float32)]
    rewards, valid = [], [np.ones(b, dtype=bool)]
    ended = np.zeros(b, dtype=bool)
    termination = np.zeros(b, dtype=np.int8)
    actions: list[torch.Tensor] = []
    batched = True
    try:
        for t in range(steps):
            if w > 0:
                # copy A cuts its graph before steps 0, 2W, 4W...; copy B before steps W, 3W, ...
                if t % (2 * w) == 0:
                    env.detach()
                if t % (2 * w) == w:
                    twin.detach()
            with torch.no_grad():
                action = policy(obs.detach())
            action = torch.as_tensor(action, device=env.device, dtype=env.dtype).detach().clone()
            action.requires_grad_(w > 0)
            actions.append(action)
            obs, reward, terminated, truncated, info = env.step(action)
            if twin is not None:
                twin.step(action)
            frames.append(_frame(env.render_state(pre_reset=True)))
            f = t + 1
            if w > 0:
                # the latest graph cut at or before f - W is at W * k; even k: copy A, odd k: copy B
                k = max(0, f - w) // w
                source = env if k % 2 == 0 else twin
                window = actions[max(0, f - w) : f]
                g, batched = _window_grad(source.speeds(pre_reset=True), window, batched)
                g[torch.as_tensor(ended)] = 0.0
                grads.append(g.to(torch.float32).numpy())
            r = reward.detach().cpu().to(torch.float32).numpy().copy()
            r[ended] = 0.0
            rewards.append(r)
            done = (terminated | truncated).cpu().numpy()
            cause = info["termination"].cpu().numpy()
            newly = done & ~ended
            termination[newly] = cause[newly].astype(np.int8)
            valid.append(~ended)
            ended |= done
            if ended.all():
                break
    finally:
        env.record_pre_reset = False
        env.pre_reset_state = None
        if compile_mode is not None:
            env.compile = compile_mode
    info_v = env.vehicle_info()
    stacked = {key: np.stack([fr[key] for fr in frames]) for key in frames[0]}
    meta = dict(env.meta(), grad_window=w, steps=len(rewards), termination_causes=list(TERMINATION_CAUSES))
    return Episode(
        **stacked,
        reward=np.stack(rewards),
        valid=np.stack(valid),
        termination=termination,
        controlled=info_v["controlled"].numpy(),
        length=info_v["length"].numpy().astype(np.float32),
        width=info_v["width"].numpy().astype(np.float32),
        grad=np.stack(grads) if w > 0 else None,
        meta=meta,
    )
