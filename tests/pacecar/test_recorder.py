"""record_episode: frames, valid mask, causes, the .npz round trip and the sliding-window gradient map."""

import math

import numpy as np
import pytest
import torch

from difftraffic.recording.episode import Episode
from difftraffic.recording.recorder import record_episode
from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.task import PaceCarEnv
from difftraffic.tasks.ringwave import RingWaveConfig, RingWaveEnv

DT, W = 0.03, 6


def accelerate(obs):
    return torch.tensor([[0.0, 0.5]], dtype=obs.dtype).expand(obs.shape[0], 2)


def make(lanes=3, cars=9, b=3, **kw):
    return PaceCarEnv(PaceCarConfig.paper(lanes, cars, **kw), num_envs=b, dtype=torch.float64, seed=2, compile=False)


def test_episode_round_trip_and_meta(tmp_path):
    env = make()
    ep = record_episode(env, accelerate, steps=25, grad_window=W)
    assert ep.x.shape == (26, 3, 10) and ep.reward.shape == (25, 3) and ep.grad.shape == (26, 3, 10)
    assert ep.controlled.tolist() == [True] + [False] * 9
    assert ep.length.tolist() == [5.0] * 10 and ep.width.tolist() == [2.0] * 10
    assert ep.meta["scenario"] == "3lane" and ep.meta["dt"] == DT and ep.meta["grad_window"] == W
    assert ep.meta["road"] == {"num_lanes": 3, "length": 1.0e6, "ring": False, "lane_width": 4.0}
    assert ep.valid.all() and (ep.termination == 0).all()
    path = ep.save(tmp_path / "ep.npz")
    back = Episode.load(path)
    for key in ("s", "x", "y", "heading", "speed", "accel", "lane", "reward", "valid", "termination", "grad"):
        assert np.array_equal(getattr(back, key), getattr(ep, key)), key
    assert back.meta == dict(ep.meta, format_version=1)
    # frame 0 is the reset state; frames follow the env
    assert ep.x[0, :, 1:].tolist() == [[0.0, 10.0, 20.0] * 3] * 3
    assert ep.speed[1:, :, 0] == pytest.approx(np.arange(1, 26)[:, None] * 4.0 * DT * np.ones((1, 3)), abs=1e-5)


def test_gradient_map_slides_over_exactly_grad_window_actions():
    env = make()
    ep = record_episode(env, accelerate, steps=40, grad_window=W)
    lanes = ep.lane[0, :, 0]
    for f in range(1, 41):
        # the pace car's own speed: d v(f) / d accel-action a_k = 8 dt for each of the last min(f, W) actions
        assert ep.grad[f, :, 0] == pytest.approx(8 * DT * math.sqrt(min(f, W)), rel=1e-5)
    for b in range(3):
        same_lane = ep.lane[0, b, 1:] == lanes[b]
        late = ep.grad[30, b, 1:]
        assert (late[~same_lane] == 0).all()  # other lanes: no gradient at all
        assert (late[same_lane] > 0).all()  # every car behind the pace car feels it
    assert (ep.grad[0] == 0).all()


def test_gradient_map_matches_a_direct_computation():
    env = make(b=2)
    ep = record_episode(env, accelerate, steps=20, grad_window=W)
    ref = make(b=2)
    ref.reset(seed=None)
    ref.gen.manual_seed(2)
    ref.reset()
    f = 17
    with torch.no_grad():
        for _ in range(f - W):
            ref.step(accelerate(torch.zeros(2, 2)).double())
    ref.detach()
    acts = [accelerate(torch.zeros(2, 2)).double().requires_grad_(True) for _ in range(W)]
    for a in acts:
        ref.step(a)
    v = ref.state.v
    for i in range(v.shape[1]):
        grads = torch.autograd.grad(v[:, i].sum(), acts, retain_graph=True, allow_unused=True)
        sq = sum((g**2).sum(dim=1) for g in grads if g is not None)
        direct = torch.sqrt(sq) if isinstance(sq, torch.Tensor) else torch.zeros(2)
        assert ep.grad[f, :, i] == pytest.approx(direct.numpy(), rel=1e-5, abs=1e-9)


