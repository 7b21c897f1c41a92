"""Determinism, state_dict round trips, exact resume for every learner, and the NaN guard."""

import io
import math

import pytest
import torch

from learners import LEARNERS, make_learner, make_task

CONFIG = {"horizon": 6, "actor_hidden": [16, 16], "critic_hidden": [16, 16], "max_epochs": 20}


def comparable(metrics):
    return {k: v for k, v in metrics.items() if not k.startswith("time/") and k != "charts/SPS"}


def same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        both_nan = isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        assert both_nan or x == y, f"{key}: {x!r} != {y!r}"


def build(name, point_env, seed=0, **env_kwargs):
    env = point_env(num_envs=6, episode_length=5, limit=1.4, seed=11, **env_kwargs)
    return make_learner(name, env, config=dict(CONFIG), seed=seed)


def roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name", LEARNERS)
def test_exact_resume_and_determinism(name, point_env):
    full = [comparable(m) for m in build(name, point_env).train(5)]
    again = [comparable(m) for m in build(name, point_env).train(5)]
    for a, b in zip(full, again):
        same(a, b)
    first = build(name, point_env)
    head = [comparable(m) for m in first.train(2)]
    state = roundtrip(first.state_dict())
    resumed = build(name, point_env)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2 and resumed.env_steps == 2 * 6 * 6
    tail = [comparable(m) for m in resumed.train(5)]
    assert len(tail) == 3
    for a, b in zip(head + tail, full):
        same(a, b)
    other = [comparable(m) for m in build(name, point_env, seed=1).train(2)]
    assert other[1]["losses/critic"] != full[1]["losses/critic"], "a different seed must change the run"


def test_state_dict_round_trip_gives_identical_actions(point_env):
    learner = build("gippo", point_env)
    for _ in learner.train(2):
        pass
    copy = build("gippo", point_env, seed=7)  # different init, overwritten by the load
    copy.load_state_dict(roundtrip(learner.state_dict()))
    obs = torch.randn(9, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(learner.act(obs), copy.act(obs))
    assert torch.equal(learner.act(obs, deterministic=False), copy.act(obs, deterministic=False))
    a = learner.act(obs)
    assert a.shape == (9, 2) and float(a.abs().max()) <= 1.0
    with pytest.raises(ValueError, match="act: obs must be"):
        learner.act(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="state is for learner 'gippo', not 'ppo'"):
        build("ppo", point_env).load_state_dict(learner.state_dict())


def test_act_works_on_function_task():
    env = make_task("dejong64", num_envs=4)
    learner = make_learner("ppo", env)
    assert learner.act(torch.zeros(10, 1)).shape == (10, 64)


@pytest.mark.parametrize("name", LEARNERS)
def test_nan_guard_rolls_back_poisoned_updates(name, point_env):
    learner = build(name, point_env, nan_after=2 * 6)  # rewards become NaN from the third epoch on
    clean = [m for m in learner.train(2)]
    assert clean[-1]["health/nan_skips"] == 0
    actor, critic = learner.actor_flat.clone(), learner.critic_flat.clone()
    target = learner.target_flat.clone()
    poisoned = [m for m in learner.train(4)]
    assert poisoned[-1]["health/nan_skips"] >= 2, "every NaN epoch must be counted"
    assert torch.equal(learner.actor_flat.data, actor), "a poisoned actor update must be rolled back"
    assert torch.equal(learner.critic_flat.data, critic) and torch.equal(learner.target_flat.data, target)
    assert all(torch.isfinite(f.data).all() for f in (learner.actor_flat, learner.critic_flat))


def test_exact_resume_with_value_normalisation_on_dejong():
    def make():
        return make_learner("gippo", make_task("dejong", num_envs=16, seed=3), config={"max_epochs": 50}, seed=2)

    full = [comparable(m) for m in make().train(6)]
    first = make()
    head = [comparable(m) for m in first.train(3)]
    resumed = make()
    resumed.load_state_dict(roundtrip(first.state_dict()))
    assert resumed.value_rms is not None
    for a, b in zip(head + [comparable(m) for m in resumed.train(6)], full):
        same(a, b)


def test_contract_violations_are_reported_in_one_line(point_env):
    env = point_env(num_envs=3)
    step = env.step
    env.step = lambda a: (lambda r: (r[0], r[1].unsqueeze(-1), *r[2:]))(step(a))  # reward [B, 1]
    learner = make_learner("ppo", env, config={"horizon": 2})
    with pytest.raises(ValueError, match=r"pointmass: step\(\) breaks the DiffEnv contract: reward \[3, 1\]"):
        next(learner.train(1))


@pytest.mark.cuda
def test_cuda_training_checkpoint_and_act():
    env = make_task("dejong", num_envs=16, device="cuda", seed=0)
    learner = make_learner("gippo", env, seed=0)
    for _ in learner.train(3):
        pass
    state = roundtrip(learner.state_dict())
    again = make_learner("gippo", make_task("dejong", num_envs=16, device="cuda", seed=0), seed=0)
    again.load_state_dict(state)
    obs = torch.zeros(4, 1, device="cuda")
    assert torch.equal(learner.act(obs), again.act(obs)) and learner.act(obs).device.type == "cuda"
    for name in ("lrp", "pe"):
        for _ in make_learner(name, make_task("dejong64", num_envs=16, device="cuda"), seed=0).train(2):
            pass
