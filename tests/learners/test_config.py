"""Config resolution per learner x family x task, overrides and validation errors."""

import importlib.util
import os

import pytest
import yaml

from learners import LEARNERS, default_config, make_learner, make_task
from learners.base import detect_family
from learners.core.config import defaults_for

MUJOCO = importlib.util.find_spec("mujoco") is not None or bool(os.environ.get("CI"))


def test_paper_values_are_selected_by_task():
    assert default_config("ppo", "dejong")["actor_lr"] == 1e-4
    assert default_config("ppo", "dejong64")["actor_lr"] == 1e-2
    g = default_config("gippo", "ackley64")
    assert (g["alpha0"], g["alpha_fit_lr"], g["actor_lr"], g["horizon"], g["max_epochs"]) == (1e-5, 1e-3, 1e-2, 1, 2000)
    t = default_config("gippo", "scenarios/10lane.yaml")
    assert t["family"] == "traffic" and t["task"] == "10lane"
    assert (t["alpha0"], t["alpha_fit_lr"], t["actor_lr"], t["alpha_factor"], t["horizon"]) == (
        0.1,
        1e-5,
        3e-4,
        1.1,
        32,
    )
    assert t["actor_hidden"] == [512, 64, 64] and t["critic_hidden"] == [64, 64] and not t["normalize_value"]
    c = default_config("gippo", "cartpole")
    assert (c["ppo_lr_schedule"], c["alpha0"], c["max_oorr"], c["alpha_factor"]) == ("adaptive", 0.5, 0.75, 1.02)
    assert default_config("rp", "hopper")["num_envs"] == 256 and default_config("rp", "hopper")["critic_lr"] == 2e-4
    assert default_config("lr", "ackley64")["actor_lr"] == 3e-4
    assert default_config("gippo")["family"] == "generic"


@pytest.mark.parametrize("name", LEARNERS)
def test_every_learner_resolves_and_serialises(name):
    env = make_task("dejong", num_envs=64)
    cfg = make_learner(name, env, seed=3).config
    assert cfg["learner"] == name and cfg["task"] == "dejong" and cfg["family"] == "functions"
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg
    # a saved config builds the same learner again; an explicit num_envs must match the env
    assert make_learner(name, env, config=cfg).config == cfg
    with pytest.raises(ValueError, match="num_envs: config says 64 but the env has 4"):
        make_learner(name, make_task("dejong", num_envs=4), config=cfg)


@pytest.mark.parametrize(
    ("spec", "family", "spot"),
    [
        ("dejong", "functions", {"horizon": 1, "max_epochs": 2000, "actor_hidden": [32, 32]}),
        ("ackley64", "functions", {"horizon": 1, "normalize_value": True}),
        ("cartpole", "physics", {"max_epochs": 500, "actor_hidden": [64, 64]}),
        pytest.param(
            "hopper", "physics", {"num_envs": 256, "critic_lr": 2e-4, "max_epochs": 2000},
            marks=pytest.mark.skipif(not MUJOCO, reason="needs MuJoCo"),
        ),
        ("2lane", "traffic", {"horizon": 32, "max_epochs": 500, "actor_hidden": [512, 64, 64]}),
        ("ring_wave", "traffic", {"horizon": 32, "actor_hidden": [512, 64, 64]}),
    ],
)  # fmt: skip
def test_the_family_an_env_declares_selects_the_same_config_as_its_name(spec, family, spot):
    """Config defaults come from ``env.family`` and ``env.name``; for every bundled task and scenario they are
    those the task's name (or file) selects, i.e. the configs resolved before tasks declared their family."""
    env = make_task(spec, num_envs=1)
    assert env.family == family and detect_family(env) == (family, spec)
    for name in LEARNERS:
        cfg = default_config(name, env)
        assert cfg == default_config(name, spec) == defaults_for(name, family, spec)
        assert (cfg["family"], cfg["task"]) == (family, spec)
    assert {k: default_config("rp", env)[k] for k in spot} == spot
    env.close()


def test_a_user_env_declares_its_family(point_env):
    env = point_env(num_envs=4)
    assert env.family == "generic" and detect_family(env) == ("generic", "pointmass")

    class Named(type(env)):  # a task name alone does not select that task's defaults
        name = "dejong"

    assert detect_family(Named(num_envs=4)) == ("generic", "dejong")

    class Traffic(type(env)):
        family = "traffic"

    cfg = make_learner("gippo", Traffic(num_envs=4)).config
    assert (cfg["family"], cfg["task"], cfg["actor_hidden"]) == ("traffic", "pointmass", [512, 64, 64])


def test_user_env_gets_generic_defaults(point_env):
    learner = make_learner("gippo", point_env(num_envs=4))
    assert learner.config["family"] == "generic" and learner.config["horizon"] == 32
    learner = make_learner("gippo", point_env(num_envs=4), config={"family": "traffic"})
    assert learner.config["actor_hidden"] == [512, 64, 64]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"alpha_0": 0.1}, "alpha_0: unknown config key for learner 'gippo' (did you mean 'alpha0'?)"),
        ({"horizon": "32"}, "horizon: expected an integer"),
        ({"horizon": 0}, "horizon: must be >= 1"),
        ({"actor_lr": True}, "actor_lr: expected a number"),
        ({"gamma": 1.5}, "gamma: must be in (0, 1]"),
        ({"actor_hidden": [64, "x"]}, "actor_hidden: expected an integer"),
        ({"critic_betas": [0.9]}, "critic_betas: expected two numbers"),
        ({"stable_ppo_rule": "sometimes"}, "stable_ppo_rule: unknown 'sometimes'"),
        ({"alpha_factor": 0.9}, "alpha_factor: must be > 1"),
        ({"num_envs": 64}, "num_envs: config says 64 but the env has 4"),
        ({"learner": "ppo"}, "learner: this config is for 'ppo'"),
        ({"task": "ackley"}, "task: this config is for task 'ackley'"),
        ({"family": "cooking"}, "family: unknown 'cooking'"),
        ({"seed": 5}, "seed: unknown config key"),
        ({"adv_grad_clip": -1.0}, "adv_grad_clip: must be > 0"),
    ],
)
def test_bad_configs_raise_one_line_errors(override, message):
    env = make_task("dejong", num_envs=4)
    with pytest.raises(ValueError) as err:
        make_learner("gippo", env, config=override, seed=0)
    assert str(err.value).startswith(message.split("(")[0].strip()) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_apply_and_ints_are_accepted_for_floats():
    env = make_task("dejong", num_envs=4)
    cfg = make_learner("ppo", env, config={"actor_lr": 1, "minibatch_size": 2, "grad_norm": None}).config
    assert cfg["actor_lr"] == 1.0 and isinstance(cfg["actor_lr"], float)
    assert cfg["minibatch_size"] == 2 and cfg["grad_norm"] is None
    with pytest.raises(ValueError, match="learner: unknown 'sac'"):
        make_learner("sac", env)
