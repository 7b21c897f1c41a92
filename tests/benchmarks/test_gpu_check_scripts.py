"""The GPU-check scripts (benchmarks/): option parsing, JSON output, the agreement figures and the summary."""

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_workload_and_device_options():
    sim = load("sim_throughput")
    assert sim.workload_arg("4096x1000") == (4096, 1000) and sim.workload_arg("1X1000000") == (1, 1_000_000)
    for bad in ("4096", "0x10", "ax3", "2x3x4", "-1x5"):
        with pytest.raises(argparse.ArgumentTypeError, match="ENVSxCARS"):
            sim.workload_arg(bad)
    dt = load("device_timing")
    assert dt.device_arg("cpu") == torch.device("cpu")
    with pytest.raises(argparse.ArgumentTypeError, match="not a device"):
        dt.device_arg("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="sees no CUDA device"):
            dt.device_arg("cuda")


def test_bad_flags_exit_2_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
    for script, args in (("sim_throughput", ["--paths", "eager,warp"]), ("gpu_agreement", ["--device", "cpu",
                         "--steps", "0"]), ("pacecar_latency", ["--device", "tpu"])):  # fmt: skip
        res = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), *args], capture_output=True, text=True,
                             env=env, timeout=120)  # fmt: skip
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and res.stderr.strip().splitlines()[-1].startswith(f"{script}.py: error:")


def test_write_json_is_atomic_and_plain(tmp_path):
    dt = load("device_timing")
    path = tmp_path / "sub" / "r.json"
    dt.write_json(path, {"a": (1, 2.5), "nan": math.nan, "dev": torch.device("cpu"), "dtype": torch.float32})
    assert json.loads(path.read_text()) == {"a": [1, 2.5], "nan": None, "dev": "cpu", "dtype": "torch.float32"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]
    with pytest.raises(TypeError):
        dt.write_json(path, {"bad": object()})
    assert json.loads(path.read_text())["a"] == [1, 2.5]  # the old file survives a failed write
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]
    dt.write_json(None, {"ignored": 1})


def test_agreement_figures_on_known_differences():
    ag = load("gpu_agreement")
    t, b = 5, 3
    ref = {k: torch.ones(t, b, 2, dtype=torch.float64) for k in ag.CONTINUOUS}
    ref.update({k: torch.zeros(t, b, dtype=torch.long) for k in ag.DISCRETE})
    run = {k: v.clone() for k, v in ref.items()}
    run["obs"][3, 1, 0] += 0.5  # after the divergence
    run["obs"][1, 0, 1] += 1e-3  # before it
    run["lane"][2, 2] = 1
    out = ag.compare(run, ref)
    assert out["first_discrete_difference_step"] == 2
    assert out["discrete"]["lane"] == {"differing": 1, "first_step": 2}
    assert out["discrete"]["terminated"] == {"differing": 0, "first_step": None}
    assert out["obs"]["max_abs"] == pytest.approx(0.5) and out["obs"]["max_rel"] == pytest.approx(0.5)
    assert out["obs_before_divergence"]["max_abs"] == pytest.approx(1e-3)
    assert out["obs"]["rel_norm"] == pytest.approx(math.sqrt(0.5**2 + 1e-6) / math.sqrt(t * b * 2))
    assert out["reward"] == {"max_abs": 0.0, "max_rel": 0.0, "rel_norm": 0.0, "ref_max_abs": 1.0}


