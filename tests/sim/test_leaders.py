"""Leader search: sort-based results against a brute-force O(N^2) reference; cached order/topology reuse."""

import pytest
import torch

import difftraffic as dt
from difftraffic.sim.topology import build_topology, is_valid, lane_neighbours, rebuild_rows, sort_keys

L = 5.0


def random_config(seed, b=12, n=25, lanes=4, length=400.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, n, generator=g, dtype=torch.float64) * length
    lane = torch.randint(-1, lanes, (b, n), generator=g)  # includes off-road (-1) vehicles
    v = torch.rand(b, n, generator=g, dtype=torch.float64) * 20
    return x, v, lane


def brute_leaders(x, lane, ring_length):
    """Reference: for each on-road vehicle, the nearest other vehicle strictly ahead in its lane."""
    b, n = x.shape
    leader = torch.arange(n).repeat(b, 1)
    exists = torch.zeros(b, n, dtype=torch.bool)
    dist = torch.zeros(b, n, dtype=torch.float64)
    for e in range(b):
        for i in range(n):
            if lane[e, i] < 0:
                continue
            best, arg = float("inf"), i
            for j in range(n):
                if j == i or lane[e, j] != lane[e, i]:
                    continue
                d = (x[e, j] - x[e, i]).item()
                if ring_length is not None:
                    d %= ring_length
                if d > 0 and d < best:
                    best, arg = d, j
            if ring_length is not None and arg == i:
                best = ring_length  # alone in its lane: its own leader, one lap ahead
            if best < float("inf"):
                leader[e, i], exists[e, i], dist[e, i] = arg, True, best
    return leader, exists, dist


@pytest.mark.parametrize("ring", [False, True])
def test_leader_search_matches_brute_force(ring):
    length = 400.0
    x, v, lane = random_config(1 + ring, length=length)
    ring_length = length if ring else None
    ref_leader, ref_exists, ref_dist = brute_leaders(x, lane, ring_length)
    sim = dt.TrafficSim(dt.Road(num_lanes=4, length=length, ring=ring))
    state = sim.init_state(x, v, lane, dt.IDMParams(length=L))
    ld = sim.leaders(state)
    assert torch.equal(ld.exists, ref_exists)
    assert torch.equal(torch.where(ref_exists, ld.index, 0), torch.where(ref_exists, ref_leader, 0))
    assert torch.allclose(ld.gap, torch.where(ref_exists, ref_dist - L, 0.0), atol=1e-9)
    assert torch.equal(ld.v_leader, v.gather(1, ld.index))
    topo = build_topology(x, lane, ring_length)
    assert torch.equal(topo.exists, ref_exists)
    assert torch.equal(torch.where(ref_exists, topo.leader, 0), torch.where(ref_exists, ref_leader, 0))
    # followers invert leaders
    idx = torch.arange(x.shape[1]).expand_as(x)
    lead_of_fol = topo.leader.gather(1, topo.follower)
    assert torch.equal(torch.where(topo.has_follower, lead_of_fol, idx), idx)
    assert int(topo.has_follower.sum()) == int(topo.exists.sum())


def test_ring_wraparound_gaps():
    road = dt.Road(num_lanes=1, length=100.0, ring=True)
    sim = dt.TrafficSim(road)
    x = torch.tensor([[10.0, 50.0, 90.0]], dtype=torch.float64)
    state = sim.init_state(x, torch.zeros(1, 3, dtype=torch.float64))
    ld = sim.leaders(state)
    assert ld.index.tolist() == [[1, 2, 0]]
    assert ld.gap.tolist()[0] == pytest.approx([35.0, 35.0, 15.0])  # 90 -> 110 (=10) wraps: 20 - 5
    lone = sim.init_state(torch.tensor([[42.0]], dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    assert sim.leaders(lone).gap.tolist() == [[95.0]]  # alone: its own leader one lap ahead


def test_eager_order_cache_is_reused_only_while_sorted():
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e4))
    x = torch.tensor([[0.0, 30.0, 60.0, 10.0]], dtype=torch.float64)
    lane = torch.tensor([[0, 0, 0, 1]])
    order = sim.sort_order(x, lane, None)
    assert order.tolist() == [[0, 1, 2, 3]]
    assert sim.sort_order(x + 5.0, lane, order) is order  # still sorted: reused
    swapped = x.clone()
    swapped[0, 0] = 45.0  # overtakes vehicle 1
    new = sim.sort_order(swapped, lane, order)
    assert new is not order and new.tolist() == [[1, 0, 2, 3]]
    assert sim.sort_order(x, torch.tensor([[0, 1, 0, 1]]), order).tolist() == [[0, 2, 3, 1]]


