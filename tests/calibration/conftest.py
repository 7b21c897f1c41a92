"""Shared fixtures: SUMO-generated platoons with known heterogeneous IDM drivers (module cache)."""

import os

import numpy as np
import pytest

from difftraffic.calibration import synthetic

NAMES = ("v0", "T", "a", "b", "s0")


def need_sumo():
    """libsumo, or a skip with the reason (a failure under CI, where the dev extra is installed)."""
    try:
        import libsumo  # noqa: F401
        import sumo  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip("Eclipse SUMO is not importable (pip install eclipse-sumo==1.28.* libsumo==1.28.*)")


def relative_errors(result, truth, per_platoon: int) -> dict[str, np.ndarray]:
    """|estimate / truth - 1| per parameter over the calibrated drivers (ids 1000 p + i, i = 1..n)."""
    out = {}
    for k in NAMES:
        true = [truth[k][(int(v) // 1000) * per_platoon + int(v) % 1000 - 1] for v in result.vehicles]
        out[k] = np.abs(np.asarray(result.params[k]) / np.asarray(true) - 1.0)
    return out


@pytest.fixture(scope="session")
def sumo_data():
    """8 heterogeneous drivers in 2 platoons of 4, simulated by SUMO 1.28 over the exciting leader profile."""
    need_sumo()
    from difftraffic.calibration.sumo_platoons import sumo_platoons

    truth = synthetic.draw_drivers(8, seed=11)
    return truth, sumo_platoons(truth, platoons=2)
