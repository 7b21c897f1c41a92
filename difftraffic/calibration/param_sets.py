"""Which parameter set drives each simulated slot, and how sets form independent least-squares groups.

Modes: ``per-driver`` (one set per calibrated vehicle), ``global`` (one set for all), ``classes`` (one set
per value of a class column). A *group* is a connected set of parameter sets that share rows: in open loop
every row holds one simulated vehicle, so each set is its own group; in a platoon a follower's fit depends
on its leaders' parameters, so all sets of a platoon form one group. Group g's parameter vector has
``C = P * blocks`` columns: block j holds the P fitted parameters of the group's j-th set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from difftraffic.calibration.csv_io import TrajectoryError
from difftraffic.calibration.segments import Rows, component_roots
from difftraffic.calibration.validation import CheckedTable

MODES = ("per-driver", "global", "classes")


@dataclass
class ParamLayout:
    """Parameter sets and groups for a batch of rows (see the module docstring).

    ``set_names[u]``; ``set_vehicles[u]``: vehicle indices using set u; ``slot_set [B, N]`` (-1 = none);
    ``set_group [U]``, ``set_block [U]``; ``row_group [B]``; ``columns [B, N, P]`` (-1 = none);
    ``valid [G, C]``: real columns of each group."""

    set_names: list[str]
    set_vehicles: list[list[int]]
    slot_set: torch.Tensor
    set_group: torch.Tensor
    set_block: torch.Tensor
    row_group: torch.Tensor
    columns: torch.Tensor
    valid: torch.Tensor
    n_params: int

    @property
    def n_groups(self) -> int:
        return int(self.valid.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.valid.shape[1])


def vehicle_classes(ct: CheckedTable, column: str) -> list[str]:
    """The class of every vehicle from ``column``; TrajectoryError if it is missing, empty or changes."""
    t = ct.table
    if column not in t.extra:
        have = ", ".join(t.extra) or "none"
        raise TrajectoryError(f"{t.source}: classes: no column {column!r} (extra columns: {have})")
    col = t.extra[column]
    out = []
    for vi, vid in enumerate(ct.vehicles):
        vals = col[ct.start[vi] : ct.stop[vi]]
        if (vals != vals[0]).any():
            i = ct.start[vi] + int(np.argmax(vals != vals[0]))
            raise TrajectoryError(f"{t.source}: vehicle {vid}: {column} changes from {vals[0]!r} to {col[i]!r} "
                                  f"at row {t.row[i]}; a vehicle needs one class")  # fmt: skip
        if not vals[0]:
            raise TrajectoryError(f"{t.source}: vehicle {vid}: {column} is empty at row {t.row[ct.start[vi]]}")
        out.append(str(vals[0]))
    return out


def build_layout(ct: CheckedTable, rows: Rows, mode: str, n_params: int, classes: list[str] | None = None):
    """The :class:`ParamLayout` for ``mode`` (``classes`` = per-vehicle labels for mode ``classes``)."""
    if mode not in MODES:
        raise ValueError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    sim = rows.simulated.cpu().numpy()
    veh = rows.vehicle.cpu().numpy()
    calibrated = sorted(set(veh[sim].tolist()))
    if mode == "per-driver":
        key = {v: ct.vehicles[v] for v in calibrated}
    elif mode == "global":
        key = dict.fromkeys(calibrated, "global")
    elif classes is None:
        raise ValueError("mode 'classes' needs the vehicles' classes")
    else:
        key = {v: classes[v] for v in calibrated}
    order = sorted(set(key.values())) if mode == "classes" else list(dict.fromkeys(key[v] for v in calibrated))
    set_of_key = {k: i for i, k in enumerate(order)}
    names = [f"vehicle {k}" for k in order] if mode == "per-driver" else order
    set_vehicles: list[list[int]] = [[] for _ in set_of_key]
    for v in calibrated:
        set_vehicles[set_of_key[key[v]]].append(v)
    slot_set = np.full(veh.shape, -1, dtype=np.int64)
    for b, i in zip(*np.nonzero(sim)):
        slot_set[b, i] = set_of_key[key[int(veh[b, i])]]
    # groups: union of the sets met in one row
    nset = len(set_of_key)
    used = [[u for u in r if u >= 0] for r in slot_set]
    label = component_roots(nset, [(u, r[0]) for r in used for u in r[1:]])
    roots = sorted(set(label))
    gid = {r: g for g, r in enumerate(roots)}
    set_group = np.array([gid[label[u]] for u in range(nset)], dtype=np.int64)
    set_block = np.zeros(nset, dtype=np.int64)
    blocks = np.zeros(len(roots), dtype=np.int64)
    for u in range(nset):
        set_block[u] = blocks[set_group[u]]
        blocks[set_group[u]] += 1
    ncol = n_params * int(blocks.max())
    row_group = np.array([set_group[[u for u in r if u >= 0][0]] for r in slot_set], dtype=np.int64)
    cols = np.where(
        slot_set[..., None] >= 0,
        set_block[np.maximum(slot_set, 0)][..., None] * n_params + np.arange(n_params),
        -1,
    )
    valid = np.arange(ncol)[None, :] < (blocks[:, None] * n_params)
    dev = rows.x.device
    return ParamLayout(
        set_names=names,
        set_vehicles=set_vehicles,
        slot_set=torch.as_tensor(slot_set, device=dev),
        set_group=torch.as_tensor(set_group, device=dev),
        set_block=torch.as_tensor(set_block, device=dev),
        row_group=torch.as_tensor(row_group, device=dev),
        columns=torch.as_tensor(cols, device=dev),
        valid=torch.as_tensor(valid, device=dev),
        n_params=n_params,
    )
