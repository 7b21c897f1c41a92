"""What happens between induction loops and vehicles in one step: SUMO's ``MSInductLoop`` notifications as tensor
logic on (vehicle, loop) pairs of any broadcastable shape (``[B, D, N]`` dense, ``[V, D]`` for candidate vehicles).

In a step ``[t, t + dt]``, for each pair (the vehicle's front ``rel1`` m past the loop after the step):

1. a vehicle on the loop that is no longer driving on its lane leaves early: by a lane change at the step's start
   (our lane changes happen before the move, at t), or, when its slot emptied, at the step's end (t + dt);
2. a vehicle that changed onto the lane with its front past the loop and its rear not enters at t, a vehicle
   inserted so enters at t + dt (SUMO's ``notifyEnter``);
3. driving along the lane, the front passing the loop enters at ``t + passing time`` and the rear passing
   ``position + length`` leaves at ``t + passing time`` (SUMO's ``notifyMove``; :mod:`.passing`).

A vehicle that leaves by driving off contributes a count, its speed ``(L_veh + L_loop) / max(t_leave - t_enter,
0.001)`` (m/s) and its length; every leaver contributes its time on the loop within the interval.
"""

from __future__ import annotations

import torch

from difftraffic.sim.measure.passing import NUMERICAL_EPS, passing_time

ACCUMULATORS = ("entered", "occupied", "count", "speed_sum", "inverse_speed_sum", "length_sum")
"""Columns of a loop's per-interval sums: vehicles entered, time on the loop (s), vehicles that left by driving,
sum of their speeds (m/s), of their inverse speeds (s/m) and of their lengths (m)."""


def wrap_centered(rel: torch.Tensor, ring: torch.Tensor | None) -> torch.Tensor:
    """``rel`` (m) mapped into [-L/2, L/2) on a ring of length ``ring`` (broadcastable); unchanged when None."""
    if ring is None:
        return rel
    return rel - torch.floor((rel.detach() + 0.5 * ring) / ring) * ring


def pair_events(
    on: torch.Tensor,
    entry: torch.Tensor,
    rel1: torch.Tensor,
    veh: dict[str, torch.Tensor],
    loop_lane: torch.Tensor,
    loop_length: torch.Tensor,
    istart: torch.Tensor,
    t: float,
    dt: float,
    integrator: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the pairs: returns the new ``on`` (bool) and ``entry`` (s) and the contributions ``[..., 6]``
    (columns :data:`ACCUMULATORS`). ``veh``: the vehicles' step geometry (``dx``, ``v0``, ``v1``, ``length``,
    ``lane0``, ``lane1``, ``same``, ``removed``, ``inserted``) shaped to broadcast against the pairs."""
    dx, length = veh["dx"], veh["length"]
    rel0 = rel1 - dx
    here1 = veh["lane1"] == loop_lane
    driving = veh["same"] & here1
    zero = torch.zeros((), dtype=entry.dtype, device=entry.device)
    # 1. early leavers
    gone = on & ~driving
    t_gone = t + dt * veh["removed"].to(entry.dtype)
    occupied = torch.where(gone, t_gone - torch.maximum(entry, istart), zero)
    on = on & ~gone
    # 2. entering without crossing: a lane change onto the loop, or an insertion onto it
    lc_in = driving & ~(veh["lane0"] == loop_lane) & (rel0 >= 0) & (rel0 - length < 0)
    new_in = veh["inserted"] & here1 & (rel1 >= 0) & (rel1 - length < 0)
    # 3. driving over the loop: the front enters, the rear leaves
    cross_in = driving & (rel0 < 0) & (rel1 >= 0)
    t_in = t + passing_time(-rel0, veh["v0"], veh["v1"], dx, dt, integrator)
    entry = torch.where(cross_in, t_in, torch.where(new_in, t + dt, torch.where(lc_in, t, entry)))
    entering = lc_in | new_in | cross_in
    on = on | entering
    b0, b1 = rel0 - length, rel1 - length
    past = driving & (b1 > loop_length)
    out = past & (b0 <= loop_length) & on
    t_out = t + passing_time(loop_length - b0, veh["v0"], veh["v1"], dx, dt, integrator)
    speed = (length + loop_length) / (t_out - entry).clamp(min=NUMERICAL_EPS)
    occupied = occupied + torch.where(out, t_out - torch.maximum(entry, istart), zero)
    contrib = torch.stack(
        [
            entering.to(entry.dtype),
            occupied,
            out.to(entry.dtype),
            torch.where(out, speed, zero),
            torch.where(out, 1.0 / speed, zero),
            torch.where(out, length, zero).expand_as(speed),
        ],
        dim=-1,
    )
    return on & ~past, entry, contrib
