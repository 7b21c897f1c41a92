"""``difftraffic run`` on a function task for every learner: run-directory contents and logs."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from difftraffic.cli.commands import LEARNERS

from ..clihelpers import csv_rows as rows
from ..clihelpers import without_timing
from .conftest import FAST, run_cli


@pytest.mark.parametrize("learner", LEARNERS)
def test_run_writes_a_complete_run_directory(in_tmp, learner):
    out = in_tmp / "r"
    res = run_cli("run", "dejong", "--learner", learner, "--epochs", 4, "--num-envs", 8, "--eval-every", 2,
                  "--checkpoint-every", 2, "--out", out, *FAST)  # fmt: skip
    assert res.code == 0, res.err
    assert res.err == ""
    # config.yaml: the resolved run configuration, written with safe_dump
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    for key, value in {"task": "dejong", "learner": learner, "seed": 0, "device": "cpu", "dtype": "float32",
                       "epochs": 4, "num_envs": 8, "threads": 1}.items():  # fmt: skip
        assert cfg[key] == value, key
    assert cfg["learner_config"]["max_epochs"] == 4 and cfg["learner_config"]["num_envs"] == 8
    assert cfg["learner_config"]["learner"] == learner and cfg["learner_config"]["task"] == "dejong"
    # progress.csv: one row per epoch; env_steps = epoch * horizon (1) * num_envs (8)
    prog = rows(out / "progress.csv")
    assert [int(r["epoch"]) for r in prog] == [1, 2, 3, 4]
    assert [int(r["env_steps"]) for r in prog] == [8, 16, 24, 32]
    walls = [float(r["wall_s"]) for r in prog]
    assert all(b > a for a, b in zip(walls, walls[1:])) and walls[0] > 0
    for r in prog:
        assert r["episode_return"] == r["charts/episode_return"]
        assert float(r["episode_return"]) <= 0.0  # reward = -f(x) <= 0 on De Jong
    columns = set(prog[0])
    assert {"losses/critic", "time/fwd_sim", "grad/critic_lr"} <= columns
    if learner == "gippo":
        assert {"grad/alpha", "grad/oorr", "grad/R_alpha", "grad/est_det_min", "grad/est_det_max"} <= columns
    if learner == "lrp":
        assert "grad/k_lr" in columns
    # eval.csv: periodic at epoch 2, final at 4, then best.pt's evaluation
    ev = rows(out / "eval.csv")
    assert [(int(r["epoch"]), r["policy"]) for r in ev][:2] == [(2, "periodic"), (4, "final")]
    assert ev[-1]["policy"] == "best" and len(ev) == 3
    best_epoch = max(range(4), key=lambda i: float(prog[i]["episode_return"])) + 1
    assert int(ev[-1]["epoch"]) == best_epoch
    for r in ev:
        assert int(r["episodes"]) == 4 and float(r["return_std"]) == 0.0  # deterministic, constant obs
    # checkpoints load with weights_only and carry the counters
    latest = torch.load(out / "checkpoints" / "latest.pt", weights_only=True)
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert latest["epoch"] == 4 and latest["env_steps"] == 32 and latest["csv_rows"]["progress"] == 4
    assert latest["csv_rows"]["eval"] == 2  # the final evaluation is counted, best.pt's is not
    assert best["epoch"] == best_epoch and best["episode_return"] == float(prog[best_epoch - 1]["episode_return"])
    assert latest["best_epoch"] == best_epoch and latest["wall_s"] >= walls[-1]
    assert not list(out.rglob("*.tmp"))
    # the summary names the run directory and the follow-up commands
    assert f"run directory  {out}/" in res.out
    assert f"difftraffic plot {out}" in res.out and f"difftraffic eval {out}" in res.out
    assert "best return" in res.out and "\r" not in res.out


def test_default_run_dir_name_and_quiet(in_tmp):
    res = run_cli("run", "dejong", "--learner", "lr", "--epochs", 2, "--num-envs", 4, "--seed", 3, "--quiet", *FAST)
    assert res.code == 0, res.err
    (run,) = (in_tmp / "runs").iterdir()
    assert run.name.startswith("dejong__lr__s3__") and len(run.name) == len("dejong__lr__s3__20260101-120000")
    assert res.out.strip() == str(__import__("pathlib").Path("runs") / run.name)  # quiet: only the path


def test_same_seed_same_metrics_and_overrides_apply(in_tmp):
    a = run_cli("run", "dejong", "--learner", "ppo", "--epochs", 3, "--num-envs", 8, "--out", "a", *FAST)
    b = run_cli("run", "dejong", "--learner", "ppo", "--epochs", 3, "--num-envs", 8, "--out", "b", *FAST)
    c = run_cli("run", "dejong", "--learner", "ppo", "--epochs", 3, "--num-envs", 8, "--out", "c",
                "--config-override", "actor_lr=0.05", "--config-override", "mini_epochs=2", *FAST)  # fmt: skip
    assert a.code == b.code == c.code == 0
    ra, rb, rc = rows(in_tmp / "a/progress.csv"), rows(in_tmp / "b/progress.csv"), rows(in_tmp / "c/progress.csv")
    assert without_timing(ra) == without_timing(rb)
    assert without_timing(ra) != without_timing(rc)
    cfg = yaml.safe_load((in_tmp / "c/config.yaml").read_text())
    assert cfg["learner_config"]["actor_lr"] == 0.05 and cfg["learner_config"]["mini_epochs"] == 2
    assert cfg["config_overrides"] == ["actor_lr=0.05", "mini_epochs=2"]
    assert not math.isnan(float(ra[-1]["episode_return"]))


def test_tensorboard_events_when_installed_and_purged_on_resume(in_tmp):
    import shutil

    from difftraffic.run.tblog import tensorboard_available

    args = ("run", "dejong", "--learner", "lr", "--epochs", 6, "--num-envs", 4, "--eval-episodes", 2, "--out", "r")
    assert run_cli(*args, "--stop-after", 3).code == 0
    cfg = yaml.safe_load((in_tmp / "r/config.yaml").read_text())
    if not tensorboard_available():
        assert cfg["tensorboard"] is False and not (in_tmp / "r/tb").exists()
        return
    assert cfg["tensorboard"] is True
    latest = in_tmp / "r/checkpoints/latest.pt"
    shutil.copy(latest, in_tmp / "epoch3.pt")
    assert run_cli("run", "--resume", "--out", "r", "--stop-after", 2).code == 0  # logs epochs 4-5
    shutil.copy(in_tmp / "epoch3.pt", latest)  # as if the process had died before saving epoch 5
    assert run_cli("run", "--resume", "--out", "r").code == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(in_tmp / "r/tb"))
    acc.Reload()
    events = acc.Scalars("charts/episode_return")
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]  # epochs 4-5 of the lost session were purged
    prog = rows(in_tmp / "r/progress.csv")
    assert [int(r["epoch"]) for r in prog] == [1, 2, 3, 4, 5, 6]
    assert [e.value for e in events] == pytest.approx([float(r["episode_return"]) for r in prog], rel=1e-6)
    assert "eval/return_mean" in acc.Tags()["scalars"]


@pytest.mark.cuda
def test_run_and_eval_on_cuda(in_tmp):
    res = run_cli("run", "dejong", "--learner", "gippo", "--epochs", 3, "--num-envs", 8, "--device", "cuda",
                  "--out", "r", *FAST)  # fmt: skip
    assert res.code == 0, res.err
    assert yaml.safe_load((in_tmp / "r/config.yaml").read_text())["device"] == "cuda"
    res = run_cli("eval", "r", "--checkpoint", "latest")
    assert res.code == 0 and "reproduced exactly" in res.out
    assert run_cli("run", "--resume", "--out", "r", "--epochs", 4).code == 0
