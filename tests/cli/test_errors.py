"""Every user mistake: exit code 2, exactly one line on stderr, no traceback, no directory left behind."""

from __future__ import annotations

import pytest
import torch

from ..clihelpers import assert_user_error
from .conftest import FAST, cli_subprocess, run_cli

BASE = ("--epochs", 2, "--num-envs", 4, *FAST)


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (("run", "nosuchtask", *BASE), ["nosuchtask: unknown task or scenario"]),
        (("run", "missing/scenario.yaml", *BASE), ["missing/scenario.yaml: no such scenario file"]),
        (("run", "dejong", "--learner", "sgd", *BASE), ["argument --learner: invalid choice: 'sgd'"]),
        (("run", "dejong", "--epochs", "many"), ["argument --epochs: invalid int value: 'many'"]),
        (("run", "dejong", "--epochs", 0), ["--epochs 0: must be >= 1"]),
        (("run", "dejong", "--num-envs", -3, "--epochs", 1), ["--num-envs -3: must be >= 1"]),
        (("run", "dejong", "--eval-every", -1, *BASE), ["--eval-every -1: must be >= 0"]),
        (("run", "dejong", "--seed", -1, *BASE), ["--seed -1: must be >= 0"]),
        (("run", "dejong", "--seed", 2**64, *BASE), [f"--seed {2**64}: must be <= 2147483647"]),
        (("run", "dejong", "--dtype", "float16", *BASE), ["argument --dtype: invalid choice"]),
        (("run", "dejong", "--device", "tpu", *BASE), ["--device tpu: expected cpu, cuda or cuda:N"]),
        (("run", "dejong", "--config-override", "actor_lrr=1", *BASE), ["unknown key 'actor_lrr'", "actor_lr"]),
        (("run", "dejong", "--config-override", "actor_lr=fast", *BASE), ["actor_lr expects a number"]),
        (("run", "dejong", "--config-override", "mini_epochs=1.5", "--learner", "ppo", *BASE), ["expects an integer"]),
        (("run", "dejong", "--config-override", "critic_lr=-1", *BASE), ["critic_lr=-1: must be > 0"]),
        (("run", "dejong", "--config-override", "seed=3", *BASE), ["seed is set by the run itself"]),
        (("run", "dejong", "--config-override", "noequals", *BASE), ["expected key=value"]),
        (("run", *BASE), ["missing TASK|SCENARIO"]),
        (("run", "--resume", *BASE), ["--resume: needs --out DIR"]),
        (("run", "--resume", "--out", "nowhere"), ["nowhere: no such run directory"]),
        (("eval", "nowhere"), ["nowhere: no such run directory"]),
        (("plot", "nowhere"), ["nowhere: no such run directory"]),
        (("view", "nowhere"), ["nowhere: no such run directory or episode file"]),
        (("export", "nowhere", "-o", "x.gif"), ["nowhere: no such run directory or episode file"]),
        (("check", "nosuchtask"), ["nosuchtask: unknown task or scenario"]),
        (("bench", "nosuchbench"), ["bench nosuchbench: unknown benchmark"]),
        (("frobnicate",), ["argument COMMAND: invalid choice: 'frobnicate'"]),
        ((), ["missing COMMAND"]),
    ],
)
def test_user_errors(in_tmp, argv, fragments):
    res = run_cli(*argv)
    assert_user_error(res, *fragments)
    assert list(in_tmp.iterdir()) == []  # nothing created (no runs/, no --out directory)


def test_unusable_cuda_device(in_tmp):
    dev = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    res = run_cli("run", "dejong", "--device", dev, *BASE)
    assert_user_error(res, f"--device {dev}:")
    assert list(in_tmp.iterdir()) == []


def test_bad_scenario_file(in_tmp):
    (in_tmp / "bad.yaml").write_text("road: {lanes: 0\n")
    res = run_cli("run", "bad.yaml", "--out", "r", *BASE)
    assert_user_error(res, "bad.yaml")
    assert sorted(p.name for p in in_tmp.iterdir()) == ["bad.yaml"]


def test_existing_out_dir_is_not_clobbered(in_tmp):
    (in_tmp / "r").mkdir()
    (in_tmp / "r" / "notes.txt").write_text("mine")
    res = run_cli("run", "dejong", "--out", "r", *BASE)
    assert_user_error(res, "--out r: already exists and is not empty", "--resume")
    assert [p.name for p in (in_tmp / "r").iterdir()] == ["notes.txt"]


def test_resume_errors_on_broken_runs(in_tmp):
    assert run_cli("run", "dejong", "--learner", "lr", "--out", "r", *BASE).code == 0
    latest = in_tmp / "r/checkpoints/latest.pt"
    good = latest.read_bytes()
    latest.write_bytes(good[: len(good) // 2])
    assert_user_error(run_cli("run", "--resume", "--out", "r", "--epochs", 3), "latest.pt: corrupt or unreadable")
    assert_user_error(run_cli("eval", "r", "--checkpoint", "latest"), "latest.pt: corrupt or unreadable")
    torch.save({"model": torch.zeros(3)}, latest)
    assert_user_error(
        run_cli("run", "--resume", "--out", "r", "--epochs", 3), "latest.pt: not a difftraffic checkpoint"
    )
    latest.unlink()
    assert_user_error(run_cli("run", "--resume", "--out", "r", "--epochs", 3), "nothing to resume from")
    (in_tmp / "r/config.yaml").write_text("just: text\n")
    assert_user_error(run_cli("run", "--resume", "--out", "r"), "config.yaml: not a difftraffic run config")
    # a checkpoint from another run is refused
    assert run_cli("run", "dejong", "--learner", "lr", "--out", "s", "--seed", 5, *BASE).code == 0
    assert run_cli("run", "dejong", "--learner", "lr", "--out", "t", *BASE).code == 0
    (in_tmp / "t/checkpoints/latest.pt").write_bytes((in_tmp / "s/checkpoints/latest.pt").read_bytes())
    assert_user_error(run_cli("run", "--resume", "--out", "t", "--epochs", 3), "belongs to a different run", "seed")


def test_setup_failure_removes_the_new_directory(in_tmp, monkeypatch):
    import difftraffic.run.csvlog as csvlog
    from difftraffic.errors import UserError

    def broken(self, *args, **kwargs):
        raise UserError("progress.csv: disk full")

    monkeypatch.setattr(csvlog.CsvLog, "__init__", broken)
    res = run_cli("run", "dejong", "--out", "deep/nested/r", *BASE)
    assert_user_error(res, "disk full")
    assert list(in_tmp.iterdir()) == []  # config.yaml had been written; everything created is gone


def test_console_script_prints_no_traceback(in_tmp):
    proc = cli_subprocess("run", "dejong", "--config-override", "actor_lr=x", cwd=in_tmp)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.splitlines() == ["difftraffic: error: --config-override actor_lr=x: actor_lr expects a number, got 'x'"]
