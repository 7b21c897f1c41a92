"""Per-env ring lengths (``init_state(..., ring_length=L[B])``) and additive IDM acceleration noise (``step(noise=)``):
every backend equals running each env alone on its own ring, gradients pass gradcheck."""

import pytest
import torch
from torch.autograd import gradcheck

import difftraffic as dt

F64 = torch.float64
IDM = dt.IDMParams(v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0)
LENGTHS = (180.0, 231.5, 270.0)


def ring_start(n=12, lengths=LENGTHS, lanes=1):
    """Cars evenly spread over each env's ring (2 lanes: alternating), one car displaced: waves form."""
    b = len(lengths)
    L = torch.tensor(lengths, dtype=F64)
    frac = torch.arange(n, dtype=F64) / n
    x = frac[None, :] * L[:, None]
    x[:, 0] += 1.5
    lane = (torch.arange(n) % lanes).expand(b, n).clone()
    v = torch.full((b, n), 4.0, dtype=F64)
    return x, v, lane, L


@pytest.mark.parametrize("backend", ["eager", "fused", "compiled"])
@pytest.mark.parametrize("lanes, lane_changes", [(1, None), (2, "mobil")])
def test_per_env_rings_equal_separate_rings(backend, lanes, lane_changes):
    x, v, lane, L = ring_start(lanes=lanes)
    road = dt.Road(num_lanes=lanes, length=500.0, ring=True)  # the default length is overridden per env
    sim = dt.TrafficSim(road, dt=0.1, backend=backend, lane_changes=lane_changes)
    s = sim.init_state(x, v, lane, IDM, ring_length=L)
    alone = []
    for b, length in enumerate(LENGTHS):
        one = dt.TrafficSim(dt.Road(num_lanes=lanes, length=length, ring=True), dt=0.1, backend="eager",
                            lane_changes=lane_changes)  # fmt: skip
        alone.append((one, one.init_state(x[b : b + 1], v[b : b + 1], lane[b : b + 1], IDM)))
    for _ in range(600):
        s = sim.step(s)
        alone = [(one, one.step(st)) for one, st in alone]
    for b, (_, st) in enumerate(alone):
        assert torch.equal(s.lane[b], st.lane[0])
        assert torch.allclose(s.x[b], st.x[0], atol=1e-9, rtol=0)
        assert torch.allclose(s.v[b], st.v[0], atol=1e-9, rtol=0)
    assert bool((s.x >= 0).all()) and bool((s.x < L[:, None]).all())  # wrapped into each env's own ring
    gaps = sim.leaders(s).gap
    assert float(gaps.min()) > 0.0


def test_ring_length_is_checked():
    x, v, lane, L = ring_start()
    ring = dt.TrafficSim(dt.Road(length=200.0, ring=True))
    with pytest.raises(ValueError, match="ring_length must be a"):
        ring.init_state(x, v, lane, IDM, ring_length=L[:2])
    with pytest.raises(ValueError, match="positive finite"):
        ring.init_state(x, v, lane, IDM, ring_length=torch.tensor([200.0, -1.0, 3.0]))
    with pytest.raises(ValueError, match="need a ring road"):
        dt.TrafficSim(dt.Road(length=200.0)).init_state(x, v, lane, IDM, ring_length=L)


@pytest.mark.parametrize("backend", ["eager", "fused"])
def test_gradcheck_per_env_ring_with_noise(backend):
    x, v, lane, L = ring_start(n=5, lanes=1)
    x = x + 37.0  # some cars across the seam of their ring
    v = v + torch.tensor([0.5, -1.0, 2.0, 0.0, 1.0], dtype=F64)
    noise = 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    sim = dt.TrafficSim(dt.Road(length=999.0, ring=True), dt=0.1, backend=backend)
    ctrl = torch.zeros(x.shape, dtype=torch.bool)
    ctrl[:, 0] = True

    def f(x, v, acc, v0):
        idm = dt.IDMParams(v0=v0, T=1.0, a=1.0, b=1.5, s0=2.0)
        out = sim.step(sim.init_state(x, v, lane, idm, ring_length=L), acc, ctrl, noise=noise)
        return out.x, out.v

    acc = torch.full(x.shape, 0.4, dtype=F64)
    v0 = torch.full(x.shape, 30.0, dtype=F64)
    args = [t.clone().requires_grad_() for t in (x, v, acc, v0)]
    assert gradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "compiled"])
def test_noise_shifts_idm_accelerations_only_and_matches_eager(backend):
    x, v, lane, L = ring_start()
    noise = 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    ctrl = torch.zeros(x.shape, dtype=torch.bool)
    ctrl[:, 3] = True
    accel = torch.full(x.shape, -0.5, dtype=F64)
    out = {}
    for name in ("eager", backend):
        sim = dt.TrafficSim(dt.Road(length=500.0, ring=True), dt=0.1, backend=name)
        s = sim.init_state(x, v, lane, IDM, ring_length=L)
        quiet = sim.step(s, accel, ctrl)
        out[name] = noisy = sim.step(s, accel, ctrl, noise=noise)
        shift = noisy.accel - quiet.accel
        assert torch.allclose(shift[~ctrl], noise[~ctrl], atol=1e-12)  # no speed clamp at 4 m/s
        assert torch.allclose(noisy.accel[ctrl], accel[ctrl], atol=1e-12)
    assert torch.allclose(out["eager"].x, out[backend].x, atol=1e-12, rtol=0)
    assert torch.allclose(out["eager"].v, out[backend].v, atol=1e-12, rtol=0)
