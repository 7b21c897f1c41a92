"""Pace-car env step latency: forward with autograd recording, and forward + backward over a 32-step window.

    .venv/bin/python benchmarks/pacecar_latency.py [--envs 64] [--scenario 10lane] [--recorder]
    python benchmarks/pacecar_latency.py --device cuda --envs 64 4096 --json pacecar.json   # on a GPU

``measure()`` returns microseconds per (batched) env step for the compiled and the eager step, and
for in-run baselines on the same batch: the eager ``TrafficSim.step`` (the plain IDM step alone,
without the pace car, observation, reward or resets) and, when ``benchmarks/naive_idm.py`` exists,
its naive 20-line eager IDM step. The machine is shared and noisy, so each
figure is the best of several repeats and the ratios to the baseline are what to compare across runs.
CPU time (process_time) is reported next to wall time: it is less sensitive to other processes.

``--device cuda`` runs everything on the GPU (the device is synchronised around each timed block; the
CPU-time figures then count only the host's share). ``--envs`` takes several batch sizes (one result
each); ``--json PATH`` writes the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from difftraffic.scenario.loader import load_scenario
from difftraffic.sim.simulator import SimState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_timing import device_arg, device_info, sync, write_json  # noqa: E402

WINDOW = 32


def _best(fn, repeats: int, inner: int, device: torch.device | str = "cpu") -> tuple[float, float]:
    """Best wall and CPU microseconds per call of ``fn`` (called ``inner`` times per repeat)."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        sync(device)
        wall = min(wall, (time.perf_counter() - t0) / inner * 1e6)
        cpu = min(cpu, (time.process_time() - c0) / inner * 1e6)
    return wall, cpu


def _env_figures(env, repeats: int) -> dict[str, float]:
    b = env.num_envs
    g = torch.Generator().manual_seed(0)
    acts = [torch.tanh(torch.randn(b, 2, generator=g) * 0.3).to(env.device, env.dtype) for _ in range(WINDOW)]
    env.reset(seed=0)

    def window(backward: bool):
        env.detach()
        total = 0.0
        for a in acts:
            a = a.clone().requires_grad_(True)
            obs, reward, *_ = env.step(a)
            total = total + reward.sum()
        if backward:
            total.backward()

    def nograd_window():
        with torch.no_grad():
            for a in acts:
                env.step(a)

    for _ in range(3):  # warm-up (compiles every autograd variant once)
        window(True)
        nograd_window()
    fwd = _best(lambda: window(False), repeats, 2, env.device)
    fwd_bwd = _best(lambda: window(True), repeats, 2, env.device)
    nograd = _best(nograd_window, repeats, 2, env.device)
    per_step = [x / WINDOW for x in (*fwd, *fwd_bwd, *nograd)]
    keys = ("fwd_us", "fwd_cpu_us", "fwd_bwd_us", "fwd_bwd_cpu_us", "nograd_us", "nograd_cpu_us")
    return dict(zip(keys, per_step))


def _baseline(sc, num_envs: int, repeats: int, device: torch.device | str = "cpu") -> dict[str, float]:
    """Eager TrafficSim.step (IDM only) on the same batch: the pace-car lanes, cars and pace car as a 1-D car."""
    cfg = sc.config
    sim, state = sc.make_sim(num_envs=num_envs, device=device)
    from difftraffic.sim.simulator import TrafficSim

    sim = TrafficSim(cfg.road, dt=cfg.dt, integrator=cfg.integrator, sstar_clip=cfg.sstar_clip, backend="eager")
    x = torch.cat([torch.full((num_envs, 1), 100.0, dtype=torch.float64, device=device), state.x], dim=1)
    lane = torch.cat([torch.zeros((num_envs, 1), dtype=torch.long, device=device), state.lane], dim=1)
    v0 = torch.zeros(x.shape, dtype=torch.float32, device=device)
    start = sim.init_state(x, v0, lane, state.idm)

    def window():
        st = SimState(x=start.x, v=start.v.clone().requires_grad_(True), lane=start.lane, idm=start.idm)
        for _ in range(WINDOW):
            st = sim.step(st)

    for _ in range(3):
        window()
    wall, cpu = _best(window, repeats, 2, device)
    return {"baseline_sim_step_us": wall / WINDOW, "baseline_sim_step_cpu_us": cpu / WINDOW}


