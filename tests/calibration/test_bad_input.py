"""Bad trajectory files and flags: one line naming the file and the row or vehicle, exit 2, nothing in DIR."""

import csv

import pytest

from difftraffic.calibration import synthetic, write_trajectory_csv
from difftraffic.cli.commands import main
from tests.clihelpers import run_in_process

HEADER = ["vehicle_id", "time", "lane", "position", "speed", "length", "leader_id"]


def _rows():
    """Leader 1 and follower 2, 4 samples at 0.1 s: the smallest valid file."""
    rows = []
    for k in range(4):
        t = round(0.1 * k, 10)
        rows.append(["1", t, "0", 50.0 + 2.0 * t * 10, 20.0, 5.0, ""])
        rows.append(["2", t, "0", 20.0 + 2.0 * t * 10, 20.0, 5.0, "1"])
    return rows


def _write(path, rows, header=HEADER):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _edit(index, column, value):
    def apply(rows):
        rows[index][HEADER.index(column)] = value
        return rows

    return apply


CASES = {
    "missing column": (lambda r: [x[:4] + x[5:] for x in r], "missing column(s) speed", None),
    "non-uniform times": (_edit(6, "time", 0.35), "vehicle 1: times not uniform", None),
    "duplicate time": (_edit(2, "time", 0.0), "vehicle 1: time 0 s appears twice (rows 2 and 4)", None),
    "NaN position": (_edit(3, "position", "nan"), "row 5: position: nan is not a finite number", None),
    "not a number": (_edit(3, "speed", "fast"), "row 5: speed: 'fast' is not a number", None),
    "empty cell": (_edit(3, "length", ""), "row 5: length: empty", None),
    "one sample": (lambda r: r + [["3", 0.0, "1", 0.0, 10.0, 5.0, ""]], "vehicle 3: only one sample (row 10)", None),
    "negative speed": (_edit(5, "speed", -0.5), "row 7: speed: -0.5 m/s is negative", None),
    "zero length": (_edit(5, "length", 0), "row 7: length: 0 m must be > 0", None),
    "unknown leader": (_edit(1, "leader_id", "99"), "row 3: leader_id 99: no such vehicle in the file", None),
    "own leader": (_edit(1, "leader_id", "2"), "row 3: leader_id: vehicle 2 cannot be its own leader", None),
    "leader behind": (_edit(1, "position", 80.0), "row 3: leader 1 is not ahead at time 0 s", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_one_line_exit_2_and_no_output(tmp_path, case):
    change, message, _ = CASES[case]
    rows = change(_rows())
    header = HEADER if case != "missing column" else HEADER[:4] + HEADER[5:]
    data = _write(tmp_path / "data.csv", rows, header)
    out = tmp_path / "fit"
    res = run_in_process(main, "calibrate", data, "--out", out, "--quiet")
    assert res.code == 2, res.err
    assert len(res.err_lines) == 1, res.err
    assert res.err_lines[0].startswith(f"difftraffic: error: {data}: "), res.err
    assert message in res.err_lines[0], res.err
    assert not out.exists()


def test_leader_without_sample_at_that_time(tmp_path):
    rows = [r for r in _rows() if not (r[0] == "1" and r[1] == 0.3)]
    data = _write(tmp_path / "data.csv", rows)
    res = run_in_process(main, "calibrate", data, "--out", tmp_path / "fit", "--quiet")
    assert res.code == 2 and len(res.err_lines) == 1
    assert "leader 1 has no sample at time 0.3 s" in res.err_lines[0]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fit", "v0,foo"], "--fit: 'foo' is not a parameter"),
        (["--bounds", "v0=10"], "--bounds: 'v0=10': '10' is not LO:HI"),
        (["--bounds", "T=3:1"], "bounds: T: needs 0 < lo < hi, got 3:1"),
        (["--initial", "a=9"], "initial: a=9 is outside its box 0.1:6"),
        (["--classes", "class"], "classes: no column 'class'"),
        (["--classes", "x", "--mode", "global"], "--classes: one parameter set per class cannot be combined"),
        (["--loss", "mixed", "--free-road"], "loss: 'mixed' is defined on gaps"),
        (["--max-iter", "0"], "--max-iter: 0 is out of range"),
        (["--format", "ngsim"], "missing column(s) frame_id, local_y"),
        (["--min-duration", "2"], "no car-following segment of at least 20 steps to calibrate on"),
    ],
)
def test_bad_flags(tmp_path, flags, message):
    data = _write(tmp_path / "data.csv", _rows())
    res = run_in_process(main, "calibrate", data, "--out", tmp_path / "fit", "--quiet", "--min-duration", 0.1, *flags)
    assert res.code == 2, res.err
    assert len(res.err_lines) == 1 and message in res.err_lines[0], res.err
    assert not (tmp_path / "fit").exists()


def test_missing_file_and_non_empty_out(tmp_path):
    res = run_in_process(main, "calibrate", tmp_path / "none.csv", "--out", tmp_path / "fit")
    assert res.code == 2 and f"{tmp_path / 'none.csv'}: file not found" in res.err_lines[0]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    data = _write(tmp_path / "data.csv", _rows())
    res = run_in_process(main, "calibrate", data, "--out", tmp_path / "full")
    assert res.code == 2 and "exists and is not an empty directory" in res.err_lines[0]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["x"]


def test_platoon_needs_fixed_leaders(tmp_path):
    truth = synthetic.draw_drivers(2, seed=0)
    table = synthetic.simulate_platoons(truth, platoons=1, duration=3.0)
    lid = table.leader_id.copy()
    switch = (table.vehicle_id == "2") & (table.time > 1.0)
    lid[switch] = "0"  # vehicle 2 now follows the platoon's leader directly (a cut-out)
    table = table.with_leaders(lid)
    write_trajectory_csv(table, tmp_path / "data.csv")
    res = run_in_process(main, "calibrate", tmp_path / "data.csv", "--out", tmp_path / "fit", "--platoon")
    assert res.code == 2 and "vehicle 2: leader changes from 1 to 0 at row" in res.err_lines[0]
