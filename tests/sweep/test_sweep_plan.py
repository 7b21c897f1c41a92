"""Planning without running: presets, flag errors (one line, exit 2), job states on disk, ETA, progress tail."""

from __future__ import annotations

import math

import pytest
import yaml

from difftraffic.errors import UserError
from difftraffic.run.rundir import save_checkpoint
from difftraffic.sweep.grid import parse_seeds
from difftraffic.sweep.jobs import Job, inspect_job, last_progress, make_jobs
from difftraffic.sweep.presets import PRESETS
from difftraffic.sweep.status import EpochClock, estimate_eta

from ..clihelpers import assert_user_error
from .conftest import make_run, run_sweep


def test_presets_are_the_papers_grids():
    t1, tr, ph, tm = (PRESETS[n] for n in ("table1", "traffic", "physics", "timing"))
    assert t1.tasks == ("dejong", "dejong64", "ackley", "ackley64") and set(t1.epochs.values()) == {2000}
    assert t1.learners == ("lr", "rp", "ppo", "lrp", "gippo") and t1.seeds == (1, 2, 3)
    assert tr.tasks == ("1lane", "2lane", "4lane", "10lane") and set(tr.epochs.values()) == {500}
    assert ph.learners == ("lr", "rp", "ppo", "pe", "gippo")
    assert ph.epochs == {"cartpole": 500, "hopper": 2000, "ant": 2000}
    assert tm.sequential and tm.seeds == (1,) and tm.kind == "timing"
    assert "--eval-every" in tm.run_args and "--record-every" in tm.run_args


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["--preset", "tabel1"], ["--preset tabel1: unknown preset", "table1"]),
        ([], ["give --preset NAME, or --tasks and --learners"]),
        (["--tasks", "dejong", "--learners", "sac"], ["--learners sac: unknown learner"]),
        (["--tasks", "dejongg", "--learners", "lr"], ["--tasks dejongg: unknown task or scenario"]),
        (["--preset", "table1", "--seeds", "3-1"], ["--seeds 3-1: expected"]),
        (["--preset", "table1", "--seeds", "x"], ["--seeds x"]),
        (["--preset", "table1", "--epochs", "0"], ["--epochs 0: must be >= 1"]),
        (["--preset", "table1", "--jobs", "0"], ["--jobs 0: must be >= 1"]),
        (["--preset", "physics", "--max-epochs-per-task", "hopper"], ["expected TASK=N"]),
        (["--preset", "physics", "--max-epochs-per-task", "dejong=5"], ["dejong is not a task of this sweep"]),
        (["--preset", "timing", "--jobs", "2"], ["--jobs 2: the timing preset runs one job at a time"]),
        (["--preset", "table1", "--run-args", "--seed 3"], ["--run-args: --seed is set by the sweep"]),
        (["--preset", "table1", "--config-override", "actor_lr"], ["expected KEY=VALUE"]),
        (["--preset", "table1", "--device", "gpu"], ["--device gpu"]),
        (["--preset", "table1", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["--preset", "table1", "--backend", "slurm"], ["--backend"]),
    ],
)
def test_bad_flags_are_one_line_errors(argv, fragments, tmp_path):
    assert_user_error(run_sweep(*argv, "--out", tmp_path / "sw", "--dry-run"), *fragments)
    assert not (tmp_path / "sw").exists()


def test_dry_run_lists_jobs_with_caps_and_commands(tmp_path):
    res = run_sweep("--preset", "physics", "--max-epochs-per-task", "hopper=30", "--seeds", "1,4", "--dry-run",
                    "--out", tmp_path / "sw", "--config-override", "critic_lr=1e-3")  # fmt: skip
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith(f"sweep physics -> {tmp_path / 'sw'}: 30 jobs (3 tasks x 5 learners x 2 seeds)")
    assert "  hopper: capped at 30 epochs (of 2000)" in lines
    hop = next(x for x in lines if x.lstrip().startswith("hopper/pe/s4"))
    assert " 30 epochs" in hop and "new" in hop
    assert f"--epochs 30 --threads 1 --out {tmp_path / 'sw' / 'hopper' / 'pe' / 's4'}" in hop
    assert "--config-override critic_lr=1e-3" in hop
    assert any(x.lstrip().startswith("ant/gippo/s1") and "2000 epochs" in x for x in lines)
    assert lines[-1] == "would run 30 job(s); 0 already finished"
    assert not (tmp_path / "sw").exists()  # a dry run creates nothing


def test_job_states_from_run_directories(tmp_path):
    [job] = make_jobs(tmp_path, [("dejong", "dejong")], ["lr"], [1], {"dejong": 40}, {})
    assert inspect_job(job, [], None).state == "new"
    make_run(job.run_dir, "dejong", "lr", 1, [-1.0] * 12)
    assert inspect_job(job, [], None).state == "restart"  # config.yaml but no checkpoint yet
    save_checkpoint(job.run_dir / "checkpoints" / "latest.pt", {"kind": "latest", "epoch": 10})
    assert (inspect_job(job, [], None).state, job.start_epoch) == ("resume", 10)
    assert job.run_args([], [], None) == [
        "run",
        "--resume",
        "--out",
        str(job.run_dir),
        "--epochs",
        "999",
        "--stop-after",
        "30",
    ]  # fmt: skip  (started with 999 epochs)
    job.epochs = 10
    assert inspect_job(job, [], None).state == "done"
    with pytest.raises(UserError, match="--config-override"):
        inspect_job(job, ["actor_lr=1"], None)
    [other] = make_jobs(tmp_path, [("dejong", "dejong")], ["ppo"], [1], {"dejong": 40}, {})
    other.run_dir = job.run_dir
    with pytest.raises(UserError, match="holds a run with learner 'lr', not 'ppo'"):
        inspect_job(other, [], None)


