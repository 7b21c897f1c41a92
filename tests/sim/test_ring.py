"""ring22: 22 IDM cars on a 230 m single-lane ring (Flow human driver) - stop-and-go from a small perturbation."""

import torch

import difftraffic as dt

F64 = torch.float64


def test_ring22_perturbed_develops_stop_and_go_uniform_stays_uniform():
    n, length = 22, 230.0
    sim = dt.TrafficSim(dt.Road(num_lanes=1, length=length, ring=True), dt=0.1, integrator="euler")
    x = (torch.arange(n, dtype=F64) * length / n).expand(2, n).clone()
    x[1, 0] += 1.0  # env 1: one car displaced by 1 m; env 0: perfectly uniform
    s = sim.init_state(x, torch.zeros(2, n, dtype=F64), idm=dt.IDMParams(v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0))
    std, vmin, gap_min = [], [], []
    for k in range(4000):  # 400 s
        s = sim.step(s)
        if k >= 3000:  # after 300 s of warm-up
            std.append(s.v.std(dim=1))
            vmin.append(s.v.min(dim=1).values)
            ld = sim.leaders(s)
            gap_min.append(ld.gap.min(dim=1).values)
    std, vmin, gap_min = torch.stack(std), torch.stack(vmin), torch.stack(gap_min)
    # uniform ring: every car at the equilibrium speed of a 5.45 m gap (~3.45 m/s), no spread at all
    assert std[:, 0].max().item() < 1e-9
    assert abs(s.v[0].mean().item() - 3.45) < 0.01
    # perturbed ring: a full stop-and-go wave (measured: speed std ~3.0 m/s, speeds 0 ... 8.5 m/s)
    assert std[:, 1].min().item() > 2.0
    assert vmin[:, 1].min().item() < 0.05  # cars come to a standstill inside the jam
    assert s.v[1].max().item() > 6.0
    assert gap_min[:, 1].min().item() > 0.0  # no collisions
