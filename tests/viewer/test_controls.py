"""Key bindings, display options and the world -> pixel camera, without any GL."""

import subprocess
import sys

import numpy as np
import pytest

from viewer.camera import Camera, RoadGeom, fit_camera
from viewer.controls import BINDINGS, ViewOptions, handle_key
from viewer.model import ViewerModel
from viewer.replay import ReplayController


def test_playback_keys(make_episode):
    ctrl, opts = ReplayController(make_episode(steps=40)), ViewOptions()
    assert handle_key("SPACE", False, ctrl, opts) == "play" and ctrl.playing
    assert handle_key("SPACE", False, ctrl, opts) == "pause" and not ctrl.playing
    assert handle_key("RIGHT", False, ctrl, opts) == "step" and ctrl.index == 1
    assert handle_key("RIGHT", True, ctrl, opts) == "seek" and ctrl.index == 11  # shift: 1 s = 10 frames
    assert handle_key("LEFT", True, ctrl, opts) == "seek" and ctrl.index == 1
    assert handle_key("LEFT", False, ctrl, opts) == "step" and ctrl.index == 0
    assert handle_key("END", False, ctrl, opts) == "end" and ctrl.index == 40
    assert handle_key("HOME", False, ctrl, opts) == "home" and ctrl.index == 0
    for name, speed in (("PLUS", 2.0), ("EQUAL", 4.0), ("NUM_ADD", 8.0), ("MINUS", 4.0), ("NUM_SUBTRACT", 2.0)):
        handle_key(name, False, ctrl, opts)
        assert ctrl.speed == speed
    assert handle_key("N", False, ctrl, opts) == "env" and ctrl.env == 1
    assert handle_key("P", False, ctrl, opts) == "env" and ctrl.env == 0
    assert handle_key("F13", False, ctrl, opts) is None


def test_toggles_and_lane_filter(make_episode):
    ctrl, opts = ReplayController(make_episode()), ViewOptions()
    for name, field in (("G", "overlay"), ("F", "follow"), ("H", "help"), ("C", "color_by_speed"), ("D", "panels")):
        before = getattr(opts, field)
        assert handle_key(name, False, ctrl, opts) == field
        assert getattr(opts, field) is (not before)
    seen = []
    for _ in range(4):
        handle_key("L", False, ctrl, opts, num_lanes=3)
        seen.append(opts.lane_filter)
    assert seen == [0, 1, 2, None]
    assert [handle_key(k, False, ctrl, opts) for k in ("R", "S", "Q", "ESCAPE")] == [
        "reset_view", "screenshot", "quit", "quit"
    ]  # fmt: skip
    assert len(BINDINGS) >= 15 and any(k == "G" for k, _ in BINDINGS)


def test_episode_keys_reload_the_view(run_dir, make_episode):
    model = ViewerModel(ReplayController(run_dir), (800, 500))
    assert model.key("BRACKETRIGHT") == "episode_none"
    scale = model.camera.scale
    model.camera.zoom(3.0)
    assert model.key("PAGEUP") == "episode" and model.ctrl.episode_name == "ep1.npz"
    assert model.camera.scale == pytest.approx(scale)  # refit: the zoom was reset
    assert model.key("BRACKETLEFT") == "episode" and model.ctrl.episode_name == "ep0.npz"
    assert model.key("PAGEDOWN") == "episode" and model.ctrl.episode_name == "ep1.npz"


def test_camera_mapping_zoom_pan():
    cam = Camera(cx=100.0, cy=4.0, scale=5.0, viewport=(0, 60, 800, 400))
    px, py = cam.to_pixel([100.0, 110.0, 100.0], [4.0, 4.0, 6.0])
    np.testing.assert_allclose(px, [400.0, 450.0, 400.0])
    np.testing.assert_allclose(py, [260.0, 260.0, 250.0])  # world y up = pixel y down
    wx, wy = cam.to_world(px, py)
    np.testing.assert_allclose(wx, [100.0, 110.0, 100.0])
    np.testing.assert_allclose(wy, [4.0, 4.0, 6.0])
    anchor = cam.to_world(700.0, 100.0)
    cam.zoom(2.0, about=(700.0, 100.0))
    assert cam.scale == 10.0
    np.testing.assert_allclose(cam.to_world(700.0, 100.0), anchor)  # the point under the mouse stays put
    cam.pan(30.0, -20.0)  # drag right and up by (30, 20) px
    np.testing.assert_allclose(cam.to_world(730.0, 80.0), anchor)
    cam.zoom(1e9)
    assert cam.scale == Camera.MAX_SCALE


def test_fit_camera_shows_whole_ring_and_straight_lanes():
    ring = RoadGeom(num_lanes=2, length=260.0, ring=True, lane_width=4.0)
    cam = fit_camera(ring, np.zeros(3), (0, 70, 820, 650))
    outer = ring.radius + 1.5 * ring.lane_width
    px, py = cam.to_pixel(outer * np.cos(np.linspace(0, 6.28, 50)), outer * np.sin(np.linspace(0, 6.28, 50)))
    assert px.min() >= 0 and px.max() <= 820 and py.min() >= 70 and py.max() <= 720
    straight = RoadGeom(num_lanes=3, length=2000.0, ring=False, lane_width=4.0)
    cam = fit_camera(straight, np.array([40.0, 100.0]), (0, 70, 820, 650))
    assert cam.cx == 70.0 and cam.cy == 4.0
    xs, _ = cam.to_pixel([40.0, 100.0], [0.0, 0.0])
    assert xs.min() > 0 and xs.max() < 820


def test_road_geometry_from_episode(make_episode):
    ep = make_episode(ring=True, lanes=2)
    road = RoadGeom.from_episode(ep)
    assert road == RoadGeom(num_lanes=2, length=300.0, ring=True, lane_width=4.0)
    x, y = road.to_world(ep.s[5, 0], ep.lane[5, 0] * 4.0)  # before the lane change: all on lane centres
    np.testing.assert_allclose(x, ep.x[5, 0], atol=1e-3)
    np.testing.assert_allclose(y, ep.y[5, 0], atol=1e-3)
    ep.meta.pop("road")
    assert RoadGeom.from_episode(ep).num_lanes == 2 and not RoadGeom.from_episode(ep).ring


def test_import_viewer_does_not_import_pyglet():
    code = (
        "import sys, viewer, viewer.app, viewer.export, viewer.model, viewer.replay\n"
        "viewer.view, viewer.export, viewer.ReplayController\n"
        "assert 'pyglet' not in sys.modules, sorted(m for m in sys.modules if 'pyglet' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
