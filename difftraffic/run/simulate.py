"""``difftraffic simulate SCENARIO --steps N --out DIR``: run a pure-simulation scenario (``task.kind: none``)
and write what a traffic researcher reads from it.

DIR receives ``fcd.csv`` (floating-car data, :mod:`difftraffic.recording.fcd`), ``detectors.csv`` (the
scenario's loops and segments per interval and env), ``fundamental_diagram.png`` and ``time_space.png``
(env 0; :mod:`difftraffic.run.diagrams`), ``episode.npz`` (the viewer replays it: ``difftraffic view
DIR/episode.npz``; a pure simulation has no reward, so its rewards are zeros) and, with ``--format
sumo-fcd``, SUMO FCD XML files ``fcd_env<B>.xml``. Everything is written into a temporary directory next to
DIR and renamed into place at the end: a failed or interrupted run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from difftraffic.errors import UserError
from difftraffic.recording.fcd import FcdCsvWriter, SumoFcdWriter, front_positions
from difftraffic.recording.rollout_episode import rollout_episode
from difftraffic.run.factory import check_positive, check_seed, resolve_device, torch_dtype
from difftraffic.run.progress import ProgressLine, fmt_count
from difftraffic.scenario.loader import Scenario, load_scenario
from difftraffic.scenario.schema import ScenarioError
from difftraffic.sim.measure import Detectors, LoopSpec, Readings, slot_fields
from difftraffic.tasks.placement import Fleet

DETECTOR_COLUMNS = (
    "env", "detector", "kind", "lane", "begin", "end", "n_contrib", "n_entered", "flow", "occupancy", "speed",
    "harmonic_speed", "length", "density", "vehicle_time", "distance",
)  # fmt: skip
"""detectors.csv: loops fill n_contrib .. length (SUMO E1: nVehContrib, nVehEntered, flow veh/h, occupancy %,
speed = time-mean m/s, harmonicMeanSpeed m/s, length m); segments fill flow (veh/h/lane), speed (space-mean,
m/s), density (veh/km/lane), vehicle_time (veh s) and distance (veh m). Empty cells do not apply."""


def cmd_simulate(args: argparse.Namespace) -> int:
    check_positive("--steps", args.steps)
    check_positive("--envs", args.envs)
    check_seed(args.seed)
    device = resolve_device(args.device)
    dtype = torch_dtype(args.dtype)
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: exists and is not an empty directory")
    try:
        sc = load_scenario(args.scenario)
        if sc.kind != "none":
            raise UserError(f"{sc.path}: task.kind: is {sc.kind!r}; simulate runs pure-simulation scenarios "
                            "(task.kind: none); train tasks with 'difftraffic run'")  # fmt: skip
        sim, state = sc.make_sim(num_envs=args.envs, device=device, dtype=dtype, seed=args.seed)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    with _staging(out) as tmp:
        written = simulate_to(sc, sim, state, args.steps, tmp, args.format, args.quiet, args.seed)
    if not args.quiet:
        print(f"wrote {out}: " + ", ".join(written))
    else:
        print(out)
    return 0


@contextlib.contextmanager
def _staging(out: Path):
    """A temporary directory beside ``out`` that becomes ``out`` when the block succeeds; else it is removed,
    with the parent directories this created."""
    created = None
    if not out.parent.exists():
        created = out.parent.resolve()
        while not created.parent.exists():
            created = created.parent
        out.parent.mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary directory
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # an empty directory the user made
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _fleet(sc: Scenario, n: int) -> tuple[list[str], np.ndarray]:
    """Per slot: the driver group's name (the FCD ``type``) and width (m) where the fleet fills the slots."""
    cfg = sc.config
    lanes = cfg.road.num_lanes if hasattr(cfg, "road") else 1
    fleet = Fleet(cfg.groups, lanes)
    if len(fleet) != n:
        return ["DEFAULT_VEHTYPE"] * n, np.full(n, 2.0)
    return [cfg.groups[g].name for g in fleet.group], np.asarray(fleet.width, np.float64)


