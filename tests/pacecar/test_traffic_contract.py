"""The TrafficEnv contract: a user's own traffic task, written against it only, is recorded with the gradient
map like the bundled tasks; the bundled tasks share one constructor check."""

from dataclasses import dataclass

import pytest
import torch

import difftraffic as dt
from difftraffic.recording.recorder import record_episode
from difftraffic.tasks.traffic import CAUSE, TrafficEnv


@dataclass(frozen=True)
class PlatoonConfig:
    cars: int = 4
    dt: float = 0.1
    episode_length: int = 30
    name: str = "platoon"


@dataclass
class PlatoonState:
    x: torch.Tensor
    v: torch.Tensor
    t: torch.Tensor


class PlatoonEnv(TrafficEnv):
    """A lead car (vehicle cars-1, controlled) brakes or accelerates; IDM followers react (single lane)."""

    act_dim, obs_dim = 1, 2

    def __init__(self, config=PlatoonConfig(), num_envs=2, device="cpu", dtype=torch.float64, seed=0):
        self.config, self.num_envs, self.device, self.dtype = config, num_envs, torch.device(device), dtype
        self.num_vehicles, self.episode_length = config.cars, config.episode_length
        self.sim = dt.TrafficSim(dt.Road(), dt=config.dt)
        self.ctrl = torch.zeros(num_envs, config.cars, dtype=torch.bool)
        self.ctrl[:, -1] = True

    def _obs(self, st):
        return torch.stack([st.v[:, 0], st.v[:, -1]], dim=1)

    def reset(self, seed=None):
        n = self.num_vehicles
        x = (torch.arange(n, dtype=torch.float64) * 30.0).expand(self.num_envs, n).clone()
        self.state = PlatoonState(x=x, v=torch.full_like(x, 15.0, dtype=self.dtype), t=torch.zeros(self.num_envs))
        return self._obs(self.state)

    def step(self, action):
        st = self.state
        s = self.sim.step(self.sim.init_state(st.x, st.v), accel=(2.0 * action).expand_as(st.v), controlled=self.ctrl)
        new = PlatoonState(x=s.x, v=s.v, t=st.t + 1)
        done = new.t >= self.episode_length
        self.pre_reset_state = new if self.record_pre_reset else None
        self.state = new
        info = {"final_obs": self._obs(new), "episode_return": new.t, "episode_length": new.t,
                "termination": torch.where(done, CAUSE["time_limit"], 0)}  # fmt: skip
        return self._obs(new), -(new.v[:, 0] - 10.0).abs(), torch.zeros_like(done), done, info

    def detach(self):
        self.state = PlatoonState(self.state.x.detach(), self.state.v.detach(), self.state.t)

    def state_dict(self):
        return {"x": self.state.x.clone(), "v": self.state.v.clone(), "t": self.state.t.clone()}

    def load_state_dict(self, sd):
        self.state = PlatoonState(sd["x"].clone(), sd["v"].clone(), sd["t"].clone())

    def render_state(self, pre_reset=False):
        st = self.which_state(pre_reset)
        z = torch.zeros_like(st.x)
        return {"s": st.x, "x": st.x, "y": z, "heading": z, "speed": st.v.detach(), "accel": z,
                "lane": torch.zeros_like(st.x, dtype=torch.long)}  # fmt: skip

    def speeds(self, pre_reset=False):
        return self.which_state(pre_reset).v

    def vehicle_info(self):
        n = self.num_vehicles
        return {"controlled": self.ctrl[0].clone(), "length": torch.full((n,), 5.0), "width": torch.full((n,), 2.0)}

    def meta(self):
        return {"scenario": "platoon", "task": "platoon", "dt": 0.1, "road": dt.Road().as_dict(),
                "episode_length": self.episode_length}  # fmt: skip


def test_a_users_traffic_task_is_recorded_with_the_gradient_map():
    env = PlatoonEnv()
    ep = record_episode(env, lambda obs: -torch.ones(obs.shape[0], 1, dtype=torch.float64), steps=40, grad_window=8)
    assert ep.x.shape == (31, 2, 4) and ep.termination.tolist() == [CAUSE["time_limit"]] * 2
    # the leader's actions reach the leader and, through IDM, every follower behind it (vehicle 0 last)
    g = ep.grad[-1, 0]
    assert g[3] > 0.1 and (g[:3] > 0).all() and g[2] > g[0]
    # exactly d v_i(T) / d a_{T-W..T-1}: compare the leader's own entry with the analytic sqrt(W) * 2 dt
    assert g[3] == pytest.approx((8**0.5) * 2 * 0.1, rel=1e-6)


def test_record_episode_refuses_a_non_traffic_task():
    from learners import make_task

    with pytest.raises(TypeError, match="needs a traffic task"):
        record_episode(make_task("dejong", num_envs=2), lambda o: torch.zeros(2, 1), steps=2)


@pytest.mark.parametrize("scenario", ["2lane", "ring_wave"])
def test_bundled_tasks_share_the_constructor_checks(scenario):
    sc = dt.load_scenario(scenario)
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        sc.make_env(num_envs=0)
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        sc.make_env(num_envs=1, dtype=torch.float16)
    env = sc.make_env(num_envs=1)
    assert isinstance(env, TrafficEnv) and env.family == "traffic"
