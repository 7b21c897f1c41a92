"""Simulator throughput: vehicle-steps/s of TrafficSim against a naive eager IDM step, same run.

    .venv/bin/python benchmarks/sim_throughput.py [--threads 1 2] [--quick]
    python benchmarks/sim_throughput.py --device cuda --threads 1 --workloads 1024x100 4096x1000 1x1000000 \
        --no-pacecar --json sim.json                 # what benchmarks/gpu_check.sh runs on a GPU

For each workload (envs x cars on a 10-lane straight road, IDM only, float32, dt 0.1, Euler) it
prints forward (no graph) and forward+backward (a 32-step window kept in the graph, then one
backward of a loss on the final x and v) throughput of

* naive:    benchmarks/naive_idm.py (argsort every step, plain autograd),
* eager:    TrafficSim(backend="eager"), the reference path,
* fused:    TrafficSim(backend="fused"), cached topology + one autograd node with a hand backward,
* compiled: TrafficSim(backend="compiled"), the fused kernels through inductor (compile time is
  excluded and printed separately),

with each path's ratio to the naive step and fwd+bwd / fwd. With 1 thread the figures use process CPU
time, which other processes on a shared machine disturb far less than wall time; with more threads
CPU time adds up the threads, so wall time is used (the last column is always wall time).
Each figure is the fastest of several
rounds of a 32-step window (forward and forward+backward alternating); the machine is shared, so
compare ratios from one run, not absolute numbers across runs.
The last row is the per-step latency of PaceCarEnv (64 envs, 10 lanes) from
benchmarks/pacecar_latency.py when that script exists.

``--device cuda`` times on the GPU (wall clock, the device synchronised around every timed window);
``--workloads BxN ...`` and ``--paths`` choose what runs; ``--json PATH`` also writes every figure
(seconds per step, vehicle-steps/s) as JSON, rewritten after each workload. A path that fails (e.g. out
of device memory) is reported as failed and the others go on.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from device_timing import device_arg, device_info, sync, write_json  # noqa: E402
from naive_idm import naive_idm_step  # noqa: E402

import difftraffic as dt  # noqa: E402

WORKLOADS = [(64, 11), (1024, 100), (4096, 100), (1, 10_000), (16, 10_000)]
PATHS = ("naive", "eager", "fused", "compiled")
LANES = 10
WINDOW = 32  # steps kept in the graph for forward+backward


def initial(b: int, n: int, device: str = "cpu"):
    """Cars spread over 10 lanes at ~30 m spacing with jitter, speeds 10-20 m/s (float32)."""
    g = torch.Generator().manual_seed(0)
    lane = torch.arange(n).remainder(LANES).expand(b, n).contiguous()
    x = (torch.arange(n) // LANES).to(torch.float64) * 30.0
    x = x.expand(b, n) + torch.rand(b, n, generator=g, dtype=torch.float64) * 10.0
    v = 10.0 + 10.0 * torch.rand(b, n, generator=g)
    return x.to(device), v.to(device), lane.to(device)


def naive_runner(b: int, n: int, steps: int, grad: bool, device: str = "cpu"):
    x0, v0, lane = initial(b, n, device)

    def run():
        v = v0.clone().requires_grad_(grad)
        x = x0.clone()
        with torch.set_grad_enabled(grad):
            for _ in range(steps):
                x, v = naive_idm_step(x, v, lane)
            if grad:
                (x.sum() + v.sum()).backward()

    return run


def sim_runner(b: int, n: int, steps: int, grad: bool, backend: str, device: str = "cpu"):
    x0, v0, lane = initial(b, n, device)
    sim = dt.TrafficSim(dt.Road(num_lanes=LANES, length=1e6), dt=0.1, integrator="euler", backend=backend)
    state0 = sim.step(sim.init_state(x0, v0, lane))  # builds the cached topology

    def run():
        st = state0
        if grad:
            st = dt.SimState(x=st.x, v=st.v.clone().requires_grad_(True), lane=st.lane, idm=st.idm, topo=st.topo)
        with torch.set_grad_enabled(grad):
            for _ in range(steps):
                st = sim.step(st)
            if grad:
                (st.x.sum() + st.v.sum()).backward()

    return run


def measure(b: int, n: int, rounds: int, device: str = "cpu", paths: tuple[str, ...] = PATHS) -> dict:
    """Seconds per step, forward and forward+backward, for every path.

    Path by path, the forward and the forward+backward runner alternate for ``rounds`` rounds and the
    fastest round counts: on a shared machine the minimum is the least disturbed estimate. (Paths are
    not interleaved with each other: the naive graph's memory churn would make the others pay page
    faults that belong to it.) Both runners step WINDOW times. A path that raises (out of memory, a
    compile error that is not caught) gets ``res[("error", path)]`` and no timings.
    """
    res = {}
    for path in paths:
        try:
            res.update(_measure_path(b, n, rounds, device, path))
        except (RuntimeError, MemoryError) as exc:
            res[("error", path)] = f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0][:300]}"
        finally:
            if torch.device(device).type == "cuda":
                torch.cuda.empty_cache()
    return res


def _measure_path(b: int, n: int, rounds: int, device: str, path: str) -> dict:
    res = {}
    runners = {}
    for grad in (False, True):
        if path == "naive":
            run = naive_runner(b, n, WINDOW, grad, device)
        else:
            run = sim_runner(b, n, WINDOW, grad, path, device)
        sync(device)
        t = time.perf_counter()
        run()  # warm-up; compiles (or loads inductor's cache) on the compiled path
        sync(device)
        res[("first_s", path, grad)] = time.perf_counter() - t
        runners[grad] = run
    times = {False: [], True: []}
    cpu = {False: [], True: []}
    for _ in range(rounds):
        for grad, run in runners.items():
            sync(device)
            t, c = time.perf_counter(), time.process_time()
            run()
            sync(device)
            times[grad].append(time.perf_counter() - t)
            cpu[grad].append(time.process_time() - c)
    for grad in (False, True):
        res[(path, grad)] = min(times[grad]) / WINDOW
        res[("cpu", path, grad)] = min(cpu[grad]) / WINDOW
    return res


def json_rows(res: dict, b: int, n: int, threads: int, paths: tuple[str, ...]) -> list[dict]:
    """One plain row per path of a :func:`measure` result (seconds per step, vehicle-steps/s, wall clock)."""
    rows = []
    for path in paths:
        row = {"envs": b, "cars": n, "vehicles": b * n, "path": path, "threads": threads, "window": WINDOW}
        if ("error", path) in res:
            rows.append({**row, "error": res[("error", path)]})
            continue
        f, g = res[(path, False)], res[(path, True)]
        row.update(
            fwd_s_per_step=f,
            fwd_bwd_s_per_step=g,
            fwd_vehicle_steps_per_s=b * n / f,
            fwd_bwd_vehicle_steps_per_s=b * n / g,
            fwd_bwd_over_fwd=g / f,
            first_window_fwd_s=res[("first_s", path, False)],
            first_window_fwd_bwd_s=res[("first_s", path, True)],
        )
        if ("naive", False) in res and path != "naive":
            row["fwd_x_naive"] = res[("naive", False)] / f
            row["fwd_bwd_x_naive"] = res[("naive", True)] / g
        rows.append(row)
    return rows


def workload_arg(text: str) -> tuple[int, int]:
    """argparse ``type=`` for ``ENVSxCARS`` (e.g. ``4096x1000``)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected ENVSxCARS with positive integers, e.g. 4096x1000")
    return int(parts[0]), int(parts[1])


