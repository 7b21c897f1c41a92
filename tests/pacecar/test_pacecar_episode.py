"""Termination, reward override, time limit, autoreset and reset placement (reference sec. C3, C7)."""

import pytest
import torch

from difftraffic.recording.episode import TERMINATION_CAUSES
from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.task import PaceCarEnv

from .conftest import craft

ZERO = torch.zeros(2, 2, dtype=torch.float64)


def code(name):
    return TERMINATION_CAUSES.index(name)


@pytest.mark.parametrize(
    "pace_xy, pace_v, cause",
    [
        ((22.0, 4.0), 0.0, "collision"),  # centre distance to car 5 (lane 1, x=20) is 2 m < 2.5
        ((40.0, 10.2), 0.0, "out_of_lane"),  # 2.2 m off the top lane's centre
        ((140.0, 4.0), 0.0, "too_far"),  # nearest car 120 m away
        ((17.0, 0.0), 0.0, "behind"),  # the cars at x = 20 are ahead; the nearest is 3 m away
    ],
)
def test_each_failure_terminates_with_reward_minus_one(env3, pace_xy, pace_v, cause):
    craft(env3, car_s=[[0.0, 10.0, 20.0] * 3], car_v=[[0.0] * 9], pace_xy=pace_xy, pace_v=pace_v, t=7)
    env3.state.ret[:] = 3.0
    before = env3.kernel.observe(env3.state)
    obs, reward, terminated, truncated, info = env3.step(ZERO)
    assert terminated.tolist() == [True, True] and truncated.tolist() == [False, False]
    assert reward.tolist() == [-1.0, -1.0]
    assert info["termination"].tolist() == [code(cause)] * 2
    assert info["episode_length"].tolist() == [8, 8]
    assert info["episode_return"].tolist() == [2.0, 2.0]
    # the pre-reset observation is returned separately; obs is the new episode's first observation
    assert torch.allclose(info["final_obs"][:, :11], before[:, :11])  # relative x barely moved (cars at rest)
    assert not torch.allclose(obs, info["final_obs"])
    assert env3.state.t.tolist() == [0, 0] and env3.state.ret.tolist() == [0.0, 0.0]
    assert torch.allclose(obs, env3.kernel.observe(env3.state))


def test_collision_wins_over_other_causes(env3):
    craft(env3, car_s=[[0.0, 10.0, 20.0] * 3], car_v=[[0.0] * 9], pace_xy=(19.0, 0.5), pace_v=0.0)  # behind + collision
    _, reward, terminated, _, info = env3.step(ZERO)
    assert info["termination"].tolist() == [code("collision")] * 2 and reward.tolist() == [-1.0, -1.0]


def test_time_limit_truncates_without_reward_override(env3):
    craft(env3, car_s=[[0.0, 10.0, 20.0] * 3], car_v=[[10.0] * 9], pace_xy=(60.0, 4.0), pace_v=10.0, t=999)
    env3.record_pre_reset = True
    obs, reward, terminated, truncated, info = env3.step(ZERO)
    assert truncated.tolist() == [True, True] and terminated.tolist() == [False, False]
    v = env3.pre_reset_state.v[:, 1:]
    assert reward.tolist() == pytest.approx((1.0 - (v - 10.0).abs().mean(dim=1) / 10.0).tolist(), abs=1e-12)
    assert 0.9 < reward[0].item() < 1.0
    assert info["termination"].tolist() == [code("time_limit")] * 2
    assert info["episode_length"].tolist() == [1000, 1000]
    assert env3.state.t.tolist() == [0, 0]


def test_running_envs_report_no_cause_and_keep_their_obs(env3):
    craft(env3, car_s=[[0.0, 10.0, 20.0] * 3], car_v=[[5.0] * 9], pace_xy=(60.0, 4.0), pace_v=5.0, t=5)
    obs, reward, terminated, truncated, info = env3.step(ZERO)
    assert info["termination"].tolist() == [0, 0] and not (terminated | truncated).any()
    assert torch.equal(obs, info["final_obs"])
    v = env3.state.v[:, 1:]
    assert reward.tolist() == pytest.approx((1.0 - (v - 10.0).abs().mean(dim=1) / 10.0).tolist(), abs=1e-12)
    assert env3.state.t.tolist() == [6, 6]


