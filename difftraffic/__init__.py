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

from .env import DiffEnv
from .idm import IDMParams
from .road import Road
from .sim import SimState, TrafficSim, Trajectory

__version__ = "0.1.0"

_LAZY = {
    "PaceCarEnv": "difftraffic.pacecar",
    "make_env": "difftraffic.scenario",
    "load_scenario": "difftraffic.scenario",
    "ScenarioError": "difftraffic.scenario",
    "check_scenario": "difftraffic.scenario",
    "MOBILParams": "difftraffic.mobil",
    "PaceCarConfig": "difftraffic.pacecar_layout",
    "RingWaveEnv": "difftraffic.ringwave",
    "Episode": "difftraffic.record",
    "record_episode": "difftraffic.recorder",
}

__all__ = ["DiffEnv", "IDMParams", "Road", "SimState", "TrafficSim", "Trajectory", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'difftraffic' has no attribute {name!r}")
