"""RP: the reparameterised analytic policy gradient through the window, SHAC-like (paper 7.2.2; docs/reference.md §B).

Per epoch:
1. roll out H steps keeping the full graph (simulator, actor, target critic);
2. per segment start s (t = 0 and every reset), the objective J_s = A_s + V_s with
   A = GAE(lambda = ``actor_lambda``): with lambda = 1 ([D]) that is the discounted reward sum of the
   segment plus gamma^len V_target(s_end) (0 after a true termination) -- SHAC's truncated objective;
3. loss = -(1/#segments) sum_s J_s (``rp_normalizer: steps`` divides by H*N instead), one backward
   through the simulator, one Adam step (betas 0.7/0.95, linear lr decay, clip 1.0);
4. critic fit on GAE(lambda = ``lam``) targets, then the Polyak target update.
"""

from __future__ import annotations

import torch

from .base import ActorAdamLearner


class RP(ActorAdamLearner):
    name = "rp"

    def rp_objective(self, ro) -> torch.Tensor:
        """-(mean over segments of A_s + V_s): the loss whose gradient is the RP gradient (in the graph)."""
        adv = self.advantages(ro, self.config["actor_lambda"], graph=True)
        starts = ro.starts.to(adv.dtype)
        total = ((adv + ro.values) * starts).sum()
        denom = starts.sum() if self.config["rp_normalizer"] == "segments" else float(starts.numel())
        return -total / denom

    def train_epoch(self) -> dict[str, float]:
        ro = self.collect(graph="params")
        loss = self.rp_objective(ro)
        with self.timer("time/bwd_sim"):
            grad = self.actor_flat.grad(loss)
        with self.timer("time/actor_update"):
            self.actor_opt.lr = self.actor_lr()
            snap = self.snapshot([self.actor_flat], [self.actor_opt])
            before, after = self.gradient_step(self.actor_opt, grad)
            ok = self.guard_ok(snap, [loss.detach(), before], [self.actor_flat])
        metrics = {
            "losses/actor": float(loss.detach()),
            "grad/norm_before_clip": float(before) if ok else float("nan"),
            "grad/norm_after_clip": float(after) if ok else float("nan"),
            "grad/actor_lr": self.actor_opt.lr,
        }
        metrics.update(self.update_critic(ro, self.advantages(ro, self.lam)))
        return metrics
