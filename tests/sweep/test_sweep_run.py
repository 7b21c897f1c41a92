"""Real sweeps of tiny function-task runs: on Ray (the only test that starts it), skipping finished jobs,
and the no-Ray fallback (a local process pool)."""

from __future__ import annotations

import sys

import pytest
import yaml

from .conftest import FAST, deterministic_rows, run_sweep

GRID = ["--tasks", "dejong,ackley", "--learners", "lr", "ppo", "--seeds", "1-2", "--epochs", "6"]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """2 tasks x 2 learners x 2 seeds x 6 epochs on a local Ray cluster (2 jobs at a time)."""
    out = tmp_path_factory.mktemp("tiny") / "sw"
    res = run_sweep(*GRID, "--out", out, "--run-args", FAST, "--jobs", "2", "--status-every", "1000")
    return out, res


def test_tiny_sweep_on_ray_runs_every_job(tiny_sweep):
    out, res = tiny_sweep
    assert res.code == 0, (res.out, res.err)
    assert res.out.splitlines()[0] == (
        f"sweep custom: 8 jobs in {out}: 0 finished (skipped), 0 to resume, 8 to start; "
        "on a local Ray cluster (2 CPUs), 2 at a time"
    )
    assert "8/8 jobs done (8 trained now, 0 were already finished), 0 failed" in res.out
    for task in ("dejong", "ackley"):
        for learner in ("lr", "ppo"):
            for seed in (1, 2):
                run = out / task / learner / f"s{seed}"
                rows = deterministic_rows(run / "progress.csv")
                assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
                assert [int(r["env_steps"]) for r in rows] == [64 * e for e in range(1, 7)]
                cfg = yaml.safe_load((run / "config.yaml").read_text())
                assert (cfg["task"], cfg["learner"], cfg["seed"], cfg["threads"]) == (task, learner, seed, 1)
                assert (run / "checkpoints" / "latest.pt").is_file()
                assert (out / "logs" / f"{task}__{learner}__s{seed}.log").read_text().startswith("=== ")
    manifest = yaml.safe_load((out / "sweep.yaml").read_text())
    assert manifest["experiment"] == "custom" and manifest["epochs"] == {"dejong": 6, "ackley": 6}
    assert manifest["sessions"][0]["backend"] == "a local Ray cluster (2 CPUs), 2 at a time"
    # Same task and learner, another seed: other numbers (the jobs really are distinct runs).
    a = deterministic_rows(out / "dejong" / "lr" / "s1" / "progress.csv")
    b = deterministic_rows(out / "dejong" / "lr" / "s2" / "progress.csv")
    assert a[-1]["episode_return"] != b[-1]["episode_return"]


def test_rerun_skips_finished_jobs(tiny_sweep):
    out, _ = tiny_sweep
    files = sorted(out.glob("*/*/s*/progress.csv"))
    assert len(files) == 8
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    res = run_sweep(*GRID, "--out", out, "--run-args", FAST, "--backend", "local")
    assert res.code == 0, res.err
    assert res.out.splitlines()[0] == f"sweep custom: 8 jobs in {out}: all finished, nothing to do"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    # Asking for more epochs resumes every job from its checkpoint (dry run: nothing starts).
    res = run_sweep(*GRID[:-1], "8", "--out", out, "--run-args", FAST, "--dry-run")
    assert res.out.count("resume from epoch 6") == 8, res.out


def test_fallback_without_ray_says_so_and_gives_the_same_run(tiny_sweep, tmp_path):
    ref, _ = tiny_sweep
    out = tmp_path / "local"
    saved = sys.modules.get("ray")
    sys.modules["ray"] = None  # `import ray` now raises ImportError
    try:
        res = run_sweep("--tasks", "ackley", "--learners", "ppo", "--seeds", "2", "--epochs", "6", "--out", out,
                        "--run-args", FAST, "--jobs", "1")  # fmt: skip
        assert_no_ray = run_sweep("--preset", "table1", "--backend", "ray", "--out", tmp_path / "x")
    finally:
        if saved is None:
            del sys.modules["ray"]
        else:
            sys.modules["ray"] = saved
    assert res.code == 0, (res.out, res.err)
    assert res.out.splitlines()[0] == (
        "difftraffic sweep: Ray is not installed; running the jobs in a local process pool (1 at a time) "
        "instead (pip install 'difftraffic[sweep]' for Ray)"
    )
    assert "1/1 jobs done" in res.out
    ours = deterministic_rows(out / "ackley" / "ppo" / "s2" / "progress.csv")
    assert len(ours) == 6 and ours == deterministic_rows(ref / "ackley" / "ppo" / "s2" / "progress.csv")
    assert assert_no_ray.code == 2 and "--backend ray: Ray is not installed" in assert_no_ray.err
    assert not (tmp_path / "x").exists()
