"""Readers: our CSV (round trip, derived leaders), NGSIM (feet, columns), highD (bounding boxes, directions)."""

import csv

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from difftraffic.calibration import (
    TrajectoryError,
    check_table,
    read_trajectories,
    read_trajectory_csv,
    synthetic,
    write_trajectory_csv,
)


def _csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def table():
    truth = synthetic.draw_drivers(3, seed=2)
    return synthetic.simulate_platoons(truth, platoons=1, duration=5.0, classes=["car", "truck", "car"])


def test_our_csv_round_trips_exactly(tmp_path, table):
    write_trajectory_csv(table, tmp_path / "t.csv")
    back = read_trajectories(tmp_path / "t.csv")
    for name in ("vehicle_id", "time", "lane", "position", "speed", "length", "leader_id"):
        np.testing.assert_array_equal(getattr(back, name), getattr(table, name), err_msg=name)
    np.testing.assert_array_equal(back.extra["class"], table.extra["class"])
    assert back.row[0] == 2  # line numbers for messages (the header is line 1)


def test_leaders_derived_from_lane_and_position_match_the_recorded_ones(tmp_path, table):
    write_trajectory_csv(table, tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.reader(fh))
    j = rows[0].index("leader_id")
    _csv(tmp_path / "nolead.csv", [c for i, c in enumerate(rows[0]) if i != j],
         [[c for i, c in enumerate(r) if i != j] for r in rows[1:]])  # fmt: skip
    derived = check_table(read_trajectory_csv(tmp_path / "nolead.csv"))
    given_ = check_table(table)
    assert derived.derived_leaders and not given_.derived_leaders
    np.testing.assert_array_equal(derived.table.leader_id, given_.table.leader_id)


def test_ngsim_columns_and_units(tmp_path):
    header = ["Vehicle_ID", "Frame_ID", "Total_Frames", "Global_Time", "Local_X", "Local_Y", "v_length",
              "v_Width", "v_Class", "v_Vel", "v_Acc", "Lane_ID", "Preceding", "Following", "Space_Headway",
              "Location"]  # fmt: skip
    rows = []
    for f in range(100, 103):
        rows.append([7, f, 3, 0, 6.0, 500.0 + f, 14.5, 6, 2, 40.0, 0, 2, 0, 9, 0, "us-101"])
        rows.append([9, f, 3, 0, 6.0, 400.0 + f, 45.0, 8, 3, 35.0, 0, 2, 7, 0, 100.0, "us-101"])
    path = _csv(tmp_path / "ngsim.csv", header, rows)
    t = read_trajectories(path)
    assert t.source == str(path)
    sel = t.vehicle_id == "9"
    np.testing.assert_allclose(t.time[sel], [10.0, 10.1, 10.2])
    np.testing.assert_allclose(t.position[sel], (400.0 + np.arange(100, 103)) * 0.3048)
    np.testing.assert_allclose(t.speed[sel], 35.0 * 0.3048)
    np.testing.assert_allclose(t.length[sel], 45.0 * 0.3048)
    assert list(t.leader_id[sel]) == ["7"] * 3 and list(t.leader_id[~sel]) == [""] * 3
    assert set(t.extra["class"][sel]) == {"truck"} and set(t.extra["class"][~sel]) == {"auto"}
    rows.append([7, 103, 3, 0, 6.0, 603.0, 14.5, 6, 2, 40.0, 0, 2, 0, 9, 0, "i-80"])
    _csv(path, header, rows)
    with pytest.raises(TrajectoryError, match="Location: the file mixes i-80, us-101"):
        read_trajectories(path)
    assert len(read_trajectories(path, location="i-80")) == 1


def test_highd_bounding_boxes_directions_and_meta(tmp_path):
    header = ["frame", "id", "x", "y", "width", "height", "xVelocity", "yVelocity", "laneId", "precedingId"]
    rows = []
    for f in range(1, 4):
        dt = (f - 1) / 25.0
        rows.append([f, 1, 100.0 + 30 * dt, 5.0, 4.5, 1.8, 30.0, 0.0, 5, 2])  # to the right, behind 2
        rows.append([f, 2, 130.0 + 30 * dt, 5.0, 12.0, 2.5, 30.0, 0.0, 5, 0])
        rows.append([f, 3, 300.0 - 25 * dt, 20.0, 4.0, 1.8, -25.0, 0.0, 2, 0])  # to the left
    path = _csv(tmp_path / "01_tracks.csv", header, rows)
    t = read_trajectories(path)
    one, lorry, left = (t.vehicle_id == v for v in ("1", "2", "3"))
    np.testing.assert_allclose(t.time[one], [0.04, 0.08, 0.12])  # 25 Hz without a meta file
    np.testing.assert_allclose(t.position[one], 100.0 + 4.5 + 30 * np.array([0, 0.04, 0.08]))  # x + width
    np.testing.assert_allclose(t.position[left], -(300.0 - 25 * np.array([0, 0.04, 0.08])))  # -x, increasing
    np.testing.assert_allclose(t.speed[left], 25.0)
    assert list(t.leader_id[one]) == ["2"] * 3 and list(t.length[lorry]) == [12.0] * 3
    _csv(tmp_path / "01_recordingMeta.csv", ["id", "frameRate"], [[1, 50]])
    _csv(tmp_path / "01_tracksMeta.csv", ["id", "drivingDirection", "class"], [[1, 2, "Car"], [2, 2, "Truck"],
                                                                                 [3, 1, "Car"]])  # fmt: skip
    t = read_trajectories(path)
    np.testing.assert_allclose(t.time[t.vehicle_id == "1"], [0.02, 0.04, 0.06])
    assert list(t.extra["class"][t.vehicle_id == "2"]) == ["Truck"] * 3
    check_table(t)  # leaders ahead, uniform times: a valid table


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(st.sampled_from(["", "1", "2", "-1", "0.1", "nan", "x", "1e309", "3.5", "0"]),
                               min_size=7, max_size=7), min_size=1, max_size=8))  # fmt: skip
def test_fuzzed_files_give_a_table_or_one_trajectory_error(tmp_path, cells):
    path = _csv(tmp_path / "fuzz.csv", ["vehicle_id", "time", "lane", "position", "speed", "length", "leader_id"],
                cells)  # fmt: skip
    try:
        checked = check_table(read_trajectories(path))
    except TrajectoryError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path))
        return
    assert np.isfinite(checked.table.speed).all() and (checked.table.speed >= 0).all()
