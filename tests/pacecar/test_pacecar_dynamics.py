"""One pace-car step against hand-computed values, float64 gradchecks, and where the gradient flows."""

import dataclasses
import math

import pytest
import torch

from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.task import PaceCarEnv

from .conftest import craft

A, B, V0, S0, T, DT = 35.0, 25.0, 20.0, 1.5, 0.4, 0.03


def idm_total(v, v_lead, gap):
    """The paper's IDM with the 'total' s* clip (docs/reference.md §C3)."""
    s_star = max(0.0, S0 + v * T + v * (v - v_lead) / (2.0 * math.sqrt(A * B)))
    return A * (1.0 - (v / V0) ** 4 - (s_star / gap) ** 2)


def one_lane_env(**kw):
    env = PaceCarEnv(PaceCarConfig.paper(1, 1, **kw), num_envs=1, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    return env


def test_one_step_hand_computed():
    env = one_lane_env()
    craft(env, car_s=[[20.0]], car_v=[[8.0]], pace_xy=(40.0, 0.0), pace_v=9.0)
    obs, reward, terminated, truncated, info = env.step(torch.tensor([[0.0, 0.5]], dtype=torch.float64))
    acc = idm_total(8.0, 9.0, 40.0 - 20.0 - 5.0)  # the pace car leads: Delta v uses its scalar speed
    v_car = 8.0 + acc * DT
    x_car = 20.0 + 8.0 * DT  # explicit: position moves with the old speed
    px, v_pace = 40.0 + 9.0 * DT, 9.0 + 4.0 * DT
    expected = [0.0, x_car - px, 0.0, 0.0, v_pace, v_car, 0.0, 0.0]
    assert obs[0].tolist() == pytest.approx(expected, abs=1e-10)
    assert reward.item() == pytest.approx(1.0 - abs(v_car - 10.0) / 10.0, abs=1e-12)
    assert not terminated.item() and not truncated.item()
    st = env.render_state()
    assert st["accel"][0].tolist() == pytest.approx([4.0, acc], abs=1e-9)
    assert st["lane"][0].tolist() == [0, 0]


def test_car_without_pace_car_in_its_lane_drives_free():
    env = PaceCarEnv(PaceCarConfig.paper(2, 2), num_envs=1, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    craft(env, car_s=[[20.0, 20.0]], car_v=[[8.0, 8.0]], pace_xy=(30.0, 4.0), pace_v=0.0)
    env.step(torch.zeros(1, 2, dtype=torch.float64))
    acc = env.render_state()["accel"][0]
    assert acc[1].item() == pytest.approx(A * (1.0 - (8.0 / V0) ** 4), abs=1e-9)  # lane 0: free road
    assert acc[2].item() == pytest.approx(idm_total(8.0, 0.0, 5.0), abs=1e-9)  # lane 1: behind the pace car


def test_idm_speed_never_negative_and_stops_in_one_step():
    env = one_lane_env()
    craft(env, car_s=[[20.0]], car_v=[[3.0]], pace_xy=(25.5, 0.0), pace_v=0.0)  # 0.5 m gap, closing at 3 m/s
    env.step(torch.zeros(1, 2, dtype=torch.float64))
    assert env.state.v[0, 1].item() == 0.0
    assert env.state.s[0, 1].item() == pytest.approx(20.0 + 3.0 * DT)


def _rollout_fn(env, start, steps):
    def f(actions):
        env.state = start
        outs = []
        for k in range(steps):
            obs, reward, *_ = env.step(actions[k])
            outs += [reward, obs.flatten()]
        return torch.cat(outs)

    return f


def test_gradcheck_rewards_and_observations_wrt_actions():
    env = PaceCarEnv(PaceCarConfig.paper(2, 4), num_envs=2, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    start = craft(env, car_s=[[0.0, 9.0, 1.0, 11.0]], car_v=[[6.0, 7.0, 5.0, 6.0]], pace_xy=(30.0, 0.2), pace_v=7.5)
    g = torch.Generator().manual_seed(1)
    actions = (0.6 * torch.rand(3, 2, 2, generator=g, dtype=torch.float64) - 0.3).requires_grad_(True)
    f = _rollout_fn(env, start, 3)
    out = f(actions)
    assert torch.isfinite(out).all()
    assert torch.autograd.gradcheck(f, (actions,), eps=1e-6, atol=1e-6, rtol=1e-4)
    # the follower's IDM term makes the reward depend on earlier actions
    (gr,) = torch.autograd.grad(out[2 * (2 + 2 * 20) : 2 * (2 + 2 * 20) + 2].sum(), actions)
    assert gr[0].abs().sum() > 1e-6


def test_gradient_reaches_only_cars_behind_the_pace_car():
    env = PaceCarEnv(PaceCarConfig.paper(3, 9), num_envs=1, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    car_s = [[0.0, 10.0, 20.0] * 3]
    car_v = [[5.0, 5.0, 5.0] * 3]
    for lane, behind in ((1, [4, 5, 6]), (2, [7, 8, 9])):
        craft(env, car_s=car_s, car_v=car_v, pace_xy=(45.0, 4.0 * lane), pace_v=4.0)
        actions = [torch.tensor([[0.0, 0.3]], dtype=torch.float64, requires_grad=True) for _ in range(8)]
        for a in actions:
            env.step(a)
        speeds = env.state.v[0]
        for i in range(1, 10):
            grads = torch.autograd.grad(speeds[i], actions, retain_graph=True, allow_unused=True)
            norm = sum(float(gr.abs().sum()) for gr in grads if gr is not None)
            if i in behind:
                assert norm > 1e-8, (lane, i)
            else:
                assert norm == 0.0, (lane, i)
        (own,) = torch.autograd.grad(speeds[0], actions[-1])
        assert own[0].tolist() == pytest.approx([0.0, 8.0 * DT])


def test_lane_change_cuts_the_gradient():
    """After the pace car leaves the lane, the old followers' speeds no longer depend on later actions."""
    env = PaceCarEnv(PaceCarConfig.paper(2, 2), num_envs=1, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    craft(env, car_s=[[20.0, 20.0]], car_v=[[8.0, 8.0]], pace_xy=(40.0, 1.99), pace_v=8.0)  # lane 0
    assert env.state.lane[0, 0].item() == 0
    a1 = torch.tensor([[0.0, 0.5]], dtype=torch.float64, requires_grad=True)
    env.step(a1)
    env.state.pos.data[0, -1] = 2.01  # cross into lane 1 (world y of the pace car)
    a2 = torch.tensor([[0.0, 0.5]], dtype=torch.float64, requires_grad=True)
    env.step(a2)
    assert env.state.lane[0, 0].item() == 1
    a3 = torch.tensor([[0.0, 0.5]], dtype=torch.float64, requires_grad=True)
    env.step(a3)
    v_lane0, v_lane1 = env.state.v[0, 1], env.state.v[0, 2]
    g0 = torch.autograd.grad(v_lane0, [a1, a2, a3], retain_graph=True, allow_unused=True)
    g1 = torch.autograd.grad(v_lane1, [a1, a2, a3], allow_unused=True)
    assert g0[0] is not None and g0[0].abs().sum() > 0  # it followed the pace car in step 2
    assert g0[1] is None or g0[1].abs().sum() == 0  # a2 acts after the lane change: no flow
    assert g1[1] is not None and g1[1].abs().sum() > 0  # the new follower feels a2 through step 3


def test_pace_car_on_a_multi_lane_ring():
    from difftraffic.sim.road import Road
    from difftraffic.tasks.pacecar.rules import PaceCarRules

    road = Road(num_lanes=2, length=300.0, ring=True, lane_width=4.0)
    cfg = PaceCarConfig.paper(2, 6, rules=PaceCarRules(behind=False, too_far_distance=None))
    cfg = dataclasses.replace(cfg, road=road, name="ring-pace")
    env = PaceCarEnv(cfg, num_envs=2, dtype=torch.float64, seed=0, compile=False)
    obs = env.reset()
    rs = env.render_state()
    radius = 300.0 / (2 * math.pi) + 4.0 * rs["lane"].double()
    assert torch.allclose(torch.hypot(rs["x"], rs["y"]), radius)  # everyone sits on its lane's circle
    assert rs["s"][:, 1:].tolist() == [[0.0, 10.0, 20.0] * 2] * 2
    lane = rs["lane"][:, 0]
    # drive the pace car around the curve: steer so that the heading rate is v / R of its lane
    r_lane = 300.0 / (2 * math.pi) + 4.0 * lane.double()
    steer = torch.atan(2.0 * torch.tan(torch.asin(2.5 / r_lane)))
    actions = []
    for _ in range(30):
        a = torch.stack([steer / cfg.max_steer, torch.full_like(steer, 0.2)], dim=1).requires_grad_(True)
        actions.append(a)
        obs, reward, terminated, truncated, info = env.step(a)
        assert not terminated.any() and torch.isfinite(obs).all()
    assert (env.state.lane[:, 0] == lane).all()  # still in its lane after 30 steps on the curve
    v = env.state.v
    for b in range(2):
        followers = (env.state.lane[b, 1:] == lane[b]).nonzero().flatten() + 1
        others = (env.state.lane[b, 1:] != lane[b]).nonzero().flatten() + 1
        g = torch.autograd.grad(v[b, followers].sum(), actions, retain_graph=True)
        assert sum(float(x[b].abs().sum()) for x in g) > 0
        g = torch.autograd.grad(v[b, others].sum(), actions, retain_graph=True, allow_unused=True)
        assert all(x is None or float(x[b].abs().sum()) == 0.0 for x in g)
