"""``make demo`` (python -m difftraffic.cli.demo): trains, plots, prints the follow-up commands; reruns are safe."""

from __future__ import annotations

import contextlib
import io

from difftraffic.cli.demo import main


def demo(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    return code, out.getvalue()


SMALL = ("--", "--num-envs", "8", "--eval-episodes", "2", "--record-envs", "1", "--record-steps", "40",
         "--grad-window", "4")  # fmt: skip
"""Flags forwarded to `difftraffic run` to keep the test small (the real demo uses the defaults)."""


def test_demo_trains_records_plots_and_prints_commands(in_tmp):
    code, text = demo("--out", "runs/demo", "--epochs", "2", "--scenario", "1lane", *SMALL)
    assert code == 0, text
    run = in_tmp / "runs/demo"
    assert sorted(p.name for p in (run / "episodes").iterdir()) == ["epoch_000000.npz", "epoch_000001.npz",
                                                                    "epoch_000002.npz"]  # fmt: skip
    assert (run / "plots/learning_curves.png").stat().st_size > 10_000
    assert (run / "plots/gippo_1lane.png").stat().st_size > 10_000
    for fragment in ("view runs/demo", "export runs/demo -o runs/demo/demo.gif", "plot runs/demo", "eval runs/demo"):
        assert fragment in text
    # a second `make demo` does not retrain a finished demo
    code, text = demo("--out", "runs/demo", "--epochs", "2", "--scenario", "1lane", *SMALL)
    assert code == 0 and "nothing to do" in text
    # --fresh starts over
    code, text = demo("--out", "runs/demo", "--epochs", "1", "--scenario", "1lane", "--fresh", *SMALL)
    assert code == 0 and "removing the previous demo run" in text
    assert sorted(p.name for p in (run / "episodes").iterdir()) == ["epoch_000000.npz", "epoch_000001.npz"]
