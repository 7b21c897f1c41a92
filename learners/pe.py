"""PE: policy enhancement (Qiao et al., ICML 2021, "Efficient differentiable simulation of articulated
bodies", sec. on RL), re-read for this on-policy actor-critic setting (docs/learners.md, "PE").

Qiao et al. add to a model-free policy loss a first-order term built from the simulator's gradient
of the one-step return at each stored sample, g = d(r + gamma V(s'))/da, evaluated at the stored
action a and applied to the action the current policy produces from the SAME noise, weighted by
how close that action still is to a (the linearisation is only valid near a):
    L_PE = -mean_i w_i * <g_i, a_theta(s_i, eps_i)>,   w_i = exp(-k ||a_theta(s_i, eps_i) - a_i||) (no grad).

Per epoch:
1. roll out H steps; ``pe_gradient: one_step`` detaches the simulator after every step so each
   (r_t, V(s_{t+1})) depends on a_t only, and one backward gives every g_t; ``gae`` uses dA_t/da_t
   (GI-PPO's eq. 15) instead;
2. the model-free term: LR with A = GAE(``actor_lambda``) normalised, L_LR = mean(A_norm neglogp(a|s));
   g is divided by the same advantage std so both terms are in normalised-advantage units;
3. ``pe_iterations`` Adam steps on ``pe_lr_coef`` * L_LR + L_PE (betas 0.7/0.95, linear lr decay, clip);
4. critic fit on GAE(``lam``) targets, Polyak target update.
"""

from __future__ import annotations

import torch

from .base import ActorAdamLearner, flatten_batch
from .core.advantages import advantage_action_grads
from .core.distributions import neglogp


def one_step_action_grads(ro, gamma: float) -> torch.Tensor:
    """g_t = d(r_t + gamma V'(s_{t+1}))/da_t for a ``one_step`` rollout, ``[H, B, A]`` (one backward)."""
    total = (ro.rewards + gamma * ro.next_values).sum()
    if not total.requires_grad:
        return torch.zeros_like(ro.actions)
    grads = torch.autograd.grad(total, ro.action_nodes, allow_unused=True)
    return torch.stack([torch.zeros_like(a) if g is None else g for g, a in zip(grads, ro.actions)]).detach()


def enhancement_loss(mu, logstd, eps, actions, action_grads, importance: float) -> torch.Tensor:
    """-mean(w * <g, a_theta>) with a_theta = mu + sigma * eps and w = exp(-k ||a_theta - a||) (detached)."""
    a_theta = mu + torch.exp(logstd) * eps
    w = torch.exp(-importance * torch.linalg.vector_norm(a_theta.detach() - actions, dim=-1))
    return -(w * (action_grads * a_theta).sum(-1)).mean()


class PE(ActorAdamLearner):
    name = "pe"

    def train_epoch(self) -> dict[str, float]:
        cfg = self.config
        one_step = cfg["pe_gradient"] == "one_step"
        ro = self.collect(graph="one_step" if one_step else "actions")
        with self.timer("time/bwd_sim"):
            if one_step:
                g = one_step_action_grads(ro, self.gamma)
            else:
                adv_g = self.advantages(ro, self.lam, graph=True)
                g = advantage_action_grads(adv_g, ro.starts, ro.action_nodes, self.gamma, self.lam)
        with self.timer("time/actor_update"):
            adv = flatten_batch(self.advantages(ro, cfg["actor_lambda"]))
            scale = adv.std() + 1e-8 if cfg["normalize_advantage"] else torch.ones((), dtype=adv.dtype)
            a_norm = (adv - adv.mean()) / scale if cfg["normalize_advantage"] else adv
            obs, eps, actions = flatten_batch(ro.obs), flatten_batch(ro.eps), flatten_batch(ro.actions)
            g = flatten_batch(g) / scale
            self.actor_opt.lr = self.actor_lr()
            snap = self.snapshot([self.actor_flat], [self.actor_opt])
            vals = []
            for _ in range(cfg["pe_iterations"]):
                mu, logstd = self.actor(obs)
                loss_lr = (a_norm * neglogp(actions, mu, logstd)).mean()
                loss_pe = enhancement_loss(mu, logstd, eps, actions, g, cfg["pe_importance"])
                loss = cfg["pe_lr_coef"] * loss_lr + loss_pe
                before, after = self.gradient_step(self.actor_opt, self.actor_flat.grad(loss))
                vals.append(torch.stack([loss_lr.detach(), loss_pe.detach(), before, after]))
            vals = torch.stack(vals)
            ok = self.guard_ok(snap, [vals], [self.actor_flat])
        metrics = {
            "losses/actor_lr": float(vals[0, 0]),
            "losses/actor_pe": float(vals[0, 1]),
            "grad/norm_before_clip": float(vals[:, 2].mean()) if ok else float("nan"),
            "grad/norm_after_clip": float(vals[:, 3].mean()) if ok else float("nan"),
            "grad/action_grad_norm": float(torch.linalg.vector_norm(g, dim=-1).mean()),
            "grad/actor_lr": self.actor_opt.lr,
        }
        metrics.update(self.update_critic(ro, self.advantages(ro, self.lam)))
        return metrics
