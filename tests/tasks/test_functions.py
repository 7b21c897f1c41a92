"""De Jong and Ackley tasks: hand-computed values, gradients vs finite differences, the optimum."""

import math

import pytest
import torch

from learners.tasks import make_task
from learners.tasks.functions import FunctionEnv, ackley, dejong


def test_dejong_values_by_hand():
    env = make_task("dejong", num_envs=3, dtype=torch.float64)
    env.reset()
    # x = 5.12 * clip(a): a = 0.5 -> x = 2.56 -> f = 6.5536; a = 2 clips to x = 5.12 -> f = 26.2144
    _, reward, terminated, truncated, info = env.step(torch.tensor([[0.5], [2.0], [0.0]], dtype=torch.float64))
    assert torch.allclose(reward, torch.tensor([-6.5536, -26.2144, 0.0], dtype=torch.float64), atol=1e-12)
    assert truncated.all() and not terminated.any()
    assert torch.equal(info["episode_length"], torch.ones(3, dtype=torch.long))
    assert torch.equal(info["episode_return"], reward)


def test_dejong64_sums_over_dimensions():
    env = make_task("dejong64", num_envs=2, dtype=torch.float64)
    a = torch.full((2, 64), 0.25, dtype=torch.float64)
    a[1] = 0.0
    _, reward, *_ = env.step(a)
    assert reward[0].item() == pytest.approx(-64 * (0.25 * 5.12) ** 2, rel=1e-12)
    assert reward[1].item() == 0.0


def test_ackley_values_by_hand():
    # f(1) = 20 (1 - e^-0.2) (cos(2 pi) = 1); f(0) = 0; 64-D at x_i = 0.5: -20 e^-0.1 - e^-1 + 20 + e
    assert ackley(torch.tensor([[1.0]], dtype=torch.float64)).item() == pytest.approx(20 * (1 - math.exp(-0.2)))
    assert ackley(torch.zeros(1, 1, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-12)
    expected = -20 * math.exp(-0.1) - math.exp(-1) + 20 + math.e
    assert ackley(torch.full((1, 64), 0.5, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-12)
    env = make_task("ackley", num_envs=1, dtype=torch.float64)
    _, reward, *_ = env.step(torch.tensor([[1.0 / 32.768]], dtype=torch.float64))
    assert reward.item() == pytest.approx(-20 * (1 - math.exp(-0.2)), rel=1e-12)


@pytest.mark.parametrize("name", ["dejong", "dejong64", "ackley", "ackley64"])
def test_reward_gradient_matches_central_differences(name):
    env = make_task(name, num_envs=3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    a = (torch.rand(3, env.act_dim, generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    env.step(a)[1].sum().backward()
    eps = 1e-6
    fd = torch.zeros_like(a)
    with torch.no_grad():
        for j in range(env.act_dim):
            d = torch.zeros_like(a)
            d[:, j] = eps
            fd[:, j] = (env.step(a + d)[1] - env.step(a - d)[1]) / (2 * eps)
    assert torch.allclose(a.grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ackley_gradient_finite_at_the_optimum(dtype):
    for dim in (1, 64):
        x = torch.zeros(2, dim, dtype=dtype, requires_grad=True)
        ackley(x).sum().backward()
        assert torch.isfinite(x.grad).all()
        assert torch.equal(x.grad, torch.zeros_like(x))
    # just off the optimum the gradient is the finite cone slope 4/n * sign(x) (n = dim)
    x = torch.tensor([[1e-9]], dtype=torch.float64, requires_grad=True)
    ackley(x).sum().backward()
    assert x.grad.item() == pytest.approx(4.0, rel=1e-6)


def test_dejong_gradient_by_hand_and_clip():
    x = torch.tensor([[1.0, -2.0]], requires_grad=True)
    dejong(x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([[2.0, -4.0]]))
    env = FunctionEnv("dejong", num_envs=1)
    a = torch.tensor([[1.5]], requires_grad=True)
    env.step(a)[1].sum().backward()
    assert a.grad.item() == 0.0  # outside [-1, 1] the action is clipped


def test_observation_is_constant_zero_and_unknown_name_fails():
    env = make_task("ackley64", num_envs=5)
    assert torch.equal(env.reset(), torch.zeros(5, 1))
    assert torch.equal(env.step(torch.zeros(5, 64))[0], torch.zeros(5, 1))
    with pytest.raises(ValueError, match="unknown function task"):
        FunctionEnv("rosenbrock")
