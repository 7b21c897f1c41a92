"""float32 far from the origin, and bit-identical reruns."""

import torch

import difftraffic as dt

F64 = torch.float64


def platoon(dtype, offset, steps=600, backend="fused"):
    """A leader with a speed profile and 9 IDM followers, dt 0.1 s, 60 s."""
    n = 10
    sim = dt.TrafficSim(dt.Road(length=1e7), dt=0.1, backend=backend)
    x = offset - torch.arange(n, dtype=F64)[None] * 35.0
    s = sim.init_state(x, torch.full((1, n), 25.0, dtype=dtype))
    ctrl = torch.zeros(1, n, dtype=torch.bool)
    ctrl[0, 0] = True
    xs = []
    for k in range(steps):
        a_lead = -2.5 if 80 <= k < 160 else (2.0 if 250 <= k < 350 else 0.0)
        s = sim.step(s, torch.full((1, n), a_lead, dtype=dtype), ctrl)
        xs.append(s.x - offset)
    return torch.stack(xs)


def test_float32_far_from_origin_keeps_centimetre_accuracy():
    ref = platoon(F64, 0.0)
    far32 = platoon(torch.float32, 1.0e6)
    near32 = platoon(torch.float32, 0.0)
    # positions stay float64: a float32 run 1000 km from the origin equals the one at the origin...
    assert (far32 - near32).abs().max().item() < 1e-6
    # ...and both are within 1 cm of float64 over 60 s (measured ~1e-3 m; SUMO's float32 replica: 1.6 mm)
    assert (far32 - ref).abs().max().item() < 1e-2
    # what float32 positions would do: x = 1e6 m has a 6.25 cm resolution, 2.5 m steps round badly
    x32 = torch.tensor(1.0e6, dtype=torch.float32)
    for _ in range(600):
        x32 = x32 + torch.tensor(2.47, dtype=torch.float32)
    assert abs((x32.double() - 1.0e6).item() - 600 * 2.47) > 1e-2


def test_same_inputs_give_bit_identical_trajectories():
    for backend in ("eager", "fused"):
        a = platoon(torch.float32, 500.0, steps=200, backend=backend)
        b = platoon(torch.float32, 500.0, steps=200, backend=backend)
        assert torch.equal(a, b)
    assert torch.equal(platoon(F64, 0.0, 200, "eager"), platoon(F64, 0.0, 200, "fused"))
