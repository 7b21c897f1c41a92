"""Open roads in the viewer (Pillow renderer): lanes that begin and end (a lane drop, an on-ramp), loops,
vehicles entering and leaving, empty slots invisible; episodes of ``difftraffic simulate`` replay."""

import numpy as np
import pytest

from difftraffic.recording.rollout_episode import rollout_episode
from difftraffic.sim.road import Road
from viewer import colors as C
from viewer.camera import LaneExtent, RoadGeom
from viewer.draw_pil import render_pil
from viewer.model import ViewerModel
from viewer.replay import ReplayController

from .test_render import near, pixel

LANES = [{"start": 0.0, "end": 400.0, "kind": "main"}, {"start": 0.0, "end": 120.0, "kind": "drop"},
         {"start": 40.0, "end": 100.0, "kind": "onramp"}]  # fmt: skip


def open_episode(steps=40, lanes=LANES):
    """3 slots on a 400 m road: slot 0 drives lane 0 throughout; slot 1 is empty until frame 10, then drives
    lane 1; slot 2 drives the on-ramp (lane 2) and leaves the road (its slot empties) at frame 30."""
    t1, n = steps + 1, 3
    k = np.arange(t1, dtype=np.float64)[:, None, None]
    s = np.concatenate([np.full((t1, 1, 1), 60.0), np.full((t1, 1, 1), 70.0), np.full((t1, 1, 1), 80.0)], axis=2)
    s = s + 0.1 * k * np.zeros((1, 1, n))
    lane = np.broadcast_to(np.array([0, 1, 2]), (t1, 1, n)).copy()
    active = np.ones((t1, 1, n), bool)
    active[:10, 0, 1] = False
    active[30:, 0, 2] = False
    road = Road(num_lanes=3, length=400.0)
    meta = {"detectors": [{"name": "d", "kind": "loop", "lane": 0, "position": 50.0}]}
    ep = rollout_episode(road, 0.1, s, np.full((t1, 1, n), 5.0), np.zeros((t1, 1, n)), lane, active=active,
                         meta=meta)  # fmt: skip
    ep.meta["road"] = dict(ep.meta["road"], lanes=lanes)
    return ep


def model_at(ep, index):
    model = ViewerModel(ReplayController(ep), (1280, 720))
    model.opts.follow = False
    model.opts.panels = False
    model.camera.viewport = model.road_viewport()
    model.ctrl.seek_to(index)
    return model


def vehicle_pixel(model, img, i):
    ep, t = model.ctrl.episode, model.ctrl.index
    px, py = model.camera.to_pixel(ep.x[t, 0, i], ep.y[t, 0, i])
    return pixel(img, px - 4, py)


def test_road_geometry_from_meta_and_fallbacks():
    ep = open_episode()
    road = RoadGeom.from_episode(ep)
    assert road.lanes == (LaneExtent(0.0, 400.0), LaneExtent(0.0, 120.0, "drop"), LaneExtent(40.0, 100.0, "onramp"))
    assert road.partial_lanes and road.extent(2).is_ramp and not road.extent(1).is_ramp
    odd = RoadGeom.from_dict({"num_lanes": 2, "length": 50.0, "lanes": ["x", {"end": "far"}], "future_key": 1})
    assert odd.lanes == (LaneExtent(0.0, 50.0), LaneExtent(0.0, 50.0)) and not odd.partial_lanes
    assert RoadGeom.from_dict({"num_lanes": 2}).extent(1) == LaneExtent(0.0, 1.0e6)


def test_empty_slots_are_invisible_and_entering_leaving_are_marked():
    ep = open_episode()
    ctrl = ReplayController(ep)
    early, entered, last_ones = ctrl.frame(5), ctrl.frame(12), ctrl.frame(25)
    assert early.active.tolist() == [True, False, True] and early.lane[1] == -1
    assert entered.entering.tolist() == [False, True, False]  # entered at frame 10, within 1 s
    assert not ctrl.frame(25).entering.any() and last_ones.leaving.tolist() == [False, False, True]
    assert not ctrl.frame(15).leaving.any()
    img = render_pil(model_at(ep, 5).scene())
    model = model_at(ep, 5)
    assert np.abs(vehicle_pixel(model, img, 0) - C.IDM_YELLOW[:3]).max() <= 2
    assert np.abs(vehicle_pixel(model, img, 1) - C.IDM_YELLOW[:3]).max() > 60  # empty slot: asphalt, no car
    model = model_at(ep, 12)
    img = render_pil(model.scene())
    assert np.abs(vehicle_pixel(model, img, 1) - C.IDM_YELLOW[:3]).max() <= 2  # now on the road
    assert near(img, C.ENTERING, tol=3) > 20 and near(img, C.LEAVING, tol=3) == 0
    img = render_pil(model_at(ep, 25).scene())
    assert near(img, C.LEAVING, tol=3) > 20 and near(img, C.ENTERING, tol=3) == 0
    gone = model_at(ep, 35)
    assert np.abs(vehicle_pixel(gone, render_pil(gone.scene()), 2) - C.IDM_YELLOW[:3]).max() > 60


def test_lane_ends_ramps_and_loops_are_drawn():
    ep = open_episode()
    model = model_at(ep, 0)
    model.camera.cx, model.camera.scale = 100.0, 4.0
    img = render_pil(model.scene())
    cam, w = model.camera, 4.0
    at = lambda s, lat: pixel(img, *cam.to_pixel(s, lat))  # noqa: E731
    assert np.abs(at(70.0, 2 * w + 1.0) - C.RAMP_ASPHALT[:3]).max() <= 2  # inside the on-ramp
    assert np.abs(at(20.0, 2 * w + 1.0) - C.BACKGROUND[:3]).max() <= 2  # before the ramp begins: no road
    assert np.abs(at(110.0, 1 * w + 1.0) - C.ASPHALT[:3]).max() <= 2  # the dropped lane before its end
    assert np.abs(at(150.0, 1 * w + 1.0) - C.BACKGROUND[:3]).max() <= 2  # ... and after it
    assert np.abs(at(120.0, 1 * w + 1.0) - C.LANE_END[:3]).max() <= 2  # the barrier at the lane end
    assert np.abs(at(100.0, 2 * w + 1.0) - C.LANE_END[:3]).max() <= 2  # the ramp's end
    assert np.abs(at(50.0, 0.0 + 1.0) - C.LOOP[:3]).max() <= 40  # the loop across lane 0 (blended)
    texts = [t.text for t in model.scene().texts]
    assert "on-ramp starts" in texts and "drop ends" in texts


def test_a_road_without_lane_extents_draws_as_before():
    plain = open_episode(lanes=None)
    plain.meta["road"].pop("lanes")
    full = open_episode(lanes=[{"start": 0.0, "end": 400.0}] * 3)
    a, b = render_pil(model_at(plain, 0).scene()), render_pil(model_at(full, 0).scene())
    assert np.array_equal(a, b)  # full-length lanes take the closed-road path


@pytest.mark.parametrize("index", [0, 20, 40])
def test_panels_ignore_empty_slots(index):
    ep = open_episode()
    ep.s[:10, 0, 1] = 1.0e5  # garbage in an empty slot must not stretch the time-space axis
    model = ViewerModel(ReplayController(ep), (1280, 720))
    model.ctrl.seek_to(index)
    panel = model.panel()
    assert panel is not None and panel.rgb.shape[2] == 3
    assert render_pil(model.scene()).shape == (720, 1280, 3)
