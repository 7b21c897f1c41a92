"""Shared core pieces: flat Adam/clipping vs torch, running statistics, networks, critic, PPO loss and guard."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from learners.core.critic import fit_critic, polyak_update
from learners.core.distributions import gaussian_kl
from learners.core.flat import FlatAdam, FlatParams, clip_grad
from learners.core.networks import ActorStochasticMLP, CriticMLP
from learners.core.ppo_update import PPOBatch, PPOSettings, clipped_surrogate, run_ppo
from learners.core.rms import RunningMeanStd
from learners.core.schedules import adaptive_kl_lr, linear_lr

D = torch.float64


def _quadratic_problem(seed):
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 5, dtype=D), nn.Tanh(), nn.Linear(5, 1, dtype=D))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=D))
    x = torch.randn(16, 3, generator=gen, dtype=D)
    y = torch.randn(16, 1, generator=gen, dtype=D)
    return net, x, y


def test_flat_adam_and_clip_match_torch():
    ref, x, y = _quadratic_problem(0)
    ours, _, _ = _quadratic_problem(0)
    flat = FlatParams(ours)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=0.05, betas=(0.7, 0.95))
    opt = FlatAdam(flat, lr=0.05, betas=(0.7, 0.95))
    for _ in range(6):
        opt_ref.zero_grad()
        ((ref(x) - y) ** 2).mean().backward()
        norm_ref = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        opt_ref.step()
        grad, before, after = clip_grad(flat.grad(((ours(x) - y) ** 2).mean()), 0.5)
        opt.step(grad)
        assert float(before) == pytest.approx(float(norm_ref), rel=1e-12)
        assert float(after) <= 0.5 + 1e-9
    for p_ref, p in zip(ref.parameters(), ours.parameters()):
        torch.testing.assert_close(p, p_ref, rtol=1e-12, atol=1e-12)
    # the module's parameters are views into the flat vector
    flat.data.zero_()
    assert all(float(p.detach().abs().sum()) == 0.0 for p in ours.parameters())


def test_running_mean_std_matches_numpy_and_masks_rows():
    gen = torch.Generator().manual_seed(3)
    batches = [torch.randn(n, 2, generator=gen, dtype=D) * 3 + 1 for n in (5, 17, 9)]
    rms = RunningMeanStd((2,), dtype=D, epsilon=1e-12)
    for b in batches:
        rms.update(b)
    allx = torch.cat(batches).numpy()
    np.testing.assert_allclose(rms.mean.numpy(), allx.mean(0), rtol=1e-9)
    np.testing.assert_allclose(rms.var.numpy(), allx.var(0), rtol=1e-9)
    # masked rows (e.g. NaN observations) are ignored
    masked = RunningMeanStd((2,), dtype=D, epsilon=1e-12)
    bad = torch.cat([batches[0], torch.full((3, 2), float("nan"), dtype=D)])
    masked.update(bad, mask=torch.isfinite(bad).all(-1))
    np.testing.assert_allclose(masked.mean.numpy(), batches[0].numpy().mean(0), rtol=1e-9)
    np.testing.assert_allclose(masked.var.numpy(), batches[0].numpy().var(0), rtol=1e-9)
    x = torch.randn(4, 2, generator=gen, dtype=D)
    torch.testing.assert_close(rms.denormalize(rms.normalize(x)), x)
    torch.testing.assert_close(rms.normalize(x), (x - rms.mean) / torch.sqrt(rms.var + 1e-5))


def test_networks_are_seeded_by_their_generator_only():
    state = torch.random.get_rng_state()
    a1 = ActorStochasticMLP(3, 2, [8, 8], generator=torch.Generator().manual_seed(5), dtype=D)
    a2 = ActorStochasticMLP(3, 2, [8, 8], generator=torch.Generator().manual_seed(5), dtype=D)
    c = CriticMLP(3, [8, 8], generator=torch.Generator().manual_seed(5), dtype=D)
    assert torch.equal(torch.random.get_rng_state(), state), "network init must not touch the global RNG"
    for p1, p2 in zip(a1.parameters(), a2.parameters()):
        assert torch.equal(p1, p2)
    # default Linear init bound 1/sqrt(fan_in); critic weights orthogonal (gain 1), zero bias
    assert float(a1.body[0].weight.detach().abs().max()) <= 1 / math.sqrt(3)
    w = c.body[3].weight
    torch.testing.assert_close(w @ w.T, torch.eye(8, dtype=D), atol=1e-12, rtol=0)
    assert float(c.head.bias.detach().abs().max()) == 0.0
    mu, logstd = a1(torch.zeros(4, 3, dtype=D))
    assert mu.shape == logstd.shape == (4, 2) and c(torch.zeros(4, 3, dtype=D)).shape == (4,)


def test_critic_fit_reduces_loss_and_polyak_formula():
    gen = torch.Generator().manual_seed(0)
    critic = CriticMLP(2, [16, 16], generator=gen, dtype=D)
    flat = FlatParams(critic)
    opt = FlatAdam(flat, 3e-3, (0.7, 0.95))
    x = torch.randn(64, 2, generator=gen, dtype=D)
    y = 3.0 * x[:, 0] - x[:, 1] ** 2
    before = float(((critic(x) - y) ** 2).mean().detach())
    fit_critic(critic, flat, opt, x, y, None, iterations=40, num_batch=4, grad_norm=1.0)
    assert float(((critic(x) - y) ** 2).mean().detach()) < 0.2 * before
    target = FlatParams(CriticMLP(2, [16, 16], generator=gen, dtype=D))
    old = target.clone()
    polyak_update(target, flat, 0.2)
    torch.testing.assert_close(target.data, 0.2 * old + 0.8 * flat.data)


def test_schedules():
    assert linear_lr(1e-3, 0, 100) == 1e-3
    assert linear_lr(1e-3, 50, 100) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert linear_lr(1e-3, 100, 100) == pytest.approx(1e-5)
    assert linear_lr(1e-3, 150, 100) == pytest.approx(1e-5)
    assert adaptive_kl_lr(3e-4, 0.02, 0.008) == pytest.approx(2e-4)
    assert adaptive_kl_lr(3e-4, 0.001, 0.008) == pytest.approx(4.5e-4)
    assert adaptive_kl_lr(3e-4, 0.008, 0.008) == 3e-4
    assert adaptive_kl_lr(1e-6, 1.0, 0.008) == 1e-6 and adaptive_kl_lr(1e-2, 0.0, 0.008) == 1e-2


def test_gaussian_kl_close_to_exact():
    gen = torch.Generator().manual_seed(1)
    mu0, mu1 = torch.randn(2, 5, 3, generator=gen, dtype=D)
    s0, s1 = torch.rand(2, 5, 3, generator=gen, dtype=D) + 0.5
    exact = torch.distributions.kl_divergence(torch.distributions.Normal(mu0, s0), torch.distributions.Normal(mu1, s1))
    assert float(gaussian_kl(mu0, s0, mu1, s1)) == pytest.approx(float(exact.sum(-1).mean()), rel=1e-3)


def test_clipped_surrogate_hand_values():
    log_r = torch.log(torch.tensor([1.5, 0.5, 1.1], dtype=D))
    adv = torch.tensor([1.0, 1.0, -2.0], dtype=D)
    # max(-A r, -A clip(r)): [max(-1.5,-1.2), max(-0.5,-0.8), max(2.2, 2.2)] = [-1.2, -0.5, 2.2]
    assert float(clipped_surrogate(log_r, adv, 0.2)) == pytest.approx((-1.2 - 0.5 + 2.2) / 3)


def _ppo_setup(lr):
    gen = torch.Generator().manual_seed(7)
    actor = ActorStochasticMLP(2, 1, [16], generator=gen, dtype=D)
    flat = FlatParams(actor)
    obs = torch.randn(32, 2, generator=gen, dtype=D)
    with torch.no_grad():
        mu, logstd = actor(obs)
    eps = torch.randn(32, 1, generator=gen, dtype=D)
    act = mu + logstd.exp() * eps
    adv = torch.randn(32, generator=gen, dtype=D)
    from learners.core.distributions import neglogp

    batch = PPOBatch(
        obs, act, (adv - adv.mean()) / adv.std(), neglogp(act, mu, logstd), mu, logstd.exp()
    )  # KL ref: pi_old
    return actor, flat, FlatAdam(flat, lr), batch


def test_ppo_improves_surrogate_and_stable_guard_restores_on_divergence():
    actor, flat, opt, batch = _ppo_setup(1e-3)
    metrics, next_lr, poisoned = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=5))
    assert not poisoned and metrics["grad/ppo_tries"] == 1 and next_lr == 1e-3
    assert metrics["losses/ppo_last"] < metrics["losses/ppo_first"]
    # a far too large lr makes every try worse: the actor is restored, the next epoch starts at lr0/1.5
    actor, flat, opt, batch = _ppo_setup(1.0)
    start = flat.clone()
    metrics, next_lr, poisoned = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=5, max_tries=3))
    assert not poisoned and metrics["grad/ppo_accepted"] == 0.0 and metrics["grad/ppo_tries"] == 3
    assert next_lr == pytest.approx(1.0 / 1.5)
    torch.testing.assert_close(flat.data, start)
    # without the guard the worse update is kept
    actor, flat, opt, batch = _ppo_setup(1.0)
    metrics, next_lr, _ = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=5, stable=False))
    assert metrics["losses/ppo_last"] > metrics["losses/ppo_first"] and not torch.equal(flat.data, start)
    # a NaN advantage poisons the update: everything is rolled back
    actor, flat, opt, batch = _ppo_setup(1e-3)
    batch.advantages[0] = float("nan")
    start, moments = flat.clone(), opt.exp_avg.clone()
    _, _, poisoned = run_ppo(actor, flat, opt, batch, PPOSettings())
    assert poisoned and torch.equal(flat.data, start) and torch.equal(opt.exp_avg, moments) and opt.steps == 0


def test_kl_adaptive_lr_updates_after_every_minibatch():
    # a huge threshold: every KL is below thr/2 -> lr * 1.5 after each of the 3 minibatch steps
    actor, flat, opt, batch = _ppo_setup(1e-3)
    metrics, next_lr, _ = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=3, stable=False, adaptive_kl=1e6))
    assert next_lr == pytest.approx(1e-3 * 1.5**3) and metrics["grad/ppo_lr"] == next_lr
    # a tiny one: every KL (at least ~1e-5 from rl_games' guards) is above 2 thr -> lr / 1.5 each time
    actor, flat, opt, batch = _ppo_setup(1e-3)
    metrics, next_lr, _ = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=3, stable=False, adaptive_kl=1e-12))
    assert next_lr == pytest.approx(1e-3 / 1.5**3) and metrics["grad/ppo_kl"] > 0
    # the lr is clamped at 1e-2
    actor, flat, opt, batch = _ppo_setup(8e-3)
    _, next_lr, _ = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=3, stable=False, adaptive_kl=1e6))
    assert next_lr == pytest.approx(1e-2)


def test_stable_guard_with_several_minibatches_compares_like_with_like():
    # Two minibatches of 16: advantages +1 on the first, -1 on the second, so at r ~ 1 the first minibatch's
    # surrogate is ~ -1 and the second's ~ +1. A small, sound update lowers both.
    actor, flat, opt, batch = _ppo_setup(1e-3)
    batch.advantages[:16], batch.advantages[16:] = 1.0, -1.0
    # [G] rule (default; docs/reference.md §A9): mean of the last mini-epoch < mean of the first -> accepted on the
    # first try
    metrics, next_lr, _ = run_ppo(actor, flat, opt, batch, PPOSettings(mini_epochs=5, minibatch_size=16))
    assert metrics["grad/ppo_accepted"] == 1.0 and metrics["grad/ppo_tries"] == 1 and next_lr == 1e-3
    assert metrics["losses/ppo_first"] == pytest.approx(-1.0, abs=1e-2)
    # [D] rule: the last minibatch (second slice, ~ +1) is compared with the first (first slice, ~ -1):
    # every try is judged "worse" whatever the update did, and the next epoch's lr shrinks
    actor, flat, opt, batch = _ppo_setup(1e-3)
    batch.advantages[:16], batch.advantages[16:] = 1.0, -1.0
    settings = PPOSettings(mini_epochs=5, minibatch_size=16, worse_rule="minibatch", max_tries=3)
    metrics, next_lr, _ = run_ppo(actor, flat, opt, batch, settings)
    assert metrics["grad/ppo_accepted"] == 0.0 and metrics["grad/ppo_tries"] == 3
    assert next_lr == pytest.approx(1e-3 / 1.5)
