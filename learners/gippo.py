"""GI-PPO: Gradient Informed PPO (Son et al., NeurIPS 2023; Algorithm 1; docs/reference.md §A1-§A12).

Per epoch (alpha and the alpha-fit lr computed here take effect next epoch, as [D]):
1. roll out H steps keeping the graph through the simulator (``graph="actions"``);
2. GAE advantages A with the target critic (in the graph);
3. dA_t/da_t for every sample from ONE backward pass (eq. 15, core/advantages.py); optionally (not in the
   paper, ``adv_grad_clip``) each sample's norm capped at a multiple of the batch median;
4. alpha-policy fit: 16 Adam steps (own optimiser) on mean ||mu + sigma*eps - (a + alpha dA/da)||^2
   with the stored eps; if the last loss exceeds the first, restore the actor, lr /= 1.5 and retry
   (up to 8 times);
5. variance criterion: det(I + alpha H) ~ prod sigma_new / prod sigma_old (Lemma 4.4); alpha /= beta if
   any estimate leaves [1 - delta, 1 + delta], else alpha *= beta; a failed fit keeps alpha and lowers
   the fit lr ([D]: / beta; [G]: / 1.5 floored at 1e-5);
6. critic fit on A + V_target, Polyak target update;
7. bias / out-of-range check with the fitted pi_alpha: rho = pi_alpha/pi_old; OORR (eq. 12) and
   R_alpha = sum A (rho - 1) (eq. 16) normalised by a running mean/std of past values; if
   OORR > delta_oorr or (R_alpha < 0 and normalised R_alpha < -1): next alpha = alpha / beta;
8. PPO from the alpha-fitted actor with pi_h = (pi_old + pi_alpha)/2 as the importance distribution
   (eq. 18; fallback to pi_alpha when |n0 - n1| > 4), stable-PPO guard.
"""

from __future__ import annotations

import math

import torch

from .base import flatten_batch
from .core.advantages import advantage_action_grads
from .core.alpha import (
    alpha_fit_loss,
    alpha_targets,
    bias_or_oorr_shrinks,
    clip_to_median_multiple,
    det_alpha_update,
    est_det,
    expected_additional_return,
    fit_lr_after_failure,
    out_of_range_ratio,
    policy_ratio,
)
from .core.distributions import neglogp
from .core.flat import FlatAdam, Snapshot
from .core.per_sample import trace_cov
from .core.rms import RunningMeanStd
from .ppo import PPO


