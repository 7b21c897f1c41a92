"""Job state on disk, the status line and its ETA from hand-built jobs, and bad sweep input through the real
``difftraffic sweep`` command (one stderr line naming the flag, exit 2, nothing created)."""

from __future__ import annotations

import io

import pytest
import yaml

from difftraffic.cli.commands import main as difftraffic_main
from difftraffic.errors import UserError
from difftraffic.run.rundir import save_checkpoint
from difftraffic.sweep.jobs import clear_run_dir, inspect_job, make_jobs
from difftraffic.sweep.status import EpochClock, SweepDisplay, status_text

from ..clihelpers import assert_user_error, run_in_process
from .conftest import make_run


def _job(root, task="dejong", learner="lr", seed=1, epochs=100):
    [job] = make_jobs(root, [(task, task)], [learner], [seed], {task: epochs}, {})
    return job


def _progress(job, *rows: tuple[int, int, float]) -> None:
    """A progress.csv holding (epoch, env_steps, wall_s) rows."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,env_steps,wall_s,episode_return"] + [f"{e},{n},{w},-1.0" for e, n, w in rows]
    (job.run_dir / "progress.csv").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------- job state
def test_pending_partial_and_finished_jobs(tmp_path):
    job = _job(tmp_path, epochs=50)
    job.run_dir.mkdir(parents=True)  # an empty directory is still a pending job
    assert (inspect_job(job, [], None).state, job.start_epoch) == ("new", 0)
    assert job.run_args([], [], None) == ["run", "dejong", "--learner", "lr", "--seed", "1", "--epochs", "50",
                                          "--threads", "1", "--out", str(job.run_dir)]  # fmt: skip
    job.run_dir.rmdir()
    make_run(job.run_dir, "dejong", "lr", 1, [-1.0] * 7)
    config = yaml.safe_load((job.run_dir / "config.yaml").read_text())
    (job.run_dir / "config.yaml").write_text(yaml.safe_dump({**config, "epochs": 20}))  # started with a smaller budget
    save_checkpoint(job.run_dir / "checkpoints" / "latest.pt", {"kind": "latest", "epoch": 7})
    assert (inspect_job(job, [], None).state, job.start_epoch, job.saved_epochs) == ("resume", 7, 20)
    # partial at epoch 7: resumed up to the sweep's 50 epochs (no --stop-after: 50 is the larger budget)
    assert job.run_args([], ["--eval-episodes", "4"], "cpu") == [
        "run", "--resume", "--out", str(job.run_dir), "--epochs", "50", "--eval-episodes", "4"
    ]  # fmt: skip
    save_checkpoint(job.run_dir / "checkpoints" / "latest.pt", {"kind": "latest", "epoch": 50})
    assert (inspect_job(job, [], None).state, job.start_epoch) == ("done", 50)


def test_run_directories_the_sweep_must_not_touch(tmp_path):
    job = _job(tmp_path)
    job.run_dir.parent.mkdir(parents=True)
    job.run_dir.write_text("a file where the run should be")
    with pytest.raises(UserError, match="exists and is not a directory"):
        inspect_job(job, [], None)
    job.run_dir.unlink()
    job.run_dir.mkdir()
    (job.run_dir / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and not a run directory"):
        inspect_job(job, [], None)
    (job.run_dir / "notes.txt").unlink()
    job.run_dir.rmdir()
    make_run(job.run_dir, "dejong", "lr", 1, [-1.0])
    (job.run_dir / "config.yaml").write_text((job.run_dir / "config.yaml").read_text() + "device: cpu\n")
    with pytest.raises(UserError, match="trained on device 'cpu', not 'cuda'"):
        inspect_job(job, [], "cuda")


def test_clear_run_dir_only_without_a_checkpoint(tmp_path):
    job = _job(tmp_path)
    make_run(job.run_dir, "dejong", "lr", 1, [-1.0])
    assert inspect_job(job, [], None).state == "restart"
    clear_run_dir(job)
    assert not job.run_dir.exists()
    make_run(job.run_dir, "dejong", "lr", 1, [-1.0])
    save_checkpoint(job.run_dir / "checkpoints" / "latest.pt", {"kind": "latest", "epoch": 1})
    with pytest.raises(UserError, match="has a checkpoint now"):
        clear_run_dir(job)
    assert (job.run_dir / "checkpoints" / "latest.pt").is_file()


# ---------------------------------------------------------------------------------------------- status line
def test_status_line_reads_running_epochs_and_estimates_the_eta(tmp_path):
    a = _job(tmp_path, learner="lr", seed=1, epochs=100)
    b = _job(tmp_path, learner="ppo", seed=1, epochs=100)
    c = _job(tmp_path, learner="ppo", seed=2, epochs=100)
    _progress(a, (39, 2496, 19.5), (40, 2560, 20.0))  # 0.5 s per epoch
    _progress(b, (10, 640, 10.0))  # 1.0 s per epoch
    clock = EpochClock()
    text = status_text({"done": 3, "failed": 1}, [a, b], clock, [c], 2)
    # left: a 60 x 0.5 = 30 s, b 90 x 1.0 = 90 s, c (pending, ppo rate) 100 x 1.0 = 100 s -> 220 s on 2 slots
    assert text == (
        "sweep: 3 done, 2 running (dejong/lr/s1 40/100, dejong/ppo/s1 10/100), 1 pending, 1 failed | ETA 1:50"
    )
    assert clock.rates == {("dejong", "lr"): 0.5, ("dejong", "ppo"): 1.0}
    clock.overheads += [4.0, 6.0]  # a job outside training: 5 s, paid only by jobs not started yet
    assert status_text({"done": 0, "failed": 0}, [], clock, [c], 1).endswith("| ETA 1:45")  # 100 + 5 s


def test_status_line_before_any_epoch_and_with_many_running_jobs(tmp_path):
    jobs = [_job(tmp_path, seed=s, epochs=10) for s in range(1, 9)]
    jobs[0].start_epoch = 4  # resumed, nothing logged yet in this session
    text = status_text({"done": 0, "failed": 0}, jobs, EpochClock(), [], 8)
    assert text.startswith("sweep: 0 done, 8 running (dejong/lr/s1 4/10, dejong/lr/s2 0/10, ")
    assert "dejong/lr/s6 0/10, +2 more), 0 pending, 0 failed | ETA ?" in text  # no speed observed yet


def test_epoch_clock_falls_back_to_the_task_then_the_sweep_average(tmp_path):
    clock = EpochClock()
    a, b = _job(tmp_path, learner="lr"), _job(tmp_path, learner="rp")
    other, unseen = _job(tmp_path, task="ackley", learner="lr"), _job(tmp_path, task="ant", learner="pe")
    assert clock.seconds_per_epoch(a) is None
    clock.observe(a, 0, 5.0)  # epoch 0: no rate yet
    assert clock.seconds_per_epoch(a) is None
    clock.observe(a, 10, 2.0)
    clock.observe(other, 4, 8.0)
    assert clock.seconds_per_epoch(a) == pytest.approx(0.2)
    assert clock.seconds_per_epoch(b) == pytest.approx(0.2)  # same task, other learner
    assert clock.seconds_per_epoch(unseen) == pytest.approx((0.2 + 2.0) / 2)  # the sweep's average


def test_display_in_a_log_file_and_on_a_terminal(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("difftraffic.sweep.status.time.monotonic", lambda: now[0])
    log = io.StringIO()
    display = SweepDisplay(log, every=30.0, tty=False)
    display.status("s1")
    now[0] += 29.0
    display.status("s2")  # too soon: dropped
    display.event("done x")
    display.status("s3", force=True)
    now[0] += 30.0
    display.status("s4")
    assert log.getvalue() == "s1\ndone x\ns3\ns4\n"
    term = io.StringIO()
    display = SweepDisplay(term, every=30.0, tty=True)  # redrawn in place once a second
    display.status("s1")
    now[0] += 1.0
    display.status("s2")
    display.event("done y")
    display.finish()
    assert term.getvalue() == "\rs1\x1b[K\rs2\x1b[K\r\x1b[Kdone y\n"
    assert display.every == 1.0


# ---------------------------------------------------------------------------------------------- bad input
TINY = ["--tasks", "dejong", "--learners", "lr", "--epochs", "1", "--backend", "local"]
"""A grid that stays tiny should a bad flag ever get through."""


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--preset", "nope"], "--preset nope: unknown preset"),
        (["--seeds", "3-1"], "--seeds 3-1"),
        (["--seeds", "0-5000"], "--seeds 0-5000: seeds go from 0 to 2147483647, at most 1000"),
        (["--jobs", "0"], "--jobs 0: must be >= 1"),
        (["--max-epochs-per-task", "dejong=x"], "--max-epochs-per-task dejong=x: expected TASK=N"),
        (["--tasks", ""], "--tasks: no tasks given"),
        (["--experiment", ""], "--experiment"),
    ],
)
def test_bad_sweep_flags_through_difftraffic(argv, flag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_in_process(difftraffic_main, "sweep", *TINY, *argv, "--out", tmp_path / "sw")
    assert_user_error(res, flag)
    assert list(tmp_path.iterdir()) == []  # no sweep directory, no runs/


def test_uncreatable_sweep_directory_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    res = run_in_process(difftraffic_main, "sweep", *TINY, "--out", tmp_path / "file" / "sw")
    assert_user_error(res, f"--out {tmp_path / 'file' / 'sw'}: cannot create the sweep directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_aggregating_a_missing_directory_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_in_process(difftraffic_main, "sweep", "--aggregate", tmp_path / "nope", "--results-dir", tmp_path / "r")
    assert_user_error(res, f"--aggregate {tmp_path / 'nope'}: no such directory")
    assert list(tmp_path.iterdir()) == []
