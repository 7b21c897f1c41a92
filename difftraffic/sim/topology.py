"""Leader/follower topology of a batched traffic state, found by sorting on (lane, x) and cached.

The topology of ``[B, N]`` vehicles is, per vehicle, the index of its leader (the nearest vehicle
ahead in the same lane) and of its follower, with existence masks. It is found with one stable
O(N log N) sort per env and then *reused* for as long as it stays valid; the fused step kernel
checks validity in O(N) on every step from quantities it computes anyway:

* straight road: every leader is still ahead, ``x[leader] - x >= 0``;
* ring road: the leader distances ``(x[leader] - x) mod length`` of each lane sum to one lap
  (an overtake makes a lane wind twice), so vehicles crossing the ring's seam need no re-sort;
* lanes: the lane tensor equals the one the topology was built for.

When an env's topology is invalid only that env is re-sorted (:func:`rebuild_rows`).
Everything here is discrete and runs without gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LANE_KEY = float(2**32)
"""Sort key = (lane + 1) * LANE_KEY + x: lanes never interleave for |x| < 2e9 m; off-road (-1) sorts first."""


@dataclass
class Topology:
    """Cached leader/follower structure; all tensors ``[B, N]`` unless noted."""

    order: torch.Tensor  # long: permutation sorting each env by (lane, x) (up to a cyclic shift per lane on rings)
    leader: torch.Tensor  # long: leader's vehicle index (self where there is none)
    exists: torch.Tensor  # bool: vehicle has a leader (on road and not the front of its lane on a straight road)
    follower: torch.Tensor  # long: index of the vehicle whose leader this is (self where none)
    has_follower: torch.Tensor  # bool
    lane: torch.Tensor  # long: the lanes this topology was built for
    lone_offset: torch.Tensor | None  # float64, ring only: length where a vehicle is alone in its lane (own leader)
    laps: torch.Tensor | None  # float64 [B], ring only: ring length x number of occupied lanes (sum of leader gaps)
    leader32: torch.Tensor | None = None  # int32 copies of leader / follower for the compiled kernels
    follower32: torch.Tensor | None = None
    lane_src: torch.Tensor | None = None  # the lane tensor object this was built from, and its version counter:
    lane_version: int = -1  # while both match, the lanes are known unchanged and the value check is skipped

    def lanes_unchanged(self, lane: torch.Tensor) -> bool:
        """True when ``lane`` is the very tensor this topology was built from, not modified in place since."""
        return lane is self.lane_src and lane._version == self.lane_version


def sort_keys(x: torch.Tensor, lane: torch.Tensor) -> torch.Tensor:
    """float64 sort key ``(lane + 1) * LANE_KEY + x`` for vehicles at ``x`` (m) in ``lane``, ``[B, N]``."""
    return (lane + 1).to(torch.float64) * LANE_KEY + x.detach().to(torch.float64)


Ring = float | torch.Tensor | None
"""A ring's length: None on a straight road, else one length (m) or per-env lengths ``[B, 1]`` (float64)."""


def per_env(ring: Ring) -> torch.Tensor | float:
    """``ring`` as a per-env ``[B]`` factor for reductions (a float stays a float)."""
    return ring[:, 0] if isinstance(ring, torch.Tensor) else ring


@torch.no_grad()
def build_topology(x: torch.Tensor, lane: torch.Tensor, ring_length: Ring) -> Topology:
    """Sort every env by (lane, x) and derive leaders and followers (rings wrap within each lane)."""
    order = torch.argsort(sort_keys(x, lane), dim=1, stable=True)
    return _from_order(order, lane, ring_length)


