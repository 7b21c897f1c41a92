"""CsvLog: an append-only CSV file (one row per epoch) that survives interruption and resume.

* Values are written losslessly: floats with ``repr`` (shortest round-trip form, ``nan``/``inf`` as such),
  so a resumed run's rows compare bit-for-bit with an uninterrupted run's.
* The header is the union of all keys seen, in first-seen order. When a row brings a new key, the file
  is rewritten atomically with the wider header (earlier rows get empty cells).
* ``truncate(n)`` keeps the first ``n`` data rows (resume drops rows logged after the checkpoint).
* ``sync()`` flushes and fsyncs, so a checkpoint's row count never exceeds what is on disk.
"""

from __future__ import annotations

import csv
import math
import numbers
import os
from pathlib import Path
from typing import Any

from difftraffic.errors import UserError
from difftraffic.run.rundir import atomic_open


def format_value(value: Any) -> str:
    """One CSV cell: ints as ints, floats round-trip exact, tensors/NumPy scalars via ``.item()``."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def parse_value(cell: str) -> float:
    """A CSV cell as a float (empty → NaN)."""
    return float(cell) if cell not in ("", None) else math.nan


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV log; UserError naming the file if unreadable."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except csv.Error as exc:
        raise UserError(f"{path}: not a valid CSV file ({exc})") from None


class CsvLog:
    """Append rows (dicts) to ``path``; the first columns are fixed, the rest follow first appearance."""

    def __init__(self, path: Path, first_columns: tuple[str, ...] = ()):
        self.path = Path(path)
        self.columns: list[str] = list(first_columns)
        self.rows = 0
        self._fh = None
        if self.path.exists():
            header, rows = read_csv(self.path)
            for col in header:
                if col not in self.columns:
                    self.columns.append(col)
            self.rows = len(rows)

    def truncate(self, rows: int) -> None:
        """Keep the first ``rows`` data rows; UserError if the file holds fewer."""
        self.close()
        if not self.path.exists():
            if rows == 0:
                return
            raise UserError(f"{self.path}: missing, but the checkpoint expects {rows} rows")
        header, data = read_csv(self.path)
        if len(data) < rows:
            raise UserError(f"{self.path}: has {len(data)} rows, but the checkpoint expects {rows}")
        self._rewrite(data[:rows])

    def append(self, row: dict[str, Any]) -> None:
        """Write one row; new keys widen the header (file rewritten once)."""
        cells = {key: format_value(val) for key, val in row.items()}
        new = [key for key in cells if key not in self.columns]
        if new or not self.path.exists():
            self.close()
            old = read_csv(self.path)[1] if self.path.exists() else []
            self.columns.extend(new)
            self._rewrite(old)
        if self._fh is None:
            self._fh = open(self.path, "a", newline="")  # noqa: SIM115 - kept open across appends
        csv.DictWriter(self._fh, fieldnames=self.columns).writerow(cells)
        self._fh.flush()
        self.rows += 1

    def sync(self) -> None:
        """Flush and fsync the file (called before a checkpoint records ``rows``)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        with atomic_open(self.path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.rows = len(rows)
