"""GL-free playback state: which episode, which env of the batch, which frame, playing or not, how fast.

Time is simulation time (s); ``speed`` is a multiple of real time, so at speed 1 one wall-clock
second plays ``1 / dt`` frames. Playback stops at the shown env's last valid frame (its episode
ended there, see ``Episode.valid``). The window, the exporter and the tests all drive this class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from difftraffic.recording.episode import Episode

from .source import EpisodeSource, ViewerError

ENTER_LEAVE_WINDOW = 1.0
"""s: vehicles that entered the road this recently, or leave it this soon, are marked (open roads)."""

SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Playback speeds (multiples of real time) that +/- step through."""


@dataclass(frozen=True)
class Frame:
    """Per-vehicle arrays ``[N]`` of one env at one frame, plus the step's reward and the return so far."""

    index: int
    time: float  # s
    s: np.ndarray  # m, road longitudinal coordinate
    x: np.ndarray  # m, world
    y: np.ndarray  # m, world
    heading: np.ndarray  # rad, world
    speed: np.ndarray  # m/s
    accel: np.ndarray  # m/s^2
    lane: np.ndarray  # lane index, -1 = off road
    grad: np.ndarray | None  # |d speed / d pace-car actions|, None when the episode has no gradient data
    reward: float | None  # reward of the step that led to this frame (None at frame 0)
    ret: float  # sum of rewards up to this frame
    active: np.ndarray  # bool: the slot holds a vehicle (open roads); inactive slots are not drawn
    entering: np.ndarray  # bool: entered the road within the last ENTER_LEAVE_WINDOW s
    leaving: np.ndarray  # bool: leaves the road within the next ENTER_LEAVE_WINDOW s


class ReplayController:
    """Playback of one source (Episode, episode file, or run directory) at a time; no GL, no pyglet."""

    def __init__(self, src: Episode | str | os.PathLike | EpisodeSource, env: int = 0) -> None:
        self.source = src if isinstance(src, EpisodeSource) else EpisodeSource(src)
        self.episode_index = self.source.start
        self.episode = self.source.load(self.episode_index)
        if not 0 <= env < self.episode.num_envs:
            raise ViewerError(f"env: must be in [0, {self.episode.num_envs - 1}] for {self.episode_name}, got {env}")
        self.env = env
        self.index = 0
        self.playing = False
        self.speed = 1.0
        self._acc = 0.0  # simulation seconds played but not yet a whole frame

    # ---- what is shown -------------------------------------------------------------------
    @property
    def dt(self) -> float:
        return self.episode.dt

    @property
    def last(self) -> int:
        """Last valid frame of the shown env."""
        return self.episode.last_frame(self.env)

    @property
    def time(self) -> float:
        """Simulation time (s) of the shown frame."""
        return self.index * self.dt

    @property
    def at_end(self) -> bool:
        return self.index >= self.last

    @property
    def termination(self) -> str | None:
        """Why the shown env's episode ended, once playback has reached its end; None before that."""
        if not self.at_end:
            return None
        cause = self.episode.termination_cause(self.env)
        return None if cause == "none" else cause

    def frame(self, index: int | None = None) -> Frame:
        """The shown env's vehicles at ``index`` (default: the current frame)."""
        t = self.index if index is None else int(np.clip(index, 0, self.episode.num_steps))
        ep, b = self.episode, self.env
        rewards = ep.reward[:t, b]
        active, entering, leaving = self._slots(t)
        lane = ep.lane[t, b] if ep.active is None else np.where(active, ep.lane[t, b], -1).astype(ep.lane.dtype)
        grad = None if ep.grad is None else np.where(active, ep.grad[t, b], 0.0)
        return Frame(
            index=t,
            time=t * self.dt,
            s=ep.s[t, b],
            x=ep.x[t, b],
            y=ep.y[t, b],
            heading=ep.heading[t, b],
            speed=ep.speed[t, b],
            accel=ep.accel[t, b],
            lane=lane,
            grad=grad,
            reward=float(rewards[-1]) if t > 0 else None,
            ret=float(rewards.sum()),
            active=active,
            entering=entering,
            leaving=leaving,
        )

    def _slots(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(active, entering, leaving) ``[N]`` of the shown env at frame ``t``."""
        ep, b = self.episode, self.env
        if ep.active is None:
            none = np.zeros(ep.num_vehicles, bool)
            return ~none, none, none
        k = max(1, int(round(ENTER_LEAVE_WINDOW / self.dt)))
        act = ep.active[:, b]
        now = act[t]
        entering = now & ~act[max(0, t - k) : t + 1].all(axis=0) if t > 0 else np.zeros_like(now)
        ahead = act[t : min(self.last, t + k) + 1]
        leaving = now & ~ahead.all(axis=0)
        return now, entering, leaving

    # ---- playback ------------------------------------------------------------------------
    def advance(self, wall_dt: float) -> int:
        """Play ``wall_dt`` wall-clock seconds (if playing); returns how many frames were advanced."""
        if not self.playing:
            return 0
        self._acc += wall_dt * self.speed
        steps = int(np.floor(self._acc / self.dt + 1e-9))
        self._acc = max(0.0, self._acc - steps * self.dt)
        before = self.index
        self.index = min(self.index + steps, self.last)
        if self.at_end:
            self.playing = False
            self._acc = 0.0
        return self.index - before

    def toggle_play(self) -> None:
        """Play/pause; playing from the end restarts at frame 0."""
        if self.playing:
            self.playing = False
            return
        if self.at_end:
            self.index = 0
        self.playing = True
        self._acc = 0.0

    def step(self, n: int) -> None:
        """Pause and move ``n`` frames (negative = back), clamped to the valid frames."""
        self.playing = False
        self.seek_to(self.index + n)

    def seek(self, seconds: float) -> None:
        """Move by ``seconds`` of simulation time (keeps playing if playing)."""
        self.seek_to(self.index + int(round(seconds / self.dt)))

    def seek_to(self, index: int) -> None:
        self.index = int(np.clip(index, 0, self.last))
        self._acc = 0.0

    def home(self) -> None:
        self.seek_to(0)

    def end(self) -> None:
        self.seek_to(self.last)
        self.playing = False

    def faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed + 1e-12), SPEEDS[-1])

    def slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed - 1e-12), SPEEDS[0])

    # ---- env of the batch ----------------------------------------------------------------
    def set_env(self, env: int) -> None:
        """Show env ``env`` (wraps around the batch), keeping the time where that env still has frames."""
        self.env = int(env) % self.episode.num_envs
        self.seek_to(self.index)

    def next_env(self) -> None:
        self.set_env(self.env + 1)

    def prev_env(self) -> None:
        self.set_env(self.env - 1)

    # ---- episode of a run directory ------------------------------------------------------
    @property
    def num_episodes(self) -> int:
        return len(self.source)

    @property
    def episode_name(self) -> str:
        return self.source.name(self.episode_index)

    def set_episode(self, i: int) -> bool:
        """Open episode ``i`` of the source (clamped); restarts at frame 0. Returns True if it changed."""
        i = int(np.clip(i, 0, len(self.source) - 1))
        if i == self.episode_index:
            return False
        self.episode = self.source.load(i)
        self.episode_index = i
        self.env = min(self.env, self.episode.num_envs - 1)
        self.index = 0
        self._acc = 0.0
        return True

    def next_episode(self) -> bool:
        return self.set_episode(self.episode_index + 1)

    def prev_episode(self) -> bool:
        return self.set_episode(self.episode_index - 1)