def _from_order(order: torch.Tensor, lane: torch.Tensor, ring_length: Ring) -> Topology:
    sl = lane.gather(1, order)
    n = order.shape[1]
    pos = torch.arange(n, device=order.device).expand_as(order)
    same_next = torch.zeros_like(order, dtype=torch.bool)
    same_next[:, :-1] = sl[:, 1:] == sl[:, :-1]
    same_prev = torch.zeros_like(same_next)
    same_prev[:, 1:] = same_next[:, :-1]
    on_road = sl >= 0
    if ring_length is not None:
        seg_start = torch.cummax(torch.where(same_prev, torch.zeros_like(pos), pos), dim=1).values
        lead_pos = torch.where(same_next, pos + 1, seg_start)
        # on a ring lead_pos is a cyclic shift inside each lane segment, hence a permutation: invert it
        fol_pos = torch.empty_like(lead_pos).scatter_(1, lead_pos, pos)
        exists_s = on_road
        has_fol_s = on_road
    else:
        lead_pos = torch.where(same_next, pos + 1, pos)
        fol_pos = torch.where(same_prev, pos - 1, pos)
        exists_s = same_next & on_road
        has_fol_s = same_prev & on_road

    def unsort(t: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(t).scatter_(1, order, t)

    leader = unsort(order.gather(1, lead_pos))
    follower = unsort(order.gather(1, fol_pos))
    exists = unsort(exists_s)
    has_follower = unsort(has_fol_s)
    lone_offset = laps = None
    if ring_length is not None:
        lone_s = on_road & (lead_pos == pos)
        lone_offset = unsort(lone_s.to(torch.float64) * ring_length)
        seg_first = on_road & ~same_prev
        laps = seg_first.sum(dim=1).to(torch.float64) * per_env(ring_length)
    return Topology(order, leader, exists, follower, has_follower, lane.clone(), lone_offset, laps,
                    leader.int(), follower.int(), lane, lane._version)  # fmt: skip


@torch.no_grad()
def rebuild_rows(topo: Topology, rows: torch.Tensor, x: torch.Tensor, lane: torch.Tensor, ring_length: Ring):
    """A copy of ``topo`` with the envs ``rows`` (long ``[K]``) re-sorted from ``x`` and ``lane``."""
    if rows.numel() == x.shape[0]:
        return build_topology(x, lane, ring_length)
    if isinstance(ring_length, torch.Tensor):
        ring_length = ring_length.index_select(0, rows)
    sub = build_topology(x.index_select(0, rows), lane.index_select(0, rows), ring_length)
    merged = {}
    names = ("order", "leader", "exists", "follower", "has_follower", "lone_offset", "laps", "leader32", "follower32")
    for name in names:
        full, part = getattr(topo, name), getattr(sub, name)
        merged[name] = None if full is None else full.index_copy(0, rows, part)
    return Topology(**merged, lane=lane.clone(), lane_src=lane, lane_version=lane._version)


@torch.no_grad()
def is_valid(topo: Topology, x: torch.Tensor, lane: torch.Tensor, ring_length: Ring) -> torch.Tensor:
    """Per env (bool ``[B]``): does ``topo`` still describe positions ``x`` and lanes ``lane``?

    The same test the fused kernel performs (see the module docstring), for the eager path.
    """
    same_lanes = (lane == topo.lane).all(dim=1)
    raw = x.detach().gather(1, topo.leader) - x.detach()
    if ring_length is None:
        return same_lanes & ~(topo.exists & (raw < 0)).any(dim=1)
    dx = raw - torch.floor(raw / ring_length) * ring_length + topo.lone_offset
    wind = torch.where(topo.exists, dx, torch.zeros_like(dx)).sum(dim=1)
    return same_lanes & ((wind - topo.laps).abs() < 0.5 * per_env(ring_length))


@torch.no_grad()
def lane_neighbours(
    keys_sorted: torch.Tensor,
    order: torch.Tensor,
    lane_sorted: torch.Tensor,
    x: torch.Tensor,
    target: torch.Tensor,
    ring: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Would-be leader and follower of each vehicle if it stood at its ``x`` in lane ``target``.

    ``keys_sorted``/``lane_sorted``: the sort keys and lanes in ``order`` (see :func:`sort_keys`).
    Binary search on the sorted keys: O(N log N) per env, no N x N matrix. A vehicle never counts
    as its own neighbour when ``target`` is its own lane only if callers exclude that case; MOBIL
    queries adjacent lanes only. On a ring the search wraps within the target lane.
    Returns (leader index, leader exists, follower index, follower exists), all ``[B, N]``.
    """
    n = x.shape[1]
    query = sort_keys(x, target)
    p = torch.searchsorted(keys_sorted, query, right=True)  # first sorted position strictly ahead
    # vehicles of lane `target` occupy sorted positions [lo, hi)
    lo = torch.searchsorted(lane_sorted, target, right=False)
    hi = torch.searchsorted(lane_sorted, target, right=True)
    empty = lo == hi
    lead_pos, fol_pos = p, p - 1
    if ring:
        lead_pos = torch.where(lead_pos >= hi, lo, lead_pos)
        fol_pos = torch.where(fol_pos < lo, hi - 1, fol_pos)
        lead_ok = ~empty
        fol_ok = ~empty
    else:
        lead_ok = lead_pos < hi
        fol_ok = fol_pos >= lo
    lead_ok = lead_ok & (target >= 0)
    fol_ok = fol_ok & (target >= 0)
    lead_pos = lead_pos.clamp(0, n - 1)
    fol_pos = fol_pos.clamp(0, n - 1)
    self_idx = torch.arange(n, device=x.device).expand_as(order)
    lead = torch.where(lead_ok, order.gather(1, lead_pos), self_idx)
    fol = torch.where(fol_ok, order.gather(1, fol_pos), self_idx)
    return lead, lead_ok, fol, fol_ok
