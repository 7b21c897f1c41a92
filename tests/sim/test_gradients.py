"""Gradients: gradcheck (float64 finite differences) of one step per integrator and backend, torch.func, and the
fused backward against plain autograd over a rollout."""

import pytest
import torch
from torch.autograd import gradcheck

import difftraffic as dt

F64 = torch.float64
INTEGRATORS = ["euler", "explicit", "ballistic"]


def inputs(ring=False):
    """2 envs x 5 vehicles on 2 lanes, away from every kink (clamps, gap floor) except a clear ballistic stop."""
    g = torch.Generator().manual_seed(3)
    b, n = 2, 5
    lane = torch.tensor([[0, 0, 0, 1, 1], [1, 0, 1, 0, 1]])
    x = torch.tensor([[0.0, 25.0, 52.0, 3.0, 40.0], [5.0, 10.0, 33.0, 45.0, 70.0]], dtype=F64)
    if ring:
        x = x + 47.0  # some gaps then wrap around the 120 m ring (no vehicle exactly on the seam)
    v = torch.tensor([[12.0, 9.0, 0.5, 8.0, 11.0], [7.0, 10.0, 6.0, 9.0, 0.4]], dtype=F64)
    acc = torch.randn(b, n, generator=g, dtype=F64)
    acc[0, 2] = acc[1, 4] = -8.0  # controlled vehicles that stop inside the step (ballistic exact-stop branch)
    ctrl = torch.zeros(b, n, dtype=torch.bool)
    ctrl[0, 2] = ctrl[1, 4] = ctrl[1, 1] = True
    params = {
        "v0": 25.0 + 5 * torch.rand(b, n, generator=g, dtype=F64),
        "T": 1.0 + 0.2 * torch.rand(b, n, generator=g, dtype=F64),
        "a": 1.0 + torch.rand(b, n, generator=g, dtype=F64),
        "b": 1.5 + torch.rand(b, n, generator=g, dtype=F64),
        "s0": 2.0 + torch.rand(b, n, generator=g, dtype=F64),
        "delta": 4.0 + torch.rand(b, n, generator=g, dtype=F64),
        "length": 4.5 + torch.rand(b, n, generator=g, dtype=F64),
    }
    return x, v, acc, ctrl, lane, params


