"""The fast paths equal the eager reference; compiling is optional and falls back cleanly."""

import warnings

import pytest
import torch

import difftraffic as dt
from difftraffic.sim import fused_step as _sim_fused
from difftraffic.sim.simulator import AUTO_COMPILE_MIN_VEHICLES

F64 = torch.float64


def random_run(backend, ring, integrator, dtype=F64, steps=60, grad=False, x_grad=False):
    """Random multi-lane traffic incl. off-road cars and collisions (forcing re-sorts), controlled cars."""
    g = torch.Generator().manual_seed(2 + ring)
    b, n, lanes = 4, 16, 3
    road = dt.Road(num_lanes=lanes, length=300.0, ring=ring)
    sim = dt.TrafficSim(road, dt=0.1, integrator=integrator, backend=backend)
    lane = torch.randint(0, lanes, (b, n), generator=g)
    lane[0, 0] = -1
    x = (torch.rand(b, n, generator=g, dtype=F64) * 280).requires_grad_(x_grad)
    v = (torch.rand(b, n, generator=g, dtype=F64) * 15).to(dtype).requires_grad_(grad)
    idm = dt.IDMParams(v0=20 + 10 * torch.rand(b, n, generator=g, dtype=dtype), length=4 + torch.rand(n, generator=g))
    ctrl = torch.rand(b, n, generator=g) < 0.2
    acc = (torch.randn(steps, b, n, generator=g, dtype=F64) * 4).to(dtype)
    s = sim.init_state(x, v, lane, idm)
    xs, vs = [], []
    for t in range(steps):
        s = sim.step(s, acc[t], ctrl)
        xs.append(s.x)
        vs.append(s.v)
    xs, vs = torch.stack(xs), torch.stack(vs)
    grads = torch.autograd.grad(xs.sum() * 1e-3 + vs.sum(), v) if grad else None
    return xs.detach(), vs.detach(), grads


@pytest.mark.parametrize("ring", [False, True])
@pytest.mark.parametrize("integrator", ["euler", "explicit", "ballistic"])
def test_fused_forward_is_bit_identical_to_eager(ring, integrator):
    for dtype in (F64, torch.float32):
        xe, ve, _ = random_run("eager", ring, integrator, dtype)
        xf, vf, _ = random_run("fused", ring, integrator, dtype)
        assert torch.equal(xe, xf) and torch.equal(ve, vf)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # emitted by torch's inductor import
def test_compiled_matches_eager_forward_and_gradient():
    # one specialisation (ring, x and v requiring grad from the start): one forward and one backward compile
    xe, ve, ge = random_run("eager", True, "euler", steps=30, grad=True, x_grad=True)
    xc, vc, gc = random_run("compiled", True, "euler", steps=30, grad=True, x_grad=True)
    assert torch.allclose(xe, xc, rtol=0, atol=1e-9) and torch.allclose(ve, vc, rtol=0, atol=1e-9)
    assert torch.allclose(ge[0], gc[0], rtol=1e-9, atol=1e-9)


def test_compile_failure_falls_back_to_eager_kernels_with_one_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nmore detail")

    monkeypatch.setattr(_sim_fused, "_compile", broken)
    monkeypatch.setattr(_sim_fused, "_COMPILED", {})
    monkeypatch.setattr(_sim_fused, "_COMPILE_BROKEN", set())
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler found; using the eager fused kernels|no C"):
        xc, vc, gc = random_run("compiled", False, "ballistic", steps=20, grad=True)
    xe, ve, ge = random_run("eager", False, "ballistic", steps=20, grad=True)
    assert torch.equal(xc, xe) and torch.allclose(gc[0], ge[0], rtol=1e-12, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: later calls stay silent
        random_run("compiled", True, "euler", steps=5)


def test_auto_backend_choice():
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6))
    small = sim.init_state(torch.zeros(2, 8, dtype=F64), torch.zeros(2, 8))
    n = AUTO_COMPILE_MIN_VEHICLES
    big = sim.init_state(torch.zeros(1, n, dtype=F64), torch.zeros(1, n))
    assert sim._resolve_backend(small, None) == "fused"
    assert sim._resolve_backend(big, None) == "compiled"
    seen = []

    def f(v):
        seen.append(sim._resolve_backend(dt.SimState(x=small.x, v=v, lane=small.lane, idm=small.idm), None))
        return v.sum()

    torch.func.grad(f)(small.v)
    assert seen == ["eager"]
    assert dt.TrafficSim(dt.Road(), backend="eager")._resolve_backend(big, None) == "eager"


def test_step_traces_without_graph_breaks_under_user_torch_compile():
    """A user's torch.compile(fullgraph=True) around sim.step: no host syncs, same result as eager."""
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=500.0, ring=True), dt=0.1)
    g = torch.Generator().manual_seed(0)
    x = torch.arange(12, dtype=F64).expand(3, 12) * 40.0
    s = sim.step(sim.init_state(x, torch.rand(3, 12, generator=g) * 10, torch.arange(12).remainder(2).expand(3, 12)))
    assert s.order is not None  # a cached order must not force a validity check (host sync) while tracing
    ctrl = torch.zeros(3, 12, dtype=torch.bool)
    ctrl[:, 0] = True

    def f(st, a):
        for _ in range(3):
            st = sim.step(st, a, ctrl)
        return st.x, st.v

    a = torch.ones(3, 12)
    out = torch.compile(f, fullgraph=True, backend="eager")(s, a)  # dynamo tracing only: cheap
    ref = f(s, a)
    assert torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
