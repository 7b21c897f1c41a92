"""LR+RP: inverse-variance interpolation of the LR and RP gradients (Parmas et al. 2018; paper 7.4.1).

Per epoch:
1. roll out H steps keeping the full graph (as RP);
2. RP: J_s = A_s + V_s per segment start (A = GAE(``actor_lambda``)); grad_RP of -(1/#seg) sum_s J_s.
   Per-trajectory gradients of -J_s for the first ``lrp_samples`` segment starts in (t, env) order;
3. LR: grad_LR of mean(A_norm * neglogp(a|s)); per-sample gradients of A_norm_i * neglogp_i for
   ``lrp_samples`` random samples;
4. Var_X = trace of the sample covariance of the per-sample gradients (optionally truncated to the
   first ``lrp_truncate`` entries, [G]; docs/reference.md §B); k_LR = Var_RP / (Var_LR + Var_RP + eps);
5. one Adam step on k_LR grad_LR + (1 - k_LR) grad_RP (betas 0.7/0.95, linear lr decay, clip 1.0);
6. critic fit on GAE(``lam``) targets, Polyak target update.

``lrp_method: batched`` (default) gets every per-trajectory RP gradient from the SAME single backward
as grad_RP (which also returns the adjoints of every actor output) plus one ordinary forward/backward
of the actor over the selected segments' stored observations, contracted per segment
(core/per_sample.py ``per_segment_grads``); the LR per-sample gradients are the same contraction with
the analytic adjoints of A * neglogp. ``loop`` backpropagates each sample separately like the authors' code.
"""

from __future__ import annotations

import torch

from .base import flatten_batch
from .core.distributions import neglogp
from .core.per_sample import (
    per_objective_grads_loop,
    per_sample_grads_loop,
    per_segment_grads,
    trace_cov,
)
from .rp import RP


def lr_sample_loss(out, actions, adv):
    mu, logstd = out
    return (adv * neglogp(actions, mu, logstd)).sum()


def lr_output_adjoints(mu, logstd, actions, adv) -> tuple[torch.Tensor, torch.Tensor]:
    """d(A neglogp(a | mu, sigma))/d(mu, log sigma) per sample: (-A z/sigma, A (1 - z^2)), z = (a - mu)/sigma."""
    inv = torch.exp(-logstd)
    z = (actions - mu) * inv
    a = adv.unsqueeze(-1)
    return -a * z * inv, a * (1.0 - z * z)


