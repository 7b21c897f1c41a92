"""Replaying car-following rows with the simulator's IDM and integrator, with exact parameter sensitivities.

One step of every slot is :func:`difftraffic.sim.idm.idm_acceleration` followed by
:meth:`difftraffic.sim.simulator.TrafficSim.integrate` -- the very functions :class:`TrafficSim` steps with
(so "euler" is SUMO's update) -- applied to ``[B, N]`` slots whose leader is another slot of the same row
(tested equal to ``TrafficSim.step``). Replayed slots are reset to their observations every step.

:func:`replay` runs it forward. :func:`sensitivity_pass` also carries the forward sensitivities
``S = d(x, v) / d(theta)`` (``[B, N, 2, C]``) through the recursion ``S' = A_own S + A_lead S_leader + B E``,
where the one-step partials ``A_own``, ``A_lead``, ``B`` come from autograd on that same step (one backward
per step, batched over all slots and both outputs) and ``E`` maps each slot's fitted parameters to the
``C`` columns of its group. It accumulates what Gauss-Newton needs per row -- ``sum w e^2``, ``J^T W J``,
``J^T W e``, with ``e`` the residual of the chosen loss (:mod:`difftraffic.calibration.losses`) -- over
windows of :data:`WINDOW` steps, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from difftraffic.calibration.losses import Residuals
from difftraffic.calibration.segments import Rows
from difftraffic.sim.idm import IDMParams, idm_acceleration
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import SimState, TrafficSim

WINDOW = 128
"""Steps whose states and sensitivities are buffered before the residual sums are updated."""

PARAM_COUNT = 6  # v0, T, a, b, s0, delta


def make_sim(dt: float, integrator: str = "euler", sstar_clip: str = "dynamic") -> TrafficSim:
    """The simulator whose IDM variant and integrator a calibration uses (a straight open road)."""
    return TrafficSim(Road(num_lanes=1, length=1.0e9), dt=dt, integrator=integrator, sstar_clip=sstar_clip)


def slot_step(
    sim: TrafficSim,
    x: torch.Tensor,
    v: torch.Tensor,
    x_lead: torch.Tensor,
    v_lead: torch.Tensor,
    length_lead: torch.Tensor,
    has_leader: torch.Tensor,
    p: IDMParams,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of ``[B, N]`` slots: front bumpers ``x`` (m, float64), speeds ``v`` (m/s), the leader's front
    bumper, speed and length (m), IDM parameters ``p`` (its ``length`` = the slots' own). Returns ``(x', v')``."""
    gap = x_lead - length_lead - x
    acc = idm_acceleration(v, v_lead, gap, has_leader, p, sim.sstar_clip, sim.min_gap)
    lane = torch.zeros(v.shape, dtype=torch.long, device=v.device)
    new = sim.integrate(SimState(x=x, v=v, lane=lane, idm=p), acc)
    return new.x, new.v


def slot_params(theta: torch.Tensor, length: torch.Tensor, fitted: dict[int, torch.Tensor] | None = None) -> IDMParams:
    """IDMParams from ``theta [B, N, 6]`` = (v0, T, a, b, s0, delta): a parameter equal in every slot becomes a
    float (cheaper IDM); ``fitted`` replaces columns by given tensors (autograd leaves)."""
    kw = {}
    names = ("v0", "T", "a", "b", "s0", "delta")
    for j, name in enumerate(names):
        if fitted is not None and j in fitted:
            kw[name] = fitted[j]
            continue
        col = theta[..., j]
        first = col.reshape(-1)[0]
        kw[name] = float(first) if bool((col == first).all()) else col
    return IDMParams(**kw, length=length)


def _check(rows: Rows, theta: torch.Tensor) -> None:
    b, n, _ = rows.shape
    if theta.shape != (b, n, PARAM_COUNT):
        raise ValueError(f"theta must be [B, N, 6] = {[b, n, 6]}, got {list(theta.shape)}")


