"""Calibrating car-following models (IDM) to measured trajectories by gradient: ``difftraffic calibrate``.

``calibrate(table_or_path, ...)`` fits IDM parameters per driver, globally or per class, in open loop
(each follower replays its recorded leader) or as a closed-loop platoon, by batched Levenberg-Marquardt
on exact sensitivities of the simulator's own IDM step (see docs/calibration.md). Readers turn our CSV,
NGSIM and highD files into a :class:`TrajectoryTable`.
"""

from __future__ import annotations

from difftraffic.calibration.bounds import DEFAULT_BOUNDS, DEFAULT_FIT, DEFAULT_INITIAL, PARAM_NAMES, ParamBox
from difftraffic.calibration.csv_io import TrajectoryError, read_trajectory_csv, write_trajectory_csv
from difftraffic.calibration.fitting import calibrate
from difftraffic.calibration.formats import FORMATS, read_trajectories
from difftraffic.calibration.highd import read_highd
from difftraffic.calibration.ngsim import read_ngsim
from difftraffic.calibration.outputs import CalibrationResult
from difftraffic.calibration.table import TrajectoryTable
from difftraffic.calibration.validation import check_table

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_FIT",
    "DEFAULT_INITIAL",
    "FORMATS",
    "PARAM_NAMES",
    "CalibrationResult",
    "ParamBox",
    "TrajectoryError",
    "TrajectoryTable",
    "calibrate",
    "check_table",
    "read_highd",
    "read_ngsim",
    "read_trajectories",
    "read_trajectory_csv",
    "write_trajectory_csv",
]
