"""Flow's wave-attenuation task: reward, observation, warm-up, random ring length, collisions, checkpoints."""

import math

import pytest
import torch

from difftraffic.tasks.placement import DriverGroup
from difftraffic.tasks.ringwave import FLOW_HUMAN, RingState, RingWaveConfig, RingWaveEnv


def small(**kw):
    groups = (DriverGroup(per_lane=(1,), idm=FLOW_HUMAN, name="av"), DriverGroup(per_lane=(5,), idm=FLOW_HUMAN))
    cfg = RingWaveConfig(length_range=(100.0, 100.0), groups=groups, bunching=0.0, warmup_steps=0, **kw)
    return RingWaveEnv(cfg, num_envs=2, dtype=torch.float64, seed=0)


def put(env, x, v, length=100.0, t=0):
    b = env.num_envs
    x = torch.as_tensor(x, dtype=torch.float64).expand(b, -1).clone()
    v = torch.as_tensor(v, dtype=torch.float64).expand(b, -1).clone()
    env.state = RingState(
        x=x,
        v=v,
        accel=torch.zeros_like(v),
        length=torch.full((b,), length, dtype=torch.float64),
        t=torch.full((b,), t, dtype=torch.long),
        ret=torch.zeros(b, dtype=torch.float64),
    )


def test_reward_observation_and_euler_step_hand_computed():
    env = small()
    env.reset()
    x = [0.0, 20.0, 40.0, 60.0, 80.0, 90.0]
    v = [6.0, 8.0, 5.0, 5.0, 5.0, 5.0]
    put(env, x, v)
    obs, reward, terminated, truncated, info = env.step(torch.tensor([[0.5], [-0.25]], dtype=torch.float64))
    dt = 0.1
    v_av = [6.0 + 0.5 * dt, 6.0 - 0.25 * dt]
    st = env.state
    assert st.v[:, 0].tolist() == pytest.approx(v_av)
    assert st.x[:, 0].tolist() == pytest.approx([0.0 + v * dt for v in v_av])  # euler: x += v_new dt
    # human 1 follows human 2: book IDM with Flow's parameters
    gap, v1, dv = 15.0, 8.0, 8.0 - 5.0
    s_star = 2.0 + max(0.0, v1 * 1.0 + v1 * dv / (2 * math.sqrt(1.5)))
    acc = 1.0 - (v1 / 30.0) ** 4 - (s_star / gap) ** 2
    assert st.v[0, 1].item() == pytest.approx(max(0.0, v1 + acc * dt), abs=1e-12)
    mean_v = st.v.mean(dim=1)
    assert reward.tolist() == pytest.approx((4 * mean_v / 20 - 4 * torch.tensor([0.5, 0.25])).tolist(), abs=1e-12)
    headway = st.x[:, 1] - st.x[:, 0]
    expect = torch.stack([st.v[:, 0] / 15, (st.v[:, 1] - st.v[:, 0]) / 15, headway / 100.0], dim=1)
    assert torch.allclose(obs, expect, atol=1e-12)
    assert info["termination"].tolist() == [0, 0] and not (terminated | truncated).any()


def test_reward_gradient_wrt_action():
    env = small()
    env.reset()
    put(env, [0.0, 20.0, 40.0, 60.0, 80.0, 90.0], [6.0] * 6)
    a = torch.tensor([[0.5], [-0.5]], dtype=torch.float64, requires_grad=True)
    _, reward, *_ = env.step(a)
    (g,) = torch.autograd.grad(reward.sum(), a)
    # d/da [4 mean(v)/20 - 4 |a|] with v_AV = v + a dt: 4 dt / (20 N) - 4 sign(a)
    expect = 4 * 0.1 / (20 * 6) - 4 * torch.tensor([1.0, -1.0], dtype=torch.float64)
    assert g[:, 0].tolist() == pytest.approx(expect.tolist(), abs=1e-12)


def test_collision_gives_zero_reward_and_terminates():
    env = small()
    env.reset()
    put(env, [0.0, 4.8, 40.0, 60.0, 80.0, 90.0], [9.0, 0.0, 5.0, 5.0, 5.0, 5.0], t=17)  # AV 0.2 m behind car 1
    obs, reward, terminated, truncated, info = env.step(torch.ones(2, 1, dtype=torch.float64))
    assert terminated.tolist() == [True, True] and reward.tolist() == [0.0, 0.0]
    assert info["termination"].tolist() == [1, 1] and info["episode_length"].tolist() == [18, 18]
    assert env.state.t.tolist() == [0, 0]  # autoreset


def test_time_limit_truncates():
    env = small(episode_length=5)
    env.reset()
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(torch.zeros(2, 1, dtype=torch.float64))
    assert truncated.tolist() == [True, True] and info["termination"].tolist() == [5, 5]
    assert info["episode_length"].tolist() == [5, 5]


def test_ring_length_is_uniform_in_range_per_env_and_reset():
    env = RingWaveEnv(RingWaveConfig(warmup_steps=0), num_envs=200, seed=0)
    env.reset()
    lengths = env.state.length
    assert ((lengths >= 220.0) & (lengths <= 270.0)).all()
    assert lengths.min() < 223.0 and lengths.max() > 267.0 and abs(lengths.mean().item() - 245.0) < 3.0
    first = lengths.clone()
    env.reset()
    assert not torch.equal(first, env.state.length)
    # placement: evenly spaced over length - 50 m (Flow's bunching), all at rest
    gaps = torch.diff(env.state.x, dim=1)
    assert torch.allclose(gaps, ((env.state.length - 50.0) / 22)[:, None].expand_as(gaps))


def test_warmup_forms_waves_before_control_starts():
    cold = RingWaveEnv(RingWaveConfig(warmup_steps=0), num_envs=4, seed=0)
    cold.reset()
    assert (cold.state.v == 0).all() and (cold.state.t == 0).all()
    warm = RingWaveEnv(RingWaveConfig(), num_envs=4, seed=0)
    warm.reset()
    v = warm.state.v
    assert (warm.state.t == 0).all() and v.mean() > 1.0 and v.std(dim=1).min() > 0.5  # 750 steps of noisy IDM


def test_state_dict_round_trip_with_noise():
    cfg = RingWaveConfig(warmup_steps=20, episode_length=40)
    env = RingWaveEnv(cfg, num_envs=3, seed=4)
    env.reset()
    act = lambda t: torch.full((3, 1), math.sin(t / 7.0))  # noqa: E731
    for t in range(150):
        env.step(act(t))
    sd = env.state_dict()
    expected = [env.step(act(t))[0] for t in range(150, 260)]
    other = RingWaveEnv(cfg, num_envs=3, seed=0)
    other.reset()
    other.load_state_dict(sd)
    got = [other.step(act(t))[0] for t in range(150, 260)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_render_state_on_the_ring():
    env = small()
    env.reset()
    put(env, [0.0, 20.0, 40.0, 60.0, 80.0, 125.0], [1.0] * 6)
    rs = env.render_state()
    r = 100.0 / (2 * math.pi)
    assert rs["s"][0, 5].item() == pytest.approx(25.0)
    assert torch.allclose(torch.hypot(rs["x"], rs["y"]), torch.full((2, 6), r, dtype=torch.float64))
    assert rs["x"][0, 0].item() == pytest.approx(r) and rs["heading"][0, 0].item() == pytest.approx(math.pi / 2)