def simulate_to(sc: Scenario, sim, state, steps: int, out: Path, fmt: str, quiet: bool, seed: int) -> list[str]:
    """Run ``steps`` steps from ``state`` and write every output into ``out``; returns the written names."""
    b, n = state.v.shape
    dets = Detectors(sim, state, sc.detectors) if sc.detectors else None
    length = np.broadcast_to(torch.as_tensor(state.idm.length, dtype=torch.float64).cpu().numpy(), (b, n))
    ring = None if state.ring_length is None else state.ring_length.cpu().numpy()
    frames: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "v", "accel", "lane", "active", "ids")}
    progress = ProgressLine(steps, quiet=quiet)
    t0 = time.monotonic()
    with torch.no_grad(), open(out / "fcd.csv", "w", newline="") as fh:
        fcd = FcdCsvWriter(fh)
        _record(frames, fcd, state, 0.0, length, sim, ring)
        for k in range(1, steps + 1):
            state = sim.step(state)
            if dets is not None:
                dets.observe(state)
            _record(frames, fcd, state, k * sim.dt, length, sim, ring)
            rate = k / max(time.monotonic() - t0, 1e-9)
            progress.show(k, f"step {k}/{steps} | {k * sim.dt:.1f} s simulated | {fmt_count(rate * b)} env-steps/s"
                             f" | ETA {progress.eta(k)}")  # fmt: skip
    arr = {key: np.stack(val) for key, val in frames.items()}
    written = [f"fcd.csv ({fcd.rows} rows)"]
    readings = dets.readings() if dets is not None else Readings([])
    write_detectors_csv(out / "detectors.csv", readings)
    written.append(f"detectors.csv ({len(readings.series)} detectors)")
    types, widths = _fleet(sc, n)
    from difftraffic.run.diagrams import fundamental_diagram, time_space_diagram  # matplotlib: only here

    title = f"{sc.name}: {b} env(s), {steps} steps of {sim.dt:g} s, seed {seed}"
    if readings.series:
        fundamental_diagram(readings, out / "fundamental_diagram.png", f"{sc.name}: fundamental diagram")
        written.append("fundamental_diagram.png")
    front = front_positions(sim.road, arr["x"], length, ring)
    t = np.arange(steps + 1) * sim.dt
    loops = [(s.lane, s.position) for s in sc.detectors if isinstance(s, LoopSpec)]
    time_space_diagram(t, front[:, 0], arr["v"][:, 0], arr["lane"][:, 0], arr["active"][:, 0], sim.road.as_dict(),
                       out / "time_space.png", f"{title}: time-space diagram (env 0)", loops)  # fmt: skip
    written.append("time_space.png")
    meta = {"scenario": sc.name, "task": "none", "episode_length": steps, "seed": seed,
            "detectors": [_spec_meta(s) for s in sc.detectors]}  # fmt: skip
    all_active = bool(arr["active"].all())
    active = None if all_active else arr["active"]
    ep = rollout_episode(sim.road, sim.dt, arr["x"], arr["v"], arr["accel"], arr["lane"], active=active,
                         length=length[0], width=widths, meta=meta)  # fmt: skip
    ep.save(out / "episode.npz")
    written.append("episode.npz")
    if fmt == "sumo-fcd":
        for env in range(b):
            with open(out / f"fcd_env{env}.xml", "w") as fh:
                xml = SumoFcdWriter(fh, sim.road, types)
                for k in range(steps + 1):
                    xml.write(k * sim.dt, front[k, env], arr["v"][k, env], arr["lane"][k, env],
                              arr["active"][k, env], arr["ids"][k, env])  # fmt: skip
                xml.close()
        written.append(f"fcd_env0.xml .. fcd_env{b - 1}.xml" if b > 1 else "fcd_env0.xml")
    return written


def _record(frames, fcd: FcdCsvWriter, state, t: float, length: np.ndarray, sim, ring) -> None:
    active, ids = slot_fields(state)
    x = state.x.detach().cpu().numpy()
    v = state.v.detach().to(torch.float64).cpu().numpy()
    acc = np.zeros_like(v) if state.accel is None else state.accel.detach().to(torch.float64).cpu().numpy()
    lane, active, ids = state.lane.cpu().numpy(), active.cpu().numpy(), ids.cpu().numpy()
    for key, val in zip(("x", "v", "accel", "lane", "active", "ids"), (x, v, acc, lane, active, ids)):
        frames[key].append(val)
    fcd.write(t, front_positions(sim.road, x, length, ring), v, acc, lane, active, ids)


def _spec_meta(spec) -> dict:
    """A detector as plain data for the episode's meta (the viewer draws loops and segments)."""
    if isinstance(spec, LoopSpec):
        return {"name": spec.name, "kind": "loop", "lane": spec.lane, "position": spec.position}
    return {"name": spec.name, "kind": "segment", "lane": spec.lane, "start": spec.start, "end": spec.end}


def write_detectors_csv(path: Path, readings: Readings) -> None:
    """``detectors.csv``: one row per detector, interval and env (columns :data:`DETECTOR_COLUMNS`)."""
    lines = [",".join(DETECTOR_COLUMNS)]
    for series in readings.series:
        vals = {k: v.detach().cpu().numpy() for k, v in series.values.items()}
        lane = "all" if series.spec.lane is None else str(series.spec.lane)
        for i, (begin, end) in enumerate(zip(series.begin, series.end)):
            for env in range(next(iter(vals.values())).shape[1]):
                row = {"env": str(env), "detector": series.spec.name, "kind": series.kind, "lane": lane,
                       "begin": f"{begin:.4f}", "end": f"{end:.4f}"}  # fmt: skip
                for key, val in vals.items():
                    x = val[i, env]
                    row[key] = str(int(x)) if key.startswith("n_") else f"{float(x):.6f}"
                lines.append(",".join(row.get(c, "") for c in DETECTOR_COLUMNS))
    path.write_text("\n".join(lines) + "\n")
