"""``--task-option KEY=VALUE``: keyword arguments of the task class, saved in config.yaml, fixed on resume."""

from __future__ import annotations

import os

import pytest
import yaml

from difftraffic.run.factory import make_env

from ..clihelpers import assert_user_error, csv_rows
from .conftest import FAST, run_cli

QUIET = ("--eval-every", 0, "--record-every", 0, *FAST)


def test_options_reach_the_task_and_a_resume_keeps_them(in_tmp):
    if not os.environ.get("CI"):
        pytest.importorskip("mujoco")
    res = run_cli("run", "hopper", "--learner", "ppo", "--epochs", 1, "--num-envs", 4, "--task-option", "frame_skip=2",
                  "--task-option", "fd_centered=true", "--out", "r", *QUIET)  # fmt: skip
    assert res.code == 0, res.err
    cfg = yaml.safe_load((in_tmp / "r/config.yaml").read_text())
    assert cfg["task_options"] == {"frame_skip": 2, "fd_centered": True}
    env = make_env(cfg)  # what eval, recording and resume build
    assert env.sim.frame_skip == 2 and env.sim.fd_centered is True
    assert env.sim.model.opt.timestep == pytest.approx(1 / 120)  # 1/60 s control step in 2 substeps
    res = run_cli("run", "--resume", "--out", "r", "--epochs", 2)
    assert res.code == 0, res.err
    assert len(csv_rows(in_tmp / "r/progress.csv")) == 2
    assert yaml.safe_load((in_tmp / "r/config.yaml").read_text())["task_options"] == cfg["task_options"]
    before = (in_tmp / "r/progress.csv").read_text()
    res = run_cli("run", "--resume", "--out", "r", "--epochs", 3, "--task-option", "frame_skip=4")
    assert_user_error(res, "--resume r:", "task_options {'frame_skip': 4} differs from the run's")
    assert (in_tmp / "r/progress.csv").read_text() == before


def test_a_scenario_option_is_saved(in_tmp):
    res = run_cli("run", "1lane", "--learner", "rp", "--epochs", 1, "--num-envs", 2, "--task-option", "compile=false",
                  "--out", "r", *QUIET)  # fmt: skip
    assert res.code == 0, res.err
    cfg = yaml.safe_load((in_tmp / "r/config.yaml").read_text())
    assert cfg["task_options"] == {"compile": False}
    assert make_env(cfg).compile is False and make_env(dict(cfg, task_options={})).compile == "auto"


@pytest.mark.parametrize(
    "option, fragment",
    [
        ("bogus=1", "--task-option bogus: not accepted by dejong"),
        ("frame_skip", "--task-option frame_skip: expected key=value"),
        ("seed=3", "--task-option seed=3: seed is set by the run itself (use --seed)"),
        ("x=[1,", "--task-option x=[1,: not a valid YAML list/dict"),
    ],
)
def test_bad_options_are_one_line_errors_and_leave_nothing(in_tmp, option, fragment):
    res = run_cli("run", "dejong", "--learner", "lr", "--epochs", 1, "--task-option", option, "--out", "r", *QUIET)
    assert_user_error(res, fragment)
    assert not (in_tmp / "r").exists()