def pacecar_row() -> str:
    """Per-step latency of PaceCarEnv (64 envs, scenario 10lane) via benchmarks/pacecar_latency.py."""
    script = HERE / "pacecar_latency.py"
    head = "PaceCarEnv 64 envs x 10 lanes (10lane.yaml), per env step:"
    if not script.exists():
        return f"{head} n/a (benchmarks/pacecar_latency.py does not exist yet)"
    spec = importlib.util.spec_from_file_location("pacecar_latency", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn = getattr(mod, "measure", None)
    if fn is None:
        return f"{head} n/a (pacecar_latency.py has no measure(num_envs, scenario))"
    out = fn(num_envs=64, scenario="10lane")
    parts = []
    for kind in ("compiled", "eager"):
        vals = [out.get(f"{kind}_{k}_us") for k in ("nograd", "fwd", "fwd_bwd")]
        if all(isinstance(x, float | int) for x in vals):
            parts.append(f"{kind}: no-grad {vals[0]:.0f} us, fwd {vals[1]:.0f} us, fwd+bwd {vals[2]:.0f} us")
    return f"{head} " + ("; ".join(parts) if parts else f"unexpected result keys {sorted(out)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds per workload (min is kept)")
    ap.add_argument("--quick", action="store_true", help="only 64x11 and 1024x100, 3 rounds")
    ap.add_argument("--device", type=device_arg, default=torch.device("cpu"), help="cpu (default), cuda, cuda:N")
    ap.add_argument("--workloads", type=workload_arg, nargs="+", metavar="ENVSxCARS", help="instead of the defaults")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    ap.add_argument("--no-pacecar", action="store_true", help="skip the PaceCarEnv latency row")
    ap.add_argument("--json", metavar="PATH", help="also write every figure to PATH (JSON)")
    args = ap.parse_args()
    paths = tuple(p for p in args.paths.split(",") if p)
    if not paths or any(p not in PATHS for p in paths):
        ap.error(f"--paths: {args.paths!r}: choose from {','.join(PATHS)}")
    workloads = args.workloads or (WORKLOADS[:2] if args.quick else WORKLOADS)
    rounds = 3 if args.quick else args.rounds
    device = str(args.device)
    on_cpu = args.device.type == "cpu"
    where = "" if on_cpu else f" on {device} ({device_info(device)['device_name']})"
    print(f"torch {torch.__version__}{where}, float32, 10 lanes, Euler, dt 0.1; fwd+bwd over {WINDOW}-step windows")
    report = {"benchmark": "sim_throughput", **device_info(device), "rounds": rounds, "rows": []}
    head = (
        f"{'thr':>3} {'clock':>5} {'envs x cars':>12} {'path':>9} {'fwd Mveh-st/s':>14} {'x naive':>8} "
        f"{'fwd us/step':>12} {'f+b Mveh-st/s':>14} {'x naive':>8} {'f+b / fwd':>9} {'wall f+b/fwd':>12}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        # CPU time is the steadier clock, but sums threads (and misses device work)
        clock = "cpu" if threads == 1 and on_cpu else "wall"
        print(head)
        for b, n in workloads:
            res = measure(b, n, rounds, device, paths)

            def t(path, grad, res=res, clock=clock):
                return res[("cpu", path, grad)] if clock == "cpu" else res[(path, grad)]

            for path in paths:
                if ("error", path) in res:
                    print(f"{threads:>3} {clock:>5} {f'{b} x {n}':>12} {path:>9} failed: {res[('error', path)]}")
                    continue
                f, g = t(path, False), t(path, True)
                has_naive = ("naive", False) in res
                fn, gn = (t("naive", False), t("naive", True)) if has_naive else (float("nan"), float("nan"))
                wall_ratio = res[(path, True)] / res[(path, False)]
                print(
                    f"{threads:>3} {clock:>5} {f'{b} x {n}':>12} {path:>9} {b * n / f / 1e6:>14.1f} {fn / f:>8.2f} "
                    f"{f * 1e6:>12.1f} {b * n / g / 1e6:>14.1f} {gn / g:>8.2f} {g / f:>9.2f} {wall_ratio:>12.2f}"
                )
            if ("first_s", "compiled", False) in res:
                cf, cg = res[("first_s", "compiled", False)], res[("first_s", "compiled", True)]
                print(f"{'':>23} first compiled window (compile or cache load): fwd {cf:.1f} s, fwd+bwd {cg:.1f} s")
            sys.stdout.flush()
            report["rows"] += json_rows(res, b, n, threads, paths)
            write_json(args.json, report)
    if not args.no_pacecar:
        print(pacecar_row())


if __name__ == "__main__":
    main()
