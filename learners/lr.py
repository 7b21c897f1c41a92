"""LR: the likelihood-ratio (REINFORCE) policy gradient with GAE advantages (paper 7.4.1; docs/reference.md §B).

Per epoch:
1. roll out H steps without a graph;
2. advantages A = GAE(lambda = ``actor_lambda``), normalised over the batch;
3. one Adam step (betas 0.7/0.95, linear lr decay, clip 1.0) on L = mean(A * neglogp(a|s));
4. critic fit on GAE(lambda = ``lam``) targets, then the Polyak target update.
"""

from __future__ import annotations

from .base import ActorAdamLearner, flatten_batch
from .core.distributions import neglogp


class LR(ActorAdamLearner):
    name = "lr"

    def train_epoch(self) -> dict[str, float]:
        ro = self.collect(graph="none")
        adv = self.advantages(ro, self.config["actor_lambda"])
        metrics = self.lr_step(ro, adv)
        metrics.update(self.update_critic(ro, self.advantages(ro, self.lam)))
        return metrics

    def lr_step(self, ro, adv) -> dict[str, float]:
        with self.timer("time/actor_update"):
            self.actor_opt.lr = self.actor_lr()
            a = flatten_batch(adv)
            a = self.normalise(a) if self.config["normalize_advantage"] else a
            mu, logstd = self.actor(flatten_batch(ro.obs))
            loss = (a * neglogp(flatten_batch(ro.actions), mu, logstd)).mean()
            snap = self.snapshot([self.actor_flat], [self.actor_opt])
            before, after = self.gradient_step(self.actor_opt, self.actor_flat.grad(loss))
            ok = self.guard_ok(snap, [loss, before], [self.actor_flat])
        return {
            "losses/actor": float(loss.detach()),
            "grad/norm_before_clip": float(before) if ok else float("nan"),
            "grad/norm_after_clip": float(after) if ok else float("nan"),
            "grad/actor_lr": self.actor_opt.lr,
        }
