"""PPO: rl_games-style clipped surrogate on the shared critic (paper 7.4.1; docs/reference.md §A9, §B).

Per epoch:
1. roll out H steps without a graph;
2. advantages A = GAE(lambda = ``lam``) with the target critic;
3. critic fit on A + V_target, Polyak target update (PPO then uses the pre-update advantages);
4. PPO: ``mini_epochs`` passes over contiguous minibatches of the batch (A normalised once),
   r = pi_theta/pi_old with log r clamped at ``log_ratio_max``, loss = mean(max(-A r, -A clip(r))),
   the stable-PPO guard and optionally the KL-adaptive lr (core/ppo_update.py). No entropy term.
"""

from __future__ import annotations

import torch

from .base import Learner, flatten_batch
from .core.flat import FlatAdam
from .core.ppo_update import PPOBatch, PPOSettings, run_ppo


class PPO(Learner):
    name = "ppo"

    def setup(self) -> None:
        cfg = self.config
        self.ppo_lr = cfg["actor_lr"]
        self.ppo_opt = FlatAdam(self.actor_flat, self.ppo_lr, cfg["ppo_betas"], eps=1e-8)

    def ppo_settings(self) -> PPOSettings:
        cfg = self.config
        return PPOSettings(
            mini_epochs=cfg["mini_epochs"],
            minibatch_size=cfg["minibatch_size"],
            e_clip=cfg["e_clip"],
            grad_norm=cfg["grad_norm"],
            log_ratio_max=cfg["log_ratio_max"],
            mixture_gap=cfg.get("mixture_gap", 4.0),
            stable=cfg["stable_ppo"],
            worse_rule=cfg["stable_ppo_rule"],
            max_tries=cfg["stable_ppo_tries"],
            lr_divisor=cfg["lr_divisor"],
            adaptive_kl=cfg["kl_threshold"] if cfg["ppo_lr_schedule"] == "adaptive" else None,
        )

    def ppo_batch(self, ro, adv: torch.Tensor, alpha_policy: tuple | None = None) -> PPOBatch:
        """The PPO data; ``alpha_policy = (mu, logstd, neglogp)`` of pi_alpha for GI-PPO (flattened)."""
        a = flatten_batch(adv.detach())
        mu, logstd = (
            (alpha_policy[0], alpha_policy[1]) if alpha_policy else (flatten_batch(ro.mu), flatten_batch(ro.logstd))
        )
        return PPOBatch(
            obs=flatten_batch(ro.obs),
            actions=flatten_batch(ro.actions),
            advantages=self.normalise(a) if self.config["normalize_advantage"] else a,
            neglogp_old=flatten_batch(ro.neglogp),
            mu_ref=mu.detach(),
            sigma_ref=torch.exp(logstd.detach()),
            neglogp_alpha=alpha_policy[2].detach() if alpha_policy else None,
        )

    def ppo_step(self, batch: PPOBatch) -> dict[str, float]:
        with self.timer("time/actor_update"):
            self.ppo_opt.lr = self.ppo_lr
            metrics, self.ppo_lr, poisoned = run_ppo(
                self.actor, self.actor_flat, self.ppo_opt, batch, self.ppo_settings()
            )
            if poisoned:
                self.nan_skips += 1
        return metrics

    def train_epoch(self) -> dict[str, float]:
        ro = self.collect(graph="none")
        adv = self.advantages(ro, self.lam)
        metrics = self.update_critic(ro, adv)
        metrics.update(self.ppo_step(self.ppo_batch(ro, adv)))
        return metrics

    def extra_state(self) -> dict:
        return {"ppo_opt": self.ppo_opt.state_dict(), "ppo_lr": self.ppo_lr}

    def load_extra_state(self, state: dict) -> None:
        self.ppo_opt.load_state_dict(state["ppo_opt"])
        self.ppo_lr = float(state["ppo_lr"])
