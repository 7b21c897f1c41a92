"""Flat parameter storage and a lean Adam on it.

Every network's parameters live in one contiguous 1-D tensor (``FlatParams.data``); the module's
``nn.Parameter``s are views into it. That makes an optimiser step, a gradient clip, a Polyak update,
a backup/restore or a checkpoint a handful of vector ops instead of one op per tensor, which is
what dominates the cost of the small networks used here (see benchmarks/learner_cost.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FlatParams:
    """Re-points every parameter of ``module`` to a view of one flat tensor ``self.data``.

    Build the module on its final device and dtype first (``module.to`` afterwards would break
    the views). ``self.params`` lists the parameters in flat order (registration order).
    """

    def __init__(self, module: nn.Module):
        named = list(module.named_parameters())
        if not named:
            raise ValueError(f"{type(module).__name__} has no parameters")
        self.module = module
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.data = torch.cat([p.detach().reshape(-1) for _, p in named]).contiguous()
        self.params: list[nn.Parameter] = []
        offset = 0
        for (name, _), shape, n in zip(named, self.shapes, self.numels):
            owner = module
            *path, leaf = name.split(".")
            for part in path:
                owner = getattr(owner, part)
            param = nn.Parameter(self.data[offset : offset + n].view(shape))
            owner._parameters[leaf] = param
            self.params.append(param)
            offset += n

    @property
    def numel(self) -> int:
        return self.data.numel()

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Name -> view of ``flat`` (same layout as ``self.data``), for ``torch.func.functional_call``."""
        out, offset = {}, 0
        for name, shape, n in zip(self.names, self.shapes, self.numels):
            out[name] = flat[offset : offset + n].view(shape)
            offset += n
        return out

    def grad(self, loss: torch.Tensor, retain_graph: bool = False) -> torch.Tensor:
        """Flat gradient of a scalar ``loss`` w.r.t. the parameters (zeros where unused)."""
        grads = torch.autograd.grad(loss, self.params, retain_graph=retain_graph, allow_unused=True)
        return self.cat(grads)

    def cat(self, grads) -> torch.Tensor:
        """Concatenate per-parameter gradients (None -> zeros) into one flat vector."""
        return torch.cat(
            [
                (torch.zeros(n, device=self.data.device, dtype=self.data.dtype) if g is None else g.reshape(-1))
                for g, n in zip(grads, self.numels)
            ]
        )

    @torch.no_grad()
    def copy_(self, flat: torch.Tensor) -> None:
        self.data.copy_(flat)

    def clone(self) -> torch.Tensor:
        return self.data.detach().clone()


def clip_grad(grad: torch.Tensor, max_norm: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Global-norm clip as ``torch.nn.utils.clip_grad_norm_`` (coef = max_norm/(norm+1e-6), at most 1).

    Returns ``(clipped_grad, norm_before, norm_after)``; the norms are 0-d tensors (no host sync).
    """
    norm = torch.linalg.vector_norm(grad)
    if max_norm is None or max_norm <= 0:
        return grad, norm, norm
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    clipped = grad * coef
    return clipped, norm, norm * coef


class FlatAdam:
    """Adam (Kingma & Ba; identical update to ``torch.optim.Adam`` without weight decay/amsgrad).

    Several FlatAdams may share one FlatParams (GI-PPO's alpha-fit and PPO optimisers).
    ``lr`` is a plain attribute so schedules can set it.
    """

    def __init__(self, flat: FlatParams, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.flat = flat
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.exp_avg = torch.zeros_like(flat.data)
        self.exp_avg_sq = torch.zeros_like(flat.data)
        self.steps = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.steps += 1
        self.exp_avg.mul_(b1).add_(grad, alpha=1.0 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        bias1 = 1.0 - b1**self.steps
        bias2 = 1.0 - b2**self.steps
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(bias2)).add_(self.eps)
        self.flat.data.addcdiv_(self.exp_avg, denom, value=-self.lr / bias1)

    def state_dict(self) -> dict:
        return {
            "exp_avg": self.exp_avg.clone(),
            "exp_avg_sq": self.exp_avg_sq.clone(),
            "steps": self.steps,
            "lr": self.lr,
        }

    def load_state_dict(self, state: dict) -> None:
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.steps = int(state["steps"])
        self.lr = float(state["lr"])


class Snapshot:
    """Copies of some FlatParams and FlatAdams, restorable in place (backup before a risky update)."""

    def __init__(self, flats: list[FlatParams], optims: list[FlatAdam] = ()):
        self.flats = list(flats)
        self.optims = list(optims)
        self.data = [f.clone() for f in self.flats]
        self.states = [o.state_dict() for o in self.optims]

    @torch.no_grad()
    def restore(self) -> None:
        for f, d in zip(self.flats, self.data):
            f.copy_(d)
        for o, s in zip(self.optims, self.states):
            o.load_state_dict(s)
