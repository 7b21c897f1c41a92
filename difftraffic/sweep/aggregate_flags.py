"""The flags of aggregation, shared by ``difftraffic sweep --aggregate`` and ``python -m difftraffic.sweep.results``."""

from __future__ import annotations

from typing import Any


def add_aggregate_flags(p: Any, experiment: bool = True) -> None:
    """``--experiment`` (unless ``experiment=False``), ``--results-dir`` and ``--x``."""
    if experiment:
        p.add_argument(
            "--experiment",
            metavar="NAME",
            help="experiment name for the rows (default: the sweep's, from DIR/sweep.yaml: the preset name)",
        )
    p.add_argument(
        "--results-dir",
        default="docs/results",
        metavar="DIR",
        help="where summary.csv, the tables and figures go (default: docs/results)",
    )
    p.add_argument(
        "--x",
        choices=("epoch", "steps"),
        default="epoch",
        help="learning-curve x axis: training epochs or env steps (default: epoch)",
    )
