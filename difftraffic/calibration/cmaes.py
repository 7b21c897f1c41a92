"""The field's gradient-free baseline: CMA-ES (package ``cma``) on the same objective through the same replay.

Per driver (open loop, per-driver mode) CMA-ES searches the fitted parameters scaled to [0, 1] in their boxes
(``bounds=[0, 1]``, ``sigma0 = 0.25``, seeded), as calibration studies do. Each generation's population is
evaluated in one batched replay. ``sequential`` calibrates drivers one after another (the common practice,
one optimisation per leader-follower pair); ``batched`` steps every driver's CMA-ES together, all
populations in one replay per generation (generous to CMA-ES: its cost then barely grows with drivers).
A driver stops at its ``target`` loss, at CMA-ES's own termination, or after ``max_evals`` evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from difftraffic.calibration.bounds import DEFAULT_FIT, ParamBox
from difftraffic.calibration.carfollow import make_sim, replay_loss
from difftraffic.calibration.losses import Residuals
from difftraffic.calibration.param_sets import build_layout
from difftraffic.calibration.segments import open_loop_rows
from difftraffic.calibration.validation import check_table


@dataclass
class CMAResult:
    """Per calibrated driver (in vehicle order): ``params [D, P]`` (physical), ``loss [D]``, ``evals [D]``
    (simulated trajectories), ``hit_evals [D]`` / ``hit_s [D]`` (evaluations and seconds until ``target``
    was first reached, -1 / NaN if never); ``wall_s`` in total; ``vehicles`` ids."""

    vehicles: list[str]
    params: np.ndarray
    loss: np.ndarray
    evals: np.ndarray
    hit_evals: np.ndarray
    hit_s: np.ndarray
    wall_s: float


class _Driver:
    """One driver's CMA-ES state and bookkeeping."""

    def __init__(self, cma, x0, sigma0, seed, max_evals, target):
        opts = {"bounds": [0.0, 1.0], "seed": seed, "verbose": -9, "maxfevals": max_evals}
        self.es = cma.CMAEvolutionStrategy(list(x0), sigma0, opts)
        self.best, self.best_x = np.inf, np.asarray(x0, dtype=float)
        self.evals, self.hit_evals, self.hit_s = 0, -1, float("nan")
        self.target, self.max_evals = target, max_evals

    def done(self) -> bool:
        return bool(self.es.stop()) or self.hit_evals >= 0 or self.evals >= self.max_evals

    def tell(self, xs, losses, elapsed: float) -> None:
        f = [float(v) if np.isfinite(v) else 1e30 for v in losses]
        self.es.tell(xs, f)
        self.evals += len(f)
        i = int(np.argmin(f))
        if f[i] < self.best:
            self.best, self.best_x = f[i], np.asarray(xs[i], dtype=float)
        if self.hit_evals < 0 and self.best <= self.target:
            self.hit_evals, self.hit_s = self.evals, elapsed


def calibrate_cmaes(
    table,
    fit: Sequence[str] = DEFAULT_FIT,
    loss: str = "spacing",
    integrator: str = "euler",
    bounds=None,
    initial=None,
    targets: np.ndarray | None = None,
    sigma0: float = 0.25,
    seed: int = 0,
    max_evals: int = 5000,
    batched: bool = False,
    min_duration: float = 2.0,
    only: Sequence[str] | None = None,
    device="cpu",
) -> CMAResult:
    """CMA-ES per driver (see the module docstring); ``targets [D]``: loss (mean squared, as in
    :func:`~difftraffic.calibration.calibrate`) at which each driver stops (None: run to termination);
    ``only``: calibrate just these vehicle ids (``targets`` then in that order)."""
    import cma

    box = ParamBox.make(fit, bounds, initial)
    res = Residuals(loss)
    ct = check_table(table)
    sim = make_sim(ct.dt, integrator)
    rows = open_loop_rows(ct, min_steps=max(1, int(np.ceil(min_duration / ct.dt - 1e-9))), device=device)
    layout = build_layout(ct, rows, "per-driver", len(box.fit))
    norm = torch.zeros(layout.n_groups, dtype=rows.x.dtype, device=rows.x.device)
    norm.index_add_(0, layout.row_group, res.normaliser(rows))
    x0 = box.to_unit(box.initial_fitted()).numpy()
    names = [name.removeprefix("vehicle ") for name in layout.set_names]
    chosen = list(range(layout.n_groups)) if only is None else [names.index(str(v)) for v in only]
    targets = np.full(len(chosen), -np.inf) if targets is None else np.asarray(targets, dtype=float)
    drivers = {g: _Driver(cma, x0, sigma0, seed + g, max_evals, t) for g, t in zip(chosen, targets)}
    group_rows = {g: (layout.row_group == g).nonzero()[:, 0] for g in chosen}
    base = box.full(box.initial_fitted(rows.x.dtype, rows.x.device))
    fit_index = box.fit_index
    t0 = time.perf_counter()

    def evaluate(batch: list[tuple[int, list]]) -> list[np.ndarray]:
        """Losses of the candidate lists ``[(group, [x, ...]), ...]`` in one replay."""
        idx, thetas, owner = [], [], []
        for j, (g, xs) in enumerate(batch):
            ri = group_rows[g]
            cand = box.from_unit(torch.as_tensor(np.asarray(xs), dtype=rows.x.dtype, device=rows.x.device))
            for c in range(len(xs)):
                theta = base.expand(len(ri), rows.shape[1], -1).clone()
                sim_slots = rows.simulated[ri]
                theta[..., fit_index] = torch.where(sim_slots[..., None], cand[c], theta[..., fit_index])
                idx.append(ri)
                thetas.append(theta)
                owner.append(torch.full((len(ri),), j * 100000 + c, dtype=torch.long, device=rows.x.device))
        ri_all = torch.cat(idx)
        ssr = replay_loss(sim, rows.take(ri_all), torch.cat(thetas), res)
        own = torch.cat(owner)
        out = []
        for j, (g, xs) in enumerate(batch):
            vals = [float(ssr[own == j * 100000 + c].sum() / norm[g]) for c in range(len(xs))]
            out.append(np.array(vals))
        return out

    if batched:
        while not all(d.done() for d in drivers.values()):
            asks = [(g, d.es.ask()) for g, d in drivers.items() if not d.done()]
            for (g, xs), f in zip(asks, evaluate(asks)):
                drivers[g].tell(xs, f, time.perf_counter() - t0)
    else:
        for g, d in drivers.items():
            start = time.perf_counter()
            while not d.done():
                xs = d.es.ask()
                d.tell(xs, evaluate([(g, xs)])[0], time.perf_counter() - start)
    wall = time.perf_counter() - t0
    runs = [drivers[g] for g in chosen]
    params = box.from_unit(torch.as_tensor(np.stack([d.best_x for d in runs]))).numpy()
    return CMAResult(
        vehicles=[names[g] for g in chosen],
        params=params,
        loss=np.array([d.best for d in runs]),
        evals=np.array([d.evals for d in runs]),
        hit_evals=np.array([d.hit_evals for d in runs]),
        hit_s=np.array([d.hit_s for d in runs]),
        wall_s=wall,
    )
