"""Loop detectors (SUMO E1 formulas) and segment measures on hand-built frames with known answers, and a
brute-force reference for random single-lane motion (Hypothesis)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import difftraffic as dt
from difftraffic.sim.measure import Detectors, Frame, LoopSpec, SegmentSpec, frame_of, measure

F64 = torch.float64
L = 5.0


def frames(x, lane=None, active=None, ids=None, v=None, dt_=0.1):
    """Frames of ``[T+1, N]`` centre positions (one env); euler speeds ``v = dx / dt`` unless given."""
    x = torch.as_tensor(x, dtype=F64)
    if v is None:
        v = torch.zeros_like(x)
        v[1:] = (x[1:] - x[:-1]) / dt_
    lane = torch.zeros(x.shape, dtype=torch.long) if lane is None else torch.as_tensor(lane)
    active = torch.ones(x.shape, dtype=torch.bool) if active is None else torch.as_tensor(active)
    ids = torch.arange(x.shape[1]).expand(x.shape) if ids is None else torch.as_tensor(ids)
    return [Frame(x[k][None], torch.as_tensor(v[k])[None], lane[k][None], active[k][None], ids[k][None])
            for k in range(x.shape[0])]  # fmt: skip


def run(fr, specs, lanes=1, ring=False, length=1e4, integrator="euler", start_time=0.0):
    sim = dt.TrafficSim(dt.Road(num_lanes=lanes, length=length, ring=ring), dt=0.1, integrator=integrator)
    det = Detectors(sim, fr[0], specs, start_time=start_time, length=L)
    for f in fr[1:]:
        det.observe(f)
    return det.readings()


def values(series, i):
    return {k: v[i, 0].item() for k, v in series.values.items()}


def test_one_vehicle_at_constant_speed_over_a_loop():
    x = [[0.0 + 1.0 * k] for k in range(31)]  # 10 m/s; front at 2.5 + k, rear at -2.5 + k
    r = run(frames(x), [LoopSpec("d", 0, 20.0, 1.0)])["d"]
    assert r.begin == [0.0, 1.0, 2.0] and r.end == [1.0, 2.0, 3.0]
    first, second, third = (values(r, i) for i in range(3))
    # front passes 20 m in the step from 1.7 s: 1.75 s; the rear in the step from 2.2 s: 2.25 s
    assert second["n_entered"] == 1 and second["n_contrib"] == 0
    assert second["occupancy"] == pytest.approx(25.0, abs=1e-9)  # on the loop 1.75 .. 2.0 s of [1, 2)
    assert second["speed"] == -1.0 and second["harmonic_speed"] == -1.0 and second["length"] == -1.0
    assert third["n_contrib"] == 1 and third["n_entered"] == 0
    assert third["flow"] == pytest.approx(3600.0)
    assert third["occupancy"] == pytest.approx(25.0, abs=1e-9)
    assert third["speed"] == pytest.approx(10.0, abs=1e-9)  # (L_veh + 0) / (2.25 - 1.75)
    assert third["harmonic_speed"] == pytest.approx(10.0, abs=1e-9) and third["length"] == L
    assert first["n_entered"] == 0 and first["occupancy"] == 0.0


def test_loop_length_and_start_time():
    x = [[0.0 + 1.0 * k] for k in range(41)]
    r = run(frames(x), [LoopSpec("d", 0, 20.0, 2.0, length=1.5)], start_time=0.1)["d"]
    # frame k at 0.1 + 0.1 k: the front passes 20 m at 1.85 s, the rear (-2.5 + k) passes 21.5 m at 2.5 s
    assert r.begin[0] == 0.0 and r.end[-1] == pytest.approx(4.1)
    first, second = values(r, 0), values(r, 1)
    assert first["n_entered"] == 1 and first["occupancy"] == pytest.approx(100 * 0.15 / 2.0)
    assert second["speed"] == pytest.approx((L + 1.5) / 0.65)
    assert second["occupancy"] == pytest.approx(100 * 0.5 / 2.0)


def test_passing_times_follow_the_integrator():
    # explicit: x += v_old dt, so the speed before the step sets the passing time
    x = torch.tensor([[0.0], [1.0], [2.5], [4.5], [7.0], [10.0]])
    v = torch.tensor([[10.0], [15.0], [20.0], [25.0], [30.0], [30.0]])
    det = values(run(frames(x, v=v), [LoopSpec("d", 0, 6.0, 0.5)], integrator="explicit")["d"], 0)
    # front 2.5 + x passes 6 m in the step from 0.2 s (5.0 -> 7.0 m at 20 m/s): 0.25 s;
    # the rear (front - 5) in the step from 0.4 s (4.5 -> 7.5 m at 30 m/s): 0.45 s
    assert det["n_contrib"] == 1 and det["speed"] == pytest.approx(L / 0.2)
    assert det["occupancy"] == pytest.approx(100 * 0.2 / 0.5)
    euler = values(run(frames(x, v=v), [LoopSpec("d", 0, 6.0, 0.5)], integrator="euler")["d"], 0)
    assert euler["speed"] == pytest.approx(L / (0.4 + 1.5 / 30 - 0.2 - 1.0 / 25))  # v_new: 25 and 30 m/s


def test_lane_change_onto_and_off_a_loop():
    # vehicle 0 (5 m/s) changes onto lane 0 with its front past the loop: it enters at the change and leaves
    # by driving (counts in nVehContrib); vehicle 1 stands on the loop and changes away (occupancy only)
    x = [[20.0 + 0.5 * k, 19.0] for k in range(21)]
    lane = [[1 if k < 3 else 0, 0 if k < 5 else 1] for k in range(21)]
    det = values(run(frames(x, lane=lane), [LoopSpec("d", 0, 20.0, 2.0)], lanes=2)["d"], 0)
    # vehicle 0: enters at 0.2 s (the change at the start of the step from 0.2 s), its rear (17.5 + 0.5 k)
    # passes 20 m at 0.5 s; vehicle 1: on the loop from 0 s, leaves at 0.4 s by its lane change
    assert det["n_entered"] == 2 and det["n_contrib"] == 1
    assert det["speed"] == pytest.approx(L / 0.3)
    assert det["occupancy"] == pytest.approx(100 * (0.3 + 0.4) / 2.0)


def test_inserted_and_removed_vehicles():
    # slot 0 is empty until a vehicle appears on the loop in frame 5; slot 1's vehicle (on the loop from the
    # start) leaves the road in the step to frame 4; slot 2 is reused by another vehicle in frame 6
    n = 11
    x = [[19.0, 19.0, 10.0 + k] for k in range(n)]
    active = [[k >= 5, k < 4, True] for k in range(n)]
    ids = [[7, 1, 2 if k < 6 else 9] for k in range(n)]
    det = values(run(frames(x, active=active, ids=ids), [LoopSpec("d", 0, 20.0, 1.0)])["d"], 0)
    # on the loop: slot 1 from 0 to 0.4 s (the end of the step it left in), slot 0 from 0.5 s (inserted in
    # the step from 0.4 s), vehicle 9 in slot 2 from 0.75 s (front 12.5 + k passes 20 m at k = 7.5)
    assert det["n_contrib"] == 0 and det["n_entered"] == 3
    assert det["occupancy"] == pytest.approx(100 * (0.4 + 0.5 + 0.25) / 1.0)


def test_segment_measures_on_a_full_ring():
    # 4 cars on a 100 m ring: a segment over the whole ring holds all of them all the time
    k = torch.arange(51, dtype=F64)[:, None]
    x = (torch.tensor([[0.0, 20.0, 50.0, 90.0]]) + torch.tensor([[1.0, 1.5, 0.0, 2.0]]) * k) % 100.0
    r = run(frames(x), [SegmentSpec("all", 0, 0.0, 100.0, 5.0), SegmentSpec("half", 0, 0.0, 50.0, 5.0)],
            ring=True, length=100.0)  # fmt: skip
    whole = values(r["all"], 0)
    assert whole["density"] == pytest.approx(4 / 0.1, abs=1e-9)  # veh/km
    assert whole["speed"] == pytest.approx((10 + 15 + 0 + 20) / 4, abs=1e-9)
    assert whole["flow"] == pytest.approx(whole["density"] * whole["speed"] * 3.6, abs=1e-6)
    half = values(r["half"], 0)
    assert 0 < half["vehicle_time"] < whole["vehicle_time"]


def test_segment_time_and_distance_of_one_vehicle():
    x = [[0.0 + 1.0 * k] for k in range(31)]  # front at 2.5 + k m, 10 m/s
    r = run(frames(x), [SegmentSpec("s", None, 10.0, 20.0, 3.0)], lanes=2)["s"]
    got = values(r, 0)
    assert got["vehicle_time"] == pytest.approx(1.0) and got["distance"] == pytest.approx(10.0)
    assert got["speed"] == pytest.approx(10.0)
    assert got["density"] == pytest.approx(1.0 / (10.0 * 3.0) * 1000 / 2)  # per lane of 2


def test_loop_on_a_ring_across_the_seam():
    x = [[(95.0 + 1.0 * k) % 100.0] for k in range(21)]  # front at 97.5 + k: passes s = 1 m (wrapped) at k = 3.5
    r = run(frames(x), [LoopSpec("d", 0, 1.0, 2.0)], ring=True, length=100.0)["d"]
    det = values(r, 0)
    assert det["n_contrib"] == 1 and det["speed"] == pytest.approx(10.0)
    assert det["occupancy"] == pytest.approx(100 * 0.5 / 2.0)


def test_partial_intervals_and_readings_do_not_change_state():
    x = [[0.0 + 1.0 * k] for k in range(26)]
    sim = dt.TrafficSim(dt.Road(), dt=0.1)
    fr = frames(x)
    det = Detectors(sim, fr[0], [LoopSpec("d", 0, 20.0, 2.0)], length=L)
    for f in fr[1:]:
        det.observe(f)
    a = det.readings()["d"]
    b = det.readings()["d"]
    assert a.end == b.end == [2.0, 2.5]
    assert torch.equal(a.values["occupancy"], b.values["occupancy"])
    assert det.readings(partial=False)["d"].end == [2.0]


def test_measure_from_a_trajectory_equals_live_detectors():
    g = torch.Generator().manual_seed(0)
    b, n = 3, 30
    road = dt.Road(num_lanes=3, length=2000.0)
    sim = dt.TrafficSim(road, dt=0.1, lane_changes="mobil")
    x = torch.sort(torch.rand(b, n, generator=g, dtype=F64) * 600, dim=1).values
    lane = torch.randint(0, 3, (b, n), generator=g)
    v = torch.rand(b, n, generator=g, dtype=F64) * 20 + 5
    state = sim.init_state(x, v, lane, dt.IDMParams(v0=torch.rand(b, n, generator=g, dtype=F64) * 15 + 15))
    specs = [LoopSpec(f"l{j}", j % 3, 300.0 + 40 * j, 3.0) for j in range(6)]
    specs += [SegmentSpec("seg", None, 250.0, 500.0, 4.0), SegmentSpec("seg1", 1, 300.0, 450.0, 2.5)]
    traj = sim.rollout(state, 120)
    assert bool((traj.lane[1:] != traj.lane[:-1]).any())  # lane changes happen
    det = Detectors(sim, state, specs)
    s = state
    for _ in range(120):
        s = sim.step(s)
        det.observe(s)
    live, after = det.readings(), measure(sim, traj, specs)
    assert sum(int(r.values["n_contrib"].sum()) for r in live.loops) > 10
    for a, c in zip(live.series, after.series):
        assert a.begin == c.begin and a.end == c.end
        for key in a.values:
            assert torch.equal(a.values[key], c.values[key]), (a.spec.name, key)


def test_bad_specs_and_arguments():
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=500.0), dt=0.1)
    state = sim.init_state(torch.zeros(1, 2, dtype=F64), torch.zeros(1, 2, dtype=F64))
    cases = [
        ([LoopSpec("d", 0, 10.0, 0.25)], "whole number"),
        ([LoopSpec("d", 2, 10.0, 1.0)], "lane 2 does not exist"),
        ([LoopSpec("d", 0, 600.0, 1.0)], "must lie on the road"),
        ([LoopSpec("d", 0, 10.0, 1.0), SegmentSpec("d", 0, 0.0, 5.0, 1.0)], "unique"),
        ([SegmentSpec("s", 0, 5.0, 5.0, 1.0)], "start < end"),
        ([LoopSpec("d", 0, 10.0, -1.0)], "period"),
    ]
    for specs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            Detectors(sim, state, specs)
    with pytest.raises(ValueError, match="start_time"):
        Detectors(sim, state, [LoopSpec("d", 0, 10.0, 1.0)], start_time=0.05)


# ------------------------------------------------------------------------------------------ brute force
def reference(fronts, speeds, pos, det_len, steps_per_period, dt_=0.1):
    """Per-interval SUMO E1 outputs for one lane, straight road, euler motion, by plain loops over vehicles."""
    T1, n = len(fronts), len(fronts[0])
    n_int = math.ceil((T1 - 1) / steps_per_period)
    out = [{"n": 0, "entered": 0, "occ": 0.0, "speeds": []} for _ in range(n_int)]
    for i in range(n):
        on, entry = False, 0.0
        f0, b0 = fronts[0][i], fronts[0][i] - L
        if f0 >= pos and b0 < pos:
            on, entry = True, 0.0
            out[0]["entered"] += 1
        for k in range(T1 - 1):
            j, t = k // steps_per_period, k * dt_
            f0, f1, v1 = fronts[k][i], fronts[k + 1][i], speeds[k + 1][i]
            b0, b1 = f0 - L, f1 - L
            if f1 >= pos and f0 < pos:
                on, entry = True, t + min(dt_, max(0.0, (pos - f0) / v1))
                out[j]["entered"] += 1
            if b1 > pos + det_len:
                if b0 <= pos + det_len and on:
                    leave = t + min(dt_, max(0.0, (pos + det_len - b0) / v1))
                    out[j]["occ"] += leave - max(entry, j * steps_per_period * dt_)
                    s = (L + det_len) / max(leave - entry, 1e-3)
                    out[j]["n"] += 1
                    out[j]["speeds"].append(s)
                on = False
            if on and ((k + 1) % steps_per_period == 0 or k == T1 - 2):  # the interval closes with it on the loop
                out[j]["occ"] += (k + 1) * dt_ - max(entry, j * steps_per_period * dt_)
    return out


@settings(max_examples=40, deadline=None)
@given(
    speeds=st.lists(st.lists(st.floats(0.0, 30.0), min_size=3, max_size=3), min_size=20, max_size=60),
    starts=st.lists(st.floats(0.0, 40.0), min_size=3, max_size=3),
    pos=st.floats(5.0, 60.0),
    det_len=st.sampled_from([0.0, 1.0]),
    period=st.integers(1, 15),
)
def test_random_motion_matches_a_brute_force_reference(speeds, starts, pos, det_len, period):
    v = torch.tensor([[0.0] * 3] + speeds, dtype=F64)
    x = torch.tensor(starts, dtype=F64) + torch.cumsum(v * 0.1, dim=0)
    fronts = (x + L / 2).tolist()
    r = run(frames(x, v=v), [LoopSpec("d", 0, pos, period * 0.1, det_len)], length=1e4)["d"]
    ref = reference(fronts, v.tolist(), pos, det_len, period)
    assert len(r.begin) == len(ref)
    for j, want in enumerate(ref):
        got = values(r, j)
        span = r.end[j] - r.begin[j]
        assert got["n_contrib"] == want["n"] and got["n_entered"] == want["entered"]
        assert got["occupancy"] == pytest.approx(100 * want["occ"] / span, abs=1e-7)
        if want["n"]:
            assert got["speed"] == pytest.approx(sum(want["speeds"]) / want["n"], rel=1e-9)
            assert got["harmonic_speed"] == pytest.approx(want["n"] / sum(1 / s for s in want["speeds"]), rel=1e-9)
        else:
            assert got["speed"] == -1.0


def _modes_agree(sim, frames_, length, specs, ring_length=None):
    out = []
    for mode in ("dense", "sparse"):
        det = Detectors(sim, frames_[0], specs, length=length, ring_length=ring_length, mode=mode)
        for f in frames_[1:]:
            det.observe(f)
        out.append(det.readings())
    dense, sparse = out
    events = 0
    for a, c in zip(dense.series, sparse.series):
        assert a.begin == c.begin and a.end == c.end
        for key in a.values:
            assert torch.allclose(a.values[key].double(), c.values[key].double(), rtol=0, atol=1e-12), (a.spec, key)
        events += int(a.values["n_entered"].sum()) if "n_entered" in a.values else 0
    return events


def test_dense_and_sparse_loops_agree_with_lane_changes_slots_and_rings():
    g = torch.Generator().manual_seed(7)
    b, n, steps = 3, 40, 150
    # a 3-lane straight road with MOBIL, loops close together and with lengths
    sim = dt.TrafficSim(dt.Road(num_lanes=3, length=3000.0), dt=0.1, lane_changes="mobil")
    x = torch.sort(torch.rand(b, n, generator=g, dtype=F64) * 700, dim=1).values
    v = torch.rand(b, n, generator=g, dtype=F64) * 20 + 5
    lane = torch.randint(0, 3, (b, n), generator=g)
    state = sim.init_state(x, v, lane, dt.IDMParams(v0=torch.rand(b, n, generator=g, dtype=F64) * 15 + 15))
    fr = [frame_of(state)]
    for k in range(steps):
        state = sim.step(state)
        f = frame_of(state)
        active = torch.rand(b, n, generator=g) > 0.05 if k % 7 == 0 else torch.ones(b, n, dtype=torch.bool)
        ids = f.vehicle_id + 1000 * (k // 40)  # slots change vehicle every 4 s
        fr.append(Frame(f.x, f.v, f.lane, active, ids))
    specs = [LoopSpec(f"l{j}", j % 3, 300.0 + 7.5 * j, 1.0 + 0.5 * (j % 3), 0.0 if j % 2 else 1.5) for j in range(9)]
    assert _modes_agree(sim, fr, L, specs) > 50
    # a ring with per-env lengths and a loop at the seam
    ring = dt.TrafficSim(dt.Road(num_lanes=1, length=200.0, ring=True), dt=0.1)
    lengths = torch.tensor([200.0, 180.0, 150.0], dtype=F64)
    state = ring.init_state(torch.arange(12, dtype=F64).expand(b, 12) * 12.0, torch.full((b, 12), 8.0, dtype=F64),
                            ring_length=lengths)  # fmt: skip
    fr = [frame_of(state)]
    for _ in range(steps):
        state = ring.step(state)
        fr.append(frame_of(state))
    specs = [LoopSpec("seam", 0, 0.0, 2.0), LoopSpec("mid", 0, 99.5, 3.0, 2.0), LoopSpec("end", 0, 149.9, 1.0)]
    assert _modes_agree(ring, fr, L, specs, ring_length=lengths) > 30
    many = [LoopSpec(f"m{j}", 0, 8.3 * j, 1.5) for j in range(18)]  # more than SEARCH_ABOVE: the sorted search
    assert _modes_agree(ring, fr, L, many, ring_length=lengths) > 100
