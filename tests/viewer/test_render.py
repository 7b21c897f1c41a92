"""Scene building and the pure-Pillow renderer: colours at computed pixels, overlay, ring roads, plots."""

import numpy as np
import pytest

from viewer import colors as C
from viewer.draw_pil import render_pil
from viewer.hud import hud_height
from viewer.model import ViewerModel
from viewer.replay import ReplayController
from viewer.scene import Scene, triangles


def near(img, rgb, tol=10):
    """Number of pixels within ``tol`` of ``rgb`` in every channel."""
    return int((np.abs(img.astype(int) - np.array(rgb[:3])).max(-1) <= tol).sum())


def pixel(img, px, py):
    return img[int(round(float(py))), int(round(float(px)))].astype(int)


def model_at(ep, index, size=(1280, 720), **opts):
    model = ViewerModel(ReplayController(ep), size)
    for k, v in opts.items():
        setattr(model.opts, k, v)
    model.ctrl.seek_to(index)
    return model


def test_straight_road_colours_at_projected_positions(make_episode):
    ep = make_episode(steps=40)
    model = model_at(ep, 10)
    img = render_pil(model.scene())
    assert img.shape == (720, 1280, 3)
    px, py = model.camera.to_pixel(ep.x[10, 0], ep.y[10, 0])
    assert np.abs(pixel(img, px[0] - 4, py[0]) - C.PACE_BLUE[:3]).max() <= 2  # the pace car, behind its windscreen
    for i in range(1, ep.num_vehicles):
        if model.camera.contains(px[i], py[i]):
            assert np.abs(pixel(img, px[i] - 4, py[i]) - C.IDM_YELLOW[:3]).max() <= 2
    assert near(img, C.PACE_BLUE) >= 100
    assert near(img, C.IDM_YELLOW) >= 500
    hud = img[: hud_height()]
    assert near(hud, (255, 255, 255), tol=40) >= 200  # HUD text
    texts = " ".join(t.text for t in model.scene().texts)
    assert "step 10/40" in texts and "pace car 15.50 m/s lane 1" in texts and "(target 10.0)" in texts


def test_follow_keeps_pace_car_in_place(make_episode):
    ep = make_episode(steps=40)
    model = model_at(ep, 40)
    model.scene()
    x0, _, w, _ = model.road_viewport()
    px, _ = model.camera.to_pixel(ep.x[40, 0, 0], ep.y[40, 0, 0])
    assert px == pytest.approx(x0 + 0.75 * w)  # right of centre: the traffic behind it is in view
    model.opts.follow = False
    model.ctrl.seek_to(0)
    model.scene()
    px2, _ = model.camera.to_pixel(ep.x[0, 0, 0], 0.0)
    assert px2 < px  # not followed: the car at frame 0 is 16 * 4 - 1 * 16 = 56 m further back


def test_ring_road_is_drawn_as_a_ring(make_episode):
    ep = make_episode(ring=True, lanes=2, steps=40)
    model = model_at(ep, 5)
    img = render_pil(model.scene())
    cam, road = model.camera, model.road
    cx, cy = cam.to_pixel(0.0, 0.0)
    assert np.abs(pixel(img, cx, cy) - C.BACKGROUND[:3]).max() <= 2  # the ring's middle is not road
    mid = road.radius + 0.25 * road.lane_width  # inside lane 0, clear of markings
    hits = 0
    for phi in np.linspace(0.1, 2 * np.pi, 24, endpoint=False):
        px, py = cam.to_pixel(mid * np.cos(phi), mid * np.sin(phi))
        hits += np.abs(pixel(img, px, py) - C.ASPHALT[:3]).max() <= 2
    assert hits >= 20  # asphalt all the way round (a few samples land on cars)
    px, py = cam.to_pixel(ep.x[5, 0], ep.y[5, 0])
    h = ep.heading[5, 0, 0]
    assert np.abs(pixel(img, px[0] - 4 * np.cos(h), py[0] + 4 * np.sin(h)) - C.PACE_BLUE[:3]).max() <= 2


def test_overlay_changes_picture_where_gradient_flows(make_episode):
    ep = make_episode(steps=40)
    off = render_pil(model_at(ep, 10).scene())
    model = model_at(ep, 10, overlay=True)
    on = render_pil(model.scene())
    px, py = model.camera.to_pixel(ep.x[10, 0], ep.y[10, 0])
    g = ep.grad[10, 0]
    r = 0.5 * 5.0 * model.camera.scale * 1.35  # halo radius (px)
    checked = 0
    for i in np.flatnonzero(g > 0):  # halo just beside the car (outside its body): colour from the log scale
        if not model.camera.contains(px[i], py[i] - r):
            continue
        checked += 1
        u = model.grad_scale.unit(g[i])
        halo = C.grad_colors(np.array(u))[:3].astype(float)
        expect = (halo * 200 + np.array(C.ASPHALT[:3]) * 55) / 255
        assert np.abs(pixel(on, px[i], py[i] - 0.8 * r) - expect).max() <= 3
        assert np.abs(pixel(off, px[i], py[i] - 0.8 * r) - C.ASPHALT[:3]).max() <= 2
    assert checked >= 2
    assert model.grad_scale.vmax == 1.0 and model.grad_scale.vmin == pytest.approx(0.1)  # 1 .. 0.5**3 -> 1 decade
    diff = np.abs(on.astype(int) - off.astype(int)).max(-1) > 30
    assert diff.sum() > 2000
    for i in np.flatnonzero(g == 0):  # cut cars: only a thin red ring, their body unchanged
        if model.camera.contains(px[i], py[i]):
            assert not diff[int(py[i]), int(px[i] - 4)]
    texts = " ".join(t.text for t in model.scene().texts)
    assert "|d speed / d pace actions| (log)" in texts


