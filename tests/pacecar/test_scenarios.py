"""Scenario YAML: bundled files, the paper's setups, one-line errors, make_env / make_sim / check_scenario."""

from pathlib import Path

import pytest
import torch

from difftraffic.scenario import ScenarioError, bundled_scenarios, check_scenario, load_scenario, make_env
from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.task import PaceCarEnv
from difftraffic.tasks.ringwave import RingWaveEnv

REPO = Path(__file__).resolve().parents[2]
PAPER = {"1lane": (1, 1), "2lane": (2, 4), "3lane": (3, 9), "4lane": (4, 16), "10lane": (10, 10)}


def test_bundled_scenarios_are_listed():
    assert set(bundled_scenarios()) >= {*PAPER, "ring22", "ring_wave"}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_scenarios_are_exactly_the_reference_setup(name):
    lanes, cars = PAPER[name]
    sc = load_scenario(name)
    assert sc.kind == "pacecar" and sc.name == name
    assert sc.config == PaceCarConfig.paper(lanes, cars)
    assert sc.learner == {"max_epochs": 500, "num_envs": 64, "horizon": 32}
    env = sc.make_env(num_envs=2, compile=False)
    assert isinstance(env, PaceCarEnv) and env.obs_dim == 4 * (1 + cars) and env.act_dim == 2
    assert env.episode_length == 1000 and env.dt == 0.03


def test_make_env_works_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = make_env("2lane", num_envs=3, seed=1, compile=False)
    assert env.reset().shape == (3, 20)
    env = make_env(REPO / "scenarios" / "1lane.yaml", num_envs=1, compile=False)
    assert env.obs_dim == 8


def test_ring_scenarios():
    env = make_env("ring_wave", num_envs=2, seed=0)
    assert isinstance(env, RingWaveEnv) and (env.obs_dim, env.act_dim) == (3, 1)
    sim, state = load_scenario("ring22").make_sim(num_envs=3, seed=0)
    assert state.x.shape == (3, 22) and sim.road.ring and sim.road.length == 230.0
    gaps = torch.diff(state.x, dim=1)
    assert ((gaps - 230.0 / 22).abs() <= 2.0 + 1e-9).all()  # evenly spaced +- 2 x 1 m perturbation
    assert not torch.equal(state.x[0], state.x[1])


def test_pure_simulation_scenario_is_refused_by_make_env():
    path = REPO / "difftraffic" / "scenario" / "bundled" / "ring22.yaml"  # bundled scenarios ship inside the package
    with pytest.raises(ScenarioError) as err:
        make_env("ring22")
    assert str(err.value) == (
        f"{path}: task.kind: 'none' is a pure-simulation scenario without a task; "
        "use load_scenario(...).make_sim() and TrafficSim.step/rollout"
    )


def test_check_scenario_summaries():
    assert check_scenario("10lane").startswith("10lane: ok (pacecar task, obs 44, act 2, dt 0.03 s, 1000 steps)")
    assert check_scenario("ring22").startswith("ring22: ok (pure simulation, 22 cars, ring 230 m, dt 0.1 s)")
    assert check_scenario("ring_wave").startswith("ring_wave: ok (ringwave task, obs 3, act 1, dt 0.1 s")


