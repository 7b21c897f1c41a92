"""Cartpole swing-up: dynamics against a hand-built mass matrix, energy, slider limits, obs/reward/reset."""

import math

import numpy as np
import pytest
import torch

from learners.tasks import make_task
from learners.tasks.physics import CartpoleParams, cartpole_energy, cartpole_step

F64 = torch.float64


def hand_accel(theta, thetadot, xdot, x, force):
    """Accelerations from the 2x2 Lagrangian mass matrix, solved with numpy (independent of the code)."""
    p = CartpoleParams()
    m, l = p.pole_mass, p.pole_com
    M = np.array(
        [
            [p.cart_mass + m + p.armature, m * l * math.cos(theta)],
            [m * l * math.cos(theta), p.pole_inertia + m * l * l + p.armature],
        ]
    )
    limit = p.limit_stiffness * (min(max(x, -p.limit), p.limit) - x)
    rhs = np.array(
        [
            force - p.damping * xdot + limit + m * l * math.sin(theta) * thetadot**2,
            m * p.gravity * l * math.sin(theta) - p.damping * thetadot,
        ]
    )
    return np.linalg.solve(M, rhs)


@pytest.mark.parametrize(
    "x, theta, xdot, thetadot, force",
    [
        (0.0, 0.3, 0.0, 0.0, 100.0),
        (1.0, -2.0, 0.5, 1.5, -300.0),
        (5.0, math.pi, 0.0, 0.0, 0.0),
        (-4.5, 1.0, -1.0, 2.0, 50.0),
    ],
)
def test_one_substep_matches_hand_built_equations(x, theta, xdot, thetadot, force):
    p = CartpoleParams(dt=1e-4, substeps=1)
    q = torch.tensor([[x, theta]], dtype=F64)
    qd = torch.tensor([[xdot, thetadot]], dtype=F64)
    q1, qd1 = cartpole_step(q, qd, torch.tensor([force], dtype=F64), p)
    acc = (qd1 - qd)[0].numpy() / p.dt
    assert np.allclose(acc, hand_accel(theta, thetadot, xdot, x, force), rtol=1e-10, atol=1e-10)
    assert np.allclose(q1[0].numpy(), [x + p.dt * qd1[0, 0].item(), theta + p.dt * qd1[0, 1].item()])  # semi-implicit


def test_constants_match_the_dflex_model():
    p = CartpoleParams()
    assert p.cart_mass == 1000 * 0.5 * 0.5 * 0.2 and p.pole_mass == 1000 * 0.05 * 0.05 * 1.0
    assert p.pole_inertia == pytest.approx(0.2089, abs=1e-4)
    assert p.dt / p.substeps == pytest.approx(1 / 240)


def test_upright_and_hanging_are_equilibria():
    q = torch.tensor([[0.0, 0.0], [0.0, math.pi]], dtype=F64)
    qd = torch.zeros(2, 2, dtype=F64)
    q1, qd1 = cartpole_step(q, qd, torch.zeros(2, dtype=F64), CartpoleParams())
    assert torch.allclose(qd1, torch.zeros_like(qd1), atol=1e-12) and torch.allclose(q1, q, atol=1e-12)


def test_energy_is_conserved_without_damping_and_dissipated_with_it():
    for damping in (0.0, 1.0):
        p = CartpoleParams(damping=damping)
        q, qd = torch.tensor([[0.0, 2.0]], dtype=F64), torch.zeros(1, 2, dtype=F64)
        energies = [cartpole_energy(q, qd, p).item()]
        for _ in range(240):
            q, qd = cartpole_step(q, qd, torch.zeros(1, dtype=F64), p)
            energies.append(cartpole_energy(q, qd, p).item())
        energies = np.array(energies)
        mgl = p.pole_mass * p.gravity * p.pole_com
        if damping == 0.0:  # semi-implicit Euler: bounded O(h) oscillation, no drift
            assert np.abs(energies - energies[0]).max() < 0.01 * mgl
        else:
            assert np.diff(energies).max() < 0.0  # strictly dissipative
            assert energies[0] - energies[-1] > 1.0


def test_slider_limit_spring_stops_and_returns_the_cart():
    p = CartpoleParams()
    q, qd = torch.tensor([[3.9, math.pi]], dtype=F64), torch.zeros(1, 2, dtype=F64)
    xs, vs = [], []
    for _ in range(240):  # full force (1000 N) against the 100 N/m spring beyond x = 4 m
        q, qd = cartpole_step(q, qd, torch.tensor([1000.0], dtype=F64), p)
        xs.append(q[0, 0].item())
        vs.append(qd[0, 0].item())
    peak = int(np.argmax(xs))
    # a constant force F on a spring k overshoots to at most limit + 2 F / k = 24 m
    assert 20.0 < xs[peak] < 4.0 + 2 * 1000.0 / 100.0 + 0.01
    assert min(vs[peak:]) < -1.0  # pushed back


def test_observation_reward_and_time_limit():
    env = make_task("cartpole", num_envs=3, dtype=F64, seed=1)
    obs = env.reset(seed=1)
    x, th = env.state["q"][:, 0], env.state["q"][:, 1]
    assert torch.allclose(obs, torch.stack([x, env.state["qd"][:, 0], th.sin(), th.cos(), env.state["qd"][:, 1]], -1))
    for t in range(240):
        obs, reward, terminated, truncated, info = env.step(torch.full((3, 1), 0.3, dtype=F64))
        assert not terminated.any()
        assert bool(truncated.all()) == (t == 239)
    fo = info["final_obs"]
    theta = torch.atan2(fo[:, 2], fo[:, 3])
    expected = -(theta**2) - 0.1 * fo[:, 4] ** 2 - 0.05 * fo[:, 0] ** 2 - 0.1 * fo[:, 1] ** 2
    assert torch.allclose(reward, expected)
    assert torch.equal(info["episode_length"], torch.full((3,), 240))
    assert not torch.equal(obs, fo)


def test_reset_distribution_matches_shac():
    env = make_task("cartpole", num_envs=4000, dtype=F64, seed=0)
    q, qd = env.state["q"], env.state["qd"]
    assert q[:, 0].abs().max() <= math.pi / 2 and (q[:, 1] + math.pi).abs().max() <= math.pi / 2
    assert qd.abs().max() <= 0.25
    assert q[:, 0].std().item() == pytest.approx(math.pi / math.sqrt(12), rel=0.05)  # uniform of width pi
    assert (q[:, 1].mean() + math.pi).abs() < 0.05
