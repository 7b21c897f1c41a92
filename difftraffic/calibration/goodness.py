"""Goodness of fit per vehicle, from the replayed and the observed trajectories.

Over a vehicle's compared samples (all its segments): ``rmse_spacing = sqrt(<(s_sim - s_obs)^2>)`` (m, samples
with a leader), ``nrmse_spacing = rmse_spacing / sqrt(<s_obs^2>)``, Theil's inequality coefficient
``theil_u = rmse_spacing / (sqrt(<s_sim^2>) + sqrt(<s_obs^2>))`` in [0, 1], and ``rmse_speed`` (m/s, all
compared samples). ``s`` is the net gap to the leader's rear; in a platoon the simulated gap uses the
simulated leader.
"""

from __future__ import annotations

import numpy as np
import torch

from difftraffic.calibration.losses import observed_gap
from difftraffic.calibration.segments import Rows

STATS = ("rmse_spacing", "rmse_speed", "nrmse_spacing", "theil_u")


def simulated_gap(rows: Rows, x_sim: torch.Tensor) -> torch.Tensor:
    """Net gap (m) ``[B, N, K+1]`` from simulated front bumpers (replayed slots hold observations)."""
    lead = rows.leader[..., None].expand_as(x_sim)
    return x_sim.gather(1, lead) - rows.length.gather(1, rows.leader)[..., None] - x_sim


def vehicle_stats(rows: Rows, x_sim: torch.Tensor, v_sim: torch.Tensor, n_vehicles: int) -> dict[str, np.ndarray]:
    """:data:`STATS` plus ``samples`` per vehicle index ``[V]`` (NaN / 0 for vehicles never compared)."""
    cmp = rows.compared()
    gapped = cmp & rows.has_leader[..., None]
    veh = rows.vehicle[..., None].expand_as(cmp).clamp(min=0)
    s_obs, s_sim = observed_gap(rows), simulated_gap(rows, x_sim)

    def per_vehicle(values: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
        out = torch.zeros(n_vehicles, dtype=values.dtype, device=values.device)
        out.index_add_(0, veh[mask], values[mask])
        return out.cpu().numpy()

    one = torch.ones_like(s_obs)
    n_s, n_v = per_vehicle(one, gapped), per_vehicle(one, cmp)
    with np.errstate(invalid="ignore", divide="ignore"):
        mse_s = per_vehicle((s_sim - s_obs) ** 2, gapped) / n_s
        ms_obs = per_vehicle(s_obs**2, gapped) / n_s
        ms_sim = per_vehicle(s_sim**2, gapped) / n_s
        rmse_s = np.sqrt(mse_s)
        stats = {
            "rmse_spacing": rmse_s,
            "rmse_speed": np.sqrt(per_vehicle((v_sim - rows.v) ** 2, cmp) / n_v),
            "nrmse_spacing": rmse_s / np.sqrt(ms_obs),
            "theil_u": rmse_s / (np.sqrt(ms_sim) + np.sqrt(ms_obs)),
        }
    stats["samples"] = n_v.astype(np.int64)
    return stats


def vehicle_curves(rows: Rows, x_sim: torch.Tensor, v_sim: torch.Tensor) -> dict[int, list[dict[str, np.ndarray]]]:
    """Per vehicle index, its segments' ``time`` (s), ``s_obs``, ``s_sim`` (m; NaN without a leader),
    ``v_obs``, ``v_sim`` (m/s) over its simulated samples, for plots."""
    s_obs, s_sim = observed_gap(rows).cpu().numpy(), simulated_gap(rows, x_sim).cpu().numpy()
    has = rows.has_leader.cpu().numpy()
    active = rows.active.cpu().numpy()
    sim = rows.simulated.cpu().numpy()
    veh = rows.vehicle.cpu().numpy()
    time, vo, vs = rows.time.cpu().numpy(), rows.v.cpu().numpy(), v_sim.cpu().numpy()
    out: dict[int, list[dict[str, np.ndarray]]] = {}
    for b, i in zip(*np.nonzero(sim)):
        m = active[b, i]
        nan = np.full(int(m.sum()), np.nan)
        out.setdefault(int(veh[b, i]), []).append(
            {
                "time": time[b][m],
                "s_obs": s_obs[b, i][m] if has[b, i] else nan,
                "s_sim": s_sim[b, i][m] if has[b, i] else nan,
                "v_obs": vo[b, i][m],
                "v_sim": vs[b, i][m],
            }
        )
    return out
