"""Recovery of known IDM drivers from trajectories simulated by a real peer, Eclipse SUMO 1.28 (libsumo)."""

import numpy as np

from difftraffic.calibration import calibrate, synthetic
from tests.calibration.conftest import NAMES, need_sumo, relative_errors


def test_sumo_platoons_equal_trafficsim(sumo_data):
    """The generator is SUMO's IDM; difftraffic's euler integrator reproduces it (the premise of the fit)."""
    truth, table = sumo_data
    ours = synthetic.simulate_platoons(truth, platoons=2)
    np.testing.assert_array_equal(table.vehicle_id, ours.vehicle_id)
    offset = table.position - ours.position  # SUMO's leaders start at 5000 m
    assert np.ptp(offset) < 1e-9
    assert np.abs(table.speed - ours.speed).max() < 1e-9
    assert table.speed.min() == 0.0 and table.speed.max() > 30.0  # stops and free flow are in the data


def test_exact_sumo_trajectories_recover_every_parameter(sumo_data):
    truth, table = sumo_data
    result = calibrate(table)
    err = relative_errors(result, truth, per_platoon=4)
    assert len(result.vehicles) == 8 and all(result.params["converged"])
    for k in NAMES:
        assert np.median(err[k]) < 0.01, (k, err[k])  # the bar
        assert err[k].max() < 1e-6, (k, err[k])  # in fact exact: SUMO's model is the simulator's
    assert max(result.params["rmse_spacing"]) < 1e-6


def test_noisy_sumo_trajectories_recover_within_a_few_percent(sumo_data):
    """Gaussian noise of 0.1 m on positions and 0.1 m/s on speeds, leaders and followers alike."""
    truth, table = sumo_data
    noisy = synthetic.add_noise(table, position_sd=0.1, speed_sd=0.1, seed=3)
    result = calibrate(noisy)
    err = relative_errors(result, truth, per_platoon=4)
    for k in NAMES:
        assert np.median(err[k]) < 0.03, (k, err[k])
    rmse = np.array(result.params["rmse_spacing"])
    assert np.all((rmse > 0.05) & (rmse < 0.2))  # the fit stops at the noise, not below it


def test_platoon_closed_loop_recovers_exact_sumo_trajectories(sumo_data):
    truth, table = sumo_data
    result = calibrate(table, platoon=True)
    err = relative_errors(result, truth, per_platoon=4)
    assert result.info["groups"] == 2  # one coupled least-squares problem per platoon
    for k in NAMES:
        assert err[k].max() < 1e-6, (k, err[k])


def test_global_and_class_parameters_from_sumo():
    """Drivers sharing one parameter set per class (cars / trucks): classes mode recovers both sets, global
    mode one compromise set with a visibly worse fit."""
    need_sumo()
    from difftraffic.calibration.sumo_platoons import sumo_platoons

    car = {"v0": 30.0, "T": 1.2, "a": 1.4, "b": 2.0, "s0": 2.0, "delta": 4.0}
    truck = {"v0": 24.0, "T": 1.8, "a": 0.8, "b": 1.6, "s0": 3.0, "delta": 4.0}
    kinds = np.array(["car", "truck", "car", "truck"])
    truth = {k: np.array([(car if c == "car" else truck)[k] for c in kinds]) for k in car}
    table = sumo_platoons(truth, platoons=1, classes=kinds)
    by_class = calibrate(table, classes="class")
    assert [s["name"] for s in by_class.sets] == ["car", "truck"]
    for s in by_class.sets:
        want = car if s["name"] == "car" else truck
        for k in NAMES:
            assert abs(s["idm"][k] / want[k] - 1) < 1e-6, (s["name"], k, s["idm"][k])
    one = calibrate(table, mode="global")
    assert len(one.sets) == 1 and len(set(one.params["v0"])) == 1
    assert min(one.params["rmse_spacing"]) > 100 * max(by_class.params["rmse_spacing"])
