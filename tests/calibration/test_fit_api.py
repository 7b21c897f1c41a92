"""dt.calibrate = the command; params.yaml is a scenario driver table; standard errors; the optimiser; CMA-ES."""

import csv
import io

import numpy as np
import pytest
import torch
import yaml

import difftraffic as dt
from difftraffic.calibration import CalibrationResult, synthetic, write_trajectory_csv
from difftraffic.calibration.cmaes import calibrate_cmaes
from difftraffic.calibration.levenberg import REASONS, levenberg_marquardt
from difftraffic.cli.commands import main
from tests.clihelpers import run_in_process

NAMES = ("v0", "T", "a", "b", "s0", "delta")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two followers over 60 s, with light noise; the file, the API's result and the command's output dir."""
    tmp = tmp_path_factory.mktemp("fit")
    truth = synthetic.draw_drivers(2, seed=4)
    table = synthetic.add_noise(synthetic.simulate_platoons(truth, platoons=1, duration=60.0), 0.05, 0.05, seed=0)
    write_trajectory_csv(table, tmp / "data.csv")
    api = dt.calibrate(tmp / "data.csv")
    res = run_in_process(main, "calibrate", tmp / "data.csv", "--out", tmp / "fit", "--plots", 2)
    assert res.code == 0, res.err
    return tmp, api, res


def test_command_writes_the_api_result(small):
    tmp, api, res = small
    assert isinstance(api, CalibrationResult)
    with open(tmp / "fit" / "params.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["vehicle_id"] for r in rows] == api.vehicles == ["1", "2"]
    for r, i in zip(rows, range(2)):
        for k in (*NAMES, "rmse_spacing", "rmse_speed", "theil_u", "se_v0", "se_s0"):
            assert float(r[k]) == api.params[k][i], k
        assert r["se_delta"] == "" and r["converged"] == "true"
    assert sorted(p.name for p in (tmp / "fit" / "plots").iterdir()) == ["parameters.png", "spacing.png", "speed.png"]
    assert "2 drivers" in res.out and "converged      2/2" in res.out
    assert "calibrate: iter" in res.err  # the progress line
    summary = yaml.safe_load((tmp / "fit" / "summary.yaml").read_text())
    assert summary["settings_and_work"]["integrator"] == "euler" and summary["sets"][0]["name"] == "vehicle 1"
    assert min(api.params["theil_u"]) > 0 and max(api.params["theil_u"]) < 0.01


def test_params_yaml_is_a_scenario_driver_table(small, tmp_path):
    tmp, api, _ = small
    drivers = yaml.safe_load((tmp / "fit" / "params.yaml").read_text())
    assert drivers == api.driver_table()
    scenario = {
        "name": "calibrated_ring",
        "road": {"lanes": 1, "length": 200.0, "ring": True},
        "drivers": drivers["drivers"],
        "task": {"kind": "none", "dt": 0.1, "integrator": "euler"},
    }
    path = tmp_path / "ring.yaml"
    path.write_text(yaml.safe_dump(scenario))
    sim, state = dt.load_scenario(path).make_sim(num_envs=1, dtype=torch.float64)
    for k in NAMES:
        np.testing.assert_array_equal(getattr(state.idm, k)[0].numpy(), api.params[k], err_msg=k)
    traj = sim.rollout(state, steps=50)
    assert torch.isfinite(traj.x).all()


def test_standard_errors_match_the_scatter_of_estimates():
    """20 copies of one driver with independent white noise (0.1 m) on the follower's positions: the empirical
    standard deviation of the 20 estimates agrees with the reported Gauss-Newton standard error."""
    truth = {k: np.array([v]) for k, v in {"v0": 28.0, "T": 1.3, "a": 1.2, "b": 2.0, "s0": 2.5, "delta": 4.0}.items()}
    base = synthetic.simulate_platoons(truth, platoons=1, duration=90.0)
    rng = np.random.default_rng(7)
    parts = []
    for c in range(20):
        t = base.take(np.arange(len(base)))
        t.vehicle_id = np.char.add(f"{c}", base.vehicle_id)
        t.leader_id = np.where(base.leader_id == "", "", np.char.add(f"{c}", base.leader_id))
        noisy = (base.vehicle_id == "1") & (base.time > 0)
        t.position = base.position + np.where(noisy, rng.normal(0.0, 0.1, len(base)), 0.0)
        parts.append(t)
    table = parts[0]
    for t in parts[1:]:
        table = dt.calibration.TrajectoryTable(
            **{k: np.concatenate([getattr(table, k), getattr(t, k)]) for k in
               ("vehicle_id", "time", "lane", "position", "speed", "length", "leader_id")})  # fmt: skip
    result = dt.calibrate(table)
    assert len(result.vehicles) == 20
    for k in ("v0", "T", "a", "b", "s0"):
        est, se = np.array(result.params[k]), np.array(result.params[f"se_{k}"])
        ratio = est.std(ddof=1) / se.mean()
        assert 0.6 < ratio < 1.6, (k, ratio, est.std(ddof=1), se.mean())
        assert abs(est.mean() - truth[k][0]) < 4 * se.mean() + 1e-9 * truth[k][0], k


def test_levenberg_marquardt_batched_with_an_active_bound():
    """Two independent exponential fits y = p0 exp(-p1 t); the second's optimum lies beyond the box (p1 <= 0.5
    in unit coordinates): it must end on the bound, the first at the exact solution."""
    t = torch.linspace(0, 3, 40, dtype=torch.float64)
    truth = torch.tensor([[0.7, 0.3], [0.4, 0.9]], dtype=torch.float64)
    upper = torch.tensor([1.0, 0.5], dtype=torch.float64)  # unit box [0, 1] maps to [0, upper]
    y = truth[:, :1] * torch.exp(-truth[:, 1:] * t)

    def resid(z):
        p = z * upper
        return p[:, :1] * torch.exp(-p[:, 1:] * t) - y[: len(z)], p

    def jac(z, idx):
        p = z * upper
        e = p[:, :1] * torch.exp(-p[:, 1:] * t) - y[idx]
        j = torch.stack([torch.exp(-p[:, 1:] * t), -p[:, :1] * t * torch.exp(-p[:, 1:] * t)], -1) * upper
        n = t.numel()
        return (e * e).sum(-1) / n, j.transpose(1, 2) @ j / n, (j * e[..., None]).sum(1) / n

    def loss(z, idx):
        p = z * upper
        e = p[:, :1] * torch.exp(-p[:, 1:] * t) - y[idx]
        return (e * e).sum(-1) / t.numel()

    out = levenberg_marquardt(jac, loss, torch.full((2, 2), 0.5, dtype=torch.float64), torch.ones(2, 2, dtype=bool))
    assert out.converged.all()
    assert REASONS[int(out.reason[0])] == "exact"
    torch.testing.assert_close(out.z[0] * upper, truth[0], rtol=1e-8, atol=1e-10)
    assert float(out.z[1, 1]) == 1.0  # p1 held at its bound 0.5 < 0.9


def test_cmaes_baseline_reaches_the_gradient_solution():
    truth = synthetic.draw_drivers(1, seed=6)
    table = synthetic.simulate_platoons(truth, platoons=1, duration=60.0)
    grad = dt.calibrate(table)
    target = np.array(grad.params["loss"]) + 1e-6  # (RMS 1 mm)^2
    cma = calibrate_cmaes(table, targets=target, seed=0, max_evals=4000)
    assert cma.hit_evals[0] > 0 and cma.loss[0] <= target[0]
    assert cma.evals[0] == cma.hit_evals[0] and cma.evals[0] % 8 == 0  # stops at the target, whole generations
    for j, k in enumerate(("v0", "T", "a", "b", "s0")):
        assert abs(cma.params[0, j] / grad.params[k][0] - 1) < 0.05, k


def test_progress_line_format():
    from difftraffic.calibration.fitting import ProgressPrinter

    buf = io.StringIO()
    line = ProgressPrinter(4, "m", stream=buf)
    line(3, torch.tensor([4.0, 1e-4, 1e-4, 1.0]), torch.tensor([0, 1, 2, 0]))
    text = buf.getvalue()
    assert text.startswith("calibrate: iter   3 | median RMS 0.01 m | converged 2/4 | ")


@pytest.mark.cuda
def test_calibrate_on_cuda_equals_cpu():
    truth = synthetic.draw_drivers(2, seed=4)
    table = synthetic.simulate_platoons(truth, platoons=1, duration=60.0)
    cpu, gpu = dt.calibrate(table), dt.calibrate(table, device="cuda")
    for k in NAMES:
        np.testing.assert_allclose(gpu.params[k], cpu.params[k], rtol=1e-8)
