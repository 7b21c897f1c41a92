"""Standard errors of fitted parameters from the Gauss-Newton approximation of the Hessian.

For a least-squares fit with ``n`` residuals and ``C`` parameters, ``Cov = s^2 (J^T W J)^-1`` with
``s^2 = sum w e^2 / (n - C)``, evaluated at the solution with ``J`` taken with respect to the physical
parameters. This assumes independent residuals; car-following residuals are autocorrelated along a
trajectory (model error accumulates), so with real data these are lower bounds on the uncertainty.
"""

from __future__ import annotations

import torch


def standard_errors(jtj: torch.Tensor, ssr: torch.Tensor, samples: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-column standard errors ``[G, C]`` from ``jtj [G, C, C]``, ``ssr [G]`` and ``samples [G]``; NaN for
    columns that are not ``valid`` or whose parameter is not identified (a singular ``J^T W J``)."""
    ncol = valid.sum(-1)
    dof = (samples - ncol).clamp(min=1).to(jtj.dtype)
    s2 = ssr / dof
    a = torch.where(valid[..., None] & valid[..., None, :], jtj, torch.zeros_like(jtj))
    a = a + torch.diag_embed(torch.where(valid, 0.0, 1.0).to(jtj.dtype))
    # scale to unit diagonal first: the inverse's conditioning then reflects identifiability, not units
    d = torch.diagonal(a, dim1=-2, dim2=-1).clamp(min=1e-300).sqrt()
    corr = a / (d[..., :, None] * d[..., None, :])
    evals, evecs = torch.linalg.eigh(corr)
    ok = evals > 1e-12 * evals.amax(-1, keepdim=True)
    inv_diag = (evecs**2 / torch.where(ok, evals, torch.ones_like(evals))[..., None, :]).sum(-1)
    singular = ((evecs**2) * (~ok)[..., None, :]).sum(-1) > 1e-6
    var = s2[:, None] * inv_diag / (d * d)
    se = var.clamp(min=0).sqrt()
    return torch.where(valid & ~singular, se, torch.full_like(se, float("nan")))
