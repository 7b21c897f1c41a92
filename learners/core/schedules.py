"""Learning-rate schedules (docs/reference.md §A11)."""

from __future__ import annotations


def linear_lr(lr0: float, epoch: int, max_epochs: int, min_lr: float = 1e-5) -> float:
    """lr_e = lr0 + (min_lr - lr0) * epoch / max_epochs, applied at the start of each epoch.

    Held at ``min_lr`` once ``epoch >= max_epochs`` (a run continued past ``max_epochs``).
    """
    frac = min(max(epoch / max(max_epochs, 1), 0.0), 1.0)
    return lr0 + (min_lr - lr0) * frac


def adaptive_kl_lr(lr: float, kl: float, threshold: float, min_lr: float = 1e-6, max_lr: float = 1e-2) -> float:
    """rl_games' legacy ``AdaptiveScheduler``: KL above 2*thr -> lr/1.5; below thr/2 -> lr*1.5 (clamped)."""
    if kl > 2.0 * threshold:
        return max(lr / 1.5, min_lr)
    if kl < 0.5 * threshold:
        return min(lr * 1.5, max_lr)
    return lr
