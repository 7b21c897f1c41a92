"""GAE / TD(lambda) against hand-computed values, rollout bootstrapping rules, and the dA/da trick."""

import pytest
import torch

from learners import make_learner
from learners.core.advantages import advantage_action_grads, gae, segment_starts, steps_since_start

D = torch.float64


def test_gae_hand_computed_with_truncation_and_termination():
    # env 0: no episode end; env 1: truncated at t=0 (bootstraps from V'=4), terminated at t=2 (V'=0)
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], dtype=D)
    values = torch.tensor([[0.5, 2.0], [1.0, 3.0], [1.5, 4.0]], dtype=D)
    next_values = torch.tensor([[1.0, 4.0], [1.5, 5.0], [2.0, 0.0]], dtype=D)
    done = torch.tensor([[False, True], [False, False], [False, True]])
    adv = gae(rewards, values, next_values, done, gamma=0.9, lam=0.5)
    # env 0: d = [1.4, 2.35, 3.3]; A2 = 3.3, A1 = 2.35 + 0.45*3.3, A0 = 1.4 + 0.45*A1
    # env 1: d = [2.6, 2.5, -3.0]; A2 = -3, A1 = 2.5 + 0.45*(-3), A0 = 2.6 (recursion cut by the end at t=0)
    expected = torch.tensor([[3.12575, 2.6], [3.835, 1.15], [3.3, -3.0]], dtype=D)
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-12)


def test_td_lambda_one_is_discounted_return_plus_bootstrap():
    # one 4-step segment that is truncated at the end: TD(1) return = sum g^k r_k + g^4 V(s_4)
    r = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=D).unsqueeze(1)
    v = torch.tensor([0.3, 0.7, -0.2, 1.1], dtype=D).unsqueeze(1)
    nv = torch.tensor([0.7, -0.2, 1.1, 2.5], dtype=D).unsqueeze(1)
    done = torch.tensor([False, False, False, True]).unsqueeze(1)
    g = 0.99
    ret0 = (gae(r, v, nv, done, g, 1.0) + v)[0, 0]
    expected = 1.0 + g * -2.0 + g**2 * 0.5 + g**3 * 3.0 + g**4 * 2.5
    assert abs(float(ret0) - expected) < 1e-12
    # the same window with a termination instead: the rollout sets V' = 0, so no bootstrap
    nv_term = nv.clone()
    nv_term[3] = 0.0
    ret_term = (gae(r, v, nv_term, done, g, 1.0) + v)[0, 0]
    assert abs(float(ret_term) - (expected - g**4 * 2.5)) < 1e-12


def test_segment_bookkeeping():
    done = torch.tensor([[False, True], [True, False], [False, False], [False, True]])
    starts = segment_starts(done)
    assert starts.tolist() == [[True, True], [False, True], [True, False], [False, False]]
    assert steps_since_start(starts).tolist() == [[0, 0], [1, 0], [0, 1], [1, 2]]


def test_rollout_bootstraps_on_truncation_and_zeroes_termination_and_invalid(point_env):
    env = point_env(num_envs=16, episode_length=3, limit=1.05, seed=3)
    learner = make_learner("ppo", env, config={"horizon": 9, "normalize_obs": False}, seed=0)
    learner.begin_epoch()
    learner.value_fn = lambda nobs: torch.full(nobs.shape[:1], 7.0, dtype=nobs.dtype)
    ro = learner.collect("none")
    assert ro.terminated.any() and (ro.done & ~ro.terminated).any(), "the window should hold both kinds of ends"
    expect = torch.where(ro.terminated, torch.zeros_like(ro.next_values), torch.full_like(ro.next_values, 7.0))
    torch.testing.assert_close(ro.next_values, expect)
    torch.testing.assert_close(ro.values, torch.full_like(ro.values, 7.0))
    # observations above invalid_obs give value 0 (reference: NaN/inf/|x| > 1e6)
    learner.config["invalid_obs"] = 0.5
    ro = learner.collect("none")
    big = (ro.raw_obs.abs() > 0.5).any(-1)
    assert big.any() and (~big).any()
    assert (ro.values[big] == 0).all() and (ro.values[~big] == 7.0).all()


@pytest.mark.parametrize("lam", [0.95, 0.6])
def test_single_backward_dA_da_matches_per_step_autograd(point_env, lam):
    """Eq. 15: one backward of sum_starts A_s, rescaled, equals dA_t/da_t by per-step autograd (float64)."""
    env = point_env(num_envs=6, episode_length=5, limit=1.3, seed=1)
    learner = make_learner("gippo", env, config={"horizon": 12, "lam": lam}, seed=4)
    # a few updates so the obs normaliser and critics are non-trivial
    for _ in learner.train(2):
        pass
    learner.begin_epoch()
    ro = learner.collect("actions")
    assert ro.starts[1:].any(), "the window should contain resets"
    adv = learner.advantages(ro, lam, graph=True)
    fast = advantage_action_grads(adv, ro.starts, ro.action_nodes, learner.gamma, lam, retain_graph=True)
    for t in range(ro.horizon):
        ref = torch.autograd.grad(adv[t].sum(), ro.action_nodes[t], retain_graph=True)[0]
        err = (fast[t] - ref).norm() / ref.norm().clamp_min(1e-12)
        assert err < 1e-4, f"t={t}: relative error {float(err):.2e}"
    assert fast.abs().max() > 1e-3  # the gradients are not trivially zero