class LRP(RP):
    name = "lrp"

    def train_epoch(self) -> dict[str, float]:
        cfg = self.config
        k = cfg["lrp_samples"]
        ro = self.collect(graph="params")

        # RP: the full-batch gradient and the per-trajectory gradients
        adv_g = self.advantages(ro, cfg["actor_lambda"], graph=True)
        starts = ro.starts.to(adv_g.dtype)
        neg_j = -(adv_g + ro.values)  # -J at every (t, env); only segment starts are used
        denom = starts.sum() if cfg["rp_normalizer"] == "segments" else float(starts.numel())
        sel = ro.starts.reshape(-1).nonzero().squeeze(-1)[:k]  # first k starts, (t, env) order
        t_sel, b_sel = sel // self.num_envs, sel % self.num_envs
        with self.timer("time/bwd_sim"):
            if cfg["lrp_method"] == "batched":
                g_rp, per_rp = self.rp_grads_batched(ro, (neg_j * starts).sum(), t_sel, b_sel)
            else:
                per_rp = per_objective_grads_loop(
                    [neg_j[t, b] for t, b in zip(t_sel.tolist(), b_sel.tolist())], self.actor_flat
                )
                g_rp = self.actor_flat.grad((neg_j * starts).sum())
            g_rp = g_rp / denom
        loss_rp = float((neg_j.detach() * starts).sum() / denom)
        del neg_j, adv_g

        with self.timer("time/actor_update"):
            # LR: the full-batch gradient and per-sample gradients
            a_lr = flatten_batch(self.advantages(ro, cfg["actor_lambda"]))
            a_lr = self.normalise(a_lr) if cfg["normalize_advantage"] else a_lr
            obs, actions = flatten_batch(ro.obs), flatten_batch(ro.actions)
            mu, logstd = self.actor(obs)
            loss_lr = (a_lr * neglogp(actions, mu, logstd)).mean()
            g_lr = self.actor_flat.grad(loss_lr)
            idx = torch.randperm(obs.shape[0], generator=self.gen, device=self.device)[:k]
            if cfg["lrp_method"] == "batched":  # per-sample gradients as 1-step "segments"
                adj = lr_output_adjoints(mu.detach()[idx], logstd.detach()[idx], actions[idx], a_lr[idx])
                per_lr = per_segment_grads(
                    self.actor, self.actor_flat, obs[idx, None], (adj[0][:, None], adj[1][:, None])
                )
            else:
                per_lr = per_sample_grads_loop(
                    self.actor, self.actor_flat, lr_sample_loss, obs[idx], actions[idx], a_lr[idx]
                )

            # inverse-variance weights
            cut = cfg["lrp_truncate"]
            var_lr = trace_cov(per_lr[:, :cut] if cut else per_lr)
            var_rp = trace_cov(per_rp[:, :cut] if cut else per_rp)
            k_lr = var_rp / (var_lr + var_rp + cfg["lrp_var_eps"])
            grad = k_lr * g_lr + (1.0 - k_lr) * g_rp
            self.actor_opt.lr = self.actor_lr()
            snap = self.snapshot([self.actor_flat], [self.actor_opt])
            before, after = self.gradient_step(self.actor_opt, grad)
            ok = self.guard_ok(snap, [before, k_lr], [self.actor_flat])
        metrics = {
            "losses/actor_rp": loss_rp,
            "losses/actor_lr": float(loss_lr.detach()),
            "grad/k_lr": float(k_lr),
            "grad/var_lr": float(var_lr),
            "grad/var_rp": float(var_rp),
            "grad/norm_before_clip": float(before) if ok else float("nan"),
            "grad/norm_after_clip": float(after) if ok else float("nan"),
            "grad/actor_lr": self.actor_opt.lr,
        }
        metrics.update(self.update_critic(ro, self.advantages(ro, self.lam)))
        return metrics

    def rp_grads_batched(self, ro, total_neg_j, t_sel, b_sel):
        """grad of sum_s -J_s and the per-segment gradients of the selected segments from ONE backward.

        The backward also returns dJ/du_t for every actor output u_t = (mu_t, logstd_t); segments are
        disjoint, so each (t, env)'s adjoint belongs to exactly one segment's objective. Each selected
        segment's parameter gradient is then sum_t <adjoint_t, du_t/dtheta> (vmapped VJP on stored obs).
        """
        flat = self.actor_flat
        mus = [m for m, _ in ro.actor_out]
        logstds = [s for _, s in ro.actor_out]
        grads = torch.autograd.grad(total_neg_j, flat.params + mus + logstds, allow_unused=True)
        P, H = len(flat.params), ro.horizon
        g_total = flat.cat(grads[:P])
        adj_mu = torch.stack([torch.zeros_like(m) if g is None else g for g, m in zip(grads[P : P + H], mus)])
        adj_ls = torch.stack([torch.zeros_like(s) if g is None else g for g, s in zip(grads[P + H :], logstds)])
        seg_id = torch.cumsum(ro.starts.to(torch.long), dim=0)  # [H, B] segment index per env
        mask = (seg_id[:, b_sel] == seg_id[t_sel, b_sel]).T.unsqueeze(-1).to(adj_mu.dtype)  # [k, H, 1]
        obs_seg = ro.obs[:, b_sel].transpose(0, 1)  # [k, H, D]
        adj = (adj_mu[:, b_sel].transpose(0, 1) * mask, adj_ls[:, b_sel].transpose(0, 1) * mask)
        return g_total, per_segment_grads(self.actor, flat, obs_seg, adj)
