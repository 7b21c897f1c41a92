"""CalibrationResult: the fitted parameters per driver and per parameter set, and the files they are written to.

``DIR/params.csv``: one row per calibrated vehicle -- ``vehicle_id, set, v0, T, a, b, s0, delta, length``, the
goodness of fit (``rmse_spacing`` m, ``rmse_speed`` m/s, ``nrmse_spacing``, ``theil_u``), a standard error per
fitted parameter (``se_<name>``, empty for fixed ones), ``samples``, ``segments``, the set's ``loss``,
``iterations``, ``converged`` and the stopping ``reason``. ``DIR/params.yaml``: a scenario ``drivers`` section,
one group per parameter set. ``DIR/summary.yaml``: settings and the work done. ``DIR/plots/``: figures.
Everything is written to a temporary directory first and renamed into place.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from difftraffic.calibration.bounds import PARAM_NAMES
from difftraffic.calibration.goodness import STATS
from difftraffic.calibration.levenberg import REASONS
from difftraffic.sim.idm import IDMParams

CSV_COLUMNS = (
    "vehicle_id", "set", *PARAM_NAMES, "length", *STATS, *(f"se_{n}" for n in PARAM_NAMES),
    "samples", "segments", "loss", "iterations", "converged", "reason",
)  # fmt: skip


@dataclass
class CalibrationResult:
    """``params``: params.csv's columns ``{name: list}``; ``sets``: one dict per parameter set (name, vehicles,
    idm incl. length, se, loss, iterations, converged, reason); ``curves``: per vehicle id, its segments'
    observed and simulated gap and speed series (for plots); ``info``: settings and the work done."""

    params: dict[str, list]
    sets: list[dict]
    curves: dict[str, list[dict[str, np.ndarray]]] = field(repr=False)
    info: dict

    @property
    def vehicles(self) -> list[str]:
        return list(self.params["vehicle_id"])

    def row(self, vehicle_id: str | int) -> dict:
        """params.csv's row of one vehicle."""
        i = self.vehicles.index(str(vehicle_id))
        return {k: v[i] for k, v in self.params.items()}

    def idm_params(self) -> IDMParams:
        """The calibrated drivers' IDMParams as ``[1, drivers]`` tensors (float64), in params.csv order."""
        cols = {k: torch.tensor([self.params[k]], dtype=torch.float64) for k in (*PARAM_NAMES, "length")}
        return IDMParams(**cols)

    def driver_table(self) -> dict:
        """``{"drivers": {"groups": [...]}}``: a scenario YAML's driver section, one group per parameter set."""
        groups = [{"name": s["name"], "count": len(s["vehicles"]), "idm": dict(s["idm"])} for s in self.sets]
        return {"drivers": {"groups": groups}}

    def yaml_text(self) -> str:
        i = self.info
        head = [
            f"# IDM drivers calibrated by difftraffic from {i['source']}",
            f"# mode {i['mode']}, loss {i['loss']}, {'platoon (closed loop)' if i['platoon'] else 'open loop'}, "
            f"integrator {i['integrator']}, dt {i['dt']:g} s; fitted {','.join(i['fit'])}",
            "# A scenario's `drivers` section (docs/scenarios.md): copy it into a scenario file, or load it and",
            "# set scenario['drivers'] = yaml.safe_load(open('params.yaml'))['drivers']. Units: m, s, m/s, m/s^2.",
        ]
        body = yaml.safe_dump(self.driver_table(), sort_keys=False, default_flow_style=None, width=200)
        return "\n".join(head) + "\n" + body

    def write_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for i in range(len(self.vehicles)):
                w.writerow([_cell(self.params[c][i]) for c in CSV_COLUMNS])

    def write(self, out: str | Path, plots: bool = True, max_plots: int = 12) -> Path:
        """Write params.csv, params.yaml, summary.yaml and (``plots``) plots/*.png into ``out``, atomically:
        ``out`` must not exist or be empty; nothing is left there if writing fails."""
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"{out}: exists and is not an empty directory")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            self.write_csv(tmp / "params.csv")
            (tmp / "params.yaml").write_text(self.yaml_text())
            summary = {"settings_and_work": self.info, "sets": _plain(self.sets)}
            (tmp / "summary.yaml").write_text(yaml.safe_dump(_plain(summary), sort_keys=False))
            if plots:
                from difftraffic.calibration.fit_plots import write_plots

                write_plots(self, tmp / "plots", max_plots)
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
            raise
        return out


def _cell(v) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else repr(float(v))
    return str(v)


def _plain(obj):
    """YAML-safe copy (numpy scalars/arrays to Python, NaN to None)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


def assemble(ct, rows, layout, box, phys, se, lm, stats, curves, info) -> CalibrationResult:
    """Build the result from the solution ``phys [G, C]`` / ``se [G, C]`` (physical units) of the layout."""
    p = layout.n_params
    phys, se = phys.cpu().numpy(), se.cpu().numpy()
    group, block = layout.set_group.cpu().numpy(), layout.set_block.cpu().numpy()
    conv, iters = lm.converged.cpu().numpy(), lm.iterations.cpu().numpy()
    reason, loss = lm.reason.cpu().numpy(), lm.loss.cpu().numpy()
    t = ct.table
    lengths = [float(np.median(t.length[a:b])) for a, b in zip(ct.start, ct.stop)]
    sim, veh = rows.simulated.cpu().numpy(), rows.vehicle.cpu().numpy()
    segments = np.bincount(veh[sim], minlength=len(ct.vehicles))
    sets, set_of_vehicle = [], {}
    for u, (name, members) in enumerate(zip(layout.set_names, layout.set_vehicles)):
        g, sl = group[u], slice(block[u] * p, (block[u] + 1) * p)
        values = dict(box.initial)
        errors = dict.fromkeys(PARAM_NAMES, float("nan"))
        for name_p, val, err in zip(box.fit, phys[g, sl], se[g, sl]):
            values[name_p], errors[name_p] = float(val), float(err)
        idm = {k: float(values[k]) for k in PARAM_NAMES}
        idm["length"] = float(np.median([lengths[v] for v in members]))
        sets.append({
            "name": name, "vehicles": [ct.vehicles[v] for v in members], "idm": idm, "se": errors,
            "loss": float(loss[g]), "iterations": int(iters[g]), "converged": bool(conv[g]),
            "reason": REASONS[int(reason[g])],
        })  # fmt: skip
        for v in members:
            set_of_vehicle[v] = u
    params: dict[str, list] = {c: [] for c in CSV_COLUMNS}
    for v in sorted(set_of_vehicle):
        s = sets[set_of_vehicle[v]]
        row = {"vehicle_id": ct.vehicles[v], "set": s["name"], **{k: s["idm"][k] for k in PARAM_NAMES}}
        row["length"] = lengths[v]
        row.update({k: float(stats[k][v]) for k in STATS})
        row.update({f"se_{k}": s["se"][k] for k in PARAM_NAMES})
        row.update(samples=int(stats["samples"][v]), segments=int(segments[v]), loss=s["loss"],
                   iterations=s["iterations"], converged=s["converged"], reason=s["reason"])  # fmt: skip
        for c in CSV_COLUMNS:
            params[c].append(row[c])
    named_curves = {ct.vehicles[v]: c for v, c in curves.items()}
    return CalibrationResult(params=params, sets=sets, curves=named_curves, info=info)
