"""CPU <-> GPU agreement of a pace-car rollout and of its action gradients (max abs / rel differences).

    python benchmarks/gpu_agreement.py --device cuda --json agreement.json      # 10lane, 64 envs, 1000 steps
    .venv/bin/python benchmarks/gpu_agreement.py --device cpu --steps 100 --envs 4   # dry run: cpu against cpu

The same open-loop rollout of the scenario's pace-car step (``PaceCarKernel.step``, same-step autoresets
included) runs on ``--reference`` (cpu) and on ``--device``, in float64 and in float32, with the same
actions and the same reset draws: both are drawn once on the CPU and copied, since CPU and CUDA
generators give different streams. Gradients are taken as the learners take them (truncated BPTT):
every ``--window`` steps the state is detached and the window's summed reward is differentiated with
respect to the window's actions.

Per dtype it reports, for observations, rewards, positions s (m), speeds v (m/s) and the action
gradients: ``max_abs`` = max |a - b|, ``max_rel`` = max |a - b| / max(|b|, 1e-3 max |b|) and
``rel_norm`` = ||a - b|| / ||b||; and for the discrete outputs (terminated, truncated, lanes) the
number of differing entries and the first step with one (``null``: none). A discrete difference (an
episode ending on one device and not the other) makes the continuous values differ from then on, so
the continuous figures are also given over the steps before the first discrete difference. For
float32 both devices are also compared with the float64 CPU run: the float32 rounding of the CPU is
the yardstick for the GPU's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from difftraffic.scenario.loader import load_scenario
from difftraffic.scenario.schema import ScenarioError
from difftraffic.tasks.pacecar.task import PaceCarEnv, shared_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_timing import device_arg, device_info, sync, write_json  # noqa: E402

CONTINUOUS = ("obs", "reward", "s", "v", "action_grad")
DISCRETE = ("terminated", "truncated", "lane")


def draws(scenario, num_envs: int, steps: int, seed: int) -> dict[str, torch.Tensor | None]:
    """Actions ``[T, B, 2]`` (float64, in (-1, 1)) and reset draws for the initial state and each step (CPU)."""
    env = PaceCarEnv(scenario.config, num_envs=num_envs, dtype=torch.float64, seed=seed, compile=False)
    lanes, noise = env._draw((steps + 1, num_envs))  # the env's own draw: start lanes, optional noise
    g = torch.Generator().manual_seed(seed + 1)
    actions = torch.tanh(0.3 * torch.randn(steps, num_envs, 2, generator=g, dtype=torch.float64))
    return {"actions": actions, "lanes": lanes, "noise": noise}


def rollout(scenario, d: dict, device: str, dtype: torch.dtype, window: int, compiled: bool) -> dict:
    """Run the rollout on ``device`` in ``dtype``; every recorded tensor comes back on the CPU, ``[T, B, ...]``."""
    dev = torch.device(device)
    kernel = shared_kernel(scenario.config, dev, dtype)
    lanes = d["lanes"].to(dev)
    noise = None if d["noise"] is None else d["noise"].to(dev, dtype)
    actions = d["actions"].to(dev, dtype)
    steps = actions.shape[0]
    st = kernel.layout.initial_state(lanes[0], None if noise is None else noise[0], dtype)
    rec: dict[str, list[torch.Tensor]] = {k: [] for k in (*CONTINUOUS, *DISCRETE)}
    sync(dev)
    t0 = time.perf_counter()
    for start in range(0, steps, window):
        st = st.detach()
        acts = [actions[t].clone().requires_grad_(True) for t in range(start, min(start + window, steps))]
        total = 0.0
        for i, a in enumerate(acts):
            t = start + i
            st, out, _ = kernel.step(st, a, lanes[t + 1], None if noise is None else noise[t + 1], compiled)
            total = total + out.reward.sum()
            rec["obs"].append(out.obs.detach())
            rec["reward"].append(out.reward.detach())
            rec["s"].append(st.s.detach())
            rec["v"].append(st.v.detach())
            rec["terminated"].append(out.terminated)
            rec["truncated"].append(out.truncated)
            rec["lane"].append(st.lane)
        grads = torch.autograd.grad(total, acts, allow_unused=True)
        rec["action_grad"] += [torch.zeros_like(a) if g is None else g for a, g in zip(acts, grads)]
    sync(dev)
    seconds = time.perf_counter() - t0
    result = {k: torch.stack(v).cpu() for k, v in rec.items()}
    result["seconds"] = seconds
    return result


def continuous_diff(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """max_abs, max_rel and rel_norm of ``a`` against the reference ``b`` (compared in float64)."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    if b.numel() == 0:
        return {"max_abs": 0.0, "max_rel": 0.0, "rel_norm": 0.0, "ref_max_abs": 0.0}
    diff = (a - b).abs()
    scale = float(b.abs().max())
    floor = max(1e-3 * scale, torch.finfo(torch.float64).tiny)
    norm = float(torch.linalg.vector_norm(b))
    return {
        "max_abs": float(diff.max()),
        "max_rel": float((diff / b.abs().clamp(min=floor)).max()),
        "rel_norm": float(torch.linalg.vector_norm(a - b)) / norm if norm > 0 else float(diff.max()),
        "ref_max_abs": scale,
    }


