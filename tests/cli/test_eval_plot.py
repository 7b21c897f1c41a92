"""``difftraffic eval`` reproduces recorded evaluations; ``difftraffic plot`` writes real figures."""

from __future__ import annotations

import re

import numpy as np
import pytest

from difftraffic.run.curves import choose_log_regret, mean_std

from ..clihelpers import csv_rows as read
from .conftest import FAST, run_cli


def test_eval_reproduces_the_recorded_return_exactly(in_tmp):
    res = run_cli("run", "dejong", "--learner", "gippo", "--epochs", 5, "--num-envs", 8, "--out", "r", *FAST)
    assert res.code == 0, res.err
    rows = read(in_tmp / "r/eval.csv")
    best_row = next(r for r in rows if r["policy"] == "best")
    final_row = next(r for r in rows if r["policy"] == "final")
    res = run_cli("eval", "r")
    assert res.code == 0, res.err
    m = re.search(r"eval return (\S+) ± (\S+) over 4 episodes", res.out)
    assert m, res.out
    assert float(m.group(1)) == pytest.approx(float(best_row["return_mean"]), rel=1e-5)
    assert "reproduced exactly" in res.out and f"(best, epoch {best_row['epoch']})" in res.out
    res = run_cli("eval", "r", "--checkpoint", "latest")
    assert res.code == 0 and "reproduced exactly" in res.out and "(final, epoch 5)" in res.out
    assert final_row["epoch"] == "5"
    # another seed/episode count is a new evaluation: printed, not compared
    res = run_cli("eval", "r", "--episodes", 3, "--seed", 7)
    assert res.code == 0 and "over 3 episodes" in res.out and "recorded" not in res.out


def test_mean_std_and_log_axis_choice():
    mean, std, n = mean_std([np.array([1.0, 2.0, 3.0]), np.array([3.0, 4.0])])
    assert n == 2 and np.allclose(mean, [2.0, 3.0]) and np.allclose(std, [1.0, 1.0])
    mean, std, _ = mean_std([np.array([np.nan, 2.0])])
    assert np.isnan(mean[0]) and std.tolist() == [0.0, 0.0]
    assert choose_log_regret([np.array([-10.0, -1e-5])], "auto")
    assert not choose_log_regret([np.array([-10.0, -1.0])], "auto")
    assert not choose_log_regret([np.array([900.0, 10.0])], "auto")
    assert choose_log_regret([np.array([-10.0, -1.0])], "log")
    assert not choose_log_regret([np.array([-10.0, -1e-9])], "linear")


def _png_pixels(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(path)


def test_plot_writes_learning_curves_and_diagnostics(in_tmp):
    for learner in ("gippo", "lrp"):
        for seed in (0, 1):
            res = run_cli("run", "dejong", "--learner", learner, "--epochs", 4, "--num-envs", 8, "--seed", seed,
                          "--out", f"{learner}{seed}", "--eval-every", 0, *FAST)  # fmt: skip
            assert res.code == 0, res.err
    res = run_cli("plot", "gippo0", "gippo1", "lrp0", "lrp1", "--out", "figs", "--x", "steps")
    assert res.code == 0, res.err
    written = sorted(p.name for p in (in_tmp / "figs").iterdir())
    assert written == ["gippo_dejong.png", "learning_curves.png", "lrp_dejong.png"]
    for name in written:
        assert f"wrote figs/{name}" in res.out
        img = _png_pixels(in_tmp / "figs" / name)
        assert img.shape[0] > 300 and img.shape[1] > 400
        assert img[..., :3].std() > 0.05  # not a blank canvas
    # default output: the first run's plots/ directory
    res = run_cli("plot", "gippo0")
    assert res.code == 0 and (in_tmp / "gippo0/plots/learning_curves.png").stat().st_size > 10_000
