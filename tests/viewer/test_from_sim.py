"""Recording TrafficSim rollouts as episodes: gradient data against finite differences, ring geometry."""

import numpy as np
import pytest
import torch

import difftraffic as dt
from viewer.from_sim import record_rollout
from viewer.sample import TARGET_SPEED, demo_episode


def _rollout_speeds(sim, x, v, lane, accel, ctrl):
    state = sim.init_state(x, v, lane)
    out = [state.v]
    for t in range(accel.shape[0]):
        state = sim.step(state, accel[t], ctrl.expand(x.shape))
        out.append(state.v)
    return torch.stack(out)


def test_gradient_data_matches_finite_differences():
    road = dt.Road(num_lanes=2, length=2000.0)
    sim = dt.TrafficSim(road, dt=0.1)
    b, n, steps, window = 2, 5, 8, 3
    x = torch.tensor([[100.0, 80.0, 61.0, 40.0, 90.0], [100.0, 84.0, 66.0, 45.0, 70.0]], dtype=torch.float64)
    v = torch.tensor([[12.0, 13.0, 12.5, 12.0, 12.0]] * b, dtype=torch.float64)
    lane = torch.tensor([[0, 0, 0, 0, 1]] * b)  # vehicle 4 drives in the other lane
    ctrl = torch.tensor([True, False, False, False, False])
    accel = torch.full((steps, b, n), -1.0, dtype=torch.float64)
    ep = record_rollout(sim, sim.init_state(x, v, lane), accel, ctrl, grad_window=window)
    assert ep.grad.shape == (steps + 1, b, n) and np.all(ep.grad[0] == 0)
    eps = 1e-6
    for t in (2, 6, 8):
        jac = np.zeros((b, n, window))
        for col, k in enumerate(range(t - window, t)):
            if k < 0:
                continue
            for env in range(b):
                hi, lo = accel.clone(), accel.clone()
                hi[k, env, 0] += eps
                lo[k, env, 0] -= eps
                d = (
                    _rollout_speeds(sim, x, v, lane, hi, ctrl)[t, env]
                    - _rollout_speeds(sim, x, v, lane, lo, ctrl)[t, env]
                )
                jac[env, :, col] = (d / (2 * eps)).numpy()
        np.testing.assert_allclose(ep.grad[t], np.linalg.norm(jac, axis=-1), rtol=1e-4, atol=1e-9)
    assert ep.grad[6, 0, 0] == pytest.approx(0.1 * np.sqrt(3), rel=1e-6)  # d v_pace / d a over 3 steps of 0.1 s
    assert np.all(ep.grad[1, :, 1] == 0) and np.all(ep.grad[2:, :, 1] > 0)  # the follower feels it one step later
    assert np.all(ep.grad[:, :, 4] == 0)  # ...the car in the other lane never is
    np.testing.assert_allclose(ep.speed, _rollout_speeds(sim, x, v, lane, accel, ctrl).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ep.accel[1:, :, 0], -1.0, rtol=1e-6)


def test_ring_rollout_world_coordinates():
    road = dt.Road(num_lanes=2, length=200.0, ring=True, lane_width=4.0)
    sim = dt.TrafficSim(road, dt=0.1)
    x = torch.tensor([[0.0, 50.0, 100.0, 150.0]], dtype=torch.float64)
    v = torch.full((1, 4), 10.0, dtype=torch.float64)
    lane = torch.tensor([[0, 1, 0, 1]])
    ep = record_rollout(
        sim,
        sim.init_state(x, v, lane),
        torch.zeros(5, 1, 4, dtype=torch.float64),
        torch.tensor([True, False, False, False]),
    )
    assert ep.grad is None and ep.meta["road"]["ring"] and ep.meta["dt"] == 0.1
    radius = np.hypot(ep.x, ep.y)
    np.testing.assert_allclose(radius, road.radius + ep.lane * 4.0, rtol=1e-5)
    phi = np.arctan2(ep.y, ep.x) % (2 * np.pi)
    np.testing.assert_allclose(phi, (ep.s / road.radius) % (2 * np.pi), atol=1e-4)
    np.testing.assert_allclose(ep.heading, ep.s / road.radius + np.pi / 2, atol=1e-5)
    with pytest.raises(ValueError, match=r"accel: expected \[T, 1, 4\]"):
        record_rollout(sim, sim.init_state(x, v, lane), torch.zeros(5, 4), torch.tensor([True, False, False, False]))


def test_demo_episode_is_a_real_braking_platoon():
    ep = demo_episode(lanes=2, per_lane=2, steps=80, num_envs=1, grad_window=10)
    assert ep.x.shape == (81, 1, 5) and ep.controlled.tolist() == [True, False, False, False, False]
    assert ep.speed[0, 0, 0] == pytest.approx(20.0) and ep.speed[-1, 0, 0] == pytest.approx(TARGET_SPEED, abs=1e-4)
    expect = 1.0 - np.minimum(np.abs(ep.speed[1:, 0, 1:] - TARGET_SPEED) / TARGET_SPEED, 1.0).mean(-1)
    np.testing.assert_allclose(ep.reward[:, 0], expect, rtol=1e-6)
    assert ep.grad.max() > 0 and ep.termination_cause(0) == "time_limit"
