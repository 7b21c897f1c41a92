"""Vehicle slots as the detectors see them: one frame of a rollout and the geometry of one step.

A :class:`Frame` is one state of ``[B, N]`` vehicle slots: centre ``x`` (m, float64), speed ``v`` (m/s),
``lane`` (long, -1 = off the road), ``active`` (bool) and ``vehicle_id`` (long, -1 = empty slot).
Closed roads have no slot fields: every slot is active and holds vehicle ``slot index``
(:func:`slot_fields` reads them from a state or trajectory when present, else makes these defaults).

:func:`step_geometry` turns two consecutive frames into what every detector needs for the step
between them: front-bumper positions (SUMO's ``pos``: centre + length / 2), the distance driven
(unwrapped on a ring) and which slots hold the same vehicle in both frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Frame:
    """One frame of ``[B, N]`` slots; see the module docstring."""

    x: torch.Tensor
    v: torch.Tensor
    lane: torch.Tensor
    active: torch.Tensor
    vehicle_id: torch.Tensor


def slot_fields(obj, index: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(active, vehicle_id)`` of a SimState (``index`` None) or of frame ``index`` of a Trajectory.

    Where the object has no ``active`` / ``vehicle_id`` (or they are None) every slot is active and
    slot j holds vehicle j."""
    v = obj.v if index is None else obj.v[index]
    active = getattr(obj, "active", None)
    ids = getattr(obj, "vehicle_id", None)
    if active is not None and index is not None:
        active = active[index]
    if ids is not None and index is not None:
        ids = ids[index]
    if active is None:
        active = torch.ones(v.shape, dtype=torch.bool, device=v.device)
    if ids is None:
        ids = torch.arange(v.shape[-1], device=v.device).expand(v.shape)
    if active.shape != v.shape or ids.shape != v.shape:
        raise ValueError(f"active / vehicle_id must have the vehicles' shape {list(v.shape)}")
    return active.to(torch.bool), ids.to(torch.long)


def frame_of(obj, index: int | None = None) -> Frame:
    """The :class:`Frame` of a SimState (``index`` None) or of frame ``index`` of a Trajectory."""
    active, ids = slot_fields(obj, index)
    if index is None:
        return Frame(obj.x, obj.v, obj.lane, active, ids)
    return Frame(obj.x[index], obj.v[index], obj.lane[index], active, ids)


def vehicle_lengths(length, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """Vehicle lengths (m) as a float64 ``[B, N]`` tensor from ``IDMParams.length`` (float or tensor)."""
    return torch.as_tensor(length, dtype=torch.float64, device=device).expand(shape)


def ring_lengths(ring, batch: int, device: torch.device) -> torch.Tensor | None:
    """Per-env ring lengths ``[B, 1]`` (m, float64) from None (straight road), a float or a ``[B]``/``[B, 1]``."""
    if ring is None:
        return None
    length = torch.as_tensor(ring, dtype=torch.float64, device=device)
    return length.reshape(-1, 1).expand(batch, 1) if length.dim() else length.expand(batch, 1)


@dataclass(frozen=True)
class StepGeometry:
    """What the detectors use of the step from frame ``a`` to frame ``b`` (all ``[B, N]``)."""

    front0: torch.Tensor  # m, front bumper before the step (float64; 0 in inactive slots)
    front1: torch.Tensor  # m, front bumper after the step
    dx: torch.Tensor  # m, distance driven in the step (>= 0, unwrapped on a ring)
    v0: torch.Tensor  # m/s before the step (float64)
    v1: torch.Tensor  # m/s after the step (float64)
    length: torch.Tensor  # m, vehicle length (float64)
    lane0: torch.Tensor  # lane before the step (-1 where inactive)
    lane1: torch.Tensor  # lane after the step (the lane the step was driven on; -1 where inactive)
    same: torch.Tensor  # bool: the slot holds the same active vehicle in both frames
    removed: torch.Tensor  # bool: the vehicle of frame a is gone in frame b (left the road, slot emptied/reused)
    inserted: torch.Tensor  # bool: frame b's vehicle is new in this step
    ring: torch.Tensor | None  # [B, 1] ring lengths (m), None on a straight road


def step_geometry(a: Frame, b: Frame, length: torch.Tensor, ring: torch.Tensor | None) -> StepGeometry:
    """Geometry of the step from frame ``a`` to frame ``b``; ``length`` ``[B, N]`` (m), ``ring`` ``[B, 1]`` or None.

    Positions and speeds stay differentiable; inactive slots read as position 0, speed 0, lane -1."""
    same = a.active & b.active & (a.vehicle_id == b.vehicle_id)
    zero = torch.zeros((), dtype=torch.float64, device=length.device)
    half = 0.5 * length
    x0 = torch.where(a.active, a.x.to(torch.float64), zero)
    x1 = torch.where(b.active, b.x.to(torch.float64), zero)
    dx = torch.where(same, x1 - x0, zero)
    if ring is not None:
        dx = torch.where(dx < -0.5 * ring, dx + ring, dx)  # the vehicle crossed s = 0
    no_lane = torch.full_like(a.lane, -1)
    return StepGeometry(
        front0=x0 + half,
        front1=x1 + half,
        dx=dx,
        v0=torch.where(a.active, a.v.to(torch.float64), zero),
        v1=torch.where(b.active, b.v.to(torch.float64), zero),
        length=length,
        lane0=torch.where(a.active, a.lane, no_lane),
        lane1=torch.where(b.active, b.lane, no_lane),
        same=same,
        removed=a.active & ~same,
        inserted=b.active & ~same,
        ring=ring,
    )
