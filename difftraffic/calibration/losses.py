"""The calibration objectives as weighted least squares: ``loss = sum w e^2 / norm`` per parameter group.

* ``spacing`` (default; the literature's recommendation): ``e = s_sim - s_obs``, the error of the net gap
  (m) to the leader; in open loop the leader is the recorded one, so this is minus the follower's position
  error. Free-road samples (no leader) use minus the position error. ``w = 1``, ``norm`` = samples:
  ``sqrt(loss)`` is the spacing RMSE (m).
* ``speed``: ``e = v_sim - v_obs`` (m/s), ``w = 1``: ``sqrt(loss)`` is the speed RMSE.
* ``mixed`` (Kesting & Treiber 2008): ``w = 1 / |s_obs|``, ``norm = sum |s_obs|``, so
  ``sqrt(loss) = sqrt(sum (s_sim - s_obs)^2 / |s_obs| / sum |s_obs|)``, between the absolute and the relative
  spacing error. ``|s_obs|`` is floored at ``MIXED_GAP_FLOOR`` m; defined on gaps only (no free road).

Arrays here are time-major: ``[T, B, N]`` for a window of ``T`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from difftraffic.calibration.segments import Rows

LOSSES = ("spacing", "speed", "mixed")
MIXED_GAP_FLOOR = 0.5
"""m: the smallest observed gap the mixed loss divides by (guards against noisy near-zero gaps)."""


def observed_gap(rows: Rows) -> torch.Tensor:
    """Observed net gap (m) of every slot to its leader's rear, ``[B, N, K+1]``."""
    lead = rows.leader[..., None].expand_as(rows.x)
    return rows.x.gather(1, lead) - rows.length.gather(1, rows.leader)[..., None] - rows.x


@dataclass(frozen=True)
class Residuals:
    """Residuals ``e``, weights ``w`` and their Jacobians for one of :data:`LOSSES`."""

    kind: str = "spacing"

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"loss: {self.kind!r} is not one of {', '.join(LOSSES)}")

    def weights(self, rows: Rows) -> torch.Tensor:
        """``w`` ``[K+1, B, N]``: 0 where a sample is not compared (replayed, padding, a slot's first sample)."""
        w = rows.compared().to(rows.x.dtype)
        if self.kind == "mixed":
            w = w / observed_gap(rows).abs().clamp(min=MIXED_GAP_FLOOR)
        return w.permute(2, 0, 1)

    def error(self, rows: Rows, k: slice, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``e`` ``[T, B, N]`` at steps ``k`` for simulated ``x``, ``v`` ``[T, B, N]``."""
        if self.kind == "speed":
            return v - rows.v[..., k].permute(2, 0, 1)
        ex = x - rows.x[..., k].permute(2, 0, 1)
        lead = rows.leader.expand_as(ex)
        return torch.where(rows.has_leader, ex.gather(2, lead) - ex, -ex)

    def jacobian(self, rows: Rows, sens: torch.Tensor) -> torch.Tensor:
        """``d e / d theta`` ``[T, B, N, C]`` from state sensitivities ``sens [T, B, N, 2, C]``."""
        if self.kind == "speed":
            return sens[..., 1, :]
        sx = sens[..., 0, :]
        lead = rows.leader[None, :, :, None].expand_as(sx)
        return torch.where(rows.has_leader[..., None], sx.gather(2, lead) - sx, -sx)

    def normaliser(self, rows: Rows) -> torch.Tensor:
        """``norm`` per row ``[B]``: compared samples, or their summed ``|s_obs|`` (m) for ``mixed``."""
        cmp = rows.compared().to(rows.x.dtype)
        if self.kind == "mixed":
            return (cmp * observed_gap(rows).abs().clamp(min=MIXED_GAP_FLOOR)).sum((1, 2))
        return cmp.sum((1, 2))
