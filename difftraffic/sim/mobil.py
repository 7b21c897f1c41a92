"""MOBIL lane changes (Kesting, Treiber & Helbing 2007) for IDM-driven vehicles.

A vehicle c may move to an adjacent lane when

* safety:    the new follower n would not have to brake harder than ``b_safe``: ã_n >= -b_safe, and
  neither new gap (to the new leader, from the new follower) is negative (no overlap);
* incentive: ã_c - a_c + p [(ã_n - a_n) + (ã_o - a_o)] ± bias > threshold,

where a are IDM accelerations now, ã after the change, o is c's current follower, p the politeness
and ``bias`` (m/s^2) favours moving to a *lower* lane index (+bias down, -bias up; 0 = symmetric).
A vehicle that changed lanes waits ``min_interval`` s before it may change again (no ping-pong).
Controlled vehicles never change lanes here, but count as neighbours (their IDM acceleration stands in
for their unknown future acceleration).

Neighbours in the adjacent lane come from a binary search on the (lane, x)-sorted keys: O(N log N)
per env, no N x N matrix. Simultaneous requests are resolved deterministically: candidates are ranked
by incentive (ties: lower vehicle index first); a candidate is dropped when a higher-ranked candidate
is its would-be leader or follower or targets the same gap, and then any candidate that is the
would-be neighbour of a surviving one is dropped. The highest-ranked candidate always changes, so
there is no livelock.

Lane changes are discrete decisions taken under ``torch.no_grad()``: no gradient flows through the
choice (the state after a change is differentiable w.r.t. x and v as usual, but not w.r.t. whether
the change happened).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from difftraffic.sim.idm import IDMParams, idm_acceleration
from difftraffic.sim.topology import Ring, build_topology, lane_neighbours, sort_keys


@dataclass(frozen=True)
class MOBILParams:
    """MOBIL parameters (floats or tensors broadcastable to ``[B, N]``).

    politeness: p (-); threshold: Δa_th (m/s^2); b_safe: maximum deceleration imposed on the new
    follower (m/s^2, positive); bias: extra incentive to move to a lower lane index (m/s^2);
    min_interval: minimum time between two lane changes of a vehicle (s).
    """

    politeness: float | torch.Tensor = 0.5
    threshold: float | torch.Tensor = 0.1
    b_safe: float | torch.Tensor = 4.0
    bias: float | torch.Tensor = 0.0
    min_interval: float | torch.Tensor = 3.0

    def validate(self) -> None:
        """Raise ValueError on impossible values (negative politeness, b_safe <= 0, min_interval < 0)."""
        for name, lo, strict in (("politeness", 0.0, False), ("b_safe", 0.0, True), ("min_interval", 0.0, False)):
            val = torch.as_tensor(getattr(self, name))
            bad = (val <= lo) if strict else (val < lo)
            if bool(bad.any()):
                raise ValueError(f"mobil.{name}: must be {'>' if strict else '>='} {lo}, got {val.min().item():g}")

    def to(self, device, dtype) -> MOBILParams:
        kw = {}
        for f in fields(self):
            val = getattr(self, f.name)
            kw[f.name] = val.to(device=device, dtype=dtype) if isinstance(val, torch.Tensor) else val
        return MOBILParams(**kw)


def _at(p, idx: torch.Tensor):
    """Per-vehicle parameter ``p`` read at vehicle indices ``idx`` (floats pass through)."""
    if isinstance(p, torch.Tensor) and p.dim() > 0:
        return p.expand(idx.shape).gather(1, idx)
    return p


def _idm_at(idm: IDMParams, idx: torch.Tensor) -> IDMParams:
    return IDMParams(**{f.name: _at(getattr(idm, f.name), idx) for f in fields(idm)})


@torch.no_grad()
def mobil_lane_changes(
    x: torch.Tensor,
    v: torch.Tensor,
    lane: torch.Tensor,
    idm: IDMParams,
    timer: torch.Tensor,
    controlled: torch.Tensor | None,
    params: MOBILParams,
    *,
    num_lanes: int,
    ring_length: Ring,
    dt: float,
    sstar_clip: str,
    min_gap: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decide lane changes for one step.

    ``x`` (m, float64), ``v`` (m/s), ``lane`` (long), ``timer`` (s until a vehicle may change again),
    ``controlled`` (bool or None), all ``[B, N]``; ``ring_length``: None on a straight road, else one length or
    per-env lengths ``[B, 1]`` (m). Returns (new lane, new timer, changed mask).
    """
    x, v = x.detach(), v.detach()
    n = x.shape[1]
    idx = torch.arange(n, device=x.device).expand_as(lane)
    topo = build_topology(x, lane, ring_length)
    keys_sorted = sort_keys(x, lane).gather(1, topo.order)
    lane_sorted = lane.gather(1, topo.order)
    length = idm.length

    def dist(f: torch.Tensor, ld: torch.Tensor) -> torch.Tensor:
        """Net gap (m, sim dtype) from follower ``f`` to leader ``ld``; a full lap when f == ld on a ring."""
        raw = x.gather(1, ld) - x.gather(1, f)
        if ring_length is not None:
            raw = raw - torch.floor(raw / ring_length) * ring_length
            raw = torch.where(f == ld, torch.zeros_like(raw) + ring_length, raw)
        return raw.to(v.dtype) - 0.5 * (_at(length, f) + _at(length, ld))

    def accel(f: torch.Tensor, ld: torch.Tensor, has_leader: torch.Tensor, v_lead: torch.Tensor | None = None):
        """IDM acceleration of vehicle ``f`` behind ``ld`` (free road where not ``has_leader``)."""
        vl = v.gather(1, ld) if v_lead is None else v_lead
        return idm_acceleration(v.gather(1, f), vl, dist(f, ld), has_leader, _idm_at(idm, f), sstar_clip, min_gap)

    a_now = accel(idx, topo.leader, topo.exists)
    old_f, has_old_f = topo.follower, topo.has_follower & (topo.follower != idx)
    # the old follower's leader after c leaves is c's leader (itself if it was c's leader: alone on a ring)
    a_o_new = accel(old_f, topo.leader, topo.exists | (ring_length is not None))
    d_old = torch.where(has_old_f, a_o_new - a_now.gather(1, old_f), torch.zeros_like(a_now))

    eligible = (lane >= 0) & (timer <= 0)
    if controlled is not None:
        eligible = eligible & ~controlled
    p = params.politeness
    best_gain = torch.full_like(v, float("-inf"))
    best_target = lane.clone()
    best_lead = idx.clone()
    best_fol = idx.clone()
    best_lead_ok = torch.zeros_like(eligible)
    best_fol_ok = torch.zeros_like(eligible)
    for direction in (-1, 1):  # lower lane index first: it wins ties
        target = lane + direction
        ok = eligible & (target >= 0) & (target < num_lanes)
        target = torch.where(ok, target, torch.full_like(target, -1))
        nl, nl_ok, nf, nf_ok = lane_neighbours(keys_sorted, topo.order, lane_sorted, x, target, ring_length is not None)
        a_c_new = accel(idx, nl, nl_ok)
        gap_front = torch.where(nl_ok, dist(idx, nl), torch.ones_like(v))
        gap_back = torch.where(nf_ok, dist(nf, idx), torch.ones_like(v))
        a_n_new = accel(nf, idx, torch.ones_like(nf_ok))
        a_n_now = a_now.gather(1, nf)
        safe = (gap_front >= 0) & (gap_back >= 0) & (~nf_ok | (a_n_new >= -params.b_safe))
        d_new = torch.where(nf_ok, a_n_new - a_n_now, torch.zeros_like(v))
        gain = a_c_new - a_now + p * (d_new + d_old) + (params.bias if direction < 0 else -params.bias)
        want = ok & safe & (gain > params.threshold) & (gain > best_gain)
        best_gain = torch.where(want, gain, best_gain)
        best_target = torch.where(want, target, best_target)
        best_lead = torch.where(want, nl, best_lead)
        best_fol = torch.where(want, nf, best_fol)
        best_lead_ok = torch.where(want, nl_ok, best_lead_ok)
        best_fol_ok = torch.where(want, nf_ok, best_fol_ok)

    cand = best_target != lane
    change = _resolve_conflicts(cand, best_gain, best_target, best_lead, best_lead_ok, best_fol, best_fol_ok, num_lanes)
    new_lane = torch.where(change, best_target, lane)
    interval = torch.as_tensor(params.min_interval, dtype=timer.dtype, device=timer.device)
    new_timer = torch.where(change, interval.expand_as(timer), torch.clamp(timer - dt, min=0.0))
    return new_lane, new_timer, change


