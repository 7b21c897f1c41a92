"""difftraffic: batched, differentiable multi-lane traffic simulation in PyTorch.

Cheap to import: every name below loads on first use, so ``import difftraffic.registry`` (and the CLI) do
not import torch. The public API:

    Road, IDMParams, TrafficSim, SimState         the standalone simulator
    PaceCarEnv, PaceCarConfig, RingWaveEnv         the pace-car and ring wave-attenuation tasks
    make_env, load_scenario, check_scenario        YAML scenarios (bundled names: "1lane" ... "10lane", "ring_wave")
    DiffEnv                                        the task interface every learner uses
    Episode, record_episode                        recorded episodes for the viewer
    calibrate                                      fit IDM to measured trajectories (docs/calibration.md)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "DiffEnv": "difftraffic.env",
    "IDMParams": "difftraffic.sim.idm",
    "Road": "difftraffic.sim.road",
    "SimState": "difftraffic.sim.simulator",
    "TrafficSim": "difftraffic.sim.simulator",
    "Trajectory": "difftraffic.sim.simulator",
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
    "calibrate": "difftraffic.calibration.fitting",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'difftraffic' has no attribute {name!r}")
