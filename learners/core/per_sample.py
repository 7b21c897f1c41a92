"""Per-sample LR gradients and per-trajectory RP gradients over the FULL actor parameter vector.

The reference LR+RP backpropagates each sample / trajectory separately (16 + 16 backward passes
through the simulator), which makes it 4-5x slower than RP. Here:

* LR per-sample gradients: ``torch.func.vmap(grad(...))`` over the chosen samples (one vectorised
  actor forward/backward, no simulator involved).
* RP per-trajectory gradients: theta enters the window objective only through the actor calls, so
  dJ_j/dtheta = sum_t (dJ_j/du_t)^T du_t/dtheta with u_t = (mu_t, logstd_t) the actor output at step t.
  The segments of different trajectories are disjoint, so ONE backward of sum_j J_j to the actor
  outputs gives every dJ_j/du_t; the per-trajectory contraction with the actor Jacobians is a
  vmapped vector-Jacobian product on the stored observations (batched matmuls, no simulator).

``*_loop`` functions are the straightforward references (one backward per sample/trajectory).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from .flat import FlatParams


def _vmapped_grads(module, flat: FlatParams, objective: Callable, obs, extras: tuple, one_row: bool) -> torch.Tensor:
    """``[S, P]``: for each s, d objective(module(obs_s), *extras_s) / d theta, vmapped over the leading dim.
    ``one_row`` feeds each ``obs_s`` and extra as a batch of one (a leading dim of 1)."""

    def single(theta, o, *xs):
        if one_row:
            o, xs = o.unsqueeze(0), tuple(x.unsqueeze(0) for x in xs)
        return objective(functional_call(module, flat.views(theta), (o,)), *xs)

    in_dims = (None, 0) + (0,) * len(extras)
    return vmap(grad(single), in_dims=in_dims)(flat.data.detach(), obs, *extras)


def per_sample_grads(
    module: torch.nn.Module,
    flat: FlatParams,
    loss_fn: Callable[..., torch.Tensor],
    obs: torch.Tensor,
    *extra: torch.Tensor,
) -> torch.Tensor:
    """Gradients ``[S, P]`` of ``loss_fn(module(obs_i), *extra_i)`` for each of the S samples.

    ``obs`` is ``[S, D]``; each ``extra`` is ``[S, ...]``. ``loss_fn`` receives the module's output
    for a batch of one sample plus the matching extras (each with a leading dim of 1).
    """
    return _vmapped_grads(module, flat, loss_fn, obs, extra, one_row=True)


def per_segment_vjp(
    module: torch.nn.Module,
    flat: FlatParams,
    obs: torch.Tensor,
    adjoints: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """Per-segment parameter gradients ``[S, P]``: sum_t <adjoint_t, du_t/dtheta> for each segment.

    ``obs`` ``[S, T, D]`` holds each segment's observations (padded), ``adjoints`` the matching
    ``[S, T, ...]`` adjoints of each module output (zero on padding).
    """

    def contract(outs, *adj):
        return sum((u * a).sum() for u, a in zip(outs, adj))

    return _vmapped_grads(module, flat, contract, obs, adjoints, one_row=False)


def per_segment_grads(
    module: torch.nn.Module,
    flat: FlatParams,
    obs: torch.Tensor,
    adjoints: tuple[torch.Tensor, ...],
) -> torch.Tensor:
    """Same result as :func:`per_segment_vjp` with one ordinary forward/backward over all S*T rows.

    For networks built from ``nn.Linear`` and ``nn.LayerNorm`` (the actor): the backward stops at every
    layer's output; each segment's parameter gradient is then a contraction of the per-row output
    adjoints with the per-row layer inputs (Linear: sum_t g_t x_t^T, a batched matmul; LayerNorm:
    sum_t g_t * xhat_t). Other parameterised layers fall back to the vmapped version.
    """
    layers = [m for m in module.modules() if isinstance(m, (nn.Linear, nn.LayerNorm))]
    owned = {id(p) for m in layers for p in m.parameters(recurse=False)}
    if any(id(p) not in owned for p in flat.params) or any(
        isinstance(m, nn.LayerNorm) and (m.weight is None or m.bias is None) for m in layers
    ):
        return per_segment_vjp(module, flat, obs, adjoints)
    S, T = obs.shape[:2]
    records: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(mod, inputs, output):
        records[mod] = (inputs[0], output)

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        outs = module(obs.reshape(S * T, *obs.shape[2:]))
    finally:
        for h in handles:
            h.remove()
    total = sum((u * a.reshape(u.shape)).sum() for u, a in zip(outs, adjoints))
    mods = [m for m in layers if m in records]
    grads_out = torch.autograd.grad(total, [records[m][1] for m in mods], allow_unused=True)
    per: dict[int, torch.Tensor] = {}
    for m, gy in zip(mods, grads_out):
        x, y = records[m]
        gy = torch.zeros_like(y) if gy is None else gy
        g3, x3 = gy.reshape(S, T, -1), x.detach().reshape(S, T, -1)
        if isinstance(m, nn.Linear):
            per[id(m.weight)] = torch.bmm(g3.transpose(1, 2), x3)
        else:
            xhat = F.layer_norm(x.detach(), m.normalized_shape, None, None, m.eps).reshape(S, T, -1)
            per[id(m.weight)] = (g3 * xhat).sum(1)
        if m.bias is not None:
            per[id(m.bias)] = g3.sum(1)
    return torch.cat([per[id(p)].reshape(S, -1) for p in flat.params], dim=1)


def per_sample_grads_loop(module, flat: FlatParams, loss_fn, obs, *extra) -> torch.Tensor:
    """Reference for :func:`per_sample_grads`: one backward per sample."""
    rows = []
    for i in range(obs.shape[0]):
        out = module(obs[i : i + 1])
        rows.append(flat.grad(loss_fn(out, *(x[i : i + 1] for x in extra))))
    return torch.stack(rows)


def per_objective_grads_loop(objectives: list[torch.Tensor], flat: FlatParams) -> torch.Tensor:
    """Reference for per-trajectory RP gradients: one backward (through the simulator) per objective."""
    return torch.stack([flat.grad(j, retain_graph=True) for j in objectives])


def trace_cov(samples: torch.Tensor) -> torch.Tensor:
    """Trace of the unbiased sample covariance of the rows of ``samples`` ``[S, P]`` (= torch.cov(G.T).trace())."""
    centred = samples - samples.mean(0, keepdim=True)
    return (centred * centred).sum() / max(samples.shape[0] - 1, 1)
