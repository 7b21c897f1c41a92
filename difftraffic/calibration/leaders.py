"""Leaders from lane and position: at every time step, the nearest vehicle ahead in the same lane."""

from __future__ import annotations

import numpy as np


def derive_leaders(vehicle_id: np.ndarray, step: np.ndarray, lane: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``leader_id`` per row ("" = none): among the rows of the same ``step`` (int time index) and ``lane``, the
    one with the next larger front-bumper ``position`` (m). All inputs are ``[rows]``."""
    lane_code = np.unique(lane, return_inverse=True)[1]
    order = np.lexsort((position, lane_code, step))
    s, ln = step[order], lane_code[order]
    same = np.zeros(len(order), dtype=bool)
    same[:-1] = (s[1:] == s[:-1]) & (ln[1:] == ln[:-1])
    leader_sorted = np.where(same, np.roll(vehicle_id[order], -1), "")
    out = np.empty(len(order), dtype=leader_sorted.dtype)
    out[order] = leader_sorted
    return out.astype(str)
