"""Gymnasium VectorEnv / single-env views and the Stable-Baselines3 adapter."""

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
HAVE_GYM = all(importlib.util.find_spec(m) is not None for m in ("gymnasium", "stable_baselines3"))
if not HAVE_GYM and not os.environ.get("CI"):  # CI installs every extra, so there this must fail instead
    pytest.skip("extra [gym] (gymnasium, stable-baselines3) not installed", allow_module_level=True)

from gymnasium.utils.env_checker import check_env  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

from difftraffic.gym import make_vec, single_env, to_sb3  # noqa: E402
from learners.tasks import make_task, scenario_tasks  # noqa: E402

HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None or bool(os.environ.get("CI"))


def scenarios() -> list[str]:
    return [str(p) for p in scenario_tasks()]


def sb3_specs() -> list[str]:
    """Cartpole, plus a pace-car scenario as soon as difftraffic.scenario exists."""
    found = scenarios()
    preferred = [s for s in found if Path(s).stem == "2lane"] or found[:1]
    return ["cartpole", *preferred]


@pytest.mark.parametrize(
    "spec", ["cartpole", *(["hopper", "ant"] if HAS_MUJOCO else []), *scenarios()], ids=lambda s: Path(s).stem
)
def test_gymnasium_env_checker_passes_on_a_single_env_view(spec):
    env = single_env(spec, seed=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # observations are genuinely unbounded
        check_env(env, skip_render_check=True)
    env.close()


def test_vector_env_matches_the_diffenv_step_for_step():
    vec = make_vec("cartpole", num_envs=3, seed=5)
    twin = make_task("cartpole", num_envs=3, seed=5)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert vec.single_observation_space.shape == (5,) and vec.single_action_space.shape == (1,)
    assert vec.observation_space.shape == (3, 5) and vec.action_space.shape == (3, 1)
    assert vec.single_action_space.low.min() == -1.0 and vec.single_action_space.high.max() == 1.0
    obs, info = vec.reset(seed=2)
    assert info == {} and obs.dtype == np.float32
    assert np.array_equal(obs, twin.reset(seed=2).numpy())
    vec.action_space.seed(0)
    for t in range(240):
        action = vec.action_space.sample()
        obs, reward, term, trunc, infos = vec.step(action)
        o2, r2, te2, tr2, info2 = twin.step(torch.as_tensor(action))
        assert np.array_equal(obs, o2.numpy()) and np.array_equal(reward, r2.double().numpy())
        assert reward.dtype == np.float64 and term.dtype == bool and trunc.dtype == bool
        assert np.array_equal(trunc, tr2.numpy()) and not term.any()
        if t < 239:
            assert "final_obs" not in infos
    assert trunc.all() and infos["_final_obs"].all() and infos["_episode"].all()
    for i in range(3):
        assert np.array_equal(infos["final_obs"][i], info2["final_obs"][i].numpy())
        assert not np.array_equal(infos["final_obs"][i], obs[i])  # obs is already the next episode's start
    assert np.array_equal(infos["episode"]["l"], [240, 240, 240])
    assert np.allclose(infos["episode"]["r"], info2["episode_return"].numpy())
    assert infos["final_info"]["_episode"].all() and infos["_final_info"].all()


def test_partial_episode_ends_only_fill_the_ended_envs():
    vec = make_vec(make_task("hopper", num_envs=4, seed=0) if HAS_MUJOCO else make_task("dejong", num_envs=4))
    vec.reset(seed=0)
    seen_partial = False
    for _ in range(300):
        _, _, term, trunc, infos = vec.step(np.zeros((4, vec.single_action_space.shape[0]), np.float32))
        done = term | trunc
        if done.any():
            assert np.array_equal(infos["_final_obs"], done)
            assert all((infos["final_obs"][i] is None) != done[i] for i in range(4))
            assert (infos["episode"]["l"][done] >= 1).all() and (infos["episode"]["l"][~done] == 0).all()
            seen_partial |= bool(done.any() and not done.all())
        else:
            assert "final_obs" not in infos
    assert seen_partial or not HAS_MUJOCO


def test_function_tasks_end_every_step_and_bad_sizes_fail():
    vec = make_vec("ackley64", num_envs=2, dtype=torch.float64)
    obs, _ = vec.reset()
    assert obs.dtype == np.float64 and obs.shape == (2, 1)
    _, reward, term, trunc, infos = vec.step(np.zeros((2, 64)))
    assert trunc.all() and not term.any() and np.allclose(reward, 0.0, atol=1e-12)
    assert np.array_equal(infos["episode"]["l"], [1, 1])
    with pytest.raises(ValueError, match="num_envs"):
        single_env(make_task("dejong", num_envs=2))
    with pytest.raises(ValueError, match="envs"):
        make_vec(make_task("dejong", num_envs=2), num_envs=3)


def test_sb3_vec_env_reports_terminal_observations_and_time_limits():
    venv = to_sb3(make_vec("cartpole", num_envs=2, seed=0))
    venv.seed(7)
    obs = venv.reset()
    assert obs.shape == (2, 5)
    for _ in range(240):
        venv.step_async(np.zeros((2, 1), np.float32))
        obs, rewards, dones, infos = venv.step_wait()
        assert rewards.dtype == np.float32 and dones.shape == (2,)
    assert dones.all()
    for info in infos:
        assert info["TimeLimit.truncated"] is True and info["terminal_observation"].shape == (5,)
        assert info["episode"]["l"] == 240
    assert venv.get_attr("num_envs") == [2, 2] and venv.env_is_wrapped(object) == [False, False]
    venv.close()


@pytest.mark.parametrize("spec", sb3_specs(), ids=lambda s: Path(s).stem)
def test_sb3_ppo_trains_a_few_hundred_steps(spec):
    from stable_baselines3 import PPO

    venv = to_sb3(make_vec(spec, num_envs=4, seed=0))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=1024)
    assert model.num_timesteps >= 1024
    if spec == "cartpole":  # 256 steps per env: every env finished one 240-step episode
        lengths = [ep["l"] for ep in model.ep_info_buffer]
        assert lengths == [240, 240, 240, 240]
    obs = venv.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (4, venv.action_space.shape[0]) and np.abs(action).max() <= 1.0
