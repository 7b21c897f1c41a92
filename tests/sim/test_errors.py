"""Bad arguments raise one clear error naming the argument."""

import pytest
import torch

import difftraffic as dt

F64 = torch.float64
ROAD = dt.Road(num_lanes=2, length=1000.0)


@pytest.mark.parametrize(
    "kw, err, msg",
    [({"integrator": "rk4"}, ValueError, "integrator"), ({"sstar_clip": "none"}, ValueError, "sstar_clip"),
     ({"lane_changes": "lc2013"}, ValueError, "lane_changes"), ({"dt": 0.0}, ValueError, "dt"),
     ({"min_gap": -1.0}, ValueError, "min_gap"), ({"backend": "jax"}, ValueError, "backend")],
)  # fmt: skip
def test_sim_constructor(kw, err, msg):
    with pytest.raises(err, match=f"^{msg}"):
        dt.TrafficSim(ROAD, **kw)
    with pytest.raises(TypeError, match="^road"):
        dt.TrafficSim("ring")


def test_init_state_arguments():
    sim = dt.TrafficSim(ROAD)
    x, v = torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"^v must be a \[B, N\]"):
        sim.init_state(x[0], v[0])
    with pytest.raises(ValueError, match="^x has shape"):
        sim.init_state(x[:, :2], v)
    with pytest.raises(ValueError, match="floating-point"):
        sim.init_state(x, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 0 m/s"):
        sim.init_state(x, v - 1.0)
    with pytest.raises(ValueError, match="finite"):
        sim.init_state(x + float("nan"), v)
    with pytest.raises(ValueError, match=r"^lane: values must be in \[-1, 1\]"):
        sim.init_state(x, v, torch.full((2, 3), 2))
    with pytest.raises(ValueError, match="^lane must be an integer"):
        sim.init_state(x, v, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="^idm.v0: shape"):
        sim.init_state(x, v, idm=dt.IDMParams(v0=torch.ones(4)))
    with pytest.raises(ValueError, match="^b: must be > 0"):
        sim.init_state(x, v, idm=dt.IDMParams(b=0.0))
    with pytest.raises(TypeError, match="^idm must be an IDMParams"):
        sim.init_state(x, v, idm={"v0": 30.0})


def test_step_arguments():
    sim = dt.TrafficSim(ROAD)
    s = sim.init_state(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^accel must be a \[2, 3\] tensor"):
        sim.step(s, torch.zeros(3))
    with pytest.raises(ValueError, match="^controlled must be a bool"):
        sim.step(s, torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="^controlled needs accel"):
        sim.step(s, None, torch.zeros(2, 3, dtype=torch.bool))
    bad = dt.SimState(x=s.x.float(), v=s.v, lane=s.lane, idm=s.idm)
    with pytest.raises(ValueError, match="^state.x must be float64"):
        sim.step(bad)