def test_caps_and_existing_manifest_must_match(tmp_path):
    sw = tmp_path / "sw"
    sw.mkdir()
    manifest = {"difftraffic_sweep": 1, "experiment": "table1", "kind": "returns", "config_overrides": ["actor_lr=1"]}
    (sw / "sweep.yaml").write_text(yaml.safe_dump(manifest))
    assert_user_error(run_sweep("--preset", "table1", "--out", sw, "--dry-run"), "--config-override")
    assert_user_error(run_sweep("--preset", "traffic", "--out", sw, "--dry-run"), "holds sweep experiment 'table1'")
    jobs = make_jobs(tmp_path, [("hopper", "hopper")], ["rp"], [1, 2], {"hopper": 2000}, {"hopper": 300})
    assert [(j.label, j.epochs, j.cap) for j in jobs] == [("hopper/rp/s1", 300, 300), ("hopper/rp/s2", 300, 300)]


def test_parse_seeds():
    assert parse_seeds(["1-3", "7,2"]) == [1, 2, 3, 7]
    assert parse_seeds(["0"]) == [0]


def test_eta_uses_observed_seconds_per_epoch_and_startup_overhead(tmp_path):
    a, b = make_jobs(
        tmp_path, [("dejong", "dejong"), ("ackley", "ackley")], ["lr"], [1], {"dejong": 3, "ackley": 3}, {}
    )
    [c] = make_jobs(tmp_path, [("cartpole", "cartpole")], ["rp"], [1], {"cartpole": 10}, {})
    clock = EpochClock()
    clock.observe(a, 20, 10.0)  # 0.5 s/epoch for dejong/lr
    clock.overheads += [1.0, 3.0]  # 2 s per new job
    # a: 100 epochs left, running -> 50 s; b (ackley/lr, unseen task: the mean rate 0.5) 200 pending -> 102 s.
    assert estimate_eta([(a, 100, True), (b, 200, False)], clock, 2) == pytest.approx(102.0)
    assert estimate_eta([(a, 100, True), (b, 200, False)], clock, 1) == pytest.approx(152.0)
    clock.observe(c, 10, 30.0)  # 3 s/epoch for cartpole/rp
    assert estimate_eta([(b, 10, False)], clock, 1) == pytest.approx(10 * (0.5 + 3.0) / 2 + 2.0)
    assert math.isnan(estimate_eta([(a, 1, True)], EpochClock(), 1))
    assert estimate_eta([], clock, 4) == 0.0


def test_last_progress_reads_the_last_complete_row(tmp_path):
    path = tmp_path / "progress.csv"
    assert last_progress(path) is None
    path.write_text("epoch,env_steps,wall_s,episode_return\n")
    assert last_progress(path) is None
    rows = "".join(f"{i},{64 * i},{0.25 * i},-1.0\n" for i in range(1, 400))
    path.write_text("epoch,env_steps,wall_s,episode_return\n" + rows + "400,25600,1")  # last row half written
    assert last_progress(path) == (399, 399 * 64, 99.75)


def test_job_label_and_log(tmp_path):
    job = Job("/abs/road.yaml", "road", "gippo", 3, 5, tmp_path / "road" / "gippo" / "s3", tmp_path / "l.log")
    assert job.label == "road/gippo/s3"
    assert job.run_args(["k=1"], ["--eval-episodes", "4"], "cuda")[:2] == ["run", "/abs/road.yaml"]
    assert job.run_args(["k=1"], [], "cuda")[-4:] == ["--device", "cuda", "--config-override", "k=1"]


def test_two_scenario_files_with_one_name_are_refused(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "road.yaml").write_text("road: {}\n")
    res = run_sweep("--tasks", tmp_path / "a" / "road.yaml", tmp_path / "b" / "road.yaml", "--learners", "lr",
                    "--dry-run", "--out", tmp_path / "sw")  # fmt: skip
    assert_user_error(res, "another task is also named 'road'")


def test_a_job_rejecting_its_arguments_stops_the_sweep_with_one_line(tmp_path):
    grid = ["--tasks", "dejong", "--learners", "lr", "ppo", "--seeds", "1", "--epochs", "3", "--backend", "local"]
    res = run_sweep(*grid, "--jobs", "1", "--out", tmp_path / "sw", "--config-override", "actor_lrr=1")
    assert_user_error(res, "sweep: job dejong/lr/s1: --config-override actor_lrr=1: unknown key 'actor_lrr'")
    assert "1 failed, 0 stopped with a checkpoint, 1 not started" in res.out
    assert not (tmp_path / "sw" / "dejong" / "lr" / "s1").exists()  # the run removed its half-made directory
    assert not (tmp_path / "sw" / "sweep.yaml").exists()  # so the directory does not hold the bad override


def test_timing_runs_one_job_at_a_time_in_a_local_pool(tmp_path):
    from difftraffic.sweep.command import _executor, build_parser
    from difftraffic.sweep.executors import LocalPool
    from difftraffic.sweep.grid import plan_sweep

    args = build_parser().parse_args(["--preset", "timing", "--epochs", "20", "--out", str(tmp_path / "t")])
    plan = plan_sweep(args)
    pool = _executor(plan, args)  # starts nothing
    assert isinstance(pool, LocalPool) and pool.concurrency == 1
    assert [j.epochs for j in plan.jobs] == [20] * 20 and {j.seed for j in plan.jobs} == {1}
    assert plan.run_args == ["--eval-every", "0", "--record-every", "0", "--no-tensorboard"]
