"""``check`` and ``bench``: reports, exit codes and listing."""

from __future__ import annotations

import difftraffic.cli.tools as clitools
from difftraffic.conformance import FAIL, Finding

from ..clihelpers import REPO, assert_user_error
from .conftest import run_cli


def test_check_task_passes_with_exit_0():
    res = run_cli("check", "dejong")
    assert res.code == 0, res.err
    assert "Conformance report for dejong (cpu):" in res.out
    assert "PASS  grad-1step" in res.out and "Result: OK (0 failed" in res.out


def test_check_exit_1_on_findings(monkeypatch):
    import difftraffic.conformance as conformance

    monkeypatch.setattr(conformance, "check_env", lambda *a, **k: [Finding("detach", FAIL, "history not cut")])
    res = run_cli("check", "dejong")
    assert res.code == 1
    assert "FAIL  detach" in res.out and "Result: FAILED (1 failed" in res.out


def test_bench_lists_and_runs_scripts(monkeypatch, tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "fast.py").write_text('"""Prints a made-up figure."""\nprint("fast: 42 steps/s")\n')
    (bench / "broken.py").write_text('"""Always fails."""\nraise SystemExit(3)\n')
    monkeypatch.setattr(clitools, "benchmarks_dir", lambda: bench)
    res = run_cli("bench", "--list")
    assert res.code == 0
    assert res.out.splitlines() == ["broken  Always fails.", "fast    Prints a made-up figure."]
    import subprocess

    calls = []
    real_run = subprocess.run

    def run(cmd, **kw):
        calls.append(cmd[-1])
        return real_run(cmd, **kw)

    monkeypatch.setattr(clitools.subprocess, "run", run)
    res = run_cli("bench", "fast")
    assert res.code == 0 and calls == [str(bench / "fast.py")]
    res = run_cli("bench")  # all of them; one fails
    assert res.code == 1 and "failed: broken (exit 3)" in res.err
    assert_user_error(run_cli("bench", "slow"), "bench slow: unknown benchmark (available: broken, fast)")


def test_bench_list_of_the_real_tree():
    res = run_cli("bench", "--list")
    assert res.code == 0
    names = [line.split()[0] for line in res.out.splitlines()]
    assert names == sorted(p.stem for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_"))
    assert "cli_threads" in names


def test_check_scenarios(in_tmp):
    res = run_cli("check", "ring22")  # a pure-simulation scenario: validated and simulated, no task to check
    assert res.code == 0, res.err
    assert res.out.startswith("ring22: ok (pure simulation, 22 cars") and "does not apply" in res.out
    (in_tmp / "bad.yaml").write_text("road: {lanes: 2}\ndrivers: {}\ntask: {kind: pacecar, bogus: 1}\n")
    res = run_cli("check", "bad.yaml")
    assert_user_error(res, "bad.yaml")
    assert res.out == ""
