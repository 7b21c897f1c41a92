"""Record traffic episodes (:class:`~difftraffic.recording.episode.Episode`) with the paper's gradient map (Fig. 9).

``record_episode(env, policy, steps, grad_window=32)`` resets a traffic env (any
:class:`~difftraffic.tasks.traffic.TrafficEnv`: the contract it relies on is written there), runs ``policy``
(callable: observation ``[B, obs_dim]`` -> action in [-1, 1]) and
records every env's first episode: frames, rewards, valid mask, termination causes, meta, and

    grad[t, b, i] = || d speed_i(t) / d (controlled car's actions a_{t-W}, ..., a_{t-1}) ||_2

for W = ``grad_window``: which vehicles the controlled car's last W actions reach through IDM
(in the pace-car task: the pace car itself and the cars behind it in its lane; lane changes cut
the flow, since lane membership is discrete).

How: forward-mode autodiff on tangent replicas. A twin env holds R = W * act_dim copies of every
env; replica (slot k, component c) carries the tangent d state / d a_{t'}[c] of the action a_{t'}
that entered slot k = t' mod W. Each step, the slot of the action that leaves the window is zeroed
and reused for the new action (tangent e_c), and one forward pass with dual numbers through the
twin gives d speed(t) / d every action in the window; the norm over replicas is grad[t]. Exact
(no truncation beyond the window, no finite differences) and linear in the episode length: one
batched dual step per recorded step. Replicas follow the recorded env bit-exactly (the ring-wave
env's acceleration noise is replayed) until an env's first episode ends, after which its frames are
not recorded. ``grad_window=0`` skips all of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
import torch.autograd.forward_ad as fwad

from difftraffic.recording.episode import Episode
from difftraffic.tasks.traffic import TERMINATION_CAUSES, TrafficEnv


def _frame(render: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    out = {}
    for key, val in render.items():
        arr = val.detach().cpu()
        out[key] = arr.to(torch.int16).numpy() if key == "lane" else arr.to(torch.float32).numpy()
    return out


def _float_fields(state) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(state)
        if isinstance(getattr(state, f.name), torch.Tensor) and getattr(state, f.name).is_floating_point()
    ]


class _TangentTwin:
    """R replicas of every env of ``env`` carrying forward-mode tangents w.r.t. the last W actions."""

    def __init__(self, env: TrafficEnv, window: int):
        self.w, self.a = window, env.act_dim
        self.r = window * env.act_dim
        self.b = env.num_envs
        self.env = env.tangent_twin(self.b * self.r)
        src = env.state
        tiled = {}
        for f in dataclasses.fields(src):
            val = getattr(src, f.name)
            if isinstance(val, torch.Tensor):
                val = val.detach().repeat(self.r, *([1] * (val.dim() - 1)))  # replica-major: row r * B + b
            tiled[f.name] = val
        self.env.state = type(src)(**tiled)
        self.env.record_pre_reset = True
        self.source = env

    def step(self, action: torch.Tensor, t: int) -> torch.Tensor:
        """Advance with ``action`` ``[B, A]`` (entering slot t mod W); returns grad ``[B, N]`` (float64, CPU)."""
        slot = t % self.w
        state = self.env.state
        for name in _float_fields(state):
            primal, tangent = fwad.unpack_dual(getattr(state, name))
            if tangent is None:
                tangent = torch.zeros(primal.shape, dtype=primal.dtype, device=primal.device)
            else:
                tangent = tangent.clone(memory_format=torch.contiguous_format)
            tangent.view(self.r, self.b, *primal.shape[1:])[slot * self.a : (slot + 1) * self.a] = 0.0
            setattr(state, name, fwad.make_dual(primal, tangent))
        primal = action.detach().repeat(self.r, 1)
        tangent = torch.zeros(self.r, self.b, self.a, dtype=primal.dtype, device=primal.device)
        for c in range(self.a):
            tangent[slot * self.a + c, :, c] = 1.0
        noise = self.source.last_noise
        if noise is not None:  # stochastic dynamics: replay the recorded env's noise in every replica
            self.env.forced_noise = noise.detach().repeat(self.r, 1)
        self.env.step(fwad.make_dual(primal, tangent.view(self.r * self.b, self.a)))
        _, dv = fwad.unpack_dual(self.env.speeds(pre_reset=True))
        if dv is None:
            return torch.zeros(self.b, self.env.num_vehicles, dtype=torch.float64)
        dv = dv.detach().double().view(self.r, self.b, -1)
        return torch.sqrt((dv * dv).sum(dim=0)).cpu()


def record_episode(
    env: TrafficEnv,
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
    if not isinstance(env, TrafficEnv):
        raise TypeError(f"record_episode needs a traffic task (a TrafficEnv), got {type(env).__name__}")
    b, n = env.num_envs, env.num_vehicles
    grads = [np.zeros((b, n), dtype=np.float32)]
    rewards, valid = [], [np.ones(b, dtype=bool)]
    ended = np.zeros(b, dtype=bool)
    termination = np.zeros(b, dtype=np.int8)
    with env.eager():  # the tangent twin is eager: keep both bit-identical
        obs = env.reset(seed=seed)
        env.record_pre_reset = True
        frames = [_frame(env.render_state())]
        try:
            _run(env, policy, obs, steps, w, frames, grads, rewards, valid, ended, termination)
        finally:
            env.record_pre_reset = False
            env.pre_reset_state = None
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


@torch.no_grad()
def _run(env, policy, obs, steps, w, frames, grads, rewards, valid, ended, termination) -> None:
    """The recording loop: step ``policy`` until every env's first episode ended (appends to the lists)."""
    with fwad.dual_level():
        twin = _TangentTwin(env, w) if w > 0 else None
        for t in range(steps):
            action = policy(obs.detach())
            action = torch.as_tensor(action, device=env.device, dtype=env.dtype).detach()
            obs, reward, terminated, truncated, info = env.step(action)
            frames.append(_frame(env.render_state(pre_reset=True)))
            if twin is not None:
                g = twin.step(action, t)
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
