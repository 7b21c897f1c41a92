"""GI-PPO's alpha machinery on crafted inputs: det estimate, pi_h ratio, OORR, R_alpha, alpha/lr rules."""

import math

import pytest
import torch
from torch.distributions import Normal

from learners.core.alpha import (
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
from learners.core.distributions import mixture_neglogp, neglogp
from learners.core.ppo_update import gippo_log_ratio

D = torch.float64


def test_est_det_is_ratio_of_sigma_products_and_jacobian_determinants():
    gen = torch.Generator().manual_seed(0)
    ls_old = torch.randn(5, 3, generator=gen, dtype=D) * 0.3
    ls_new = ls_old + torch.randn(5, 3, generator=gen, dtype=D) * 0.1
    est = est_det(ls_new, ls_old)
    ratio = ls_new.exp().prod(-1) / ls_old.exp().prod(-1)
    torch.testing.assert_close(est, ratio, rtol=1e-12, atol=0)
    # Lemma 4.4 literally: det(dg_new/deps) / det(dg_old/deps) with g = mu + sigma * eps
    mu = torch.randn(3, dtype=D, generator=gen)
    for i in range(5):
        eps = torch.randn(3, dtype=D, generator=gen)
        j_new = torch.autograd.functional.jacobian(lambda e, i=i: mu + ls_new[i].exp() * e, eps)
        j_old = torch.autograd.functional.jacobian(lambda e, i=i: mu + ls_old[i].exp() * e, eps)
        assert abs(float(torch.linalg.det(j_new) / torch.linalg.det(j_old) - est[i])) < 1e-12


def test_neglogp_matches_torch_normal():
    gen = torch.Generator().manual_seed(1)
    mu, ls, a = (torch.randn(7, 2, generator=gen, dtype=D) for _ in range(3))
    ref = -Normal(mu, ls.exp()).log_prob(a).sum(-1)
    torch.testing.assert_close(neglogp(a, mu, ls), ref, rtol=1e-12, atol=1e-12)


def test_pi_h_ratio_matches_direct_mixture_and_falls_back_to_pi_alpha():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(6, 2, generator=gen, dtype=D)
    p0, p1, pt = ((torch.randn(6, 2, generator=gen, dtype=D) * 0.2, torch.randn(6, 2, generator=gen, dtype=D) * 0.2)
                  for _ in range(3))  # fmt: skip
    n0, n1, n = (neglogp(a, m, s) for m, s in (p0, p1, pt))
    assert ((n0 - n1).abs() <= 4).all()
    dens = [Normal(m, s.exp()).log_prob(a).sum(-1).exp() for m, s in (p0, p1, pt)]
    direct = torch.log(dens[2] / (0.5 * (dens[0] + dens[1])))
    torch.testing.assert_close(gippo_log_ratio(n, n0, n1, gap=4.0, max_log=16.0), direct, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(mixture_neglogp(n0, n1), -torch.log(0.5 * (dens[0] + dens[1])), rtol=1e-10, atol=0)
    # one sample with |n0 - n1| > 4 switches the whole minibatch to pi_theta / pi_alpha
    n1_far = n1.clone()
    n1_far[3] = n0[3] + 5.0
    torch.testing.assert_close(gippo_log_ratio(n, n0, n1_far, gap=4.0, max_log=16.0), n1_far - n)
    # the log-ratio is clamped to +-16
    assert float(gippo_log_ratio(n - 100.0, n0, n1, 4.0, 16.0).max()) == 16.0


def test_oorr_and_r_alpha_on_crafted_ratios():
    n_old = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0], dtype=D)
    n_alpha = n_old - torch.log(torch.tensor([1.0, 1.1, 1.3, 0.7, 0.85], dtype=D))  # rho = these values
    rho = policy_ratio(n_old, n_alpha)
    torch.testing.assert_close(rho, torch.tensor([1.0, 1.1, 1.3, 0.7, 0.85], dtype=D))
    assert float(out_of_range_ratio(rho, 0.2)) == pytest.approx(2 / 5)  # 1.3 and 0.7 are out of [0.8, 1.2]
    adv = torch.tensor([2.0, -1.0, 3.0, 4.0, -2.0], dtype=D)
    # sum A (rho - 1) = 0 - 0.1 + 0.9 - 1.2 + 0.3 = -0.1
    assert float(expected_additional_return(adv, rho)) == pytest.approx(-0.1)
    # the ratio is clamped at exp(16)
    assert float(policy_ratio(torch.tensor([50.0]), torch.tensor([0.0]))) == pytest.approx(math.exp(16.0))


