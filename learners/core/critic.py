"""Critic fitting with a Polyak-averaged target critic (docs/reference.md §A10).

Targets y = A^GAE + V_target (no grad). Data: the epoch's N = B*H samples flattened actor-major,
split into ``num_batch`` contiguous minibatches, ``iterations`` passes (64 Adam steps by default).
MSE in raw return units (with value normalisation the prediction is de-normalised first). NaN/inf
gradient entries are zeroed, then global-norm clipping.
"""

from __future__ import annotations

import torch

from .flat import FlatAdam, FlatParams, clip_grad
from .rms import RunningMeanStd


def fit_critic(
    critic: torch.nn.Module,
    flat: FlatParams,
    optim: FlatAdam,
    obs: torch.Tensor,
    targets: torch.Tensor,
    value_rms: RunningMeanStd | None,
    iterations: int,
    num_batch: int,
    grad_norm: float | None,
) -> torch.Tensor:
    """Fit ``critic`` to ``targets`` ``[N]`` at ``obs`` ``[N, D]``; returns the mean loss (0-d tensor)."""
    assert obs.shape[0] == targets.shape[0], "fit_critic: obs and targets differ in length"
    obs_batches = torch.tensor_split(obs, num_batch)
    tgt_batches = torch.tensor_split(targets, num_batch)
    total = torch.zeros((), device=obs.device, dtype=obs.dtype)
    steps = 0
    for _ in range(iterations):
        for ob, tg in zip(obs_batches, tgt_batches):
            pred = critic(ob)
            if value_rms is not None:
                pred = value_rms.denormalize(pred)
            loss = ((pred - tg) ** 2).mean()
            grad = torch.nan_to_num(flat.grad(loss), nan=0.0, posinf=0.0, neginf=0.0)
            grad, _, _ = clip_grad(grad, grad_norm)
            optim.step(grad)
            total = total + loss.detach()
            steps += 1
    return total / max(steps, 1)


@torch.no_grad()
def polyak_update(target: FlatParams, source: FlatParams, alpha: float) -> None:
    """target <- alpha * target + (1 - alpha) * source (``target_critic_alpha`` = 0.2 in the paper)."""
    target.data.mul_(alpha).add_(source.data, alpha=1.0 - alpha)
