"""Gaussian policy helpers in pre-tanh action space (docs/reference.md §A2, §A9, §A11).

The log-probability is that of the pre-tanh Gaussian, with no tanh Jacobian correction, exactly
as the authors' code: neglogp(a) = 1/2 sum(((a - mu)/sigma)^2) + D/2 log(2 pi) + sum(log sigma).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG2 = math.log(2.0)


def neglogp(action: torch.Tensor, mu: torch.Tensor, logstd: torch.Tensor) -> torch.Tensor:
    """-log N(action; mu, exp(logstd)) summed over the last dim: ``[..., D] -> [...]``."""
    z = (action - mu) * torch.exp(-logstd)
    return 0.5 * (z * z).sum(-1) + 0.5 * math.log(2.0 * math.pi) * action.shape[-1] + logstd.sum(-1)


def mixture_neglogp(n0: torch.Tensor, n1: torch.Tensor) -> torch.Tensor:
    """-log of the even mixture pi_h = (pi_0 + pi_1)/2 from n0 = -log pi_0 and n1 = -log pi_1 (stable).

    -log pi_h = log 2 - log(e^-n0 + e^-n1) = log 2 + n0 - softplus(n0 - n1).
    """
    return LOG2 + n0 - F.softplus(n0 - n1)


def gaussian_kl(mu0, sigma0, mu1, sigma1) -> torch.Tensor:
    """rl_games' ``policy_kl``: mean over the batch of KL(p0 || p1) summed over dims, with its 1e-5 guards."""
    kl = (
        torch.log(sigma1 / sigma0 + 1e-5)
        + (sigma0 * sigma0 + (mu1 - mu0) * (mu1 - mu0)) / (2.0 * sigma1 * sigma1 + 1e-5)
        - 0.5
    )
    return kl.sum(-1).mean()