def test_fused_topology_rebuilt_exactly_when_stale():
    road = dt.Road(num_lanes=2, length=200.0, ring=True)
    sim = dt.TrafficSim(road, dt=0.1, backend="fused")
    x = torch.tensor([[20.0, 60.0, 100.0, 198.5], [0.0, 40.0, 80.0, 120.0]], dtype=torch.float64)
    lane = torch.zeros(2, 4, dtype=torch.long)
    s0 = sim.step(sim.init_state(x, torch.full((2, 4), 10.0, dtype=torch.float64), lane))
    topo = s0.topo
    # vehicle 3 of env 0 crosses the ring's seam: the cyclic order is unchanged, no re-sort
    s1 = sim.step(s0)
    assert s1.x[0, 3] < 10.0 and s1.topo is topo
    # an overtake in env 1 (vehicle 0 jumps past vehicle 1): only env 1 is re-sorted
    x2 = s1.x.clone()
    x2[1, 0] = x2[1, 1] + 3.0
    s2 = sim.step(dt.SimState(x=x2, v=s1.v, lane=s1.lane, idm=s1.idm, topo=s1.topo))
    assert s2.topo is not topo
    assert torch.equal(s2.topo.leader[0], topo.leader[0])
    assert s2.topo.leader[1].tolist() == [2, 0, 3, 1]
    # a lane change in place (same tensor object) is noticed through the version counter
    s3 = sim.step(s2)
    assert s3.topo is s2.topo
    s3.lane[0, 2] = 1
    s4 = sim.step(s3)
    assert s4.topo is not s2.topo and s4.topo.leader[0, 2].item() == 2  # alone in lane 1


def test_validity_and_partial_rebuild():
    x, _, lane = random_config(7, b=5, n=20)
    topo = build_topology(x, lane, None)
    assert is_valid(topo, x, lane, None).all()
    x2 = x.clone()
    x2[3] = x2[3].flip(0)
    valid = is_valid(topo, x2, lane, None)
    assert valid.tolist() == [True, True, True, False, True]
    fixed = rebuild_rows(topo, torch.tensor([3]), x2, lane, None)
    fresh = build_topology(x2, lane, None)
    assert torch.equal(fixed.leader, fresh.leader) and torch.equal(fixed.exists, fresh.exists)
    assert torch.equal(fixed.follower, fresh.follower)


@pytest.mark.parametrize("ring", [False, True])
def test_adjacent_lane_neighbours_match_brute_force(ring):
    length = 300.0
    x, _, lane = random_config(11 + ring, b=6, n=30, lanes=3, length=length)
    lane = lane.clamp(min=0)
    target = (lane + 1) % 3
    topo = build_topology(x, lane, length if ring else None)
    keys = sort_keys(x, lane).gather(1, topo.order)
    lead, lead_ok, fol, fol_ok = lane_neighbours(keys, topo.order, lane.gather(1, topo.order), x, target, ring)
    for e in range(x.shape[0]):
        for i in range(x.shape[1]):
            others = [j for j in range(x.shape[1]) if lane[e, j] == target[e, i]]
            ahead = {j: (x[e, j] - x[e, i]).item() for j in others}
            behind = {j: (x[e, i] - x[e, j]).item() for j in others}
            if ring:
                ahead = {j: d % length for j, d in ahead.items()}
                behind = {j: d % length for j, d in behind.items()}
            ahead = {j: d for j, d in ahead.items() if d > 0}
            behind = {j: d for j, d in behind.items() if d >= 0}
            assert bool(lead_ok[e, i]) == bool(ahead)
            assert bool(fol_ok[e, i]) == bool(behind)
            if ahead:
                assert lead[e, i].item() == min(ahead, key=ahead.get)
            if behind:
                assert fol[e, i].item() == min(behind, key=behind.get)
