"""``read_trajectories``: one entry point for every supported trajectory file layout."""

from __future__ import annotations

from pathlib import Path

from difftraffic.calibration.csv_io import TrajectoryError, read_header, read_trajectory_csv
from difftraffic.calibration.highd import read_highd
from difftraffic.calibration.ngsim import read_ngsim
from difftraffic.calibration.table import TrajectoryTable

FORMATS = ("auto", "csv", "ngsim", "highd")


def detect_format(path: str | Path) -> str:
    """``"csv"`` (ours), ``"ngsim"`` or ``"highd"`` from the header line; ``"csv"`` when unsure (its reader then
    names the missing columns)."""
    header = read_header(path)
    low = {h.lower() for h in header}
    if {"frame_id", "local_y"} <= low:
        return "ngsim"
    if {"frame", "id", "xvelocity", "precedingid"} <= low:
        return "highd"
    return "csv"


def read_trajectories(path: str | Path, format: str = "auto", **options) -> TrajectoryTable:
    """Read a trajectory file. ``format``: one of :data:`FORMATS`; ``options`` go to the format's reader
    (``location=`` for NGSIM, ``frame_rate=`` for highD)."""
    if format not in FORMATS:
        raise TrajectoryError(f"format: {format!r} is not one of {', '.join(FORMATS)}")
    if not Path(path).exists():
        raise TrajectoryError(f"{path}: file not found")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "ngsim":
        return read_ngsim(path, **options)
    if fmt == "highd":
        return read_highd(path, **options)
    if options:
        raise TrajectoryError(f"{path}: options {', '.join(options)} apply to ngsim/highd files only")
    return read_trajectory_csv(path)
