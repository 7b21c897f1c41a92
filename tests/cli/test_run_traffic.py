"""``difftraffic run`` on a pace-car scenario: every learner, recorded episodes, exact resume, view/export."""

from __future__ import annotations

import numpy as np
import pytest

from difftraffic.cli.commands import LEARNERS
from difftraffic.recording.episode import Episode

from ..clihelpers import csv_rows as rows
from ..clihelpers import without_timing
from .conftest import run_cli

TINY = ("--num-envs", 4, "--eval-episodes", 2, "--eval-every", 0, "--record-envs", 2, "--record-steps", 40,
        "--grad-window", 4, "--no-tensorboard")  # fmt: skip


@pytest.mark.parametrize("learner", LEARNERS)
def test_pacecar_run_for_every_learner(in_tmp, learner):
    res = run_cli("run", "1lane", "--learner", learner, "--epochs", 2, "--out", "r", *TINY)
    assert res.code == 0, res.err
    prog = rows(in_tmp / "r/progress.csv")
    assert [int(r["env_steps"]) for r in prog] == [128, 256]  # 32 steps x 4 envs per epoch
    names = sorted(p.name for p in (in_tmp / "r/episodes").iterdir())
    # before training, every --record-every epochs (default epochs/4, at least 1) and after the last epoch
    assert names == ["epoch_000000.npz", "epoch_000001.npz", "epoch_000002.npz"]
    ep = Episode.load(in_tmp / "r/episodes/epoch_000002.npz")
    assert ep.num_steps == 40 and ep.num_envs == 2
    assert ep.meta["learner"] == learner and ep.meta["epoch"] == 2 and ep.meta["env_steps"] == 256
    assert ep.grad is not None and np.isfinite(ep.grad).all() and ep.meta["grad_window"] == 4
    assert Episode.load(in_tmp / "r/episodes/epoch_000001.npz").grad is None  # --record-grads final (default)
    assert ep.controlled.sum() == 1  # the pace car
    ev = rows(in_tmp / "r/eval.csv")
    assert ev[0]["policy"] == "final" and int(ev[0]["episodes"]) == 2
    assert 0 < float(ev[0]["length_mean"]) <= 1000
    assert "difftraffic view r" in res.out and "difftraffic export r -o r/episode.gif" in res.out


def test_pacecar_resume_is_exact(in_tmp):
    common = ("1lane", "--learner", "gippo", "--epochs", 3, *TINY, "--record-every", 0)
    assert run_cli("run", *common, "--out", "full").code == 0
    assert run_cli("run", *common, "--out", "part", "--stop-after", 2).code == 0
    assert run_cli("run", "--resume", "--out", "part").code == 0

    def metrics(name):
        return without_timing(rows(in_tmp / name / "progress.csv"))

    assert metrics("full") == metrics("part")
    assert rows(in_tmp / "full/eval.csv") == rows(in_tmp / "part/eval.csv")


def test_view_screenshot_and_export_of_a_run(in_tmp):
    assert run_cli("run", "1lane", "--learner", "rp", "--epochs", 1, "--out", "r", *TINY).code == 0
    res = run_cli("view", "r", "--screenshot", "shot.png", "--frames", 3, "--size", "320x200")
    assert res.code == 0, res.err
    assert (in_tmp / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = run_cli("export", "r", "-o", "ep.gif", "--renderer", "pillow", "--size", "320x180", "--fps", 5)
    assert res.code == 0, res.err
    from PIL import Image

    with Image.open(in_tmp / "ep.gif") as gif:
        assert gif.n_frames >= 2 and gif.size == (320, 180)
    res = run_cli("export", "r", "-o", "ep.webm")
    assert res.code == 2 and res.err.startswith("difftraffic: error: ") and len(res.err.splitlines()) == 1


def test_eval_reproduces_a_pacecar_checkpoint(in_tmp):
    # observations are normalised by running statistics: the checkpoint must carry them exactly
    res = run_cli("run", "1lane", "--learner", "ppo", "--epochs", 2, "--out", "r", *TINY, "--record-every", 0)
    assert res.code == 0, res.err
    final = next(r for r in rows(in_tmp / "r/eval.csv") if r["policy"] == "final")
    res = run_cli("eval", "r", "--checkpoint", "latest")
    assert res.code == 0, res.err
    assert f"eval return {float(final['return_mean']):.6g}" in res.out and "reproduced exactly" in res.out
