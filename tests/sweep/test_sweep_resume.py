"""Interrupted sweeps resume exactly: SIGTERM the sweep, SIGKILL a job, re-run, compare with an uninterrupted run."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
import time
from pathlib import Path

import torch

from difftraffic.cli.commands import main as cli_main

from .conftest import FAST, deterministic_rows, run_sweep, sweep_subprocess

EPOCHS = 100
"""Long enough that a slow SIGTERM hand-off (CI under load) still leaves checkpoints to come."""
GRID = ["--tasks", "dejong", "--learners", "ppo", "--seeds", "1", "--epochs", str(EPOCHS), "--backend", "local"]


def _rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return 0


def _wait_rows(path: Path, n: int, proc, timeout: float = 60.0) -> int:
    t0 = time.monotonic()
    while (rows := _rows(path)) < n:
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path}: {rows} rows after {timeout} s"
        time.sleep(0.005)
    return rows


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
    return kids


def _checkpoint_epoch(run: Path) -> int:
    return int(torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["epoch"])


def test_interrupted_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    run = tmp_path / "sw" / "dejong" / "ppo" / "s1"
    progress = run / "progress.csv"
    args = [*GRID, "--out", tmp_path / "sw", "--run-args", FAST, "--status-every", "1000"]

    # 1. SIGTERM the sweep while its job trains: the job finishes its epoch, checkpoints, the sweep exits 143.
    proc = sweep_subprocess(*args, cwd=tmp_path)
    _wait_rows(progress, 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (out, err)
    assert "received SIGTERM: no new jobs; sending SIGTERM to 1 running job(s)" in out
    assert "stopped dejong/ppo/s1 at epoch" in out and "1 stopped with a checkpoint" in out
    first = _checkpoint_epoch(run)
    assert 3 <= first < EPOCHS - 30 and _rows(progress) == first
    next_checkpoint = (first // 10 + 1) * 10  # --checkpoint-every 10

    # 2. Re-run (in-process); SIGKILL the job itself mid-run (no checkpoint on the way out): reported as failed.
    # The kill aims half-way between checkpoints, so a late kill (a few epochs) still lands after rows the
    # resume must discard; aiming at a checkpoint epoch raced with the row-after-checkpoint assertion.
    def kill_job():
        _wait_rows(progress, next_checkpoint + 5, None)
        [job] = [pid for pid in _children(os.getpid()) if b"difftraffic" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(job, signal.SIGKILL)

    killer = threading.Thread(target=kill_job)
    killer.start()
    res = run_sweep(*args)
    killer.join()
    assert res.code == 1, (res.out, res.err)
    assert f"resume  dejong/ppo/s1 from epoch {first} to {EPOCHS}" in res.out
    assert "FAILED  dejong/ppo/s1: killed by SIGKILL" in res.out and "1 failed" in res.out
    second = _checkpoint_epoch(run)
    assert second in (next_checkpoint, next_checkpoint + 10), (first, second)
    assert _rows(progress) > second  # rows logged after the checkpoint, to be discarded on resume

    # 3. Re-run to the end (in-process sweep, job as a subprocess).
    res = run_sweep(*args)
    assert res.code == 0, (res.out, res.err)
    assert f"resume  dejong/ppo/s1 from epoch {second} to {EPOCHS}" in res.out
    assert "1/1 jobs done (1 trained now" in res.out

    # The same run without interruption (in-process CLI): identical progress.csv and eval.csv.
    ref = tmp_path / "ref"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(["run", "dejong", "--learner", "ppo", "--seed", "1", "--epochs", str(EPOCHS),
                         "--threads", "1", "--out", str(ref), *FAST.split()])  # fmt: skip
    assert code == 0
    torch.set_num_threads(1)
    ours, theirs = deterministic_rows(progress), deterministic_rows(ref / "progress.csv")
    assert len(ours) == EPOCHS and ours == theirs
    assert deterministic_rows(run / "eval.csv") == deterministic_rows(ref / "eval.csv")
