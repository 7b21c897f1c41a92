"""Calibration by gradient (batched Levenberg-Marquardt) vs CMA-ES, the field's gradient-free method.

The same data (platoons of 8 IDM followers simulated by SUMO 1.28 through libsumo -- TrafficSim when libsumo
is missing -- with known heterogeneous parameters, the exciting leader profile, Gaussian measurement noise),
the same objective (spacing RMSE, open loop, per driver) and the same replay (difftraffic's IDM step) for
both methods. ``calibrate`` runs to convergence; its per-driver loss L sets the target both methods are
timed to: ``L * (1 + rtol)`` (for the gradient method, the first iteration at which every driver is there).
CMA-ES (``cma``, [0, 1]-scaled box, sigma0 0.25, seeded, population 8 evaluated in one batched replay) runs
  * sequentially, one driver after another (the common practice): for more than --cma-sample drivers it is
    timed on an evenly spread sample and scaled to all drivers (its drivers are independent and additive);
  * batched over drivers: every driver's CMA-ES steps together, all populations in one replay per
    generation -- generous to CMA-ES, and shows how much of the speed-up is batching.
Prints wall times, simulations (trajectories replayed) and speed-ups. Run under the shared lock:

    flock /work/heavy.lock .venv/bin/python benchmarks/calibration.py
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from difftraffic.calibration import calibrate, synthetic
from difftraffic.calibration.cmaes import calibrate_cmaes

NAMES = ("v0", "T", "a", "b", "s0")


def make_data(drivers: int, seed: int, pos_sd: float, speed_sd: float, source: str):
    truth = synthetic.draw_drivers(drivers, seed=seed)
    platoons = max(1, drivers // 8)
    if source == "sumo":
        from difftraffic.calibration.sumo_platoons import sumo_platoons

        table = sumo_platoons(truth, platoons=platoons)
    else:
        table = synthetic.simulate_platoons(truth, platoons=platoons)
    return truth, synthetic.add_noise(table, pos_sd, speed_sd, seed=seed + 1), drivers // platoons


def _pct(x: float) -> str:
    """A relative error as a percentage, in e-notation when tiny (exact data)."""
    return f"{100 * x:.2f}%" if x >= 1e-4 else f"{x:.1e}"


def rel_error(est: dict, truth: dict, ids: list[str], per: int) -> dict:
    out = {}
    for k in NAMES:
        true = np.array([truth[k][(int(v) // 1000) * per + int(v) % 1000 - 1] for v in ids])
        out[k] = np.abs(np.asarray(est[k]) / true - 1.0)
    return out


def run(drivers: int, args) -> None:
    truth, table, per = make_data(drivers, args.seed, args.position_noise, args.speed_noise, args.source)
    trace = []  # (seconds since the start, loss per set) after every iteration
    t0 = time.perf_counter()
    grad = calibrate(table, device=args.device, progress=lambda it, l, r: trace.append((time.perf_counter() - t0,
                                                                                       l.clone())))  # fmt: skip
    t_conv = time.perf_counter() - t0
    loss = np.array(grad.params["loss"])
    targets = loss * (1.0 + args.rtol)
    # the same stopping rule as CMA-ES's: the first moment every driver is within rtol of the final loss
    t_grad = next(t for t, l in trace if bool((l.cpu().numpy() <= targets).all()))
    ids = grad.vehicles
    err = rel_error(grad.params, truth, ids, per)
    sims_grad = grad.info["jacobian_evals"] + grad.info["replay_evals"] + 2 * len(ids)
    print(f"\n## {drivers} drivers ({args.source}, noise {args.position_noise} m / {args.speed_noise} m/s, "
          f"{table.time.max():.0f} s at dt 0.1 s)")  # fmt: skip
    print(f"gradient (LM): {t_grad:.1f} s to reach its final loss x(1+{args.rtol:g}) for every driver, "
          f"{t_conv:.1f} s to converge (incl. standard errors), {grad.info['iterations']} iterations at most, "
          f"{grad.info['sensitivity_passes']} batched sensitivity passes + {grad.info['replays']} batched replays, "
          f"{sims_grad / len(ids):.0f} simulations per driver (a sensitivity pass counts as one), "
          f"{grad.info['converged']}/{len(ids)} converged")  # fmt: skip
    print("  recovery (median / max relative error): "
          + ", ".join(f"{k} {_pct(np.median(e))} / {_pct(e.max())}" for k, e in err.items()))  # fmt: skip
    if args.no_cma:
        return
    sample = ids if drivers <= args.cma_sample else [ids[i] for i in np.linspace(0, drivers - 1, args.cma_sample)
                                                      .round().astype(int)]  # fmt: skip
    pick = [ids.index(v) for v in sample]
    seq = calibrate_cmaes(table, targets=targets[pick], only=sample, seed=args.seed, max_evals=args.max_evals,
                          device=args.device)  # fmt: skip
    reached = seq.hit_evals >= 0
    scale = drivers / len(sample)
    per_driver_s = np.where(reached, seq.hit_s, np.nan)
    t_seq = float(np.nansum(per_driver_s) * scale) if reached.all() else float("nan")
    t_seq_all = seq.wall_s * scale
    note = "" if scale == 1 else f" (timed on {len(sample)} drivers, x{scale:g})"
    print(f"CMA-ES sequential: {reached.sum()}/{len(sample)} drivers reached the gradient's loss x(1+{args.rtol:g}); "
          f"{t_seq:.1f} s to reach it{note} ({t_seq_all:.1f} s with CMA-ES's own stop), "
          f"median {np.median(seq.hit_evals[reached]) if reached.any() else float('nan'):.0f} simulations per "
          f"driver (max {seq.hit_evals.max()})")  # fmt: skip
    bat = calibrate_cmaes(table, targets=targets, seed=args.seed, max_evals=args.max_evals, batched=True,
                          device=args.device)  # fmt: skip
    breached = bat.hit_evals >= 0
    t_bat = float(np.nanmax(np.where(breached, bat.hit_s, np.nan))) if breached.all() else float("nan")
    print(f"CMA-ES batched over drivers: {breached.sum()}/{drivers} reached it; {t_bat:.1f} s until the last did, "
          f"median {np.median(bat.hit_evals[breached]) if breached.any() else float('nan'):.0f} simulations per "
          f"driver")  # fmt: skip
    gap = np.max(np.abs(seq.params / np.array([[grad.params[k][i] for k in NAMES] for i in pick]) - 1.0))
    print(f"  CMA-ES (sequential) parameters vs the gradient's: max relative difference {100 * gap:.2f}%")
    print(
        f"speed-up to equal loss: {t_seq / t_grad:.1f}x vs sequential CMA-ES, {t_bat / t_grad:.1f}x vs batched "
        f"CMA-ES; simulations per driver {np.median(seq.hit_evals[reached]) / (sims_grad / len(ids)):.0f}x fewer"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drivers", type=int, nargs="+", default=[8, 200])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--position-noise", type=float, default=0.1, help="m (default 0.1)")
    ap.add_argument("--speed-noise", type=float, default=0.1, help="m/s (default 0.1)")
    ap.add_argument("--rtol", type=float, default=1e-3, help="CMA-ES target: gradient loss x (1 + rtol)")
    ap.add_argument("--cma-sample", type=int, default=16, help="drivers timed for sequential CMA-ES")
    ap.add_argument("--max-evals", type=int, default=6000)
    ap.add_argument("--source", choices=("sumo", "difftraffic"), default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-cma", action="store_true", help="only the gradient method (e.g. recovery on exact data)")
    args = ap.parse_args()
    if args.source is None:
        try:
            import libsumo  # noqa: F401

            args.source = "sumo"
        except ImportError:
            args.source = "difftraffic"
    torch.set_num_threads(1)
    print(f"# calibration benchmark: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"1 thread, device {args.device}")  # fmt: skip
    for d in args.drivers:
        run(d, args)


if __name__ == "__main__":
    main()