class GIPPO(PPO):
    name = "gippo"

    def setup(self) -> None:
        super().setup()
        cfg = self.config
        self.alpha = cfg["alpha0"]
        self.alpha_fit_lr = cfg["alpha_fit_lr"]
        self.alpha_opt = FlatAdam(self.actor_flat, self.alpha_fit_lr, cfg["alpha_fit_betas"])
        self.r_alpha_rms = RunningMeanStd((), device=self.device, dtype=torch.float64)

    def train_epoch(self) -> dict[str, float]:
        cfg = self.config
        # 1-3: rollout through the simulator, GAE, dA/da from one backward
        ro = self.collect(graph="actions")
        adv_graph = self.advantages(ro, self.lam, graph=True)
        with self.timer("time/bwd_sim"):
            adv_grad = advantage_action_grads(adv_graph, ro.starts, ro.action_nodes, self.gamma, self.lam)
        adv = adv_graph.detach()
        del adv_graph
        obs, eps, actions = flatten_batch(ro.obs), flatten_batch(ro.eps), flatten_batch(ro.actions)
        adv_grad = flatten_batch(adv_grad)
        adv_grad_var = float(trace_cov(adv_grad)) if adv_grad.shape[0] > 1 else math.nan  # before any clipping
        adv_grad, clipped = clip_to_median_multiple(adv_grad, cfg["adv_grad_clip"])

        with self.timer("time/actor_update"):
            # 4: fit the actor to the alpha-policy
            fit = self.fit_alpha_policy(obs, eps, alpha_targets(actions, adv_grad, self.alpha))
            with torch.no_grad():
                mu_a, logstd_a = self.actor(obs)
            # 5: variance criterion on det(I + alpha H)
            det = est_det(logstd_a, flatten_batch(ro.logstd))
            det_min, det_mean, det_max = (float(x) for x in (det.min(), det.mean(), det.max()))
            next_alpha = det_alpha_update(
                self.alpha,
                fit["converged"],
                det_min,
                det_max,
                cfg["det_interval"],
                cfg["alpha_factor"],
                cfg["max_alpha"],
            )
            if not fit["converged"]:
                self.alpha_fit_lr = fit_lr_after_failure(
                    self.alpha_fit_lr, cfg["alpha_fit_lr_rule"], cfg["alpha_factor"]
                )

        # 6: critic
        metrics = self.update_critic(ro, adv)

        with self.timer("time/actor_update"):
            # 7: bias and out-of-range checks with the fitted pi_alpha
            n_alpha = neglogp(actions, mu_a, logstd_a)
            rho = policy_ratio(flatten_batch(ro.neglogp), n_alpha)
            oorr = float(out_of_range_ratio(rho, cfg["e_clip"]))
            r_alpha = expected_additional_return(flatten_batch(adv), rho).to(torch.float64)
            r_alpha_n = float(self.r_alpha_rms.normalize(r_alpha))
            self.r_alpha_rms.update(r_alpha.reshape(1), mask=torch.isfinite(r_alpha).reshape(1))
            r_alpha = float(r_alpha)
            if bias_or_oorr_shrinks(oorr, r_alpha, r_alpha_n, cfg["max_oorr"]):
                next_alpha = min(self.alpha / cfg["alpha_factor"], cfg["max_alpha"])

        # 8: PPO with pi_h = (pi_old + pi_alpha) / 2
        metrics.update(self.ppo_step(self.ppo_batch(ro, adv, alpha_policy=(mu_a, logstd_a, n_alpha))))
        metrics.update(fit["metrics"])
        metrics.update({
            "grad/alpha": self.alpha,
            "grad/next_alpha": next_alpha,
            "grad/alpha_fit_lr": self.alpha_fit_lr,
            "grad/est_det_min": det_min,
            "grad/est_det_mean": det_mean,
            "grad/est_det_max": det_max,
            "grad/oorr": oorr,
            "grad/R_alpha": r_alpha,
            "grad/R_alpha_normalised": r_alpha_n,
            "grad/adv_grad_var": adv_grad_var,
            "grad/adv_var": float(flatten_batch(adv).var()) if adv.numel() > 1 else math.nan,
            "grad/adv_grad_clipped": clipped,
        })  # fmt: skip
        self.alpha = next_alpha
        return metrics

    def fit_alpha_policy(self, obs: torch.Tensor, eps: torch.Tensor, targets: torch.Tensor) -> dict:
        """Step 4 with the authors' safeguard (§A6); the actor ends at the fitted (or the original) policy."""
        cfg = self.config
        backup = Snapshot([self.actor_flat], [self.alpha_opt])
        lr = self.alpha_fit_lr
        first = last = math.nan
        converged, tries = False, 0
        norms = []
        for attempt in range(cfg["alpha_fit_tries"]):
            tries = attempt + 1
            self.alpha_opt.lr = lr
            losses = []
            for _ in range(cfg["alpha_fit_iterations"]):
                mu, logstd = self.actor(obs)
                loss = alpha_fit_loss(mu, logstd, eps, targets)
                before, after = self.gradient_step(self.alpha_opt, self.actor_flat.grad(loss))
                losses.append(loss.detach())
                norms.append(torch.stack([before, after]))
            first, last = (float(x) for x in torch.stack([losses[0], losses[-1]]))
            finite = math.isfinite(first) and math.isfinite(last) and bool(torch.isfinite(self.actor_flat.data).all())
            if not finite and cfg["nan_guard"]:
                backup.restore()
                self.nan_skips += 1
                first = last = math.nan
                break
            if last > first:  # the fit made things worse: restore, lower the lr, retry
                self.actor_flat.copy_(backup.data[0])
                lr /= cfg["lr_divisor"]
                continue
            converged = first > last
            break
        self.alpha_opt.lr = self.alpha_fit_lr
        nb = torch.stack(norms).mean(0) if norms else torch.full((2,), math.nan)
        return {
            "converged": converged,
            "metrics": {
                "losses/alpha_fit_first": first,
                "losses/alpha_fit_last": last,
                "grad/alpha_fit_loss_ratio": last / first if first and math.isfinite(first) else math.nan,
                "grad/alpha_fit_tries": tries,
                "grad/alpha_fit_converged": float(converged),
                "grad/alpha_fit_norm_before_clip": float(nb[0]),
                "grad/alpha_fit_norm_after_clip": float(nb[1]),
            },
        }

    def extra_state(self) -> dict:
        state = super().extra_state()
        state.update({
            "alpha": self.alpha,
            "alpha_fit_lr": self.alpha_fit_lr,
            "alpha_opt": self.alpha_opt.state_dict(),
            "r_alpha_rms": self.r_alpha_rms.state_dict(),
        })  # fmt: skip
        return state

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.alpha = float(state["alpha"])
        self.alpha_fit_lr = float(state["alpha_fit_lr"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.r_alpha_rms.load_state_dict(state["r_alpha_rms"])
