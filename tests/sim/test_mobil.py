"""MOBIL lane changes: incentive, safety, ping-pong guard, conflict resolution, determinism."""

import pytest
import torch

import difftraffic as dt
from difftraffic.sim.mobil import MOBILParams

F64 = torch.float64


def make(num_lanes=2, ring=False, length=1e6, backend="auto", **mobil):
    road = dt.Road(num_lanes=num_lanes, length=length, ring=ring)
    return dt.TrafficSim(road, dt=0.1, lane_changes="mobil", mobil=MOBILParams(**mobil), backend=backend)


def test_slow_leader_makes_follower_change_into_free_lane():
    sim = make()
    s = sim.init_state(torch.tensor([[0.0, 40.0]], dtype=F64), torch.tensor([[20.0, 5.0]], dtype=F64))
    ctrl = torch.tensor([[False, True]])  # the slow leader is controlled: it never changes lanes
    s1 = sim.step(s, torch.zeros(1, 2, dtype=F64), ctrl)
    assert s1.lane.tolist() == [[1, 0]]
    assert s1.lc_timer.tolist() == [[3.0, 0.0]]
    # the changed car now drives on a free road: IDM free acceleration, not braking for the slow car
    assert s1.accel[0, 0].item() == pytest.approx(1.0 - (20.0 / 30.0) ** 4, abs=1e-9)
    plain = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6), dt=0.1)  # lane changes are off by default
    assert plain.step(s, torch.zeros(1, 2, dtype=F64), ctrl).lane.tolist() == [[0, 0]]


def test_no_change_when_new_follower_would_brake_too_hard():
    sim = make(b_safe=4.0, politeness=0.0)  # selfish: only the safety criterion can stop the change
    # a fast car 6 m behind in the target lane: it would have to brake far harder than 4 m/s^2
    x = torch.tensor([[0.0, 40.0, -6.0]], dtype=F64)
    v = torch.tensor([[20.0, 5.0, 30.0]], dtype=F64)
    s = sim.init_state(x, v, torch.tensor([[0, 0, 1]]))
    ctrl = torch.tensor([[False, True, False]])
    acc = torch.zeros(1, 3, dtype=F64)
    s = sim.step(s, acc, ctrl)
    assert s.lane.tolist() == [[0, 0, 1]]
    changed_at = None
    for k in range(1, 40):
        s = sim.step(s, acc, ctrl)
        if s.lane[0, 0] == 1:
            changed_at = k
            break
    assert changed_at is not None  # once the fast car has passed, the gap behind it is safe
    assert s.x[0, 2] > s.x[0, 0]


def test_overlapping_neighbour_blocks_change():
    sim = make(b_safe=1e9, politeness=0.0)  # braking safety and politeness off: only the no-overlap rule remains
    x = torch.tensor([[0.0, 40.0, -2.0]], dtype=F64)  # car 2 (adjacent lane) overlaps car 0 (|dx| < length)
    v = torch.tensor([[20.0, 5.0, 20.0]], dtype=F64)
    s = sim.step(sim.init_state(x, v, torch.tensor([[0, 0, 1]])), torch.zeros(1, 3, dtype=F64),
                 torch.tensor([[False, True, True]]))  # fmt: skip
    assert s.lane[0, 0].item() == 0


def test_bias_keeps_right_and_minimum_interval_prevents_ping_pong():
    g = torch.Generator().manual_seed(0)
    b, n, lanes = 4, 30, 3
    sim = make(num_lanes=lanes, ring=True, length=900.0, bias=0.3, min_interval=3.0)
    lane = torch.randint(0, lanes, (b, n), generator=g)
    v0 = 15.0 + 15.0 * torch.rand(b, n, generator=g, dtype=F64)
    x = torch.arange(n, dtype=F64).expand(b, n) * 30.0  # one car per 30 m: no overlaps at the start
    s = sim.init_state(x, torch.full((b, n), 5.0, dtype=F64), lane, dt.IDMParams(v0=v0))
    last_change = torch.full((b, n), -1000)
    changes = 0
    for k in range(300):
        prev = s.lane
        s = sim.step(s)
        changed = s.lane != prev
        assert ((k - last_change)[changed] >= 30).all()  # >= 3 s between two changes of one car
        assert ((s.lane - prev).abs() <= 1).all()  # one lane at a time
        last_change = torch.where(changed, torch.full_like(last_change, k), last_change)
        changes += int(changed.sum())
        ld = sim.leaders(s)
        assert ld.gap[ld.exists].min().item() > 0.0  # no overlaps, ever
    assert changes > 20
    assert (s.lane == 0).sum() > (lane == 0).sum()  # the keep-right bias moved cars to lane 0


def test_simultaneous_requests_for_one_gap_resolved_deterministically():
    sim = make(num_lanes=3)
    # cars 0 (lane 0) and 1 (lane 2) at the same x both want the empty middle lane behind slow cars 2 and 3
    x = torch.tensor([[0.0, 0.0, 30.0, 30.0]], dtype=F64)
    v = torch.tensor([[20.0, 20.0, 5.0, 5.0]], dtype=F64)
    s = sim.init_state(x, v, torch.tensor([[0, 2, 0, 2]]))
    ctrl = torch.tensor([[False, False, True, True]])
    s1 = sim.step(s, torch.zeros(1, 4, dtype=F64), ctrl)
    assert s1.lane.tolist() == [[1, 2, 0, 2]]  # equal incentive: the lower vehicle index wins
    # a higher incentive wins regardless of index: make car 1 faster (it gains more by changing)
    s = sim.init_state(x, torch.tensor([[20.0, 25.0, 5.0, 5.0]], dtype=F64), torch.tensor([[0, 2, 0, 2]]))
    assert sim.step(s, torch.zeros(1, 4, dtype=F64), ctrl).lane.tolist() == [[0, 1, 0, 2]]


def test_mobil_runs_are_bit_identical_and_differentiable():
    g = torch.Generator().manual_seed(1)
    b, n = 3, 24
    x0 = torch.arange(n, dtype=F64).expand(b, n) * 12.0
    lane = torch.randint(0, 3, (b, n), generator=g)
    v0 = 10.0 + 20.0 * torch.rand(b, n, generator=g, dtype=F64)

    def run(backend="auto"):
        sim = make(num_lanes=3, politeness=0.2, backend=backend)
        v = torch.full((b, n), 8.0, dtype=F64, requires_grad=True)
        s = sim.init_state(x0, v, lane, dt.IDMParams(v0=v0))
        lanes = []
        for _ in range(80):
            s = sim.step(s)
            lanes.append(s.lane)
        (grad,) = torch.autograd.grad(s.x.sum(), v)
        return s.x.detach(), torch.stack(lanes), grad

    xa, la, ga = run()
    xb, lb, gb = run()
    assert torch.equal(xa, xb) and torch.equal(la, lb) and torch.equal(ga, gb)
    xe, le, ge = run("eager")  # the reference path takes the same decisions and gives the same gradients
    assert torch.equal(xa, xe) and torch.equal(la, le) and torch.allclose(ga, ge, rtol=1e-12, atol=1e-12)
    assert (la[-1] != lane).any()
    assert torch.isfinite(ga).all() and ga.abs().sum() > 0


def test_mobil_parameter_validation():
    with pytest.raises(ValueError, match="mobil.b_safe"):
        make(b_safe=0.0)
    with pytest.raises(ValueError, match="mobil.politeness"):
        make(politeness=-0.1)
    with pytest.raises(TypeError, match="MOBILParams"):
        dt.TrafficSim(dt.Road(), lane_changes="mobil", mobil={"politeness": 0.1})
