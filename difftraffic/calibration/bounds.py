"""Physical parameter boxes, and the unit coordinates the fit optimises in.

A fitted IDM parameter ``p`` in its box ``[lo, hi]`` is written ``p = lo + (hi - lo) u`` with ``u`` in [0, 1];
the optimiser projects every iterate onto the box, so parameters stay physical (positive, bounded). (A
sigmoid reparameterisation ``u = sigmoid(z)`` was tried first and dropped: its vanishing slope near a bound
trapped parameters there -- on exact data, 3 of 8 drivers stalled at s0 = 0.1 m.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

PARAM_NAMES = ("v0", "T", "a", "b", "s0", "delta")
"""The IDM parameters a calibration can fit, in the order of every table and tensor."""

UNITS = {"v0": "m/s", "T": "s", "a": "m/s^2", "b": "m/s^2", "s0": "m", "delta": "-"}

DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {
    "v0": (5.0, 60.0),
    "T": (0.1, 5.0),
    "a": (0.1, 6.0),
    "b": (0.1, 8.0),
    "s0": (0.1, 10.0),
    "delta": (1.0, 10.0),
}
"""Default boxes (m/s, s, m/s^2, m/s^2, m, -): wide enough for cars and trucks on freeways and in cities
(cf. havsim's NGSIM genetic-algorithm box, converted: v0 6-37 m/s, T 0.1-5 s, s0 0.03-11 m, a and b 0.03-6 m/s^2)."""

DEFAULT_INITIAL: dict[str, float] = {"v0": 30.0, "T": 1.5, "a": 1.0, "b": 1.5, "s0": 2.0, "delta": 4.0}
"""Start of the fit, and the value of every parameter that is not fitted (delta = 4 unless fitted)."""

DEFAULT_FIT = ("v0", "T", "a", "b", "s0")


@dataclass(frozen=True)
class ParamBox:
    """Which parameters are fitted, their boxes and the values of the fixed ones.

    ``fit``: fitted names (subset of :data:`PARAM_NAMES`, in that order); ``bounds``: ``{name: (lo, hi)}``
    for every parameter; ``initial``: ``{name: value}`` for every parameter (start for fitted ones).
    """

    fit: tuple[str, ...]
    bounds: Mapping[str, tuple[float, float]]
    initial: Mapping[str, float]

    @classmethod
    def make(
        cls,
        fit: Sequence[str] = DEFAULT_FIT,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        initial: Mapping[str, float] | None = None,
    ) -> ParamBox:
        """Validated box: ValueError ``"<what>: <why>"`` on unknown names, empty fits, inverted boxes or
        initial values outside their box."""
        fit = tuple(fit)
        unknown = [n for n in (*fit, *(bounds or {}), *(initial or {})) if n not in PARAM_NAMES]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (choose from {', '.join(PARAM_NAMES)})")
        if not fit:
            raise ValueError("fit: name at least one parameter to fit")
        if len(set(fit)) != len(fit):
            raise ValueError(f"fit: parameter listed twice in {','.join(fit)}")
        box = dict(DEFAULT_BOUNDS)
        for name, lohi in (bounds or {}).items():
            lo, hi = (float(v) for v in lohi)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
                raise ValueError(f"bounds: {name}: needs 0 < lo < hi, got {lo:g}:{hi:g}")
            box[name] = (lo, hi)
        init = dict(DEFAULT_INITIAL)
        init.update({k: float(v) for k, v in (initial or {}).items()})
        for name in PARAM_NAMES:
            lo, hi = box[name]
            if name not in (initial or {}):  # a default start outside a user's box moves to the box centre
                if not lo <= init[name] <= hi:
                    init[name] = 0.5 * (lo + hi)
            elif name in fit and not lo <= init[name] <= hi:
                raise ValueError(f"initial: {name}={init[name]:g} is outside its box {lo:g}:{hi:g}")
            elif not (math.isfinite(init[name]) and init[name] > 0):
                raise ValueError(f"initial: {name}={init[name]:g} must be a positive number")
        order = tuple(n for n in PARAM_NAMES if n in fit)
        return cls(fit=order, bounds=box, initial=init)

    @property
    def fit_index(self) -> list[int]:
        """Positions of the fitted parameters in :data:`PARAM_NAMES`."""
        return [PARAM_NAMES.index(n) for n in self.fit]

    def lo_hi(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper bounds of the fitted parameters, ``[P]`` each."""
        lo = torch.tensor([self.bounds[n][0] for n in self.fit], dtype=dtype, device=device)
        hi = torch.tensor([self.bounds[n][1] for n in self.fit], dtype=dtype, device=device)
        return lo, hi

    def full(self, fitted: torch.Tensor) -> torch.Tensor:
        """All six parameters ``[..., 6]`` from the fitted ones ``[..., P]`` (fixed ones at their values)."""
        base = torch.tensor([self.initial[n] for n in PARAM_NAMES], dtype=fitted.dtype, device=fitted.device)
        out = base.expand(*fitted.shape[:-1], len(PARAM_NAMES)).clone()
        out[..., self.fit_index] = fitted
        return out

    def initial_fitted(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Start values of the fitted parameters, ``[P]``."""
        return torch.tensor([self.initial[n] for n in self.fit], dtype=dtype, device=device)

    def to_unit(self, p: torch.Tensor) -> torch.Tensor:
        """Fitted parameters scaled to [0, 1] inside their boxes (the CMA-ES coordinates)."""
        lo, hi = self.lo_hi(p.dtype, p.device)
        return (p - lo) / (hi - lo)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_unit`."""
        lo, hi = self.lo_hi(u.dtype, u.device)
        return lo + (hi - lo) * u


def parse_assignments(text: str, what: str, ranges: bool) -> dict[str, tuple[float, float]] | dict[str, float]:
    """Parse ``"v0=10:45,T=0.3:3"`` (``ranges``) or ``"v0=30,T=1.5"`` into a dict; ValueError naming ``what``."""
    out: dict = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or name not in PARAM_NAMES:
            raise ValueError(f"{what}: {item!r} is not NAME={'LO:HI' if ranges else 'VALUE'} with NAME in "
                             f"{', '.join(PARAM_NAMES)}")  # fmt: skip
        try:
            if ranges:
                lo, colon, hi = value.partition(":")
                if not colon:
                    raise ValueError
                out[name] = (float(lo), float(hi))
            else:
                out[name] = float(value)
        except ValueError:
            raise ValueError(f"{what}: {item!r}: {value!r} is not {'LO:HI' if ranges else 'a number'}") from None
    return out