def test_alpha_update_rule_on_crafted_signals():
    kw = {"interval": 0.4, "factor": 1.1, "max_alpha": 1.0}
    assert det_alpha_update(0.1, True, 0.7, 1.3, **kw) == pytest.approx(0.11)  # inside [0.6, 1.4] -> grow
    assert det_alpha_update(0.1, True, 0.59, 1.0, **kw) == pytest.approx(0.1 / 1.1)  # min below 0.6 -> shrink
    assert det_alpha_update(0.1, True, 1.0, 1.41, **kw) == pytest.approx(0.1 / 1.1)  # max above 1.4 -> shrink
    assert det_alpha_update(0.1, False, 0.1, 9.0, **kw) == 0.1  # fit failed -> unchanged
    assert det_alpha_update(0.95, True, 1.0, 1.0, **kw) == 1.0  # clipped at max_alpha
    # bias / out-of-range criterion
    assert bias_or_oorr_shrinks(oorr=0.6, r_alpha=5.0, r_alpha_normalised=2.0, max_oorr=0.5)
    assert bias_or_oorr_shrinks(oorr=0.1, r_alpha=-5.0, r_alpha_normalised=-1.5, max_oorr=0.5)
    assert not bias_or_oorr_shrinks(oorr=0.1, r_alpha=-5.0, r_alpha_normalised=-0.5, max_oorr=0.5)
    assert not bias_or_oorr_shrinks(oorr=0.5, r_alpha=3.0, r_alpha_normalised=-3.0, max_oorr=0.5)
    # alpha-fit lr after a failed fit (docs/reference.md §A8): [D] divides by the update factor without floor,
    # [G] by 1.5 with floor 1e-5
    assert fit_lr_after_failure(1e-3, "update_factor", 1.1) == pytest.approx(1e-3 / 1.1)
    assert fit_lr_after_failure(1e-5, "update_factor", 1.1) == pytest.approx(1e-5 / 1.1)
    assert fit_lr_after_failure(1e-3, "fixed", 1.1) == pytest.approx(1e-3 / 1.5)
    assert fit_lr_after_failure(1.2e-5, "fixed", 1.1) == 1e-5


def test_alpha_fit_loss_uses_stored_noise():
    mu = torch.tensor([[0.0, 1.0]], dtype=D)
    logstd = torch.log(torch.tensor([[2.0, 0.5]], dtype=D))
    eps = torch.tensor([[1.0, -2.0]], dtype=D)
    a = mu + logstd.exp() * eps  # [2, 0]
    targets = alpha_targets(a, torch.tensor([[1.0, 4.0]], dtype=D), alpha=0.5)  # [2.5, 2]
    # (2 - 2.5)^2 + (0 - 2)^2 = 4.25
    assert float(alpha_fit_loss(mu, logstd, eps, targets)) == pytest.approx(4.25)


def test_clip_to_median_multiple_caps_only_the_tail():
    # row norms 5, 1, 2, 100, 3 (median 3): with multiple 2 the cap is 6, so only the 100 row is scaled
    g = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [60.0, 80.0], [0.0, -3.0]], dtype=D)
    out, frac = clip_to_median_multiple(g, 2.0)
    assert torch.equal(out[[0, 1, 2, 4]], g[[0, 1, 2, 4]]) and frac == pytest.approx(0.2)
    assert torch.allclose(out[3], torch.tensor([3.6, 4.8], dtype=D))  # direction kept, norm 6
    same, none = clip_to_median_multiple(g, None)
    assert same is g and none == 0.0
    zero, frac0 = clip_to_median_multiple(torch.zeros(3, 2, dtype=D), 2.0)  # zero rows stay zero, no NaN
    assert torch.equal(zero, torch.zeros(3, 2, dtype=D)) and frac0 == 0.0