def test_valid_mask_termination_and_early_stop():
    env = make(b=3, episode_length=60, pace_lane=2)

    def steer_env0_off(obs):
        a = torch.zeros(obs.shape[0], 2, dtype=obs.dtype)
        a[0, 0] = 1.0  # full left steering from the top lane: leaves the road
        a[:, 1] = 1.0
        return a

    ep = record_episode(env, steer_env0_off, steps=100, grad_window=0)
    assert ep.grad is None
    assert ep.num_steps == 60  # every env ended (env 0 early, the others at the time limit): recording stopped
    assert ep.termination_cause(0) == "out_of_lane"
    assert [ep.termination_cause(b) for b in (1, 2)] == ["time_limit", "time_limit"]
    end = ep.last_frame(0)
    assert 0 < end < 60 and ep.valid[: end + 1, 0].all() and not ep.valid[end + 1 :, 0].any()
    assert ep.reward[end - 1, 0] == -1.0 and (ep.reward[end:, 0] == 0).all()
    assert ep.episode_return(0) == pytest.approx(float(ep.reward[:end, 0].sum()))
    assert ep.valid[:, 1:].all() and ep.last_frame(1) == 60
    assert ep.lane[end, 0, 0] == -1 and ep.y[end, 0, 0] >= 10.0  # the final (pre-reset) frame is recorded
    assert ep.lane[end - 1, 0, 0] == 2


def test_records_the_ring_wave_task():
    cfg = RingWaveConfig(warmup_steps=50, episode_length=8)
    env = RingWaveEnv(cfg, num_envs=2, seed=0)
    ep = record_episode(env, lambda obs: torch.full((obs.shape[0], 1), 0.5), steps=8, grad_window=4)
    assert ep.x.shape == (9, 2, 22) and ep.controlled.tolist() == [True] + [False] * 21
    assert ep.meta["task"] == "ringwave" and len(ep.meta["ring_lengths"]) == 2
    assert ep.grad[8, :, 0] == pytest.approx(0.1 * math.sqrt(4), rel=1e-4)  # d v_AV / d a = dt per action
    # the flow runs backwards around the ring: AV -> its follower (21) -> 20 -> ...; cars ahead never feel it
    assert (ep.grad[8, :, 1:19] == 0).all() and (ep.grad[8, :, 21] > ep.grad[8, :, 20]).all()
    assert (ep.grad[8, :, 20] > 0).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        record_episode(make(), accelerate, steps=0)
    with pytest.raises(ValueError, match="grad_window must be >= 0"):
        record_episode(make(), accelerate, steps=3, grad_window=-1)


def test_ring_wave_gradient_map_replays_the_noise():
    cfg = RingWaveConfig(warmup_steps=30, episode_length=50)
    w, f = 4, 9
    env = RingWaveEnv(cfg, num_envs=2, dtype=torch.float64, seed=5)

    def policy(obs):
        return torch.full((obs.shape[0], 1), -0.7, dtype=obs.dtype)

    ep = record_episode(env, policy, steps=f, grad_window=w)
    ref = RingWaveEnv(cfg, num_envs=2, dtype=torch.float64, seed=5)
    obs = ref.reset()
    for _ in range(f - w):
        obs, *_ = ref.step(policy(obs))
    ref.detach()
    acts = [policy(obs).requires_grad_(True)]
    for k in range(w):
        obs, *_ = ref.step(acts[-1])
        if k < w - 1:
            acts.append(policy(obs).requires_grad_(True))
    assert torch.allclose(torch.as_tensor(ep.speed[f]).double(), ref.state.v.float().double(), atol=1e-5)
    v = ref.state.v
    for i in (0, 21, 20, 19, 5):
        grads = torch.autograd.grad(v[:, i].sum(), acts, retain_graph=True, allow_unused=True)
        sq = sum((g**2).sum(dim=1) for g in grads if g is not None)
        direct = torch.sqrt(sq) if isinstance(sq, torch.Tensor) else torch.zeros(2, dtype=torch.float64)
        assert ep.grad[f, :, i] == pytest.approx(direct.numpy(), rel=1e-5, abs=1e-12)
    assert (ep.grad[f, :, 20] > 0).all() and (ep.grad[f, :, 5] == 0).all()