def test_agreement_cpu_against_cpu_is_exact(tmp_path):
    ag = load("gpu_agreement")
    path = tmp_path / "ag.json"
    assert ag.main(["--device", "cpu", "--steps", "12", "--envs", "2", "--window", "5", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    for name in ("float64", "float32"):
        res = report["results"][name]
        assert res["first_discrete_difference_step"] is None
        assert all(res[k]["max_abs"] == 0.0 for k in ag.CONTINUOUS)
    assert report["results"]["float64"]["action_grad"]["ref_max_abs"] > 0  # the gradients are not all zero
    f32 = report["results"]["float32"]["device_vs_float64_reference"]["obs"]
    assert 0 < f32["rel_norm"] < 1e-5  # float32 rounding, measured against the float64 run


def _stage(tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    for sub in ("json", "junit", "logs"):
        (stage / sub).mkdir(parents=True)
    (stage / "status.tsv").write_text("env\t0\t1.5\t60\tok\nsim_throughput\t124\t180.0\t180\tTIMED OUT after 180 s\n")
    (stage / "env.json").write_text(json.dumps({"device": "cuda:0", "device_name": "H", "torch": "2.11"}))
    (stage / "install_mode").write_text("editable\n")
    (stage / "junit" / "pytest_cuda.xml").write_text(
        '<testsuites><testsuite tests="3" failures="1" errors="0" skipped="1">'
        '<testcase classname="t.a" name="ok"/><testcase classname="t.a" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="t.b" name="sk"><skipped message="mujoco missing"/></testcase></testsuite></testsuites>'
    )
    sim = {"rows": [{"envs": 4096, "cars": 1000, "path": "compiled", "fwd_vehicle_steps_per_s": 6e9,
                     "fwd_bwd_vehicle_steps_per_s": 2e9, "fwd_x_naive": 9.0},
                    {"envs": 1, "cars": 1000000, "path": "eager", "error": "OutOfMemoryError: x"}]}  # fmt: skip
    (stage / "json" / "sim_throughput.json").write_text(json.dumps(sim))
    rows = [{"task": "10lane", "learner": n, "num_envs": 64, "timed_epochs": 10, "s_per_epoch": s, "x_rp": r,
             "s_per_500_epochs_extrapolated": 500 * s, "paper_s": p, "paper_x_rp": p / 496}
            for n, s, r, p in (("rp", 0.2, 1.0, 496.0), ("gippo", 0.24, 1.2, 533.0))]  # fmt: skip
    (stage / "json" / "learner_cost.json").write_text(json.dumps({"rows": rows}))
    (stage / "json" / "broken.json").write_text("{")
    return stage


def test_summary_collects_parts_and_judges_targets(tmp_path):
    summary = load("gpu_summary")
    out = tmp_path / "out"
    assert summary.main(["--stage", str(_stage(tmp_path)), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["figures.csv", "results.json", "summary.md"]
    text = (out / "summary.md").read_text()
    assert "H (cuda:0), torch 2.11" in text and "install: editable" in text
    assert "| sim_throughput | 124 | 180 | 180 | TIMED OUT after 180 s |" in text
    assert "1 passed, 1 failed, 0 errors, 1 skipped (target: all that run pass: NOT met)" in text
    assert "failed: t.a::bad" in text and "skipped 1: mujoco missing" in text
    assert "at 4096 x 1000 compiled: 6e+09 (met)" in text and "failed: OutOfMemoryError" in text
    assert "4.44x (NOT met, extrapolated from 10 epochs); GI-PPO / RP <= 1.15: 1.20 (NOT met" in text
    res = json.loads((out / "results.json").read_text())
    assert res["parts"]["broken"]["error"].startswith("unreadable JSON")
    figures = dict(line.split(",", 1) for line in (out / "figures.csv").read_text().splitlines()[1:])
    assert float(figures["sim/4096x1000/compiled/fwd_vehicle_steps_per_s"]) == 6e9
    assert figures["part/sim_throughput/rc"] == "124" and figures["pytest/pytest_cuda/failures"] == "1"


def test_gpu_check_sh_rejects_bad_settings(tmp_path):
    script = BENCH / "gpu_check.sh"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and "OUT: set it" in res.stderr
    env.update(OUT=str(tmp_path / "o"), GPU_CHECK_BUDGET="8m")
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and "GPU_CHECK_BUDGET: expected whole seconds" in res.stderr
    env.update(GPU_CHECK_BUDGET="60", GPU_CHECK_PARTS="env sim")
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and "GPU_CHECK_PARTS: unknown part 'sim'" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing created for a bad setting
