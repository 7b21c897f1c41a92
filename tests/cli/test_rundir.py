"""Run-directory helpers: names, atomic writes, checkpoint validation, cleanup of failed setups."""

import datetime as dt
import os

import pytest
import torch

from difftraffic.errors import UserError
from difftraffic.run.rundir import (
    RunDir,
    atomic_open,
    load_checkpoint,
    read_config,
    removed_on_failure,
    run_name,
    save_checkpoint,
    write_config,
)


def test_run_name_format():
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert run_name("dejong", "gippo", 3, when) == "dejong__gippo__s3__20260102-030405"
    assert run_name("/abs/path/my scen.yaml", "ppo", 0, when) == "my-scen__ppo__s0__20260102-030405"


def test_atomic_open_replaces_only_on_success(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]  # temp file removed
    with atomic_open(path, "w") as fh:
        fh.write("new")
    assert path.read_text() == "new"


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "c" / "latest.pt"
    payload = {"epoch": 3, "learner": {"w": torch.arange(4.0), "nested": {"k": [1, 2.5, "s", None]}}}
    save_checkpoint(path, payload)
    data = load_checkpoint(path)
    assert data["epoch"] == 3 and torch.equal(data["learner"]["w"], torch.arange(4.0))
    assert data["learner"]["nested"]["k"] == [1, 2.5, "s", None]
    raw = torch.load(path, weights_only=True)  # loadable by plain torch too
    assert raw["format"] == "difftraffic-checkpoint"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such checkpoint"),
        (b"", "corrupt or unreadable checkpoint"),
        (b"not a zip at all", "corrupt or unreadable checkpoint"),
        ("truncated", "corrupt or unreadable checkpoint"),
        ("foreign", "not a difftraffic checkpoint"),
        ("tensor", "not a difftraffic checkpoint"),
    ],
)
def test_bad_checkpoints_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "latest.pt"
    if content == "truncated":
        save_checkpoint(path, {"epoch": 1, "learner": {"w": torch.zeros(1000)}})
        path.write_bytes(path.read_bytes()[:500])
    elif content == "foreign":
        torch.save({"state": torch.zeros(2)}, path)
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_config_round_trip_and_validation(tmp_path):
    cfg = {"difftraffic_run": 1, "task": "dejong", "learner_config": {"actor_hidden": [32, 32], "lr": 1e-3}}
    write_config(tmp_path / "config.yaml", cfg)
    assert read_config(tmp_path / "config.yaml") == cfg
    (tmp_path / "other.yaml").write_text("a: 1\n")
    with pytest.raises(UserError, match="not a difftraffic run config"):
        read_config(tmp_path / "other.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        read_config(tmp_path / "bad.yaml")


def test_removed_on_failure_removes_created_parents(tmp_path):
    target = tmp_path / "runs" / "deep" / "run1"
    with pytest.raises(KeyError), removed_on_failure(target):
        (target / "config.yaml").write_text("x")
        raise KeyError("setup failed")
    assert not (tmp_path / "runs").exists()


def test_removed_on_failure_keeps_existing_dir_but_empties_it(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ValueError), removed_on_failure(target):
        (target / "sub").mkdir()
        (target / "sub" / "f").write_text("x")
        (target / "g").write_text("y")
        raise ValueError
    assert target.is_dir() and not any(target.iterdir())
    with removed_on_failure(target):
        (target / "kept").write_text("z")
    assert (target / "kept").exists()


def test_rundir_open_errors(tmp_path):
    with pytest.raises(UserError, match="no such run directory"):
        RunDir.open(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="it is a file"):
        RunDir.open(tmp_path / "file")
    with pytest.raises(UserError, match="no config.yaml"):
        RunDir.open(tmp_path)
    with pytest.raises(UserError, match="choose one of latest, best"):
        RunDir(tmp_path).checkpoint("newest")
