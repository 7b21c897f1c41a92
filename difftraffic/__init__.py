"""difftraffic: batched, differentiable multi-lane traffic simulation in PyTorch.

Cheap to import: no gymnasium, mujoco or pyglet. The public API:

    Road, IDMParams, TrafficSim, SimState         the standalone simulator
    PaceCarEnv, PaceCarConfig, RingWaveEnv         the pace-car and ring wave-attenuation tasks
    make_env, load_scenario, check_scenario        YAML scenarios (bundled names: "1lane" ... "10lane", "ring_wave")
    DiffEnv                                        the task interface every learner uses
    Episode, record_episode                        recorded episodes for the viewer
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from difftraffic.env import DiffEnv
from difftraffic.sim.idm import IDMParams
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import SimState, TrafficSim, Trajectory

__version__ = "0.1.0"

_LAZY = {
    "PaceCarEnv": "difftraffic.tasks.pacecar.task",
    "make_env": "difftraffic.scenario.loader",
    "load_scenario": "difftraffic.scenario.loader",
    "ScenarioError": "difftraffic.scenario.loader",
    "check_scenario": "difftraffic.scenario.check",
    "MOBILParams": "difftraffic.sim.mobil",
    "PaceCarConfig": "difftraffic.tasks.pacecar.layout",
    "RingWaveEnv": "difftraffic.tasks.ringwave",
    "Episode": "difftraffic.recording.episode",
    "record_episode": "difftraffic.recording.recorder",
}

__all__ = ["DiffEnv", "IDMParams", "Road", "SimState", "TrafficSim", "Trajectory", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'difftraffic' has no attribute {name!r}")
