"""``difftraffic calibrate DATA --out DIR``: the command-line front of :func:`calibrate` (flags in
difftraffic/cli/commands.py). Bad input -> one line naming the file and row or vehicle, exit 2, nothing in DIR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from difftraffic.calibration.bounds import PARAM_NAMES, parse_assignments
from difftraffic.calibration.fitting import calibrate
from difftraffic.calibration.formats import read_trajectories
from difftraffic.errors import UserError
from difftraffic.run.progress import fmt_duration, fmt_num


def _settings(args: argparse.Namespace) -> dict:
    fit = [s.strip() for s in args.fit.split(",") if s.strip()]
    bad = [s for s in fit if s not in PARAM_NAMES]
    if bad or not fit:
        what = bad[0] if bad else args.fit
        raise UserError(f"--fit: {what!r} is not a parameter (choose from {','.join(PARAM_NAMES)})")
    try:
        bounds = parse_assignments(args.bounds, "--bounds", ranges=True) if args.bounds else None
        initial = parse_assignments(args.initial, "--initial", ranges=False) if args.initial else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.classes is not None and args.mode == "global":
        raise UserError("--classes: one parameter set per class cannot be combined with --mode global")
    for flag, value, ok in (("--max-iter", args.max_iter, args.max_iter >= 1), ("--threads", args.threads,
                            args.threads >= 1), ("--plots", args.plots, args.plots >= 0),
                            ("--min-duration", args.min_duration, args.min_duration >= 0)):  # fmt: skip
        if not ok:
            raise UserError(f"{flag}: {value} is out of range")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device: {args.device} requested but CUDA is not available")
    return {"fit": fit, "bounds": bounds, "initial": initial}


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Read, check, fit, write (see the module docstring)."""
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out: {out} exists and is not an empty directory")
    settings = _settings(args)
    torch.set_num_threads(args.threads)
    options = {}
    if args.ngsim_location is not None:
        options["location"] = args.ngsim_location
    if args.frame_rate is not None:
        options["frame_rate"] = args.frame_rate
    table = read_trajectories(args.data, format=args.format, **options)
    try:
        result = calibrate(
            table,
            mode=args.mode,
            classes=args.classes,
            loss=args.loss,
            platoon=args.platoon,
            integrator=args.integrator,
            sstar_clip=args.sstar_clip,
            min_duration=args.min_duration,
            free_road=args.free_road,
            max_iter=args.max_iter,
            device=args.device,
            progress=not args.quiet,
            **settings,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    result.write(out, plots=args.plots > 0, max_plots=max(args.plots, 1))
    info = result.info
    rmse = np.nanmedian(np.array(result.params["rmse_spacing"], dtype=float))
    lines = [
        f"difftraffic calibrate: {len(result.vehicles)} drivers, {info['groups']} parameter set(s) ({info['mode']}, "
        f"{info['loss']} loss, {'platoon' if info['platoon'] else 'open loop'}) in {fmt_duration(info['wall_s'])}",
        f"  converged      {info['converged']}/{info['groups']} after at most {info['iterations']} iterations",
        f"  spacing RMSE   median {fmt_num(rmse)} m",
        f"  wrote          {out}/params.csv, params.yaml, summary.yaml" + (", plots/" if args.plots > 0 else ""),
    ]
    if info["converged"] < info["groups"]:
        lines.append(f"  warning        {info['groups'] - info['converged']} set(s) hit --max-iter (converged=false)")
    print("\n".join(lines), file=sys.stdout)
    return 0