def compare(run: dict, ref: dict) -> dict:
    """Every figure of ``run`` against ``ref`` (see the module docstring)."""
    out: dict = {"discrete": {}}
    first = None
    for key in DISCRETE:
        differs = run[key] != ref[key]
        steps = differs.reshape(differs.shape[0], -1).any(dim=1).nonzero().flatten()
        step = int(steps[0]) if steps.numel() else None
        out["discrete"][key] = {"differing": int(differs.sum()), "first_step": step}
        if step is not None:
            first = step if first is None else min(first, step)
    out["first_discrete_difference_step"] = first
    for key in CONTINUOUS:
        out[key] = continuous_diff(run[key], ref[key])
        if first is not None:
            out[f"{key}_before_divergence"] = continuous_diff(run[key][:first], ref[key][:first])
    return out


def measure(
    scenario_name: str = "10lane",
    num_envs: int = 64,
    steps: int = 1000,
    window: int = 32,
    device: str = "cuda",
    reference: str = "cpu",
    seed: int = 0,
    compiled: bool = False,
) -> dict:
    """The whole comparison as a plain dict (see the module docstring)."""
    sc = load_scenario(scenario_name)
    if sc.kind != "pacecar":
        raise ScenarioError(f"{sc.path}: task.kind: {sc.kind!r}; the agreement check needs a pace-car scenario")
    d = draws(sc, num_envs, steps, seed)
    report: dict = {"scenario": sc.name, "envs": num_envs, "steps": steps, "window": window, "seed": seed}
    report.update(reference=reference, compiled=compiled, seconds={}, results={})
    ref64 = rollout(sc, d, reference, torch.float64, window, False)
    report["seconds"]["reference_float64"] = ref64["seconds"]
    for dtype in (torch.float64, torch.float32):
        name = str(dtype).removeprefix("torch.")
        ref = ref64 if dtype == torch.float64 else rollout(sc, d, reference, dtype, window, False)
        run = rollout(sc, d, device, dtype, window, compiled)
        report["seconds"][f"reference_{name}"] = ref["seconds"]
        report["seconds"][f"device_{name}"] = run["seconds"]
        res = compare(run, ref)
        if dtype == torch.float32:
            res["device_vs_float64_reference"] = compare(run, ref64)
            res["reference_vs_float64_reference"] = compare(ref, ref64)
        report["results"][name] = res
    return report


def summary_lines(report: dict) -> list[str]:
    """A short table of the headline figures."""
    dev, ref = report.get("device", "?"), report["reference"]
    lines = [
        f"{report['scenario']}: {report['envs']} envs x {report['steps']} steps, BPTT windows of {report['window']}; "
        f"{dev} against {ref}",
        f"{'dtype':<8} {'quantity':<12} {'max_abs':>10} {'max_rel':>10} {'rel_norm':>10}  first discrete difference",
    ]
    for name, res in report["results"].items():
        first = res["first_discrete_difference_step"]
        for key in CONTINUOUS:
            r = res[key]
            tail = ("none" if first is None else f"step {first}") if key == "obs" else ""
            figures = f"{r['max_abs']:>10.3g} {r['max_rel']:>10.3g} {r['rel_norm']:>10.3g}"
            lines.append(f"{name:<8} {key:<12} {figures}  {tail}")
        if name == "float32":
            for label, key in (("device", "device_vs_float64_reference"), ("ref.", "reference_vs_float64_reference")):
                g = res[key]["action_grad"]
                lines.append(
                    f"{'':<8} {label + ' vs f64':<12} {g['max_abs']:>10.3g} {g['max_rel']:>10.3g} "
                    f"{g['rel_norm']:>10.3g}  (action_grad against the float64 {ref} run)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="10lane", help="a pace-car scenario (bundled name or YAML path)")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--window", type=int, default=32, help="BPTT window (steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device_arg, default="cuda", help="device to check (default: cuda)")
    p.add_argument("--reference", type=device_arg, default="cpu", help="reference device (default: cpu)")
    p.add_argument("--compile", action="store_true", help="use the compiled pace-car step on --device")
    p.add_argument("--json", metavar="PATH", help="also write the figures to PATH (JSON)")
    args = p.parse_args(argv)
    for key in ("envs", "steps", "window"):
        if getattr(args, key) < 1:
            p.error(f"--{key}: must be >= 1, got {getattr(args, key)}")
    torch.set_num_threads(1)
    dev, ref = str(args.device), str(args.reference)
    report = {"benchmark": "gpu_agreement", **device_info(dev)}
    try:
        report.update(measure(args.scenario, args.envs, args.steps, args.window, dev, ref, args.seed, args.compile))
    except ScenarioError as err:
        p.error(f"--scenario: {err}")
    write_json(args.json, report)
    print("\n".join(summary_lines(report)))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