def test_overlay_without_gradient_data_says_so(make_episode):
    ep = make_episode(grad=False)
    model = model_at(ep, 10, overlay=True)
    texts = [t.text for t in model.scene().texts]
    assert "no gradient data in this episode" in texts
    on, off = render_pil(model.scene()), render_pil(model_at(ep, 10).scene())
    vx, vy, vw, vh = model.camera.viewport
    changed = np.argwhere(np.abs(on[vy:].astype(int) - off[vy:].astype(int)).max(-1) > 0)  # below the HUD
    rows, cols = changed[:, 0] + vy, changed[:, 1]
    assert cols.max() < 270 and rows.min() > vy + vh - 60  # only the legend box, bottom-left


def test_colour_by_speed(make_episode):
    ep = make_episode(steps=40)
    model = model_at(ep, 0, color_by_speed=True)
    img = render_pil(model.scene())
    px, py = model.camera.to_pixel(ep.x[0, 0], ep.y[0, 0])
    expect = C.speed_colors(np.array(14.0), model.vmax)[:3]  # IDM cars drive 14 m/s at frame 0
    assert np.abs(pixel(img, px[1] - 4, py[1]) - expect).max() <= 2
    assert np.abs(pixel(img, px[0] - 4, py[0]) - C.PACE_BLUE[:3]).max() <= 2  # the pace car stays blue


def test_panel_plots_and_cursor(make_episode):
    ep = make_episode(steps=40)
    model = model_at(ep, 20)
    panel = model.panel()
    x0, y0, x1, y1 = panel.plots[0]
    assert panel.cursor_x(0.0) == x0 and panel.cursor_x(4.0) == x1 and panel.cursor_x(2.0) == (x0 + x1) / 2
    speed_plot = panel.rgb[y0:y1, x0:x1]
    assert near(speed_plot, C.PACE_BLUE, 30) > 50 and near(speed_plot, C.IDM_YELLOW, 30) > 50
    tx0, ty0, tx1, ty1 = panel.plots[2]
    ts = panel.rgb[ty0:ty1, tx0:tx1]
    assert near(ts, C.PACE_BLUE, 30) > 100  # the pace car's trace
    assert near(ts, C.speed_colors(np.array(14.0), 17.6)[:3], 25) > 100  # IDM traces coloured by speed
    model.opts.lane_filter = 0  # lane 0 holds IDM cars only: no blue trace
    ts0 = model.panel().rgb[ty0:ty1, tx0:tx1]
    assert near(ts0, C.PACE_BLUE, 30) == 0 and near(ts0, C.speed_colors(np.array(14.0), 17.6)[:3], 25) > 50
    img = render_pil(model.scene())
    bx, by, _, _ = model.panel_box()
    col = int(round(bx + panel.cursor_x(2.0)))
    assert near(img[by + y0 + 5 : by + y1 - 5, col - 1 : col + 2], (255, 255, 255), 60) > 50  # the time cursor
    model.opts.panels = False
    assert model.panel() is None and model.road_viewport()[2] == 1280


def test_triangles_of_shapes():
    scene = Scene(100, 100, C.BACKGROUND)
    layer = scene.layer()
    layer.rect(10, 10, 20, 10, (1, 2, 3, 255))
    layer.lines([[0, 50]], [[10, 50]], 2.0, (4, 5, 6, 255))
    layer.discs([[50, 50]], [5.0], (7, 8, 9, 255), segments=12)
    verts, cols = triangles(layer)
    assert verts.shape == (6 + 6 + 30, 2) and cols.shape == (42, 4)
    np.testing.assert_allclose(verts[6:12].min(0), [0, 49])  # the 2-px line is a quad from y=49 to 51
    np.testing.assert_allclose(verts[6:12].max(0), [10, 51])
    assert tuple(cols[-1]) == (7, 8, 9, 255)
    with pytest.raises(ValueError, match="colors"):
        layer.polys(np.zeros((2, 3, 2)), np.zeros((3, 4)))


def test_speed_plot_shows_a_reversing_pace_car(make_episode):
    ep = make_episode(steps=20)
    ep.speed[:, :, 0] = -5.0  # the bicycle-model pace car can drive backwards
    panel = model_at(ep, 0).panel()
    x0, y0, x1, y1 = panel.plots[0]
    rows = np.flatnonzero(
        (np.abs(panel.rgb[y0 : y1 + 1, x0 + 5 : x1 - 5].astype(int) - C.PACE_BLUE[:3]).max(-1) <= 30).any(1)
    )
    expect = (y1 - y0) * (1 - (-5.0 + 5.5) / (14.0 * 1.1 + 5.5))  # y range [-5.5, 15.4] m/s, -5 m/s 2% above the bottom
    assert len(rows) and abs(np.median(rows) - expect) <= 2.5