def _resolve_conflicts(cand, gain, target, lead, lead_ok, fol, fol_ok, num_lanes: int) -> torch.Tensor:
    """Deterministic subset of the candidates that may change together (see the module docstring)."""
    b, n = cand.shape
    score = torch.where(cand, gain, torch.full_like(gain, float("-inf")))
    by_rank = torch.argsort(-score, dim=1, stable=True)  # best first; ties: lower index first
    rank = torch.empty_like(by_rank).scatter_(1, by_rank, torch.arange(n, device=cand.device).expand_as(by_rank))
    big = torch.full_like(rank, n)
    cand_rank = torch.where(cand, rank, big)
    # pass 1a: a higher-ranked candidate is my would-be leader or follower
    beaten = (lead_ok & (cand_rank.gather(1, lead) < rank)) | (fol_ok & (cand_rank.gather(1, fol) < rank))
    # pass 1b: best candidate per target gap; a gap is named by its leader, else its follower, else its empty lane
    slot = torch.where(lead_ok, lead, torch.where(fol_ok, fol + n, 2 * n + target.clamp(0, num_lanes - 1)))
    best_in_slot = torch.full((b, 2 * n + num_lanes), n, dtype=rank.dtype, device=rank.device)
    best_in_slot = best_in_slot.scatter_reduce(1, slot, cand_rank, reduce="amin")
    survive = cand & ~beaten & (best_in_slot.gather(1, slot) == rank)
    # pass 2: a candidate that is a surviving candidate's would-be neighbour stays
    blocked = torch.zeros((b, n), dtype=torch.long, device=cand.device)
    blocked = blocked.scatter_add(1, lead, (survive & lead_ok).long())
    blocked = blocked.scatter_add(1, fol, (survive & fol_ok).long())
    return survive & (blocked == 0)
