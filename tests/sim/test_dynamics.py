"""Integrators, controlled vehicles and closed-loop behaviour against hand-computed values and physical bounds."""

import pytest
import torch

import difftraffic as dt

F64 = torch.float64
FREE_ACC_10 = 1.0 - (10.0 / 30.0) ** 4  # IDM free-road acceleration at 10 m/s with v0=30, a=1


def one_car(integrator, v=10.0, x=100.0, **kw):
    sim = dt.TrafficSim(dt.Road(length=1e6), dt=0.1, integrator=integrator, **kw)
    return sim, sim.init_state(torch.tensor([[x]], dtype=F64), torch.tensor([[v]], dtype=F64))


@pytest.mark.parametrize("backend", ["eager", "fused"])
def test_one_free_road_step_per_integrator(backend):
    a = FREE_ACC_10
    expected = {
        "euler": 100.0 + (10.0 + a * 0.1) * 0.1,  # x += v_new dt
        "explicit": 100.0 + 10.0 * 0.1,  # x += v_old dt
        "ballistic": 100.0 + 10.0 * 0.1 + 0.5 * a * 0.01,  # x += v dt + a dt^2 / 2
    }
    for integrator, x1 in expected.items():
        sim, s = one_car(integrator, backend=backend)
        s1 = sim.step(s)
        assert s1.x.item() == pytest.approx(x1, abs=1e-12)
        assert s1.v.item() == pytest.approx(10.0 + a * 0.1, abs=1e-12)
        assert s1.accel.item() == pytest.approx(a, abs=1e-9)
        assert s1.x.dtype == F64


@pytest.mark.parametrize("backend", ["eager", "fused"])
def test_stop_within_a_step_never_reverses(backend):
    ctrl = torch.ones(1, 1, dtype=torch.bool)
    brake = torch.full((1, 1), -20.0, dtype=F64)  # from 1 m/s: stops after 0.05 s
    expected = {"euler": 0.0, "explicit": 0.1, "ballistic": 1.0 / (2 * 20.0)}  # exact stop: v^2 / (2|a|)
    for integrator, dx in expected.items():
        sim, s = one_car(integrator, v=1.0, backend=backend)
        s1 = sim.step(s, brake, ctrl)
        assert s1.v.item() == 0.0
        assert s1.x.item() - 100.0 == pytest.approx(dx, abs=1e-12)
        assert s1.accel.item() == pytest.approx(-10.0)  # applied: (0 - 1) / dt
        s2 = sim.step(s1, brake, ctrl)
        assert s2.v.item() == 0.0 and s2.x.item() == s1.x.item()


@pytest.mark.parametrize("integrator", ["euler", "explicit", "ballistic"])
def test_speed_never_negative_under_random_braking(integrator):
    g = torch.Generator().manual_seed(0)
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6), dt=0.1, integrator=integrator)
    x = torch.arange(10, dtype=F64).expand(4, 10) * 15.0
    s = sim.init_state(x, torch.rand(4, 10, generator=g, dtype=F64) * 5, torch.arange(10).remainder(2).expand(4, 10))
    ctrl = torch.rand(4, 10, generator=g) < 0.5
    for _ in range(100):
        s = sim.step(s, torch.rand(4, 10, generator=g, dtype=F64) * 15 - 10, ctrl)
        assert s.v.min().item() >= 0.0


def test_free_road_converges_to_each_drivers_v0():
    v0 = torch.tensor([[20.0, 25.0, 30.0]], dtype=F64)
    sim = dt.TrafficSim(dt.Road(num_lanes=3, length=1e6))
    s = sim.init_state(torch.zeros(1, 3, dtype=F64), torch.zeros(1, 3, dtype=F64), torch.tensor([[0, 1, 2]]),
                       dt.IDMParams(v0=v0))  # fmt: skip
    tr = sim.rollout(s, 1500)  # 150 s
    assert torch.allclose(tr.v[-1], v0, atol=1e-3)
    assert (tr.v[1:] - tr.v[:-1]).min().item() >= 0.0  # monotone approach, never above v0
    assert (tr.v <= v0).all()


@pytest.mark.parametrize("integrator", ["euler", "explicit", "ballistic"])
def test_platoon_behind_braking_leader_stops_near_s0_without_collision(integrator):
    n, s0 = 6, 2.0
    sim = dt.TrafficSim(dt.Road(length=1e6), dt=0.1, integrator=integrator)
    x = 1000.0 - torch.arange(n, dtype=F64)[None] * 40.0
    s = sim.init_state(x, torch.full((1, n), 20.0, dtype=F64))
    ctrl = torch.zeros(1, n, dtype=torch.bool)
    ctrl[0, 0] = True
    brake = torch.where(ctrl, -3.0, 0.0).to(F64)
    min_gap = float("inf")
    for _ in range(1200):
        s = sim.step(s, brake, ctrl)
        gaps = s.x[0, :-1] - s.x[0, 1:] - 5.0
        min_gap = min(min_gap, gaps.min().item())
    assert s.v.abs().max().item() == 0.0
    # IDM's approach to a standing car is underdamped for these parameters (v clamped at 0): it stops
    # about 0.2 m short of s0 (measured 1.73-1.81 m), never closer
    assert gaps.min().item() > 0.85 * s0 and gaps.max().item() < 1.02 * s0
    assert min_gap > 0.85 * s0


def test_controlled_vehicles_follow_given_acceleration_others_idm():
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6), dt=0.1)
    s = sim.init_state(torch.tensor([[0.0, 0.0]], dtype=F64), torch.tensor([[10.0, 10.0]], dtype=F64),
                       torch.tensor([[0, 1]]))  # fmt: skip
    acc = torch.tensor([[2.5, 2.5]], dtype=F64)
    s1 = sim.step(s, acc, torch.tensor([[True, False]]))
    assert s1.v.tolist()[0] == pytest.approx([10.25, 10.0 + 0.1 * FREE_ACC_10])
    s2 = sim.step(s, acc)  # controlled=None: every vehicle is controlled
    assert s2.v.tolist()[0] == pytest.approx([10.25, 10.25])


def test_rollout_stacks_steps_and_accepts_schedules():
    sim = dt.TrafficSim(dt.Road(num_lanes=1, length=1e6), dt=0.1)
    s = sim.init_state(torch.tensor([[0.0, 50.0]], dtype=F64), torch.tensor([[10.0, 5.0]], dtype=F64))
    ctrl = torch.tensor([[False, True]])
    sched = torch.linspace(-1, 1, 20, dtype=F64)[:, None, None].expand(20, 1, 2)
    tr = sim.rollout(s, 20, accel=sched, controlled=ctrl)
    assert tr.x.shape == (21, 1, 2) and tr.v.shape == (21, 1, 2) and tr.accel.shape == (20, 1, 2)
    assert tr.lane.shape == (21, 1, 2)
    tr2 = sim.rollout(s, 20, accel=lambda t, st: sched[t], controlled=ctrl)
    st = s
    for t in range(20):
        st = sim.step(st, sched[t], ctrl)
    assert torch.equal(tr.x[-1], st.x) and torch.equal(tr2.v, tr.v) and torch.equal(tr.final.v, st.v)
    assert torch.allclose(tr.accel[:, 0, 1], sched[:, 0, 1])
