"""GI-PPO's alpha machinery as small pure functions (paper sec. 4.3.1, Lemma 4.4; docs/reference.md §A6-§A8)."""

from __future__ import annotations

import torch


def alpha_targets(actions: torch.Tensor, adv_grads: torch.Tensor, alpha: float) -> torch.Tensor:
    """Targets of the alpha-policy in pre-tanh space: a_hat = a + alpha * dA/da (eq. 8)."""
    return actions + alpha * adv_grads


def clip_to_median_multiple(grads: torch.Tensor, multiple: float | None) -> tuple[torch.Tensor, float]:
    """Rows of ``grads [N, A]`` whose L2 norm exceeds ``multiple`` x the median row norm, scaled down to it.

    Returns the clipped rows and the fraction of rows clipped (``multiple`` None: unchanged, 0.0). A
    safeguard, not in the paper, for simulators whose dA/da has a heavy tail (contacts: docs/RESULTS.md, Hopper).
    """
    assert grads.dim() == 2, f"grads: expected [N, A], got {list(grads.shape)}"
    if multiple is None:
        return grads, 0.0
    norms = torch.linalg.vector_norm(grads, dim=-1)
    cap = multiple * norms.median()
    over = norms > cap
    scale = torch.where(over, cap / norms, torch.ones_like(norms))  # norms > cap >= 0 where it is used
    return grads * scale.unsqueeze(-1), float(over.float().mean())


def alpha_fit_loss(mu: torch.Tensor, logstd: torch.Tensor, eps: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 10 with the stored noise: mean over samples of sum_d (mu + sigma * eps - a_hat)^2."""
    diff = mu + torch.exp(logstd) * eps - targets
    return (diff * diff).sum(-1).mean()


def est_det(logstd_new: torch.Tensor, logstd_old: torch.Tensor) -> torch.Tensor:
    """det(I + alpha * Hessian) per sample by Lemma 4.4: prod sigma_new / prod sigma_old ``[N]``.

    With g(s, eps) = mu(s) + sigma(s) * eps the Jacobian d g/d eps is diag(sigma), so the ratio of
    determinants is the ratio of std products; mu plays no part.
    """
    return torch.exp(logstd_new.sum(-1) - logstd_old.sum(-1))


def det_alpha_update(
    alpha: float,
    did_converge: bool,
    det_min: float,
    det_max: float,
    interval: float,
    factor: float,
    max_alpha: float,
) -> float:
    """Variance criterion (§A8, step 5): shrink alpha by ``factor`` if any estimate leaves [1-d, 1+d],
    grow it otherwise; unchanged when the alpha fit did not converge. Clipped to ``max_alpha``."""
    if not did_converge:
        nxt = alpha
    elif det_min < 1.0 - interval or det_max > 1.0 + interval:
        nxt = alpha / factor
    else:
        nxt = alpha * factor
    return min(nxt, max_alpha)


def fit_lr_after_failure(lr: float, rule: str, factor: float) -> float:
    """Alpha-fit lr after an epoch whose fit did not converge (§A8; G≠D).

    ``"update_factor"`` ([D], traffic/physics ground truth): lr / factor, no floor.
    ``"fixed"`` ([G]): lr / 1.5 with a floor of 1e-5.
    """
    if rule == "update_factor":
        return lr / factor
    if rule == "fixed":
        return max(lr / 1.5, 1e-5)
    raise ValueError(f"alpha_fit_lr_rule: unknown {rule!r}; choose 'update_factor' or 'fixed'")


def policy_ratio(neglogp_old: torch.Tensor, neglogp_alpha: torch.Tensor, max_log: float = 16.0) -> torch.Tensor:
    """rho = pi_alpha / pi_old on the rollout actions, log clamped at ``max_log`` (§A8)."""
    return torch.exp(torch.clamp(neglogp_old - neglogp_alpha, max=max_log))


def out_of_range_ratio(ratio: torch.Tensor, e_clip: float) -> torch.Tensor:
    """Eq. 12: fraction of samples with rho < 1 - e_clip or rho > 1 + e_clip (0-d tensor)."""
    out = (ratio < 1.0 - e_clip) | (ratio > 1.0 + e_clip)
    return out.to(ratio.dtype).mean()


def expected_additional_return(advantages: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """R_alpha = sum_i A_i * rho_i - sum_i A_i (eq. 16 without 1/N, unnormalised GAE advantages)."""
    return (advantages * (ratio - 1.0)).sum()


def bias_or_oorr_shrinks(oorr: float, r_alpha: float, r_alpha_normalised: float, max_oorr: float) -> bool:
    """§A8 step 7: shrink alpha if OORR > max_oorr or (R_alpha < 0 and its normalised value < -1)."""
    return oorr > max_oorr or (r_alpha < 0.0 and r_alpha_normalised < -1.0)
