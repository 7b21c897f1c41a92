"""Reading CSV files into columns with line numbers, and difftraffic's own trajectory CSV format.

Our format: a header line, then one row per vehicle and time with the columns
``vehicle_id,time,lane,position,speed,length[,leader_id]`` (s, m, m/s, m; any further columns are kept as
extras, e.g. a vehicle class). Errors are :class:`TrajectoryError` one-liners naming the file and line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from difftraffic.calibration.table import COLUMNS, REQUIRED_COLUMNS, TrajectoryTable
from difftraffic.errors import UserError


class TrajectoryError(UserError):
    """Bad trajectory data: ``"<file>: <row N | vehicle V>: <problem>"`` on one line."""


def read_columns(
    path: str | Path, required: Sequence[str], optional: Sequence[str] | None = (), lower: bool = False
) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    """Columns of a CSV file as str arrays, each data row's line number, and the file name for errors.

    Keeps ``required`` and those of ``optional`` present (``optional=None``: every column); with ``lower`` the
    header's names are matched (and returned) in lower case. Raises
    TrajectoryError when the file cannot be read, is empty, has ragged rows or lacks a required column."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TrajectoryError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise TrajectoryError(f"{name}: is a directory, expected a CSV file") from None
    except UnicodeDecodeError:
        raise TrajectoryError(f"{name}: not a text (UTF-8) CSV file") from None
    except OSError as exc:
        raise TrajectoryError(f"{name}: cannot read ({exc.strerror})") from None
    sample = text[:4096]
    delimiter = "," if sample.count(",") >= sample.count(";") else ";"
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise TrajectoryError(f"{name}: empty file (expected a header line)") from None
    except csv.Error as exc:
        raise TrajectoryError(f"{name}: line 1: not CSV ({exc})") from None
    header = [h.strip().lower() if lower else h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise TrajectoryError(f"{name}: missing column(s) {', '.join(missing)} (header: {','.join(header)[:200]})")
    dup = [h for h in header if header.count(h) > 1]
    if dup:
        raise TrajectoryError(f"{name}: line 1: column {dup[0]!r} appears twice")
    keep = [h for h in header if h in required or optional is None or h in optional]
    where = [header.index(h) for h in keep]
    lists: list[list[str]] = [[] for _ in keep]
    lines = []
    try:
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue
            if len(record) != len(header):
                raise TrajectoryError(
                    f"{name}: row {reader.line_num}: {len(record)} fields, the header has {len(header)}"
                )
            for out, j in zip(lists, where):
                out.append(record[j].strip())
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise TrajectoryError(f"{name}: row {reader.line_num}: not CSV ({exc})") from None
    if not lines:
        raise TrajectoryError(f"{name}: no data rows after the header")
    cols = {h: np.array(values, dtype=str) for h, values in zip(keep, lists)}
    return cols, np.array(lines, dtype=np.int64), name


def to_float(col: np.ndarray, column: str, lines: np.ndarray, file: str) -> np.ndarray:
    """A str column as float64; TrajectoryError naming the first row that is not a number."""
    try:
        return col.astype(np.float64)
    except ValueError:
        pass
    for cell, line in zip(col, lines):
        try:
            float(cell)
        except ValueError:
            what = "empty" if not cell else f"{cell[:40]!r} is not a number"
            raise TrajectoryError(f"{file}: row {line}: {column}: {what}") from None
    raise AssertionError("unreachable")


def to_id(col: np.ndarray) -> np.ndarray:
    """Ids as strings with integer-valued floats written as integers ("12.0" -> "12")."""
    out = col.astype(str).copy()
    for i, cell in enumerate(out):
        if "." in cell or "e" in cell.lower():
            try:
                f = float(cell)
            except ValueError:
                continue
            if f.is_integer():
                out[i] = str(int(f))
    return out


def read_header(path: str | Path) -> list[str]:
    """The names on a CSV file's first line ([] when it cannot be read; the readers report why)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, UnicodeDecodeError):
        return []
    delimiter = "," if line.count(",") >= line.count(";") else ";"
    return [h.strip() for h in next(csv.reader([line], delimiter=delimiter), [])]


def read_trajectory_csv(path: str | Path) -> TrajectoryTable:
    """Read difftraffic's trajectory CSV (see the module docstring)."""
    cols, lines, name = read_columns(path, REQUIRED_COLUMNS, optional=None)
    nums = {c: to_float(cols[c], c, lines, name) for c in ("time", "position", "speed", "length")}
    leader = to_id(cols["leader_id"]) if "leader_id" in cols else None
    extra = {k: v for k, v in cols.items() if k not in COLUMNS}
    return TrajectoryTable(
        vehicle_id=to_id(cols["vehicle_id"]),
        lane=cols["lane"],
        leader_id=leader,
        extra=extra,
        source=name,
        row=lines,
        **nums,
    )


def write_trajectory_csv(table: TrajectoryTable, path: str | Path) -> None:
    """Write ``table`` in difftraffic's format (full float precision; leaders as read or derived)."""
    cols = {k: v for k, v in table.columns().items() if k != "row"}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(cols))
        for i in range(len(table)):
            w.writerow([repr(float(c[i])) if c.dtype.kind == "f" else str(c[i]) for c in cols.values()])