def _naive_baseline(sc, num_envs: int, repeats: int, device: torch.device | str = "cpu") -> dict[str, float]:
    """benchmarks/naive_idm.py (the sim engineer's 20-line eager IDM step), when present, on the same batch."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("naive_idm.py")
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("naive_idm", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _, state = sc.make_sim(num_envs=num_envs, device=device)
    x = torch.cat([torch.full((num_envs, 1), 100.0, dtype=torch.float64, device=device), state.x], dim=1)
    lane = torch.cat([torch.zeros((num_envs, 1), dtype=torch.long, device=device), state.lane], dim=1)
    cfg = sc.config

    def window():
        xx, vv = x, torch.zeros(x.shape, dtype=torch.float64, device=device, requires_grad=True)
        for _ in range(WINDOW):
            xx, vv = mod.naive_idm_step(xx, vv, lane, dt=cfg.dt)

    window()
    wall, cpu = _best(window, repeats, 2, device)
    return {"naive_idm_step_us": wall / WINDOW, "naive_idm_step_cpu_us": cpu / WINDOW}


def measure(
    num_envs: int = 64,
    scenario: str = "10lane",
    steps: int = WINDOW,
    repeats: int = 5,
    device: torch.device | str = "cpu",
) -> dict:
    """Microseconds per env step at ``num_envs`` envs (compiled and eager), the baseline and the ratios.

    ``steps`` is kept for API stability: windows are always 32 steps (the paper's horizon)."""
    del steps
    torch.set_num_threads(1)
    sc = load_scenario(scenario)
    out: dict = {"scenario": sc.name, "num_envs": num_envs, "window": WINDOW, "torch": torch.__version__}
    if torch.device(device).type != "cpu":
        out["device"] = str(device)
    t0 = time.perf_counter()
    compiled = sc.make_env(num_envs=num_envs, device=device, seed=0, compile=True)
    for k, v in _env_figures(compiled, repeats).items():
        out[f"compiled_{k}"] = v
    out["compile_failed"] = bool(compiled.kernel.compile_failed)
    if torch.device(device).type != "cpu":  # wall seconds of the compiled part incl. compiling (3 variants)
        out["compiled_total_s"] = time.perf_counter() - t0
    eager = sc.make_env(num_envs=num_envs, device=device, seed=0, compile=False)
    for k, v in _env_figures(eager, max(2, repeats // 2)).items():
        out[f"eager_{k}"] = v
    out.update(_baseline(sc, num_envs, repeats, device))
    out.update(_naive_baseline(sc, num_envs, repeats, device))
    base = out["baseline_sim_step_us"]
    out["ratio_compiled_fwd_to_baseline"] = out["compiled_fwd_us"] / base
    out["ratio_eager_fwd_to_baseline"] = out["eager_fwd_us"] / base
    out["ratio_eager_to_compiled_fwd"] = out["eager_fwd_us"] / out["compiled_fwd_us"]
    if "naive_idm_step_us" in out:
        out["ratio_compiled_fwd_to_naive_idm"] = out["compiled_fwd_us"] / out["naive_idm_step_us"]
    return out


def measure_recorder(num_envs: int = 64, scenario: str = "10lane", steps: int = 100, grad_window: int = WINDOW) -> dict:
    """Milliseconds per recorded step of ``record_episode`` (two env copies + the gradient map)."""
    from difftraffic.recording.recorder import record_episode

    torch.set_num_threads(1)
    env = load_scenario(scenario).make_env(num_envs=num_envs, seed=0, compile=False)
    policy = lambda obs: torch.tanh(0.1 * obs[:, :2])  # noqa: E731 - any cheap deterministic policy
    t0 = time.perf_counter()
    ep = record_episode(env, policy, steps=steps, grad_window=grad_window)
    ms = (time.perf_counter() - t0) / ep.num_steps * 1e3
    t0 = time.perf_counter()
    ep0 = record_episode(env, policy, steps=steps, grad_window=0)
    ms0 = (time.perf_counter() - t0) / ep0.num_steps * 1e3
    return {"recorder_ms_per_step": ms, "recorder_no_grad_ms_per_step": ms0, "grad_window": grad_window}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[64], help="batch size(s), one result each")
    parser.add_argument("--scenario", default="10lane")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--recorder", action="store_true", help="also time record_episode (100 steps)")
    parser.add_argument("--device", type=device_arg, default=torch.device("cpu"), help="cpu (default), cuda, cuda:N")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH (JSON), after each batch size")
    args = parser.parse_args()
    if any(n < 1 for n in args.envs):
        parser.error(f"--envs: batch sizes must be >= 1, got {args.envs}")
    report = {"benchmark": "pacecar_latency", **device_info(args.device), "results": []}
    for num_envs in args.envs:
        out = measure(num_envs, args.scenario, repeats=args.repeats, device=args.device)
        if args.recorder:
            out.update(measure_recorder(num_envs, args.scenario))
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}, indent=2))
        sys.stdout.flush()
        report["results"].append(out)
        write_json(args.json, report)


if __name__ == "__main__":
    main()
