"""The calibration's replay equals TrafficSim's step, and its sensitivities equal finite differences (float64)."""

import numpy as np
import pytest
import torch

import difftraffic as dt
from difftraffic.calibration import synthetic
from difftraffic.calibration.carfollow import make_sim, replay, replay_loss, sensitivity_pass, slot_params, slot_step
from difftraffic.calibration.losses import Residuals
from difftraffic.calibration.segments import open_loop_rows, platoon_rows
from difftraffic.calibration.validation import check_table

NAMES = ("v0", "T", "a", "b", "s0", "delta")


@pytest.fixture(scope="module")
def platoons():
    truth = synthetic.draw_drivers(4, seed=5)
    table = synthetic.simulate_platoons(truth, platoons=2, duration=30.0)
    return truth, check_table(table)


@pytest.mark.parametrize("integrator", ["euler", "explicit", "ballistic"])
@pytest.mark.parametrize("clip", ["dynamic", "total"])
def test_slot_step_equals_trafficsim_step(integrator, clip):
    """A follower and its controlled leader: slot_step gives TrafficSim.step's positions and speeds exactly."""
    gen = torch.Generator().manual_seed(0)
    b = 64
    lead_len, own_len = 4.0 + 8.0 * torch.rand(b, generator=gen, dtype=torch.float64), torch.full((b,), 5.0).double()
    x_f = 100.0 * torch.rand(b, generator=gen, dtype=torch.float64)
    gap = 0.5 + 40.0 * torch.rand(b, generator=gen, dtype=torch.float64)
    v = torch.rand(b, 2, generator=gen, dtype=torch.float64) * 30.0
    v[:8, 1] = 0.0  # standing followers
    x_front = torch.stack([x_f + gap + lead_len, x_f], 1)  # leader, follower front bumpers
    lengths = torch.stack([lead_len, own_len], 1)
    params = {k: torch.empty(b, 2, dtype=torch.float64) for k in NAMES}
    for k, (lo, hi) in {
        "v0": (10, 40),
        "T": (0.5, 2),
        "a": (0.5, 3),
        "b": (1, 4),
        "s0": (1, 4),
        "delta": (2, 6),
    }.items():
        params[k].uniform_(lo, hi, generator=gen)
    sim = dt.TrafficSim(dt.Road(1, 1e9), dt=0.1, integrator=integrator, sstar_clip=clip, backend="eager")
    idm = dt.IDMParams(**params, length=lengths)
    state = sim.init_state(x_front - lengths / 2, v.clone(), idm=idm)
    ctrl = torch.zeros(b, 2, dtype=torch.bool)
    ctrl[:, 0] = True
    ref = sim.step(state, torch.zeros(b, 2, dtype=torch.float64), ctrl)
    theta = torch.stack([params[k] for k in NAMES], -1)[:, 1:]
    p = slot_params(theta, lengths[:, 1:])
    calib = make_sim(0.1, integrator, clip)
    xn, vn = slot_step(calib, x_front[:, 1:], v[:, 1:], x_front[:, :1], v[:, :1], lead_len[:, None],
                       torch.ones(b, 1, dtype=torch.bool), p)  # fmt: skip
    np.testing.assert_allclose(vn[:, 0], ref.v[:, 1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(xn[:, 0], ref.x[:, 1] + own_len / 2, rtol=0, atol=1e-10)


def _truth_theta(rows, ct, truth):
    """Each slot's true parameters (replayed slots: any valid values)."""
    nb, nn, _ = rows.shape
    theta = torch.tensor([30.0, 1.5, 1.0, 1.5, 2.0, 4.0], dtype=torch.float64).repeat(nb, nn, 1)
    for b in range(nb):
        for i in range(nn):
            v = int(rows.vehicle[b, i])
            if v >= 0 and int(ct.vehicles[v]) % 1000:
                j = (int(ct.vehicles[v]) // 1000) * 2 + int(ct.vehicles[v]) % 1000 - 1
                theta[b, i] = torch.tensor([truth[k][j] for k in NAMES])
    return theta


@pytest.mark.parametrize("closed", [False, True])
def test_replay_at_the_truth_reproduces_the_data(platoons, closed):
    truth, ct = platoons
    rows = platoon_rows(ct) if closed else open_loop_rows(ct)
    x, v = replay(make_sim(ct.dt), rows, _truth_theta(rows, ct, truth))
    cmp = rows.compared()
    assert cmp.sum() > 0
    assert float((x - rows.x).abs()[cmp].max()) < 1e-9
    assert float((v - rows.v).abs()[cmp].max()) < 1e-9


@pytest.mark.parametrize("closed", [False, True])
@pytest.mark.parametrize("kind", ["spacing", "speed", "mixed"])
def test_sensitivities_match_finite_differences(platoons, closed, kind):
    """2 J^T W e is the gradient of sum w e^2: checked against central differences, every column."""
    truth, ct = platoons
    rows = platoon_rows(ct) if closed else open_loop_rows(ct)
    nb, nn, _ = rows.shape
    theta = _truth_theta(rows, ct, truth) * torch.tensor([1.05, 0.9, 1.1, 0.95, 1.1, 1.0], dtype=torch.float64)
    fit = [0, 1, 2, 3, 4, 5]
    # one column block per slot (a platoon's slots are one group)
    cols = torch.where(rows.simulated[..., None], torch.arange(nn)[None, :, None] * 6 + torch.arange(6), -1)
    res, sim = Residuals(kind), make_sim(ct.dt)
    gn = sensitivity_pass(sim, rows, theta, cols, fit, res)
    np.testing.assert_allclose(gn.ssr, replay_loss(sim, rows, theta, res), rtol=1e-12)
    for c in range(int(cols.max()) + 1):
        mask = (cols == c).double()
        eps = 1e-6 * theta[..., c % 6].abs().max()
        up = replay_loss(sim, rows, theta + eps * mask, res)
        down = replay_loss(sim, rows, theta - eps * mask, res)
        fd = (up - down) / (2 * eps)
        np.testing.assert_allclose(2 * gn.jte[:, c], fd, rtol=1e-5, atol=1e-7 * float(fd.abs().max()) + 1e-12)
    assert torch.allclose(gn.jtj, gn.jtj.transpose(1, 2))
    assert bool((torch.linalg.eigvalsh(gn.jtj + 1e-9 * torch.eye(gn.jtj.shape[1])) > 0).all())
