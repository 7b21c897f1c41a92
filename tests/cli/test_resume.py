"""Exact resume: stopping after k epochs and resuming to n equals an uninterrupted n-epoch run."""

from __future__ import annotations

import signal
import time

import pytest
import torch
import yaml

from ..clihelpers import assert_user_error, csv_rows, without_timing
from .conftest import FAST, cli_subprocess, run_cli


def metric_rows(path):
    """progress.csv rows without the timing columns (wall_s, charts/SPS, time/*)."""
    return without_timing(csv_rows(path))


def _signal_a_long_run(in_tmp, sig: int, lines: int, *flags) -> tuple[int, str]:
    """Start an endless dejong/lr run in ./r, send ``sig`` once progress.csv has ``lines`` lines (header
    included); returns the exit code and stderr."""
    proc = cli_subprocess("run", "dejong", "--learner", "lr", "--epochs", 100000, "--num-envs", 4,
                          "--eval-every", 0, "--out", "r", *flags, *FAST, cwd=in_tmp)  # fmt: skip
    progress = in_tmp / "r/progress.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not progress.exists() or len(progress.read_text().splitlines()) < lines):
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("learner", ["gippo", "rp"])
def test_stop_and_resume_is_exact(in_tmp, learner):
    common = ("dejong", "--learner", learner, "--epochs", 8, "--num-envs", 8, "--eval-every", 3,
              "--checkpoint-every", 100, *FAST)  # fmt: skip
    full = run_cli("run", *common, "--out", "full")
    assert full.code == 0, full.err
    part = run_cli("run", *common, "--out", "part", "--stop-after", 5)
    assert part.code == 0, part.err
    assert "stopped after epoch 5" in part.out and "difftraffic run --resume --out part" in part.out
    assert len(csv_rows(in_tmp / "part/progress.csv")) == 5
    # a first resume session stops again after 1 more epoch, a second one finishes
    again = run_cli("run", "--resume", "--out", "part", "--stop-after", 1)
    assert again.code == 0, again.err
    done = run_cli("run", "--resume", "--out", "part")
    assert done.code == 0, done.err
    assert metric_rows(in_tmp / "full/progress.csv") == metric_rows(in_tmp / "part/progress.csv")
    assert csv_rows(in_tmp / "full/eval.csv") == csv_rows(in_tmp / "part/eval.csv")  # evaluations are deterministic
    walls = [float(r["wall_s"]) for r in csv_rows(in_tmp / "part/progress.csv")]
    assert all(b > a for a, b in zip(walls, walls[1:]))  # wall_s continues across sessions
    cfg = yaml.safe_load((in_tmp / "part/config.yaml").read_text())
    assert len(cfg["resumed"]) == 2
    # and the final checkpoints hold the same learner state
    a = torch.load(in_tmp / "full/checkpoints/latest.pt", weights_only=True)["learner"]
    b = torch.load(in_tmp / "part/checkpoints/latest.pt", weights_only=True)["learner"]
    assert torch.equal(a["actor"], b["actor"]) and a["epoch"] == b["epoch"] == 8


def test_resume_drops_rows_logged_after_the_checkpoint(in_tmp):
    res = run_cli("run", "dejong", "--learner", "lr", "--epochs", 6, "--num-envs", 8, "--checkpoint-every", 2,
                  "--eval-every", 1, "--out", "r", *FAST)  # fmt: skip
    assert res.code == 0
    full_rows = metric_rows(in_tmp / "r/progress.csv")
    res = run_cli("run", "dejong", "--learner", "lr", "--epochs", 6, "--num-envs", 8, "--checkpoint-every", 2,
                  "--eval-every", 1, "--stop-after", 4, "--out", "s", *FAST)  # fmt: skip
    assert res.code == 0
    assert torch.load(in_tmp / "s/checkpoints/latest.pt", weights_only=True)["csv_rows"]["progress"] == 4
    with open(in_tmp / "s/progress.csv", "a") as fh:  # as if the process died after logging epoch 5
        fh.write("5,40,9.9,-1.0\n")
    res = run_cli("run", "--resume", "--out", "s")
    assert res.code == 0, res.err
    # the stale row was dropped (the checkpoint says 4 rows) and epochs 5-6 were re-run exactly
    assert metric_rows(in_tmp / "s/progress.csv") == full_rows


def test_epochs_may_grow_on_resume_and_nothing_to_do(in_tmp):
    assert run_cli("run", "dejong", "--learner", "lr", "--epochs", 3, "--num-envs", 4, "--out", "r", *FAST).code == 0
    res = run_cli("run", "--resume", "--out", "r")
    assert res.code == 0 and "nothing to do" in res.out
    res = run_cli("run", "--resume", "--out", "r", "--epochs", 5)
    assert res.code == 0, res.err
    assert [int(r["epoch"]) for r in csv_rows(in_tmp / "r/progress.csv")] == [1, 2, 3, 4, 5]
    cfg = yaml.safe_load((in_tmp / "r/config.yaml").read_text())
    assert cfg["epochs"] == 5 and cfg["learner_config"]["max_epochs"] == 5


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (("--seed", 1), "seed 1 differs from the run's 0"),
        (("--learner", "rp"), "learner 'rp' differs from the run's 'lr'"),
        (("--num-envs", 8), "num_envs 8 differs from the run's 4"),
        (("--dtype", "float64"), "dtype 'float64' differs"),
        (("--config-override", "actor_lr=0.5"), "learner config actor_lr 0.5 differs"),
        (("--epochs", 2), "--epochs 2 is below the run's 3"),
        (("ackley",), "task 'ackley' differs from the run's 'dejong'"),
    ],
)
def test_resume_with_a_different_config_is_refused(in_tmp, flags, fragment):
    assert run_cli("run", "dejong", "--learner", "lr", "--epochs", 3, "--num-envs", 4, "--out", "r", *FAST).code == 0
    before = (in_tmp / "r/progress.csv").read_text()
    task = [f for f in flags if not str(f).startswith("-") and flags.index(f) == 0]
    rest = [f for f in flags if f not in task]
    res = run_cli("run", *task, "--resume", "--out", "r", *rest)
    assert_user_error(res, "--resume r:", fragment)
    assert (in_tmp / "r/progress.csv").read_text() == before


def test_sigterm_saves_a_checkpoint_and_resume_continues(in_tmp):
    code, err = _signal_a_long_run(in_tmp, signal.SIGTERM, 4, "--checkpoint-every", 100000)
    assert code == 143, err
    assert "Traceback" not in err
    assert "interrupted by SIGTERM after epoch" in err and "difftraffic run --resume --out r" in err
    progress = in_tmp / "r/progress.csv"
    ckpt = torch.load(in_tmp / "r/checkpoints/latest.pt", weights_only=True)
    epoch = ckpt["epoch"]
    assert epoch >= 3 and ckpt["csv_rows"]["progress"] == epoch == len(csv_rows(progress))
    res = run_cli("run", "--resume", "--out", "r", "--stop-after", 2)
    assert res.code == 0, res.err
    assert [int(r["epoch"]) for r in csv_rows(progress)] == list(range(1, epoch + 3))


def test_sigint_exits_130_with_a_loadable_checkpoint(in_tmp):
    code, err = _signal_a_long_run(in_tmp, signal.SIGINT, 3)
    assert code == 130 and "interrupted by SIGINT" in err and "Traceback" not in err
    assert torch.load(in_tmp / "r/checkpoints/latest.pt", weights_only=True)["epoch"] >= 2
