"""The simulator's batched state (:class:`SimState`), a rollout's stacked states (:class:`Trajectory`), the
leader-search result (:class:`Leaders`) and the input checks of ``TrafficSim.init_state``.

All vehicle tensors are ``[B, N]`` = [envs, vehicles]:

* ``x``: longitudinal road coordinate of each vehicle's centre (m). Always float64, whatever the
  simulation dtype, so that positions far from the origin keep sub-millimetre accuracy; gaps are
  computed in float64 and then cast to the simulation dtype.
* ``v``: speed (m/s) in the simulation dtype (float32 or float64), never negative.
* ``lane``: lane index (long); -1 = off the road (such a vehicle neither leads nor follows anyone).
* ``idm``: :class:`~difftraffic.sim.idm.IDMParams` (floats or per-vehicle tensors).
* ``order``: cached permutation sorting each env's vehicles by (lane, x) (on a ring possibly a cyclic
  shift within a lane); ``topo``: the cached leader/follower topology (``topology.py``). Both are
  reused while still valid (checked in O(N) each step) and rebuilt with one sort otherwise.
* ``accel``: acceleration applied in the step that produced this state (m/s^2).
* ``lc_timer``: seconds until each vehicle may change lanes again (MOBIL only; None = all may).
* ``ring_length``: ``[B]`` per-env ring lengths (m, float64) on a ring road; None = the road's ``length``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from difftraffic.sim.idm import IDMParams
from difftraffic.sim.topology import Topology


@dataclass
class SimState:
    """Batched traffic state; see the module docstring. All vehicle tensors ``[B, N]``."""

    x: torch.Tensor
    v: torch.Tensor
    lane: torch.Tensor
    idm: IDMParams
    order: torch.Tensor | None = None
    accel: torch.Tensor | None = None  # acceleration applied in the step that produced this state (m/s^2)
    topo: Topology | None = None  # cached leader/follower topology (internal; rebuilt when stale)
    lc_timer: torch.Tensor | None = None  # s until each vehicle may change lanes again (MOBIL)
    ring_length: torch.Tensor | None = None  # [B] per-env ring lengths (m, float64); None = Road.length

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.v.shape)  # type: ignore[return-value]

    def detach(self) -> SimState:
        """The same state with autograd history cut (start of a truncated-BPTT window)."""
        accel = None if self.accel is None else self.accel.detach()
        idm = IDMParams(
            **{k: (val.detach() if isinstance(val, torch.Tensor) else val) for k, val in vars(self.idm).items()}
        )
        return replace(self, x=self.x.detach(), v=self.v.detach(), idm=idm, accel=accel)


@dataclass
class Trajectory:
    """Stacked states of a rollout: ``x``, ``v``, ``lane`` are ``[T+1, B, N]``; ``accel`` ``[T, B, N]``."""

    x: torch.Tensor
    v: torch.Tensor
    lane: torch.Tensor
    accel: torch.Tensor
    final: SimState


@dataclass
class Leaders:
    """Result of the leader search: per vehicle, its leader's index and the geometry to it."""

    index: torch.Tensor  # [B, N] long, the leader's vehicle index (self where there is none)
    exists: torch.Tensor  # [B, N] bool
    gap: torch.Tensor  # [B, N] net gap (m) in the sim dtype: leader rear minus own front (inf-free: 0 where none)
    v_leader: torch.Tensor  # [B, N] leader speed (m/s); own speed where there is none
    order: torch.Tensor  # [B, N] the (lane, x) sort permutation used


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


def check_inputs(x, v, lane, idm, num_lanes: int) -> tuple[torch.Tensor, IDMParams]:
    """Validate ``TrafficSim.init_state``'s inputs (ValueError/TypeError naming the argument); returns
    (lane as long, idm on v's device and dtype)."""
    if not isinstance(v, torch.Tensor) or v.dim() != 2:
        raise ValueError(f"v must be a [B, N] tensor, got {getattr(v, 'shape', type(v).__name__)}")
    if not isinstance(x, torch.Tensor) or x.shape != v.shape:
        raise ValueError(f"x has shape {list(getattr(x, 'shape', []))}, v has {list(v.shape)}; both must be [B, N]")
    if not v.is_floating_point():
        raise ValueError("v must be a floating-point tensor (float32 or float64)")
    if x.device != v.device:
        raise ValueError(f"x is on {x.device}, v on {v.device}")
    if not bool(torch.isfinite(x).all()) or not bool(torch.isfinite(v).all()):
        raise ValueError("x and v must be finite")
    if bool((v < 0).any()):
        raise ValueError(f"v must be >= 0 m/s, got {v.min().item():g}")
    if lane is None:
        lane = torch.zeros(v.shape, dtype=torch.long, device=v.device)
    if not isinstance(lane, torch.Tensor) or lane.shape != v.shape:
        raise ValueError(f"lane has shape {list(getattr(lane, 'shape', []))}, expected {list(v.shape)}")
    if lane.is_floating_point() or lane.dtype == torch.bool:
        raise ValueError(f"lane must be an integer tensor, got {lane.dtype}")
    if bool(((lane < -1) | (lane >= num_lanes)).any()):
        raise ValueError(f"lane: values must be in [-1, {num_lanes - 1}] (-1 = off the road)")
    idm = idm if idm is not None else IDMParams()
    if not isinstance(idm, IDMParams):
        raise TypeError(f"idm must be an IDMParams, got {type(idm).__name__}")
    idm.validate()
    for f in fields(idm):
        val = getattr(idm, f.name)
        if isinstance(val, torch.Tensor) and not _broadcasts_to(val.shape, v.shape):
            raise ValueError(f"idm.{f.name}: shape {list(val.shape)} does not broadcast to {list(v.shape)}")
    return lane.to(torch.long), idm.to(device=v.device, dtype=v.dtype)


def check_ring_length(ring_length, ring: bool, batch: int, device: torch.device) -> torch.Tensor | None:
    """Validate per-env ring lengths (``[B]``, m, > 0, finite; ring roads only); returns them as float64."""
    if ring_length is None:
        return None
    if not ring:
        raise ValueError("ring_length: per-env lengths need a ring road (Road(ring=True))")
    length = torch.as_tensor(ring_length, dtype=torch.float64, device=device)
    if length.shape != (batch,):
        raise ValueError(f"ring_length must be a [B] = [{batch}] tensor, got {list(length.shape)}")
    if not bool((torch.isfinite(length) & (length > 0)).all()):
        raise ValueError("ring_length: every ring length must be a positive finite number of metres")
    return length.clone()
