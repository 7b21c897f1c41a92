"""Playback controller and episode sources, without any GL."""

import numpy as np
import pytest

from viewer.replay import SPEEDS, ReplayController
from viewer.source import EpisodeSource, ViewerError, find_episodes, load_episode


def test_advance_plays_whole_frames_at_real_time(make_episode):
    ctrl = ReplayController(make_episode(steps=40))  # dt = 0.1 s
    assert ctrl.advance(1.0) == 0  # paused: nothing moves
    ctrl.toggle_play()
    assert ctrl.advance(0.25) == 2 and ctrl.index == 2  # 0.05 s carried over
    assert ctrl.advance(0.05) == 1 and ctrl.index == 3
    for _ in range(30):  # 30 x (1/30) s is slightly below 1 s in floating point; must still give 10 frames
        ctrl.advance(1.0 / 30.0)
    assert ctrl.index == 13
    assert ctrl.time == pytest.approx(1.3)


def test_speed_steps_and_clamps(make_episode):
    ctrl = ReplayController(make_episode())
    ctrl.faster()
    assert ctrl.speed == 2.0
    ctrl.toggle_play()
    assert ctrl.advance(0.1) == 2  # 2x real time: 0.2 s of simulation
    for _ in range(20):
        ctrl.faster()
    assert ctrl.speed == SPEEDS[-1] == 32.0
    for _ in range(20):
        ctrl.slower()
    assert ctrl.speed == SPEEDS[0] == 0.125
    assert ctrl.advance(0.4) == 0 and ctrl.advance(0.4) == 1  # 0.05 s + 0.05 s of simulation = one 0.1 s frame


def test_step_seek_home_end(make_episode):
    ctrl = ReplayController(make_episode(steps=40))
    ctrl.toggle_play()
    ctrl.step(1)
    assert ctrl.index == 1 and not ctrl.playing  # stepping pauses
    ctrl.step(-5)
    assert ctrl.index == 0
    ctrl.seek(1.0)
    assert ctrl.index == 10
    ctrl.seek(-0.3)
    assert ctrl.index == 7
    ctrl.seek(100.0)
    assert ctrl.index == 40
    ctrl.home()
    assert ctrl.index == 0
    ctrl.end()
    assert ctrl.index == ctrl.last == 40


def test_end_of_episode_stops_and_reports_cause(make_episode):
    ctrl = ReplayController(make_episode(steps=40, num_envs=2), env=1)  # env 1 collides: last valid frame 35
    assert ctrl.last == 35
    ctrl.toggle_play()
    assert ctrl.termination is None
    ctrl.advance(100.0)
    assert ctrl.index == 35 and not ctrl.playing and ctrl.at_end
    assert ctrl.termination == "collision"
    ctrl.toggle_play()  # play from the end restarts
    assert ctrl.index == 0 and ctrl.playing
    ctrl.set_env(0)
    ctrl.end()
    assert ctrl.termination == "time_limit"


def test_env_switching_keeps_time_where_possible(make_episode):
    ctrl = ReplayController(make_episode(steps=40, num_envs=2))
    ctrl.seek_to(38)
    ctrl.next_env()
    assert ctrl.env == 1 and ctrl.index == 35  # clamped to env 1's last valid frame
    ctrl.seek_to(12)
    ctrl.next_env()  # wraps around the batch
    assert ctrl.env == 0 and ctrl.index == 12
    ctrl.prev_env()
    assert ctrl.env == 1
    with pytest.raises(ViewerError, match=r"env: must be in \[0, 1\]"):
        ReplayController(make_episode(num_envs=2), env=2)


def test_frame_values(make_episode):
    ep = make_episode(steps=40, num_envs=2)
    ctrl = ReplayController(ep, env=1)
    f0 = ctrl.frame()
    assert f0.reward is None and f0.ret == 0.0 and f0.time == 0.0
    f = ctrl.frame(35)
    assert f.index == 35 and f.time == pytest.approx(3.5)
    assert f.reward == pytest.approx(-1.0)  # the colliding step 34 -> 35
    assert f.ret == pytest.approx(34 * 0.5 - 1.0)
    np.testing.assert_array_equal(f.speed, ep.speed[35, 1])
    assert f.grad is not None and f.grad[0] == 1.0


def test_run_directory_opens_latest_and_switches(run_dir):
    ctrl = ReplayController(run_dir)
    assert ctrl.num_episodes == 3
    assert ctrl.episode_name == "ep2.npz" and ctrl.episode.num_envs == 1
    assert not ctrl.next_episode()  # already the last one
    assert ctrl.prev_episode() and ctrl.episode_name == "ep1.npz" and ctrl.episode.num_steps == 30
    ctrl.set_env(2)
    ctrl.seek_to(20)
    assert ctrl.prev_episode() and ctrl.episode_name == "ep0.npz"
    assert ctrl.env == 1 and ctrl.index == 0  # env clamped to the 2-env episode; restarts at frame 0
    assert not ctrl.prev_episode()
    assert ctrl.set_episode(99) and ctrl.episode_name == "ep2.npz"  # clamped


def test_sources_and_one_line_errors(tmp_path, run_dir, make_episode):
    assert [p.name for p in find_episodes(run_dir)] == ["ep0.npz", "ep1.npz", "ep2.npz"]
    assert [p.name for p in find_episodes(run_dir / "episodes")] == ["ep0.npz", "ep1.npz", "ep2.npz"]
    assert load_episode(run_dir / "episodes" / "ep1.npz").num_steps == 30
    ep = make_episode()
    assert EpisodeSource(ep).load(0) is ep and EpisodeSource(ep).name(0) == "<memory>"
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    cases = {
        tmp_path / "missing": "no such episode file or run directory",
        tmp_path / "empty": "has no recorded episodes",
        tmp_path / "notes.txt": "not an episode file",
        tmp_path / "broken.npz": "not a readable .npz episode",
    }
    for path, msg in cases.items():
        with pytest.raises(ViewerError, match=msg) as info:
            ReplayController(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
