"""Batched, box-projected Levenberg-Marquardt: ``G`` independent least-squares problems solved at once in
``[G, C]`` tensors, every coordinate kept in [0, 1].

Each group has its own damping ``lambda`` (Marquardt's scaling by ``diag(J^T W J)``, Nielsen's update), its
own accept/reject decision and its own convergence test; converged groups drop out of the batch. One
iteration evaluates ``J`` (one sensitivity pass) only for groups whose point moved, then one trial replay
for every active group. Bounds are handled by projection with an active set: a coordinate on a bound
whose gradient points outwards is held for that step, the others take the damped Gauss-Newton step, and
the trial point is clipped into the box.

A group stops with reason ``"exact"`` (RMS residual below ``atol``), ``"ftol"`` (actual and predicted
relative decrease of the loss below ``ftol``), ``"xtol"`` (step below ``xtol`` relative to ``|z|``),
``"gtol"`` (gradient orthogonal to the residual within ``gtol``) or ``"stalled"`` (no decrease even at
maximal damping: a minimum at machine precision); all count as converged. ``"max_iter"`` does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

REASONS = ("running", "exact", "ftol", "xtol", "gtol", "stalled", "max_iter")
LAMBDA_MAX = 1e16


@dataclass
class LMSettings:
    """Stopping rules (see the module docstring) and the initial damping ``lambda0`` (relative to
    ``diag(J^T W J)``; 1 measured steadiest on IDM fits: 1e-3 lets the first steps run into the bounds)."""

    max_iter: int = 100
    ftol: float = 1e-10
    xtol: float = 1e-10
    gtol: float = 1e-10
    atol: float = 1e-8
    lambda0: float = 1.0


@dataclass
class LMResult:
    """Solution ``z [G, C]``, ``loss [G]``, ``iterations [G]``, ``reason [G]`` (index into :data:`REASONS`) and
    the work done: ``jacobian_rows`` / ``replay_rows`` = summed group evaluations of each kind, ``passes`` =
    batched sensitivity passes, ``replays`` = batched trial replays."""

    z: torch.Tensor
    loss: torch.Tensor
    iterations: torch.Tensor
    reason: torch.Tensor
    jacobian_evals: int
    replay_evals: int
    passes: int
    replays: int

    @property
    def converged(self) -> torch.Tensor:
        return (self.reason > 0) & (self.reason < REASONS.index("max_iter"))


def _solve(jtj: torch.Tensor, jte: torch.Tensor, lam: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """LM step ``-(A + lam D)^-1 g`` per group over the ``valid`` (free) columns; the others get a zero step."""
    diag = torch.diagonal(jtj, dim1=-2, dim2=-1)
    scale = diag.amax(-1, keepdim=True).clamp(min=1e-300)
    d = torch.where(valid, diag.clamp(min=1e-12 * scale), torch.ones_like(diag))
    a = torch.where(valid[..., None] & valid[..., None, :], jtj, torch.zeros_like(jtj))
    a = a + torch.diag_embed(lam[..., None] * d + torch.where(valid, 0.0, 1.0))
    g = torch.where(valid, jte, torch.zeros_like(jte))
    chol, info = torch.linalg.cholesky_ex(a)
    step = -torch.cholesky_solve(g[..., None], chol)[..., 0]
    bad = info != 0  # not positive definite despite damping: a gradient step of the same scale instead
    if bool(bad.any()):
        step = torch.where(bad[..., None], -g / (lam[..., None] * d + 1e-300), step)
    return torch.where(valid, step, torch.zeros_like(step))


def levenberg_marquardt(
    jacobian: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    valid: torch.Tensor,
    settings: LMSettings | None = None,
    progress: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> LMResult:
    """Minimise ``loss_g(z_g)`` for every group g.

    ``z0 [G, C]`` in [0, 1]. ``jacobian(z, idx)`` returns ``(loss [n], jtj [n, C, C], jte [n, C])`` for the
    groups ``idx`` (long [n]) at ``z [n, C]``, with ``loss = sum w e^2 / norm`` and ``jtj``, ``jte`` scaled by
    the same ``1 / norm``; ``loss_of(z, idx)`` returns the loss alone. ``valid [G, C]``: the columns each group
    really has. ``progress(iteration, loss [G], reason [G])`` is called after every iteration."""
    s = settings or LMSettings()
    z = z0.clone()
    ng = z.shape[0]
    dev = z.device
    reason = torch.zeros(ng, dtype=torch.long, device=dev)
    iters = torch.zeros(ng, dtype=torch.long, device=dev)
    lam = torch.full((ng,), s.lambda0, dtype=z.dtype, device=dev)
    nu = torch.full((ng,), 2.0, dtype=z.dtype, device=dev)
    loss = torch.full((ng,), float("inf"), dtype=z.dtype, device=dev)
    jtj = torch.zeros(ng, z.shape[1], z.shape[1], dtype=z.dtype, device=dev)
    jte = torch.zeros_like(z)
    stale = torch.ones(ng, dtype=torch.bool, device=dev)  # J must be (re)computed at z
    counts = {"jacobian": 0, "replay": 0, "passes": 0, "replays": 0}
    for it in range(1, s.max_iter + 1):
        act = reason == 0
        need = act & stale
        if bool(need.any()):
            idx = need.nonzero()[:, 0]
            lj, aj, gj = jacobian(z[idx], idx)
            loss[idx], jtj[idx], jte[idx] = lj, aj, gj
            stale[idx] = False
            counts["jacobian"] += len(idx)
            counts["passes"] += 1
            exact = need & (loss <= s.atol**2)
            reason[exact] = REASONS.index("exact")
            gnorm = jte.abs() / (torch.diagonal(jtj, dim1=-2, dim2=-1) * loss[:, None]).clamp(min=1e-300).sqrt()
            free = valid & ~(((z <= 0.0) & (jte > 0)) | ((z >= 1.0) & (jte < 0)))
            small_g = need & (reason == 0) & (torch.where(free, gnorm, 0.0).amax(-1) <= s.gtol)
            reason[small_g] = REASONS.index("gtol")
        act = reason == 0
        if not bool(act.any()):
            break
        idx = act.nonzero()[:, 0]
        zi, gi = z[idx], jte[idx]
        held = ((zi <= 0.0) & (gi > 0)) | ((zi >= 1.0) & (gi < 0))
        trial = (zi + _solve(jtj[idx], gi, lam[idx], valid[idx] & ~held)).clamp(0.0, 1.0)
        step = trial - zi
        new = loss_of(trial, idx)
        counts["replay"] += len(idx)
        counts["replays"] += 1
        old = loss[idx]
        a_i, g_i = jtj[idx], jte[idx]
        pred = -(2.0 * (step * g_i).sum(-1) + (step[:, None, :] @ a_i @ step[:, :, None])[:, 0, 0])
        actual = old - new
        ok = torch.isfinite(new) & (actual > 0)
        rho = torch.where(pred > 0, actual / pred.clamp(min=1e-300), torch.zeros_like(actual))
        lam_ok = lam[idx] * torch.clamp(1.0 - (2.0 * rho - 1.0) ** 3, min=1.0 / 3.0)
        lam[idx] = torch.where(ok, lam_ok, lam[idx] * nu[idx])
        nu[idx] = torch.where(ok, torch.full_like(nu[idx], 2.0), nu[idx] * 2.0)
        # converged when both decreases are negligible -- or a rejected step's model predicts nothing to gain
        ftol_hit = (ok & (actual <= s.ftol * old) | ~ok) & (pred.abs() <= s.ftol * old)
        xtol_hit = ok & (step.abs().amax(-1) <= s.xtol * (trial.abs().amax(-1) + s.xtol))
        stalled = ~ok & (lam[idx] > LAMBDA_MAX)
        z[idx] = torch.where(ok[:, None], trial, z[idx])
        loss[idx] = torch.where(ok, new, old)
        stale[idx] = ok
        iters[idx] += 1
        r = torch.zeros_like(idx)
        r = torch.where(stalled, REASONS.index("stalled"), r)
        r = torch.where(xtol_hit, REASONS.index("xtol"), r)
        r = torch.where(ftol_hit, REASONS.index("ftol"), r)
        reason[idx] = torch.where(ok & (new <= s.atol**2), REASONS.index("exact"), r)
        if progress is not None:
            progress(it, loss, reason)
    reason[reason == 0] = REASONS.index("max_iter")
    return LMResult(
        z=z,
        loss=loss,
        iterations=iters,
        reason=reason,
        jacobian_evals=counts["jacobian"],
        replay_evals=counts["replay"],
        passes=counts["passes"],
        replays=counts["replays"],
    )