def step_fn(integrator, backend, ring, sstar_clip="dynamic", fixed_params=None):
    road = dt.Road(num_lanes=2, length=120.0 if ring else 1e6, ring=ring)
    sim = dt.TrafficSim(road, dt=0.1, integrator=integrator, sstar_clip=sstar_clip, backend=backend)
    _, _, _, ctrl, lane, _ = inputs(ring)
    names = ("v0", "T", "a", "b", "s0", "delta", "length")

    def f(x, v, acc, *params):
        kw = fixed_params if fixed_params is not None else dict(zip(names, params))
        state = sim.init_state(x, v, lane, dt.IDMParams(**kw))
        out = sim.step(state, acc, ctrl)
        return out.x, out.v, out.accel

    return f


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_gradcheck_step_wrt_state_action_and_idm_params(integrator, backend):
    x, v, acc, _, _, params = inputs()
    args = [t.clone().requires_grad_() for t in (x, v, acc, *params.values())]
    assert gradcheck(step_fn(integrator, backend, ring=False), args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", ["eager", "fused"])
def test_gradcheck_ring_and_total_clip(backend):
    x, v, acc, _, _, params = inputs(ring=True)
    args = [t.clone().requires_grad_() for t in (x, v, acc, *params.values())]
    f = step_fn("euler", backend, ring=True, sstar_clip="total")
    assert gradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("integrator", ["euler", "explicit"])
@pytest.mark.parametrize("ring, clip", [(False, "dynamic"), (True, "total")])
def test_gradcheck_state_and_action_only(integrator, ring, clip):
    """No parameter needs a gradient: the fused node saves local derivatives instead of recomputing."""
    x, v, acc, _, _, params = inputs(ring)
    params["T"] = 1.0  # a float among per-vehicle tensors
    args = [t.clone().requires_grad_() for t in (x, v, acc)]
    f = step_fn(integrator, "fused", ring=ring, sstar_clip=clip, fixed_params=params)
    assert gradcheck(f, args, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_torch_func_grad_and_vjp_through_step():
    x, v, acc, ctrl, lane, params = inputs()
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6), dt=0.1)  # backend "auto": eager inside torch.func

    def loss(v_, a_):
        s = dt.SimState(x=x, v=v_, lane=lane, idm=dt.IDMParams(**params))
        for _ in range(3):
            s = sim.step(s, a_, ctrl)
        return (s.x * s.v).sum()

    gv, ga = torch.func.grad(loss, argnums=(0, 1))(v, acc)
    v_ = v.clone().requires_grad_()
    a_ = acc.clone().requires_grad_()
    ref_v, ref_a = torch.autograd.grad(loss(v_, a_), (v_, a_))
    assert torch.allclose(gv, ref_v, rtol=1e-12, atol=1e-12) and torch.allclose(ga, ref_a, rtol=1e-12, atol=1e-12)
    assert ga[1, 1] != 0 and ga[~ctrl].abs().max() == 0  # only controlled actions matter...
    assert ga[0, 2] == 0 and ga[1, 4] == 0  # ...while their car moves: these stop (v clamped at 0)

    def step_v(v_):
        return sim.step(dt.SimState(x=x, v=v_, lane=lane, idm=dt.IDMParams(**params))).v

    out, vjp = torch.func.vjp(step_v, v)
    (g,) = vjp(torch.ones_like(out))
    v_ = v.clone().requires_grad_()
    (ref,) = torch.autograd.grad(step_v(v_).sum(), v_)
    assert torch.allclose(g, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("param_grad", [True, False])
@pytest.mark.parametrize("ring", [False, True])
@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_fused_backward_equals_autograd_over_a_rollout(integrator, ring, param_grad):
    """Every input kind: [B,N], [N], [B,1] and 0-d parameter tensors, controlled accelerations, 25 steps."""
    g = torch.Generator().manual_seed(5)
    b, n, steps = 3, 8, 25
    lane = torch.randint(0, 2, (b, n), generator=g)
    x0 = (torch.arange(n, dtype=F64) * 22).expand(b, n) + torch.rand(b, n, generator=g, dtype=F64) * 5
    v0 = torch.rand(b, n, generator=g, dtype=F64) * 10
    w = torch.randn(steps, b, n, generator=g, dtype=F64)
    acc0 = torch.randn(steps, b, n, generator=g, dtype=F64) * 3
    ctrl = torch.zeros(b, n, dtype=torch.bool)
    ctrl[:, 0] = True
    ctrl[1, 3] = True
    p0 = {
        "v0": torch.rand(b, n, generator=g, dtype=F64) * 10 + 20,
        "T": torch.tensor(1.2, dtype=F64),
        "a": torch.full((n,), 1.3, dtype=F64),
        "b": torch.full((b, 1), 1.7, dtype=F64),
        "s0": torch.full((b, n), 2.0, dtype=F64),
        "delta": torch.full((b, n), 4.0, dtype=F64),
        "length": torch.rand(n, generator=g, dtype=F64) + 4.5,
    }
    grads = {}
    for backend in ("eager", "fused"):
        leaves = [t.clone().requires_grad_() for t in (x0, v0, acc0)]
        leaves += [t.clone().requires_grad_(param_grad) for t in p0.values()]
        x, v, acc, *params = leaves
        sim = dt.TrafficSim(dt.Road(num_lanes=2, length=200.0, ring=ring), dt=0.1, integrator=integrator,
                            backend=backend)  # fmt: skip
        s = sim.init_state(x, v, lane, dt.IDMParams(**dict(zip(p0, params))))
        loss = 0.0
        for t in range(steps):
            s = sim.step(s, acc[t], ctrl)
            loss = loss + (s.x * w[t]).sum() * 1e-2 + (s.v * w[t]).sum() + (s.accel**2).sum() * 0.1
        grads[backend] = torch.autograd.grad(loss, leaves if param_grad else leaves[:3])
    for ge, gf in zip(grads["eager"], grads["fused"]):
        assert ge.shape == gf.shape
        assert torch.allclose(ge, gf, rtol=1e-10, atol=1e-10 * ge.abs().max().item())
    if param_grad:
        assert grads["eager"][9].abs().sum() > 0  # the per-vehicle [N] lengths receive gradient


def test_gradient_cut_points():
    """Lane membership and leader choice carry no gradient; the follower's response to its leader does."""
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=1e6), dt=0.1, backend="fused")
    x = torch.tensor([[0.0, 20.0, 10.0]], dtype=F64, requires_grad=True)
    v = torch.tensor([[10.0, 8.0, 9.0]], dtype=F64, requires_grad=True)
    s = sim.step(sim.init_state(x, v, torch.tensor([[0, 0, 1]])))
    assert not s.lane.is_floating_point() and not s.lane.requires_grad
    gx, gv = torch.autograd.grad(s.v[0, 0], (x, v))
    assert gx[0, 1] > 0 and gx[0, 0] < 0 and gx[0, 2] == 0  # the car in lane 1 does not affect car 0
    assert gv[0, 1] > 0 and gv[0, 2] == 0