BASE = (REPO / "scenarios" / "3lane.yaml").read_text()
BAD = {
    "syntax": (
        "road:\n  lanes: [1, 2\n",
        "yaml: syntax error at line 3, column 1: expected ',' or ']', but got '<stream end>'",
    ),
    "unknown": (
        BASE.replace("  dt: 0.03", "  dtt: 0.03"),
        "task.dtt: unknown key (allowed here: compile, dt, episode_length, failure_reward, integrator, kind, "
        "sstar_clip, target_speed, termination)",
    ),
    "unknown_top": (
        BASE + "roadz: 1\n",
        "roadz: unknown key (allowed here: description, detectors, drivers, learner, name, pacecar, road, task)",
    ),
    "type": (BASE.replace("lanes: 3", "lanes: three"), "road.lanes: must be an integer, got a string"),
    "type_bool": (
        BASE.replace("out_of_lane: true", "out_of_lane: 1"),
        "task.termination.out_of_lane: must be true or false, got an integer",
    ),
    "lanes0": (BASE.replace("lanes: 3", "lanes: 0"), "road.lanes: must be >= 1, got 0"),
    "overlap": (
        BASE.replace("spacing: 10.0", "spacing: 4.0"),
        "drivers.placement.spacing: 4 m makes cars overlap (needs >= 5 m: car length plus twice the position noise)",
    ),
    "negative_gap": (
        BASE.replace("spacing: 10.0", "spacing: -10.0"),
        "drivers.placement.spacing: must be > 0, got -10",
    ),
    "pace_on_car": (
        BASE.replace("ahead: 50.0", "ahead: 3.0"),
        "pacecar.start.ahead: 3 m puts the pace car on top of a car (gap -2 m)",
    ),
    "idm": (BASE.replace("v0: 20.0", "v0: -20.0"), "drivers.groups[0].idm.v0: must be > 0, got -20"),
    "per_lane": (
        BASE.replace("count: 9", "per_lane: [3, 3]"),
        "drivers.groups[0].per_lane: needs 3 entries (one per lane), got 2",
    ),
    "kind": (BASE.replace("  kind: pacecar\n", ""), "task.kind: is required"),
    "choice": (
        BASE.replace("integrator: explicit", "integrator: rk4"),
        "task.integrator: must be one of euler, explicit, ballistic, got 'rk4'",
    ),
    "not_mapping": ("- a\n- b\n", "(top level): must be a mapping, got a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenarios_give_one_line_errors(tmp_path, case):
    text, why = BAD[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value) == f"{path}: {why}"
    assert "\n" not in str(err.value)
    with pytest.raises(ScenarioError):
        check_scenario(path)


def test_missing_files():
    with pytest.raises(ScenarioError) as err:
        load_scenario("no/such/file.yaml")
    assert str(err.value) == "no/such/file.yaml: file: not found"
    with pytest.raises(ScenarioError) as err:
        make_env("11lane")
    assert str(err.value).startswith("11lane: file: no such scenario file or bundled scenario (bundled: 10lane, 1lane,")


def test_custom_scenario_with_groups_randomisation_and_fixed_lane(tmp_path):
    text = (
        BASE.replace(
            "  placement:",
            "    - name: trucks\n      per_lane: [0, 1, 0]\n"
            "      idm: {v0: 15.0, T: 1.0, a: 2.0, b: 3.0, s0: 2.0, delta: 4.0, length: 8.0}\n"
            "      width: 2.5\n  randomise:\n    position: 1.0\n    speed: 0.5\n    idm: {v0: 2.0}\n  placement:",
        )
        .replace("spacing: 10.0", "spacing: 12.0")
        .replace("lane: random", "lane: 1")
    )
    path = tmp_path / "custom.yaml"
    path.write_text(text)
    sc = load_scenario(path)
    env = sc.make_env(num_envs=4, seed=0, compile=False)
    env.reset()
    rs = env.render_state()
    assert rs["lane"][0].tolist() == [1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert (rs["lane"][:, 0] == 1).all()
    base = torch.tensor([0.0, 12.0, 24.0, 0.0, 12.0, 24.0, 36.0, 0.0, 12.0, 24.0], dtype=torch.float64)
    jitter = rs["x"][:, 1:] - base
    assert (jitter.abs() <= 1.0).all() and jitter.abs().max() > 0.1
    assert ((rs["speed"][:, 1:] >= 0) & (rs["speed"][:, 1:] <= 0.5)).all()
    table = env.state.idm_table
    assert table.shape == (4, 11, 7)
    assert table[:, 7, 6].tolist() == [8.0] * 4  # the truck's length (vehicle 7: lane 1, fourth car)
    v0 = table[:, 1:, 0]
    assert ((v0 - torch.where(torch.arange(10) == 6, 15.0, 20.0)).abs() <= 2.0).all() and v0.std() > 0.1
    assert env.vehicle_info()["width"][7].item() == 2.5
    obs, reward, *_ = env.step(torch.zeros(4, 2))
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
