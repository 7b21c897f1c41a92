"""Road geometry: ring wrap, world/road coordinates, lane membership, validation."""

import math

import pytest
import torch

from difftraffic.sim.road import Road


def test_ring_wrap_and_straight_identity():
    ring = Road(num_lanes=2, length=100.0, ring=True)
    s = torch.tensor([-1.0, 0.0, 99.5, 100.0, 250.0], dtype=torch.float64)
    assert ring.wrap(s).tolist() == pytest.approx([99.0, 0.0, 99.5, 0.0, 50.0])
    assert torch.equal(Road(length=100.0).wrap(s), s)


def test_ring_world_roundtrip_and_heading():
    ring = Road(num_lanes=3, length=200.0, ring=True, lane_width=4.0)
    s = torch.tensor([0.0, 50.0, 123.4, 199.0], dtype=torch.float64)
    lat = torch.tensor([0.0, 4.0, 8.0, 1.0], dtype=torch.float64)
    x, y, heading = ring.to_world(s, lat)
    r = 200.0 / (2 * math.pi)
    assert x[0].item() == pytest.approx(r) and y[0].item() == pytest.approx(0.0)
    assert heading[0].item() == pytest.approx(math.pi / 2)  # counter-clockwise
    s2, lat2 = ring.to_road(x, y)
    assert torch.allclose(s2, s, atol=1e-9) and torch.allclose(lat2, lat, atol=1e-9)


def test_lane_membership_paper_rule():
    road = Road(num_lanes=3, length=1000.0, lane_width=4.0)
    s = torch.tensor([10.0, 10.0, 10.0, 10.0, 1001.0, -0.5], dtype=torch.float64)
    lat = torch.tensor([0.0, 5.9, 6.1, 10.1, 0.0, 0.0], dtype=torch.float64)
    # nearest centreline, off the road (-1) when >= half a lane width away (distance past the ends counts)
    assert road.lane_membership(s, lat).tolist() == [0, 1, 2, -1, 0, 0]
    assert road.lane_membership(torch.tensor([1003.0]), torch.tensor([0.0])).tolist() == [-1]


@pytest.mark.parametrize(
    "kw, msg",
    [({"num_lanes": 0}, "num_lanes"), ({"num_lanes": 1.5}, "num_lanes"), ({"length": -1.0}, "length"),
     ({"length": float("inf")}, "length"), ({"lane_width": 0.0}, "lane_width")],
)  # fmt: skip
def test_road_validation(kw, msg):
    with pytest.raises(ValueError, match=f"^{msg}: must"):
        Road(**kw)
