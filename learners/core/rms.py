"""Running mean/variance (parallel-moments update, as rl_games/SHAC) with an affine, differentiable map."""

from __future__ import annotations

import torch


class RunningMeanStd:
    """Mean and (biased) variance of a stream of ``[N, *shape]`` batches.

    ``normalize(x) = (x - mean) / sqrt(var + 1e-5)`` and ``denormalize`` are affine, so gradients
    flow through them. ``frozen()`` returns an independent copy (used for a whole epoch, docs/reference.md §A3).
    Non-finite rows can be excluded from an update with ``mask`` (no host sync).
    """

    VAR_EPS = 1e-5

    def __init__(self, shape=(), device=None, dtype=torch.float32, epsilon: float = 1e-4):
        self.mean = torch.zeros(shape, device=device, dtype=dtype)
        self.var = torch.ones(shape, device=device, dtype=dtype)
        self.count = torch.tensor(epsilon, device=device, dtype=torch.float64)

    @torch.no_grad()
    def update(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Fold the batch ``x`` ``[N, *shape]`` in; rows where ``mask`` is False are ignored."""
        x = x.detach().to(self.mean.dtype)
        if mask is None:
            n = torch.tensor(float(x.shape[0]), device=x.device, dtype=torch.float64)
            batch_mean = x.mean(0)
            batch_var = x.var(0, unbiased=False)
        else:
            w = mask.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
            x = torch.where(w > 0, x, torch.zeros_like(x))
            n = w.sum().to(torch.float64)
            denom = torch.clamp(n, min=1.0).to(x.dtype)
            batch_mean = (x * w).sum(0) / denom
            batch_var = (((x - batch_mean) ** 2) * w).sum(0) / denom
        total = self.count + n
        frac_b = (n / total).to(x.dtype)
        frac_ab = (self.count * n / total / total).to(x.dtype)
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * frac_b
        self.var = self.var * (self.count / total).to(x.dtype) + batch_var * frac_b + delta * delta * frac_ab
        self.count = total

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / torch.sqrt(self.var + self.VAR_EPS)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.sqrt(self.var + self.VAR_EPS) + self.mean

    def frozen(self) -> RunningMeanStd:
        copy = RunningMeanStd.__new__(RunningMeanStd)
        copy.mean, copy.var, copy.count = self.mean.clone(), self.var.clone(), self.count.clone()
        return copy

    def state_dict(self) -> dict:
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.mean = state["mean"].to(self.mean.device, self.mean.dtype).clone()
        self.var = state["var"].to(self.var.device, self.var.dtype).clone()
        self.count = state["count"].to(self.count.device, torch.float64).clone()