def _live(rows: Rows) -> torch.Tensor:
    """``[K+1, B, N, 1]``: slots that carry simulated state at each step (started, observed, not replayed)."""
    return rows.compared().permute(2, 0, 1)[..., None]


@torch.no_grad()
def replay(sim: TrafficSim, rows: Rows, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated positions and speeds ``[B, N, K+1]`` (replayed and inactive slots hold their observations)."""
    _check(rows, theta)
    zs = _forward(sim, rows, theta)
    return zs[..., 0].permute(1, 2, 0), zs[..., 1].permute(1, 2, 0)


def _forward(sim: TrafficSim, rows: Rows, theta: torch.Tensor, res: Residuals | None = None):
    """A forward replay: all states ``[K+1, B, N, 2]`` (x, v), or with ``res`` only ``sum w e^2`` per row ``[B]``
    (accumulated over windows of :data:`WINDOW` steps, so memory stays bounded)."""
    nb, nn, steps = rows.shape
    obs = torch.stack([rows.x, rows.v], -1).permute(2, 0, 1, 3)  # [K+1, B, N, 2]
    live = _live(rows)
    p = slot_params(theta, rows.length)
    lead2 = rows.leader[..., None].expand(nb, nn, 2)
    l_lead = rows.length.gather(1, rows.leader)
    zs = torch.empty_like(obs) if res is None else torch.empty_like(obs[: WINDOW + 1])
    weights = None if res is None else res.weights(rows)
    ssr = torch.zeros(nb, dtype=obs.dtype, device=obs.device)
    z = zs[0] = obs[0]
    k0 = 0  # step held in zs[0]
    for k in range(steps):
        ahead = z.gather(1, lead2)
        xn, vn = slot_step(sim, z[..., 0], z[..., 1], ahead[..., 0], ahead[..., 1], l_lead, rows.has_leader, p)
        i = k + 1 - k0
        z = zs[i] = torch.where(live[k + 1], torch.stack([xn, vn], -1), obs[k + 1])
        if res is not None and (i == WINDOW or k == steps - 1):
            win = slice(k0 + 1, k + 2)
            e = res.error(rows, win, zs[1 : i + 1, ..., 0], zs[1 : i + 1, ..., 1])
            ssr += (weights[win] * e * e).sum((0, 2))
            zs[0], k0 = z, k + 1
    return zs if res is None else ssr


@torch.no_grad()
def replay_loss(sim: TrafficSim, rows: Rows, theta: torch.Tensor, res: Residuals) -> torch.Tensor:
    """``sum w e^2`` per row ``[B]`` (the objective's numerator)."""
    _check(rows, theta)
    return _forward(sim, rows, theta, res)


@dataclass
class GaussNewtonSums:
    """Per-row sums at one parameter point: ``ssr [B]`` = sum w e^2, ``jtj [B, C, C]``, ``jte [B, C]``
    (derivatives with respect to the physical fitted parameters)."""

    ssr: torch.Tensor
    jtj: torch.Tensor
    jte: torch.Tensor


def sensitivity_pass(
    sim: TrafficSim,
    rows: Rows,
    theta: torch.Tensor,
    columns: torch.Tensor,
    fit_index: list[int],
    res: Residuals,
    ncol: int | None = None,
) -> GaussNewtonSums:
    """Forward sensitivities through the replay (see the module docstring).

    ``columns [B, N, P]``: the column (0..C-1) of each slot's fitted parameter p in its group's parameter
    vector, -1 where the slot has no fitted parameters; ``C = ncol`` (default ``columns.max() + 1``);
    ``fit_index``: positions of the fitted parameters in theta's last axis."""
    _check(rows, theta)
    nb, nn, steps = rows.shape
    npar = len(fit_index)
    if columns.shape != (nb, nn, npar):
        raise ValueError(f"columns must be [B, N, P] = {[nb, nn, npar]}, got {list(columns.shape)}")
    ncol = int(columns.max()) + 1 if ncol is None else int(ncol)
    dtype, dev = rows.x.dtype, rows.x.device
    onehot = torch.zeros(nb, nn, npar, ncol + 1, dtype=dtype, device=dev)
    onehot.scatter_(3, torch.where(columns >= 0, columns, ncol)[..., None], 1.0)
    onehot = onehot[..., :ncol]  # [B, N, P, C]
    # slots following a simulated slot need its sensitivities (platoons); replayed leaders have none
    coupled = bool((rows.has_leader & rows.simulated.gather(1, rows.leader) & rows.simulated).any())
    obs = torch.stack([rows.x, rows.v], -1).permute(2, 0, 1, 3)
    live = _live(rows)
    weights = res.weights(rows)
    lead2 = rows.leader[..., None].expand(nb, nn, 2)
    lead4 = rows.leader[..., None, None].expand(nb, nn, 2, ncol)
    l_lead2 = rows.length.gather(1, rows.leader).repeat(2, 1)
    has2 = rows.has_leader.repeat(2, 1)
    leaf = theta[..., fit_index].detach().repeat(2, 1, 1).requires_grad_()
    p2 = slot_params(
        theta.repeat(2, 1, 1), rows.length.repeat(2, 1), {j: leaf[..., i] for i, j in enumerate(fit_index)}
    )
    ssr = torch.zeros(nb, dtype=dtype, device=dev)
    jtj = torch.zeros(nb, ncol, ncol, dtype=dtype, device=dev)
    jte = torch.zeros(nb, ncol, dtype=dtype, device=dev)
    z, sens = obs[0], torch.zeros(nb, nn, 2, ncol, dtype=dtype, device=dev)
    zbuf = torch.empty(WINDOW, nb, nn, 2, dtype=dtype, device=dev)
    sbuf = torch.empty(WINDOW, nb, nn, 2, ncol, dtype=dtype, device=dev)
    k0 = 1  # first step held in the buffers
    for k in range(steps):
        own = z.repeat(2, 1, 1).requires_grad_()
        ahead = z.gather(1, lead2).repeat(2, 1, 1).requires_grad_(coupled)
        with torch.enable_grad():
            xn, vn = slot_step(sim, own[..., 0], own[..., 1], ahead[..., 0], ahead[..., 1], l_lead2, has2, p2)
            inputs = (own, leaf, ahead) if coupled else (own, leaf)
            g_own, g_th, *g_ahead = torch.autograd.grad(xn[:nb].sum() + vn[nb:].sum(), inputs)
        # the first nb rows hold d x' / d(.), the last nb rows d v' / d(.): view as [B, N, 2 out, .]
        new = g_own.view(2, nb, nn, 2).permute(1, 2, 0, 3) @ sens
        new = new + g_th.view(2, nb, nn, npar).permute(1, 2, 0, 3) @ onehot
        if coupled:
            new = new + g_ahead[0].view(2, nb, nn, 2).permute(1, 2, 0, 3) @ sens.gather(1, lead4)
        z = torch.where(live[k + 1], torch.stack([xn[:nb], vn[nb:]], -1).detach(), obs[k + 1])
        sens = torch.where(live[k + 1, ..., None], new, torch.zeros_like(new))
        i = k + 1 - k0
        zbuf[i], sbuf[i] = z, sens
        if i == WINDOW - 1 or k == steps - 1:
            win = slice(k0, k + 2)
            zs, ss, w = zbuf[: i + 1], sbuf[: i + 1], weights[win]
            e = res.error(rows, win, zs[..., 0], zs[..., 1])
            jac = res.jacobian(rows, ss)
            wj = w[..., None] * jac
            ssr += (w * e * e).sum((0, 2))
            jtj += torch.einsum("tbnc,tbnd->bcd", wj, jac)
            jte += torch.einsum("tbnc,tbn->bc", wj, e)
            k0 = k + 2
    return GaussNewtonSums(ssr=ssr, jtj=jtj, jte=jte)
