"""Record a standalone :class:`~difftraffic.TrafficSim` rollout as an :class:`~difftraffic.recording.episode.Episode`.

For traffic researchers who drive the simulator directly (no pace-car task): run a rollout with
given accelerations for the controlled vehicles and get an episode the viewer can show, optionally
with the gradient-flow data of the overlay:

    ep = record_rollout(sim, state, accel, controlled, grad_window=20, meta={"target_speed": 10.0})
    viewer.view(ep)

``grad[t, b, i] = || d speed_i(t) / d accel[t-W .. t-1, b, controlled] ||_2`` (sliding window of W
steps; m/s per m/s^2). It is computed exactly with autograd on a batch holding one copy of each env
per vehicle (copy j back-propagates vehicle j's speed), so it costs ``N`` times the rollout's memory.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import torch

from difftraffic.recording.episode import Episode
from difftraffic.recording.rollout_episode import rollout_episode
from difftraffic.sim.idm import IDMParams
from difftraffic.sim.simulator import SimState, TrafficSim


def _repeat_idm(idm: IDMParams, copies: int) -> IDMParams:
    kw = {}
    for f in fields(idm):
        val = getattr(idm, f.name)
        kw[f.name] = val.repeat(copies, 1) if isinstance(val, torch.Tensor) and val.dim() == 2 else val
    return IDMParams(**kw)


def record_rollout(
    sim: TrafficSim,
    state: SimState,
    accel: torch.Tensor,
    controlled: torch.Tensor,
    grad_window: int | None = None,
    length: float = 5.0,
    width: float = 2.0,
    reward: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
) -> Episode:
    """Roll ``sim`` from ``state`` for ``T = accel.shape[0]`` steps and record every frame.

    accel: ``[T, B, N]`` accelerations (m/s^2) applied to the ``controlled`` (``[N]`` or ``[B, N]`` bool)
    vehicles; IDM drives the others. grad_window: W steps of the gradient window, None = no gradient
    data. reward: optional ``[T, B]``. The episode's ``controlled`` mask is ``controlled`` of env 0.
    """
    b, n = state.v.shape
    if accel.dim() != 3 or tuple(accel.shape[1:]) != (b, n):
        raise ValueError(f"accel: expected [T, {b}, {n}], got {list(accel.shape)}")
    ctrl = controlled.to(torch.bool).to(state.v.device)
    ctrl = ctrl.expand(b, n) if ctrl.dim() == 1 else ctrl
    if tuple(ctrl.shape) != (b, n):
        raise ValueError(f"controlled: expected [{n}] or [{b}, {n}], got {list(controlled.shape)}")
    steps = accel.shape[0]
    copies = n if grad_window else 1
    st = sim.init_state(state.x.repeat(copies, 1), state.v.repeat(copies, 1), state.lane.repeat(copies, 1),
                        _repeat_idm(state.idm, copies))  # fmt: skip
    ctrl_rep = ctrl.repeat(copies, 1)
    xs, vs, lanes, accs = [st.x[:b].detach()], [st.v[:b].detach()], [st.lane[:b].clone()], [torch.zeros_like(st.v[:b])]
    grad = np.zeros((steps + 1, b, n), np.float32)
    leaves: list[torch.Tensor] = []
    for t in range(steps):
        a = accel[t].to(st.v.dtype).repeat(copies, 1).detach()
        if grad_window:
            a.requires_grad_(True)
            leaves.append(a)
        st = sim.step(st, a, ctrl_rep)
        xs.append(st.x[:b].detach())
        vs.append(st.v[:b].detach())
        lanes.append(st.lane[:b].clone())
        accs.append(st.accel[:b].detach() if st.accel is not None else torch.zeros_like(st.v[:b]))
        if grad_window:
            window = leaves[max(0, t + 1 - grad_window) :]
            own = st.v.view(n, b, n).diagonal(dim1=0, dim2=2)  # [B, N]: copy j's vehicle j
            gs = torch.autograd.grad(own.sum(), window, retain_graph=True, allow_unused=True)
            sq = sum((g.view(n, b, n) * ctrl[None]).pow(2).sum(-1) for g in gs if g is not None)  # [N(copy), B]
            if isinstance(sq, torch.Tensor):
                grad[t + 1] = sq.sqrt().T.detach().cpu().numpy()
    return _episode(sim, xs, vs, lanes, accs, ctrl[0].cpu().numpy(), length, width, grad if grad_window else None,
                    reward, meta)  # fmt: skip


def _episode(sim, xs, vs, lanes, accs, controlled, length, width, grad, reward, meta) -> Episode:
    stack = lambda frames: torch.stack(frames).cpu().numpy()  # noqa: E731
    return rollout_episode(sim.road, sim.dt, stack(xs), stack(vs), stack(accs), stack(lanes), length=length,
                           width=width, controlled=controlled, grad=grad, reward=reward, meta=meta)  # fmt: skip
