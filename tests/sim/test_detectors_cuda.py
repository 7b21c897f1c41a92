"""Detectors on CUDA (the dense loop step, static shapes) match the CPU readings (skipped without a CUDA device)."""

import pytest
import torch

import difftraffic as dt
from difftraffic.sim.measure import Detectors, LoopSpec, SegmentSpec

F64 = torch.float64


def readings(device):
    g = torch.Generator().manual_seed(2)
    b, n = 4, 30
    sim = dt.TrafficSim(dt.Road(num_lanes=2, length=400.0, ring=True), dt=0.1)
    x = (torch.arange(n, dtype=F64) * 13.0).expand(b, n).to(device)
    lane = torch.randint(0, 2, (b, n), generator=g).to(device)
    v = (5 + 10 * torch.rand(b, n, generator=g, dtype=F64)).to(device).requires_grad_()
    state = sim.init_state(x, v, lane)
    specs = [LoopSpec("a", 0, 10.0, 3.0), LoopSpec("b", 1, 200.0, 3.0, 1.0), SegmentSpec("s", None, 50.0, 250.0, 3.0)]
    det = Detectors(sim, state, specs)
    assert det.loops.sparse == (device == "cpu")
    for _ in range(150):
        state = sim.step(state)
        det.observe(state)
    r = det.readings()
    (grad,) = torch.autograd.grad(r["a"].values["occupancy"].sum() + r["s"].values["density"].sum(), v)
    return {(s.spec.name, k): val.detach().cpu() for s in r.series for k, val in s.values.items()}, grad.cpu()


@pytest.mark.cuda
def test_cuda_detectors_match_cpu():
    cpu, g_cpu = readings("cpu")
    gpu, g_gpu = readings("cuda")
    for key, val in cpu.items():
        assert torch.allclose(val.double(), gpu[key].double(), atol=1e-9), key
    assert torch.allclose(g_cpu, g_gpu, atol=1e-8)
