"""Gradients of detector outputs against float64 central finite differences, through a whole rollout.

Differentiable: loop occupancy, time-mean and harmonic-mean speeds (through the interpolated passing
times) and every segment output (Edie's time and distance in the segment). Counts and flows of loops are
piecewise constant: their gradient is zero (no autograd history at all for the counts)."""

import pytest
import torch

import difftraffic as dt
from difftraffic.sim.measure import Detectors, LoopSpec, SegmentSpec

F64 = torch.float64
STEPS = 150


def setup(integrator, ring):
    g = torch.Generator().manual_seed(5)
    b, n = 2, 16
    length = 300.0
    road = dt.Road(num_lanes=1, length=length if ring else 1e5, ring=ring)
    sim = dt.TrafficSim(road, dt=0.1, integrator=integrator, backend="eager")
    x = (torch.arange(n, dtype=F64) * 17.0 + torch.rand(b, n, generator=g, dtype=F64) * 3.0).contiguous()
    v = 8.0 + 6.0 * torch.rand(b, n, generator=g, dtype=F64)
    specs = [
        LoopSpec("a", 0, 150.0, 5.0),
        LoopSpec("b", 0, 231.3, 7.5, length=2.0),
        SegmentSpec("s", 0, 120.0, 260.0, 5.0),
        SegmentSpec("all", None, 0.0, 300.0, 15.0),
    ]
    return sim, x, v, specs


def outputs(sim, x, v, specs, T, mode="auto"):
    state = sim.init_state(x, v, idm=dt.IDMParams(T=T))
    det = Detectors(sim, state, specs, mode=mode)
    for _ in range(STEPS):
        state = sim.step(state)
        det.observe(state)
    return det.readings()


def scalar(r, weights):
    """A weighted sum of every differentiable output of every interval (speeds only where vehicles passed)."""
    total = torch.zeros((), dtype=F64)
    for s in r.series:
        keys = ("occupancy", "speed", "harmonic_speed") if s.kind == "loop" else ("density", "flow", "speed")
        for key in keys:
            val = s.values[key]
            if key != "occupancy" and s.kind == "loop":
                val = torch.where(s.values["n_contrib"] > 0, val, 0.0)
            total = total + (val * weights[: val.numel()].view_as(val)).sum()
    return total


CASES = [("euler", False, "sparse"), ("euler", True, "sparse"), ("ballistic", False, "sparse"),
         ("explicit", True, "sparse"), ("euler", True, "dense")]  # fmt: skip


@pytest.mark.parametrize("integrator,ring,mode", CASES)
def test_detector_outputs_match_finite_differences(integrator, ring, mode):
    sim, x, v, specs = setup(integrator, ring)
    weights = torch.linspace(0.3, 1.7, 400, dtype=F64)
    T = torch.full_like(v, 1.2)
    xg, vg, Tg = (t.clone().requires_grad_() for t in (x, v, T))
    r = outputs(sim, xg, vg, specs, Tg, mode)
    assert sum(int(s.values["n_contrib"].sum()) for s in r.loops) >= 4  # vehicles pass the loops
    assert all(not s.values["n_contrib"].requires_grad for s in r.loops)
    grads = torch.autograd.grad(scalar(r, weights), (xg, vg, Tg))
    g = torch.Generator().manual_seed(1)
    eps = 1e-6
    for direction in range(3):
        u = [torch.randn(t.shape, generator=g, dtype=F64) for t in (x, v, T)]
        plus = outputs(sim, x + eps * u[0], v + eps * u[1], specs, T + eps * u[2], mode)
        minus = outputs(sim, x - eps * u[0], v - eps * u[1], specs, T - eps * u[2], mode)
        for a, c in zip(plus.loops, minus.loops):  # no event moved across a step
            assert torch.equal(a.values["n_contrib"], c.values["n_contrib"])
        fd = (scalar(plus, weights) - scalar(minus, weights)) / (2 * eps)
        ad = sum((gr * ui).sum() for gr, ui in zip(grads, u))
        assert ad.item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-6), direction


def test_flow_and_counts_carry_no_gradient_but_occupancy_does():
    sim, x, v, specs = setup("euler", False)
    vg = v.clone().requires_grad_()
    r = outputs(sim, x, vg, specs[:1], torch.full_like(v, 1.2))
    loop = r["a"]
    (g_occ,) = torch.autograd.grad(loop.values["occupancy"].sum(), vg, retain_graph=True)
    assert g_occ.abs().sum() > 0
    assert not loop.values["flow"].requires_grad and not loop.values["n_contrib"].requires_grad