def test_only_failed_env_resets(env3):
    craft(env3, car_s=[[0.0, 10.0, 20.0] * 3], car_v=[[5.0] * 9], pace_xy=(60.0, 4.0), pace_v=5.0, t=5)
    env3.state.pos.data[1, -1] = 11.0  # env 1's pace car off the road
    obs, reward, terminated, truncated, info = env3.step(ZERO)
    assert terminated.tolist() == [False, True]
    assert info["termination"].tolist() == [0, code("out_of_lane")]
    assert env3.state.t.tolist() == [6, 0]
    assert torch.equal(obs[0], info["final_obs"][0]) and not torch.equal(obs[1], info["final_obs"][1])


@pytest.mark.parametrize(
    "lanes, cars, per_lane",
    [(1, 1, [1]), (2, 4, [2, 2]), (3, 9, [3, 3, 3]), (4, 16, [4] * 4), (10, 10, [1] * 10), (3, 7, [3, 2, 2])],
)
def test_reset_placement_matches_reference(lanes, cars, per_lane):
    env = PaceCarEnv(PaceCarConfig.paper(lanes, cars), num_envs=64, seed=3, compile=False)
    obs = env.reset()
    assert obs.shape == (64, 4 * (1 + cars))
    rs = env.render_state()
    expect_x, expect_lane = [], []
    for lane, count in enumerate(per_lane):
        expect_x += [10.0 * j for j in range(count)]
        expect_lane += [lane] * count
    assert rs["x"][:, 1:].tolist() == [expect_x] * 64
    assert rs["lane"][:, 1:].tolist() == [expect_lane] * 64
    assert rs["y"][:, 1:].tolist() == [[4.0 * lane for lane in expect_lane]] * 64
    assert (rs["speed"] == 0).all() and (rs["heading"] == 0).all()
    pace_lane = rs["lane"][:, 0]
    front = torch.tensor([10.0 * (c - 1) if c else 0.0 for c in per_lane], dtype=torch.float64)
    assert torch.equal(rs["x"][:, 0], front[pace_lane] + 50.0)
    assert torch.equal(rs["y"][:, 0], 4.0 * pace_lane.double())
    if lanes > 1:
        assert len(set(pace_lane.tolist())) == lanes  # uniform start lane: all lanes appear in 64 resets
    # observation blocks: x_i - x_pace, y_i - y_pace, vx, vy
    n = 1 + cars
    assert torch.allclose(obs[:, :n], (rs["x"] - rs["x"][:, :1]).float())
    assert torch.allclose(obs[:, n : 2 * n], (rs["y"] - rs["y"][:, :1]).float())
    assert (obs[:, 2 * n :] == 0).all()


def test_fixed_start_lane_and_empty_lane():
    cfg = PaceCarConfig.paper(3, 2, pace_lane=2)
    env = PaceCarEnv(cfg, num_envs=4, seed=0, compile=False)
    env.reset()
    rs = env.render_state()
    assert rs["lane"][:, 0].tolist() == [2] * 4
    assert rs["x"][:, 0].tolist() == [50.0] * 4  # empty lane: 50 m ahead of x = 0 as in the reference


def test_obs_reward_dtypes_and_shapes():
    env = PaceCarEnv(PaceCarConfig.paper(2, 4), num_envs=5, seed=0, compile=False)
    obs = env.reset()
    obs, reward, terminated, truncated, info = env.step(torch.zeros(5, 2))
    assert obs.dtype == torch.float32 and reward.shape == (5,) and terminated.dtype == torch.bool
    assert info["final_obs"].shape == (5, 20) and info["termination"].dtype == torch.long
    with pytest.raises(ValueError, match=r"action must have shape \[5, 2\]"):
        env.step(torch.zeros(5, 3))
