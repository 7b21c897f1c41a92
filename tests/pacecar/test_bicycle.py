"""Kinematic bicycle model and action scaling against hand-computed values."""

import math

import pytest
import torch

from difftraffic.sim.bicycle import PAPER_MAX_ACCEL, PAPER_MAX_STEER, bicycle_step, scale_action, world_velocity


def test_scale_action_clips_and_scales_steering_first():
    a = torch.tensor([[0.5, -0.25], [2.0, -3.0]])
    steer, acc = scale_action(a, PAPER_MAX_STEER, PAPER_MAX_ACCEL)
    assert pytest.approx(0.3490658503988659) == PAPER_MAX_STEER
    assert steer.tolist() == pytest.approx([0.5 * PAPER_MAX_STEER, PAPER_MAX_STEER])
    assert acc.tolist() == pytest.approx([-2.0, -8.0])


def test_scale_action_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\[B, 2\]"):
        scale_action(torch.zeros(3, 3), 0.3, 8.0)


def test_bicycle_step_hand_computed():
    x, y, h, v = (torch.tensor([v], dtype=torch.float64) for v in (10.0, 4.0, 0.1, 12.0))
    delta, acc, dt, length = (
        torch.tensor([0.2], dtype=torch.float64),
        torch.tensor([-3.0], dtype=torch.float64),
        0.03,
        5.0,
    )
    beta = math.atan(0.5 * math.tan(0.2))
    x1, y1, h1, v1 = bicycle_step(x, y, h, v, delta, acc, dt, length)
    assert x1.item() == pytest.approx(10.0 + 12.0 * math.cos(0.1 + beta) * dt, abs=1e-12)
    assert y1.item() == pytest.approx(4.0 + 12.0 * math.sin(0.1 + beta) * dt, abs=1e-12)
    assert h1.item() == pytest.approx(0.1 + 12.0 * math.sin(beta) / 2.5 * dt, abs=1e-12)
    assert v1.item() == pytest.approx(12.0 - 3.0 * dt, abs=1e-12)


def test_bicycle_reverses_without_speed_clamp():
    z = torch.zeros(1, dtype=torch.float64)
    _, _, _, v = bicycle_step(
        z, z, z, torch.tensor([0.05], dtype=torch.float64), z, torch.tensor([-8.0], dtype=torch.float64), 0.03, 5.0
    )
    assert v.item() == pytest.approx(0.05 - 0.24)


def test_world_velocity():
    vx, vy = world_velocity(torch.tensor([math.pi / 2]), torch.tensor([3.0]))
    assert vx.item() == pytest.approx(0.0, abs=1e-6) and vy.item() == pytest.approx(3.0)


def test_bicycle_gradcheck():
    g = torch.Generator().manual_seed(0)
    args = [torch.rand(3, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(6)]
    assert torch.autograd.gradcheck(lambda *a: bicycle_step(*a, 0.03, 5.0), args)
