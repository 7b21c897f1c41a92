"""The real pyglet window under Xvfb: screenshot colours, keys through the event queue and real X events."""

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from viewer import colors as C
from viewer.app import view
from viewer.hud import hud_height
from viewer.model import ViewerModel
from viewer.replay import ReplayController


def near(img, rgb, tol=10):
    return int((np.abs(img.astype(int) - np.array(rgb[:3])).max(-1) <= tol).sum())


@pytest.fixture
def window_for(xvfb_display):
    """Factory: a real (hidden) ViewerWindow on the Xvfb display; closed after the test."""
    from viewer.window import make_window

    made = []

    def make(ep, size=(1280, 720), visible=False, **opts):
        model = ViewerModel(ReplayController(ep), size)
        for k, v in opts.items():
            setattr(model.opts, k, v)
        win = make_window(model, visible=visible, caption=f"dt-test-{os.getpid()}-{len(made)}")
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()


def shot(win, frames=1, dt=0.0):
    out = {}
    win.pump(frames, dt, before_flip=lambda w: out.__setitem__("rgb", w.grab()))
    return out["rgb"]


def test_real_window_screenshot_colours(window_for, make_episode, tmp_path):
    ep = make_episode(steps=40)
    win = window_for(ep)
    win.model.ctrl.seek_to(10)
    img = shot(win)
    assert img.shape == (720, 1280, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10
    assert near(img, C.PACE_BLUE) >= 100
    assert near(img, C.IDM_YELLOW) >= 500
    assert near(img[: hud_height()], (255, 255, 255), 40) >= 200  # HUD text
    px, py = win.model.camera.to_pixel(ep.x[10, 0, 0], ep.y[10, 0, 0])  # shared world -> pixel mapping
    assert np.abs(img[int(round(py)), int(round(px)) - 4].astype(int) - C.PACE_BLUE[:3]).max() <= 3
    path = win.save_screenshot(tmp_path / "s.png")
    assert path.stat().st_size > 1000 and Image.open(path).size == (1280, 720)


def test_ring_road_in_window(window_for, make_episode):
    ep = make_episode(ring=True, lanes=2, steps=20)
    win = window_for(ep, size=(960, 600))
    img = shot(win)
    cam, road = win.model.camera, win.model.road
    cx, cy = cam.to_pixel(0.0, 0.0)
    assert np.abs(img[int(cy), int(cx)].astype(int) - C.BACKGROUND[:3]).max() <= 3
    r = road.radius + 0.25 * road.lane_width
    samples = [cam.to_pixel(r * np.cos(a), r * np.sin(a)) for a in np.linspace(0.2, 6.2, 16)]
    asphalt = sum(np.abs(img[int(y), int(x)].astype(int) - C.ASPHALT[:3]).max() <= 3 for x, y in samples)
    assert asphalt >= 13
    assert near(img, C.PACE_BLUE) >= 30


def test_keys_through_event_queue(window_for, make_episode):
    from pyglet.window import key

    ep = make_episode(steps=40)
    win = window_for(ep)
    ctrl = win.model.ctrl
    base = shot(win)
    win.dispatch_event("on_key_press", key.SPACE, 0)  # queued: handled in the next pump
    assert not ctrl.playing
    win.pump(1, 0.0)
    assert ctrl.playing
    win.pump(10, 0.1)  # 10 frames of 0.1 s at real time: 10 steps
    assert ctrl.index == 10
    win.dispatch_event("on_key_press", key.RIGHT, key.MOD_SHIFT)
    win.pump(1, 0.0)
    assert ctrl.index == 20
    win.dispatch_event("on_key_press", key.END, 0)
    win.dispatch_event("on_key_press", key.N, 0)
    win.pump(1, 0.0)
    assert ctrl.env == 1 and ctrl.index == 35 and ctrl.termination == "collision"
    ended = shot(win)
    assert near(ended[: hud_height()], C.HUD_ALERT, 30) >= 50  # red "EPISODE ENDED ... collision" line
    win.dispatch_event("on_key_press", key.HOME, 0)
    win.dispatch_event("on_key_press", key.RIGHT, key.MOD_SHIFT)  # frame 10: gradient data is non-zero
    win.dispatch_event("on_key_press", key.G, 0)
    on = shot(win)
    assert win.model.opts.overlay and ctrl.index == 10
    win.dispatch_event("on_key_press", key.G, 0)
    off = shot(win)
    px, py = win.model.camera.to_pixel(ep.x[10, 1, 0], ep.y[10, 1, 0])
    r = int(0.5 * 5.0 * win.model.camera.scale)
    ring = (slice(int(py) - r - 3, int(py) - r + 3), slice(int(px) - 3, int(px) + 3))  # beside the pace car
    assert np.abs(on[ring].astype(int) - off[ring].astype(int)).max() > 60  # its halo comes and goes
    assert np.abs(off.astype(int) - base.astype(int)).max() > 0  # env 1 differs from env 0


def test_mouse_zoom_and_drag(window_for, make_episode):
    from pyglet.window import mouse

    win = window_for(make_episode())
    cam = win.model.camera
    scale = cam.scale
    win.dispatch_event("on_mouse_scroll", 300, 360, 0, 2)  # two notches up, inside the road view
    win.pump(1, 0.0)
    assert cam.scale == pytest.approx(scale * 1.15**2)
    cx = cam.cx
    win.dispatch_event("on_mouse_drag", 300, 360, 50, 0, mouse.LEFT, 0)
    win.pump(1, 0.0)
    assert not win.model.opts.follow and cam.cx == pytest.approx(cx - 50 / cam.scale)


def test_real_x_key_event_with_xdotool(window_for, make_episode, in_ci):
    if shutil.which("xdotool") is None:
        if in_ci:
            pytest.fail("xdotool is not installed (CI must install it; see .ci/run)")
        pytest.skip("xdotool is not installed")
    win = window_for(make_episode(), size=(640, 400), visible=True)
    win.pump(2, 0.0)
    subprocess.run(["xdotool", "key", "--window", str(win._window), "space"], check=True, timeout=10)
    deadline = time.monotonic() + 20.0  # generous: a loaded CI machine may deliver the X event late
    while not win.model.ctrl.playing and time.monotonic() < deadline:
        win.pump(1, 0.0)
        time.sleep(0.01)
    assert win.model.ctrl.playing and win.last_action == "play"


def test_view_screenshot_with_display(xvfb_display, make_episode, tmp_path):
    ep = make_episode(steps=40)
    out = view(ep, screenshot=tmp_path / "v.png", frames=25, size=(800, 480), overlay=True)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (480, 800, 3)
    assert near(img, C.PACE_BLUE) >= 50 and near(img, C.IDM_YELLOW) >= 200
    model = ViewerModel(ReplayController(ep), (800, 480))  # frame 24 is the 25th frame
    model.opts.overlay = True
    model.ctrl.seek_to(24)
    assert "step 24/40" in " ".join(t.text for t in model.scene().texts)
    from viewer.draw_pil import render_pil

    differ = (np.abs(render_pil(model.scene()).astype(int) - img.astype(int)).max(-1) > 60).mean()
    assert differ < 0.05
