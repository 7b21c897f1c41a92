"""CUDA: every backend runs on the GPU and matches the CPU reference (skipped without a CUDA device)."""

import pytest
import torch

import difftraffic as dt

F64 = torch.float64


def run(device, backend, ring, lane_changes=None):
    g = torch.Generator().manual_seed(4)
    b, n = 8, 40
    road = dt.Road(num_lanes=3, length=600.0, ring=ring)
    sim = dt.TrafficSim(road, dt=0.1, backend=backend, lane_changes=lane_changes)
    x = (torch.arange(n, dtype=F64) * 14.0).expand(b, n).to(device)
    lane = torch.randint(0, 3, (b, n), generator=g).to(device)
    v = (torch.rand(b, n, generator=g, dtype=F64) * 15).to(device).requires_grad_()
    v0 = (20 + 10 * torch.rand(b, n, generator=g, dtype=F64)).to(device).requires_grad_()
    s = sim.init_state(x, v, lane, dt.IDMParams(v0=v0))
    for _ in range(40):
        s = sim.step(s)
    gv, gp = torch.autograd.grad(s.x.sum() + s.v.sum(), (v, v0))
    return s.x.detach().cpu(), s.lane.cpu(), gv.cpu(), gp.cpu()


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["eager", "fused", "compiled"])
@pytest.mark.parametrize("ring", [False, True])
def test_cuda_matches_cpu(backend, ring):
    ref = run("cpu", "eager", ring)
    out = run("cuda", backend, ring)
    for a, b in zip(ref, out):
        assert torch.allclose(a.to(b.dtype), b, rtol=1e-9, atol=1e-9)


@pytest.mark.cuda
def test_cuda_mobil_matches_cpu():
    ref = run("cpu", "fused", False, "mobil")
    out = run("cuda", "fused", False, "mobil")
    assert torch.equal(ref[1], out[1])
    assert torch.allclose(ref[0], out[0], rtol=1e-9, atol=1e-9)
