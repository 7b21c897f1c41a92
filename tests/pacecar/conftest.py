"""Helpers for the pace-car tests: build small envs and craft exact states."""

from __future__ import annotations

import pytest
import torch

from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.state import PaceCarState
from difftraffic.tasks.pacecar.task import PaceCarEnv


def craft(
    env: PaceCarEnv,
    car_s,
    car_v,
    pace_xy,
    pace_v,
    heading=0.0,
    t=0,
) -> PaceCarState:
    """A state of ``env`` with IDM cars at ``car_s`` (m) / ``car_v`` (m/s) (lists over cars, same for every env or
    per env as nested lists) and the pace car at world ``pace_xy`` with speed ``pace_v``; installs and returns it."""
    b, dtype = env.num_envs, env.dtype
    car_s = torch.as_tensor(car_s, dtype=torch.float64).expand(b, -1)
    car_v = torch.as_tensor(car_v, dtype=dtype).expand(b, -1)
    px = torch.as_tensor(pace_xy[0], dtype=torch.float64).expand(b).clone()
    py = torch.as_tensor(pace_xy[1], dtype=torch.float64).expand(b).clone()
    road = env.layout.road
    sp, latp = road.to_road(px, py)
    lane_p = road.lane_membership(sp, latp)
    n = car_s.shape[1]
    st = PaceCarState.pack(
        s=torch.cat([sp[:, None], car_s], dim=1),
        px=px,
        py=py,
        v=torch.cat([torch.as_tensor(pace_v, dtype=dtype).expand(b)[:, None], car_v], dim=1),
        accel=torch.zeros(b, n + 1, dtype=dtype),
        heading=torch.as_tensor(heading, dtype=dtype).expand(b).clone(),
        ret=torch.zeros(b, dtype=dtype),
        lane=torch.cat([lane_p[:, None], env.layout.car_lane.expand(b, n)], dim=1),
        t=torch.full((b,), int(t), dtype=torch.long),
        idm_table=None,
        idm_const=env.layout.idm_const,
    )
    env.state = st
    return st


@pytest.fixture
def env3():
    """3 lanes, 9 IDM cars (paper scenario C), 2 envs, float64, eager."""
    env = PaceCarEnv(PaceCarConfig.paper(3, 9), num_envs=2, dtype=torch.float64, seed=0, compile=False)
    env.reset()
    return env
