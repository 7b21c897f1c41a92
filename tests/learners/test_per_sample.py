"""LR+RP's batched per-sample / per-trajectory gradients against loops of single backward passes."""

import pytest
import torch

from learners import make_learner
from learners.core.distributions import neglogp
from learners.core.flat import FlatParams
from learners.core.networks import ActorStochasticMLP
from learners.core.per_sample import (
    per_objective_grads_loop,
    per_sample_grads,
    per_sample_grads_loop,
    per_segment_grads,
    per_segment_vjp,
    trace_cov,
)
from learners.lrp import lr_output_adjoints, lr_sample_loss

D = torch.float64


def test_lr_per_sample_grads_match_loop():
    gen = torch.Generator().manual_seed(0)
    actor = ActorStochasticMLP(5, 3, [16, 8], generator=gen, dtype=D)
    flat = FlatParams(actor)
    obs = torch.randn(12, 5, generator=gen, dtype=D)
    act = torch.randn(12, 3, generator=gen, dtype=D)
    adv = torch.randn(12, generator=gen, dtype=D)
    fast = per_sample_grads(actor, flat, lr_sample_loss, obs, act, adv)
    slow = per_sample_grads_loop(actor, flat, lr_sample_loss, obs, act, adv)
    assert fast.shape == (12, flat.numel)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)
    # the same through analytic output adjoints and one forward/backward (what LR+RP uses)
    mu, logstd = actor(obs)
    adj = lr_output_adjoints(mu.detach(), logstd.detach(), act, adv)
    contracted = per_segment_grads(actor, flat, obs[:, None], (adj[0][:, None], adj[1][:, None]))
    torch.testing.assert_close(contracted, slow, rtol=1e-10, atol=1e-12)
    # the mean of per-sample gradients is the batch gradient
    mu, logstd = actor(obs)
    torch.testing.assert_close(fast.mean(0), flat.grad((adv * neglogp(act, mu, logstd)).mean()), rtol=1e-10, atol=1e-12)


def test_segment_contraction_matches_vmap_on_padded_segments():
    gen = torch.Generator().manual_seed(4)
    actor = ActorStochasticMLP(6, 2, [32, 16, 8], generator=gen, dtype=D)
    flat = FlatParams(actor)
    obs = torch.randn(5, 7, 6, generator=gen, dtype=D)
    mask = (torch.arange(7)[None, :] < torch.tensor([7, 3, 1, 5, 6])[:, None]).unsqueeze(-1).to(D)
    adj = (torch.randn(5, 7, 2, generator=gen, dtype=D) * mask, torch.randn(5, 7, 2, generator=gen, dtype=D) * mask)
    fast = per_segment_grads(actor, flat, obs, adj)
    torch.testing.assert_close(fast, per_segment_vjp(actor, flat, obs, adj), rtol=1e-10, atol=1e-12)
    # segment 2 has one valid step: its gradient is that single row's vector-Jacobian product
    mu, logstd = actor(obs[2, :1])
    one = flat.grad((mu * adj[0][2, :1]).sum() + (logstd * adj[1][2, :1]).sum())
    torch.testing.assert_close(fast[2], one, rtol=1e-10, atol=1e-12)


def test_trace_cov_matches_torch_cov():
    g = torch.randn(16, 40, generator=torch.Generator().manual_seed(1), dtype=D)
    assert float(trace_cov(g)) == pytest.approx(float(torch.cov(g.T).trace()), rel=1e-12)


def test_rp_per_trajectory_grads_from_one_backward_match_loop(point_env):
    env = point_env(num_envs=5, episode_length=4, limit=1.2, seed=2)
    learner = make_learner("lrp", env, config={"horizon": 11, "lrp_samples": 9}, seed=3)
    for _ in learner.train(1):
        pass
    learner.begin_epoch()
    ro = learner.collect("params")
    adv = learner.advantages(ro, 0.95, graph=True)
    neg_j = -(adv + ro.values)
    starts = ro.starts.to(D)
    sel = ro.starts.reshape(-1).nonzero().squeeze(-1)[:9]
    t_sel, b_sel = sel // env.num_envs, sel % env.num_envs
    assert (t_sel > 0).any(), "some selected segments must start after a reset"
    slow = per_objective_grads_loop([neg_j[t, b] for t, b in zip(t_sel.tolist(), b_sel.tolist())], learner.actor_flat)
    slow_total = learner.actor_flat.grad((neg_j * starts).sum(), retain_graph=True)
    total, fast = learner.rp_grads_batched(ro, (neg_j * starts).sum(), t_sel, b_sel)
    assert fast.shape == (9, learner.actor_flat.numel)
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(total, slow_total, rtol=1e-10, atol=1e-12)
    assert float(slow.abs().max()) > 1e-4


def test_lrp_batched_and_loop_learners_agree(point_env):
    runs = {}
    for method in ("batched", "loop"):
        learner = make_learner(
            "lrp", point_env(num_envs=6, seed=0), config={"horizon": 8, "lrp_method": method}, seed=1
        )
        runs[method] = [m for m in learner.train(3)]
    for a, b in zip(runs["batched"], runs["loop"]):
        for key in ("grad/k_lr", "grad/var_lr", "grad/var_rp", "losses/critic", "charts/episode_return"):
            assert a[key] == pytest.approx(b[key], rel=1e-8), key


def test_lrp_truncation_option_uses_a_prefix_of_the_gradient():
    from learners import make_task

    def first_epoch(cfg):
        learner = make_learner("lrp", make_task("dejong64", num_envs=32, seed=0), config=cfg, seed=0)
        return next(learner.train(1))

    full, cut = first_epoch({}), first_epoch({"lrp_truncate": 512})
    assert learner_params("dejong64") > 512
    # the traces over the first 512 coordinates are partial sums of the full traces
    assert 0 < cut["grad/var_lr"] < full["grad/var_lr"] and 0 < cut["grad/var_rp"] < full["grad/var_rp"]


def learner_params(task):
    from learners import make_task

    return make_learner("lrp", make_task(task, num_envs=2)).actor_flat.numel
