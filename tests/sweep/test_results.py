"""Aggregation on crafted progress.csv files: hand-computed metrics, merging, paper column, tables, figures."""

from __future__ import annotations

import csv
import math

import pytest
import yaml

from difftraffic.errors import UserError
from difftraffic.sweep.results import SUMMARY_COLUMNS, aggregate, run_metric, seed_stats
from difftraffic.sweep.tables import fmt_value

from .conftest import make_run, run_sweep

NAN = math.nan


def read_summary(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def make_sweep(root, experiment, runs, kind="returns"):
    """A sweep directory with a manifest and crafted runs {(task, learner, seed): returns}."""
    root.mkdir(parents=True)
    tasks = list(dict.fromkeys(t for t, _, _ in runs))
    manifest = {"difftraffic_sweep": 1, "experiment": experiment, "kind": kind, "tasks": tasks}
    (root / "sweep.yaml").write_text(yaml.safe_dump(manifest))
    for (task, learner, seed), spec in runs.items():
        returns, wall = spec if isinstance(spec, tuple) else (spec, None)
        make_run(root / task / learner / f"s{seed}", task, learner, seed, returns, wall)
    return root


def test_metric_is_max_of_running_mean_then_mean_and_sample_std(tmp_path):
    sweep = make_sweep(
        tmp_path / "sw",
        "table1",
        {
            ("dejong", "lr", 1): [NAN, -5.0, -2.0, -3.0],  # max -2 (NaN before the first episode is ignored)
            ("dejong", "lr", 2): [-4.0, -1.0, -6.0],  # max -1
            ("dejong", "lr", 3): [-3.0, -3.0, -2.5],  # max -2.5
            ("dejong", "gippo", 1): [-1e-3, -2e-9, -1e-8],  # one seed: no std
        },
    )
    out = tmp_path / "results"
    written = aggregate([sweep], results_dir=out, figures=False)
    assert out / "summary.csv" in written and out / "table1.md" in written
    header, rows = read_summary(out / "summary.csv")
    assert tuple(header) == SUMMARY_COLUMNS
    by = {r["learner"]: r for r in rows}
    lr = by["lr"]
    mean = (-2.0 - 1.0 - 2.5) / 3
    std = math.sqrt(((-2.0 - mean) ** 2 + (-1.0 - mean) ** 2 + (-2.5 - mean) ** 2) / 2)
    assert (lr["experiment"], lr["problem"], lr["seeds"], lr["epochs"]) == ("table1", "dejong", "3", "3")
    assert float(lr["metric_mean"]) == pytest.approx(mean, rel=1e-15)
    assert float(lr["metric_std"]) == pytest.approx(std, rel=1e-12)
    assert float(lr["metric_std"]) == pytest.approx(0.7637626158, rel=1e-9)
    assert float(lr["paper"]) == -1.24e-6
    g = by["gippo"]
    assert (g["seeds"], g["epochs"], g["metric_std"]) == ("1", "3", "")
    assert float(g["metric_mean"]) == -2e-9
    assert float(g["paper"]) == -3.84e-10
    assert [r["learner"] for r in rows] == ["lr", "gippo"]  # the paper's column order
    assert run_metric([NAN, NAN]) != run_metric([NAN, NAN])  # no finished episode: NaN
    assert seed_stats([1.0, 3.0]) == (2.0, math.sqrt(2.0))


def test_merge_replaces_only_the_reaggregated_experiment(tmp_path):
    out = tmp_path / "results"
    traffic = make_sweep(tmp_path / "traffic", "traffic", {("2lane", "gippo", 1): [10.0, 870.0, 20.0]})
    table1 = make_sweep(tmp_path / "t1", "table1", {("ackley", "ppo", 1): [-3.0, -0.5]})
    aggregate([traffic], results_dir=out, figures=False)
    aggregate([table1], results_dir=out, figures=False)
    _, rows = read_summary(out / "summary.csv")
    assert [(r["experiment"], r["problem"], r["learner"]) for r in rows] == [
        ("traffic", "2lane", "gippo"),
        ("table1", "ackley", "ppo"),
    ]
    assert float(rows[0]["metric_mean"]) == 870.0 and float(rows[0]["paper"]) == 873.7
    # Re-aggregate table1 with another run: only its rows change, traffic stays first and untouched.
    make_run(table1 / "ackley" / "ppo" / "s2", "ackley", "ppo", 2, [-0.25])
    make_run(table1 / "myroad" / "ppo" / "s1", "myroad", "ppo", 1, [7.0])
    aggregate([table1], results_dir=out, figures=False)
    _, rows2 = read_summary(out / "summary.csv")
    assert rows2[0] == rows[0]
    assert [(r["experiment"], r["problem"], r["seeds"]) for r in rows2[1:]] == [
        ("table1", "ackley", "2"),
        ("table1", "myroad", "1"),
    ]
    assert float(rows2[1]["metric_mean"]) == pytest.approx(-0.375)
    assert float(rows2[1]["paper"]) == -0.2489
    assert rows2[2]["paper"] == ""  # the paper has no such problem


def test_markdown_table_marks_the_best_per_row(tmp_path):
    sweep = make_sweep(
        tmp_path / "sw",
        "traffic",
        {("1lane", "rp", 1): [900.0, 940.0], ("1lane", "gippo", 1): [930.0, 945.25], ("1lane", "lr", 1): [5.0]},
    )
    out = tmp_path / "results"
    aggregate([sweep], results_dir=out, figures=False)
    text = (out / "traffic.md").read_text()
    ours = next(line for line in text.splitlines() if line.startswith("| Single lane | ours"))
    paper = next(line for line in text.splitlines() if line.startswith("| | paper"))
    cells = [c.strip() for c in ours.split("|")[3:-1]]
    assert cells == ["5.000", "940.0", "**945.2**"]  # LR, RP, GI-PPO; ours: GI-PPO best
    assert "(1 seed, 1–2 epochs)" in ours
    assert [c.strip() for c in paper.split("|")[3:-1]] == ["945.3", "**947.4**", "943.5"]  # paper: RP best


def test_timing_table_extrapolates_to_500_epochs_with_ratios_to_rp(tmp_path):
    sweep = make_sweep(
        tmp_path / "timing",
        "timing",
        {
            ("1lane", "lr", 1): ([1.0] * 10, [1.2 * (i + 1) for i in range(10)]),  # 12 s for 10 epochs
            ("1lane", "rp", 1): ([1.0] * 10, [3.0 * (i + 1) for i in range(10)]),  # 30 s for 10 epochs
        },
        kind="timing",
    )
    out = tmp_path / "results"
    written = aggregate([sweep], results_dir=out)
    assert written == [out / "timing.csv", out / "timing.md"]
    assert not (out / "summary.csv").exists()
    with open(out / "timing.csv", newline="") as fh:
        rows = {r["learner"]: r for r in csv.DictReader(fh)}
    assert float(rows["lr"]["seconds_500"]) == pytest.approx(600.0)
    assert float(rows["rp"]["seconds_500"]) == pytest.approx(1500.0)
    assert float(rows["lr"]["ratio_to_rp"]) == pytest.approx(0.4)
    assert rows["lr"]["extrapolated"] == "1" and rows["lr"]["epochs_run"] == "10"
    assert float(rows["lr"]["paper_seconds"]) == 120.0
    assert float(rows["lr"]["paper_ratio_to_rp"]) == pytest.approx(120 / 282)
    md = (out / "timing.md").read_text()
    assert "extrapolated linearly from runs of 10 epochs" in md
    assert "| Single lane | ours (10 epochs run) | 600 (0.40×) | 1500 (1.00×) |" in md
    assert "| | paper | 120 (0.43×) | 282 (1.00×) |" in md


def test_figures_are_nonempty_pngs(tmp_path):
    import matplotlib.image as mpimg

    runs = {}
    for seed in (1, 2):
        runs[("dejong", "gippo", seed)] = [-10.0 / (i + 1) ** 3 for i in range(30)]
        runs[("dejong", "ppo", seed)] = [-10.0 / (i + 1) for i in range(30)]
        runs[("1lane", "rp", seed)] = [10.0 * i for i in range(30)]
    sweep = make_sweep(tmp_path / "sw", "mix", runs)
    out = tmp_path / "results"
    written = aggregate([sweep], results_dir=out, x="steps")
    pngs = [p for p in written if p.suffix == ".png"]
    assert [p.name for p in pngs] == ["mix_curves_steps.png", "mix_gippo_dejong.png"]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = mpimg.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 300
        assert image[..., :3].std() > 0.05  # not a blank canvas


def test_aggregation_errors(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        aggregate([tmp_path / "missing"], results_dir=tmp_path / "r")
    bare = tmp_path / "bare"
    make_run(bare / "a", "dejong", "lr", 1, [-1.0])
    with pytest.raises(UserError, match="--experiment NAME"):
        aggregate([bare], results_dir=tmp_path / "r")
    make_run(bare / "b", "dejong", "lr", 1, [-2.0])
    with pytest.raises(UserError, match="two runs of dejong/lr/seed 1"):
        aggregate([bare], experiment="x", results_dir=tmp_path / "r")
    bad = tmp_path / "r2"
    bad.mkdir()
    (bad / "summary.csv").write_text("a,b\n1,2\n")
    ok = make_sweep(tmp_path / "ok", "table1", {("dejong", "lr", 1): [-1.0]})
    with pytest.raises(UserError, match="unexpected columns"):
        aggregate([ok], results_dir=bad, figures=False)
    res = run_sweep("--aggregate", ok, "--preset", "table1")
    assert res.code == 2 and "takes only --experiment" in res.err


def test_fmt_value():
    assert [fmt_value(x) for x in (-3.84e-10, -0.24891, 943.5, 5933.0, -4.000073, None)] == [
        "-3.84e-10", "-0.2489", "943.5", "5933", "-4.000", "–",
    ]  # fmt: skip
    assert fmt_value(0.19695, 2) == "0.20" and fmt_value(23.4, 2) == "23"
