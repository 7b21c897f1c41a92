"""CsvLog: lossless values, growing header, truncation for resume."""

import math

import numpy as np
import torch

from difftraffic.run.csvlog import CsvLog, format_value, parse_value, read_csv


def test_values_round_trip_exactly(tmp_path):
    values = [0.1 + 0.2, -3.8e-10, 1e300, 943.5123456789012, float(np.float32(0.1))]
    log = CsvLog(tmp_path / "p.csv", ("epoch", "x"))
    for i, v in enumerate(values):
        log.append({"epoch": i + 1, "x": v})
    log.close()
    header, rows = read_csv(tmp_path / "p.csv")
    assert header == ["epoch", "x"]
    assert [parse_value(r["x"]) for r in rows] == values  # bit-exact, not approximately
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"]


def test_format_value_types():
    assert format_value(torch.tensor(2.5)) == "2.5"
    assert format_value(np.int64(7)) == "7"
    assert format_value(True) == "1"
    assert format_value(math.nan) == "nan"
    assert format_value(None) == ""
    assert math.isnan(parse_value(""))


def test_new_key_widens_header_and_keeps_rows(tmp_path):
    path = tmp_path / "p.csv"
    log = CsvLog(path, ("epoch",))
    log.append({"epoch": 1, "a": 1.5})
    log.append({"epoch": 2, "a": 2.5, "b": 7})
    log.close()
    header, rows = read_csv(path)
    assert header == ["epoch", "a", "b"]
    assert rows[0] == {"epoch": "1", "a": "1.5", "b": ""}
    assert rows[1] == {"epoch": "2", "a": "2.5", "b": "7"}
    assert not list(tmp_path.glob(".*tmp"))  # the atomic rewrite left no temp file


def test_truncate_and_reopen_continue_counting(tmp_path):
    path = tmp_path / "p.csv"
    log = CsvLog(path, ("epoch",))
    for i in range(5):
        log.append({"epoch": i + 1, "r": i * 0.5})
    log.sync()
    assert log.rows == 5
    log.close()
    again = CsvLog(path, ("epoch",))
    assert again.rows == 5 and again.columns == ["epoch", "r"]
    again.truncate(3)
    again.append({"epoch": 4, "r": 9.0})
    again.close()
    _, rows = read_csv(path)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[-1]["r"] == "9.0"


def test_truncate_beyond_file_is_a_user_error(tmp_path):
    import pytest

    from difftraffic.errors import UserError

    log = CsvLog(tmp_path / "p.csv", ("epoch",))
    log.append({"epoch": 1})
    with pytest.raises(UserError, match="has 1 rows, but the checkpoint expects 4"):
        log.truncate(4)
