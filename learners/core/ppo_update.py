"""Clipped-surrogate PPO actor update shared by PPO and GI-PPO (docs/reference.md §A9, §A11, §B).

* ratio r = pi_theta / pi_old (PPO; log r clamped at max ``log_ratio_max``) or, for GI-PPO,
  r = pi_theta / pi_h with pi_h = (pi_old + pi_alpha)/2, falling back to pi_alpha as the old policy when
  any sample of the minibatch has |n0 - n1| > ``mixture_gap`` (log r clamped to +-``log_ratio_max``).
* loss = mean(max(-A r, -A clip(r, 1 - e, 1 + e))), A normalised once over the whole batch.
* contiguous minibatches, ``mini_epochs`` passes, global-norm clipping, the actor's own Adam.
* stable-PPO guard: if the loss got worse ([G], the default: mean of the last mini-epoch > mean of the
  first; [D]: last minibatch loss > first, which compares different slices when there are several
  minibatches), restore the actor, retry with lr0/1.5, up to ``max_tries``.
* optional KL-adaptive lr (rl_games legacy AdaptiveScheduler) updated after every minibatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .distributions import gaussian_kl, mixture_neglogp, neglogp
from .flat import FlatAdam, FlatParams, Snapshot, clip_grad
from .schedules import adaptive_kl_lr


@dataclass
class PPOBatch:
    """Flattened (actor-major) PPO data, ``[N, ...]``, all detached."""

    obs: torch.Tensor
    actions: torch.Tensor
    advantages: torch.Tensor  # normalised
    neglogp_old: torch.Tensor
    mu_ref: torch.Tensor  # the policy the adaptive-lr KL starts from: pi_old (PPO) or pi_alpha (GI-PPO, as [D])
    sigma_ref: torch.Tensor
    neglogp_alpha: torch.Tensor | None = None  # GI-PPO only


@dataclass
class PPOSettings:
    mini_epochs: int = 5
    minibatch_size: int | None = None  # None = full batch
    e_clip: float = 0.2
    grad_norm: float | None = 1.0
    log_ratio_max: float = 64.0
    mixture_gap: float = 4.0
    stable: bool = True
    worse_rule: str = "mini_epoch_mean"  # "mini_epoch_mean" ([G]) or "minibatch" ([D])
    max_tries: int = 8
    lr_divisor: float = 1.5
    adaptive_kl: float | None = None  # KL threshold for the adaptive lr; None = constant lr


def clipped_surrogate(log_ratio: torch.Tensor, adv: torch.Tensor, e_clip: float) -> torch.Tensor:
    r = torch.exp(log_ratio)
    return torch.max(-adv * r, -adv * torch.clamp(r, 1.0 - e_clip, 1.0 + e_clip)).mean()


def ppo_log_ratio(n: torch.Tensor, n_old: torch.Tensor, max_log: float) -> torch.Tensor:
    """log(pi_theta/pi_old) = n_old - n, clamped at ``max_log`` from above."""
    return torch.clamp(n_old - n, max=max_log)


def gippo_log_ratio(n: torch.Tensor, n0: torch.Tensor, n1: torch.Tensor, gap: float, max_log: float) -> torch.Tensor:
    """log(pi_theta/pi_h), pi_h = (pi_old + pi_alpha)/2; plain pi_alpha if any |n0 - n1| > gap (no host sync)."""
    fallback = ((n0 - n1).abs() > gap).any()
    log_r = torch.where(fallback, n1 - n, mixture_neglogp(n0, n1) - n)
    return torch.clamp(log_r, -max_log, max_log)


def run_ppo(
    actor: torch.nn.Module,
    flat: FlatParams,
    optim: FlatAdam,
    data: PPOBatch,
    cfg: PPOSettings,
) -> tuple[dict, float, bool]:
    """Run the PPO epochs in place. Returns ``(metrics, next_lr, poisoned)``.

    ``next_lr`` is the lr the next epoch should start from ([G]: lr0 after a success, lr0/1.5 if
    every try got worse; with the adaptive schedule, the adapted lr). ``poisoned`` is True when a
    non-finite loss/gradient appeared: the actor and the optimiser were restored, nothing changed.
    """
    N = data.obs.shape[0]
    mb = N if not cfg.minibatch_size else min(int(cfg.minibatch_size), N)
    slices = [slice(i * mb, (i + 1) * mb) for i in range(max(N // mb, 1))]
    lr0 = optim.lr
    guard = Snapshot([flat], [optim])
    tries = cfg.max_tries if cfg.stable else 1
    success = False
    metrics: dict = {}
    for attempt in range(tries):
        optim.lr = lr0 if attempt == 0 else lr0 / cfg.lr_divisor
        mu_ref, sigma_ref = data.mu_ref.clone(), data.sigma_ref.clone()
        losses, norms_before, norms_after, clipfracs, kls = [], [], [], [], []
        for _ in range(cfg.mini_epochs):
            for sl in slices:
                mu, logstd = actor(data.obs[sl])
                n = neglogp(data.actions[sl], mu, logstd)
                if data.neglogp_alpha is None:
                    log_r = ppo_log_ratio(n, data.neglogp_old[sl], cfg.log_ratio_max)
                else:
                    log_r = gippo_log_ratio(
                        n, data.neglogp_old[sl], data.neglogp_alpha[sl], cfg.mixture_gap, cfg.log_ratio_max
                    )
                loss = clipped_surrogate(log_r, data.advantages[sl], cfg.e_clip)
                grad, nb, na = clip_grad(flat.grad(loss), cfg.grad_norm)
                optim.step(grad)
                losses.append(loss.detach())
                norms_before.append(nb)
                norms_after.append(na)
                clipfracs.append(((log_r.detach().exp() - 1.0).abs() > cfg.e_clip).to(loss.dtype).mean())
                if cfg.adaptive_kl is not None:
                    sigma = torch.exp(logstd.detach())
                    kl = gaussian_kl(mu.detach(), sigma, mu_ref[sl], sigma_ref[sl])
                    mu_ref[sl], sigma_ref[sl] = mu.detach(), sigma
                    kls.append(kl)
                    optim.lr = adaptive_kl_lr(optim.lr, float(kl), cfg.adaptive_kl)
        loss_t = torch.stack(losses)
        if not bool(torch.isfinite(loss_t).all() & torch.isfinite(torch.stack(norms_before)).all()):
            guard.restore()
            return {"losses/ppo": float("nan")}, lr0, True
        k = len(slices)
        if cfg.worse_rule == "minibatch":
            worse = bool(loss_t[-1] > loss_t[0])
        else:
            worse = bool(loss_t[-k:].mean() > loss_t[:k].mean())
        metrics = {
            "losses/ppo": float(loss_t.mean()),
            "losses/ppo_first": float(loss_t[0]),
            "losses/ppo_last": float(loss_t[-1]),
            "grad/norm_before_clip": float(torch.stack(norms_before).mean()),
            "grad/norm_after_clip": float(torch.stack(norms_after).mean()),
            "grad/ppo_clip_fraction": float(torch.stack(clipfracs).mean()),
            "grad/ppo_tries": attempt + 1,
        }
        if kls:
            metrics["grad/ppo_kl"] = float(torch.stack(kls).mean())
        if not (cfg.stable and worse):
            success = True
            break
        flat.copy_(guard.data[0])  # the authors' code restores the actor only, not the Adam moments
    if cfg.adaptive_kl is not None and success:
        next_lr = optim.lr
    else:
        next_lr = lr0 if success else lr0 / cfg.lr_divisor
    metrics["grad/ppo_lr"] = optim.lr
    metrics["grad/ppo_accepted"] = float(success)
    optim.lr = next_lr
    return metrics, next_lr, False
