"""Export: frame schedule, headless-GL GIF, MP4, PNG frames, the Pillow fallback, and one-line errors."""

import numpy as np
import pytest
from PIL import Image, ImageSequence

import viewer.writers
from difftraffic.recording.episode import Episode
from viewer import colors as C
from viewer.export import GLUnavailableWarning, export, frame_indices
from viewer.source import ViewerError


def near(img, rgb, tol=12):
    return int((np.abs(img.astype(int) - np.array(rgb[:3])).max(-1) <= tol).sum())


def gif_frames(path):
    with Image.open(path) as im:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


def test_frame_indices_hand_computed():
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=10, speed=1), np.arange(41))
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=10, speed=2), np.arange(0, 41, 2))
    # 4 fps at real time: a frame every 2.5 steps -> floor(2.5 k) for k = 0..16, and 40 is on the grid
    expect = [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37, 40]
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=4, speed=1), expect)
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=10, speed=2, stop=33), [*range(0, 33, 2), 33])
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=10, speed=1, start=38), [38, 39, 40])
    np.testing.assert_array_equal(frame_indices(40, 0.1, fps=30, speed=1, stop=1), [0, 0, 0, 1])


def test_headless_gl_gif_has_right_frame_count(tmp_path, make_episode, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)  # headless EGL: no display needed
    ep = make_episode(steps=20, num_envs=2)
    out = export(ep, tmp_path / "ep.gif", size=(480, 272), env=1, renderer="gl")  # env 1 ends at frame 15
    frames = gif_frames(out)
    assert len(frames) == 16 and frames[0].shape == (272, 480, 3)
    assert near(frames[0], C.PACE_BLUE) >= 30 and near(frames[0], C.IDM_YELLOW) >= 100
    with Image.open(out) as im:
        assert im.info["duration"] == 100 and im.info["loop"] == 0  # one frame per 0.1 s step
    pil = export(ep, tmp_path / "pil.gif", size=(480, 272), env=1, renderer="pillow")
    first = gif_frames(pil)[0]
    differ = (np.abs(first.astype(int) - frames[0].astype(int)).max(-1) > 60).mean()
    assert differ < 0.05  # the two renderers draw the same scene (they differ in antialiasing and text)


def test_mp4_export(tmp_path, make_episode):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = export(make_episode(steps=40), tmp_path / "ep.mp4", fps=10, speed=2.0, size=(320, 192), renderer="pillow")
    nframes, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert nframes == 21 and secs == pytest.approx(2.1, abs=0.05)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert tuple(meta["size"]) == (320, 192)
    frame = np.frombuffer(next(reader), np.uint8).reshape(192, 320, 3)
    reader.close()
    assert near(frame, C.PACE_BLUE, 40) >= 10 and near(frame, C.IDM_YELLOW, 40) >= 30


def test_mp4_without_imageio_ffmpeg_is_a_clear_error(tmp_path, make_episode, monkeypatch):
    real = viewer.writers.importlib.util.find_spec
    monkeypatch.setattr(
        viewer.writers.importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name)
    )
    with pytest.raises(ViewerError, match=r"MP4 export needs imageio-ffmpeg: pip install 'difftraffic\[mp4\]'"):
        export(make_episode(), tmp_path / "x.mp4", renderer="pillow")
    assert not (tmp_path / "x.mp4").exists()


def test_png_frames_directory_from_run_directory(tmp_path, run_dir):
    out = export(run_dir, tmp_path / "frames", renderer="pillow", size=(320, 180), overlay=True)
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == 41  # the run's latest episode (ep2): 40 steps, 1 env
    assert Image.open(files[-1]).size == (320, 180)


def test_pillow_fallback_when_gl_is_unavailable(tmp_path, make_episode, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent")  # hide Mesa's EGL: no GL context
    ep = make_episode(steps=10)
    with pytest.warns(GLUnavailableWarning, match="rendering with Pillow"):
        out = export(ep, tmp_path / "fallback.gif", size=(320, 180), renderer="auto")
    assert len(gif_frames(out)) == 11
    with pytest.raises(ViewerError, match="OpenGL rendering is unavailable") as info:
        export(ep, tmp_path / "gl.gif", size=(320, 180), renderer="gl")
    assert "\n" not in str(info.value)


def test_bad_input_is_a_one_line_error(tmp_path, make_episode):
    ep = make_episode()
    cases = [
        ((tmp_path / "nope.npz", tmp_path / "a.gif"), {}, "no such episode file"),
        ((ep, tmp_path / "a.avi"), {}, "unsupported output '.avi'"),
        ((ep, tmp_path / "a.gif"), {"renderer": "vulkan"}, "renderer: must be one of"),
        ((ep, tmp_path / "a.mp4"), {"size": (321, 180)}, "MP4 needs an even width and height"),
        ((ep, tmp_path / "a.gif"), {"size": (10, 10)}, r"size: width and height must be in \[64, 8192\]"),
        ((ep, tmp_path / "a.gif"), {"env": 7}, r"env: must be in \[0, 1\]"),
        ((ep, tmp_path / "a.gif"), {"fps": 0}, "fps: must be > 0"),
        ((ep, tmp_path / "a.gif"), {"zoom": 3}, "unknown view option"),
    ]
    for args, kwargs, msg in cases:
        with pytest.raises(ViewerError, match=msg) as info:
            export(*args, renderer=kwargs.pop("renderer", "pillow"), **kwargs)
        assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("a.*"))


def test_export_of_saved_file_matches_in_memory(tmp_path, make_episode):
    ep = make_episode(steps=6, ring=True)
    path = ep.save(tmp_path / "ring.npz")
    a = gif_frames(export(ep, tmp_path / "a.gif", size=(320, 240), renderer="pillow"))
    b = gif_frames(export(path, tmp_path / "b.gif", size=(320, 240), renderer="pillow"))
    assert len(a) == len(b) == 7
    np.testing.assert_array_equal(a[-1], b[-1])
    assert isinstance(Episode.load(path), Episode)


def test_auto_without_pyglet_falls_back_to_pillow(tmp_path, make_episode, monkeypatch):
    import viewer.export

    real = viewer.export.importlib.util.find_spec
    monkeypatch.setattr(
        viewer.export.importlib.util, "find_spec", lambda name, *a: None if name == "pyglet" else real(name)
    )
    with pytest.warns(GLUnavailableWarning, match="pyglet is not installed"):
        out = export(make_episode(steps=4), tmp_path / "a.gif", size=(320, 180))
    assert len(gif_frames(out)) == 5
    with pytest.raises(ViewerError, match="OpenGL rendering is unavailable"):
        export(make_episode(steps=4), tmp_path / "b.gif", size=(320, 180), renderer="gl")
