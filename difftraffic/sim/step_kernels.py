"""Fused IDM step kernels: forward and hand-derived backward as pure tensor functions.

``step_forward`` does in one pass what the eager path of :class:`~difftraffic.sim.TrafficSim` does
with ~40 autograd nodes: leader gap and speed (gather on the cached topology), the topology validity
test, IDM, the controlled override and the integrator. ``step_backward`` recomputes the forward
intermediates from the saved inputs (nothing else is stored) and applies the chain rule by hand.
Gradients reach a leader through the *follower* index (a gather, never a scatter-add): each vehicle
leads at most one vehicle, so the result is deterministic and needs no atomics.

Both functions are plain PyTorch, so they run eagerly or through ``torch.compile`` (see
``_sim_fused.py``). Masks follow PyTorch's own conventions (``clamp`` passes the gradient where the
input equals the bound; ``pow``'s exponent gradient is 0 at base 0), so the fused gradients equal
the eager autograd ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

Param = float | torch.Tensor


@dataclass(frozen=True)
class StepSpec:
    """Static configuration of a fused step (part of the compile cache key)."""

    dt: float
    integrator: str  # "euler" | "explicit" | "ballistic"
    sstar_clip: str  # "dynamic" | "total"
    min_gap: float
    ring: bool  # a ring road: positions wrap with the per-env length tensor ``ring_len`` [B, 1] (m, float64)
    has_accel: bool  # an acceleration input is given
    has_ctrl: bool  # ... with a controlled mask (else every vehicle is controlled)
    has_noise: bool = False  # an additive acceleration noise input for IDM-driven vehicles is given
    save_coef: bool = False  # forward also returns the local derivatives used by step_backward_coef


def _bn(p: Param, like: torch.Tensor) -> torch.Tensor | float:
    """A parameter broadcast to ``[B, N]`` when it is a tensor (floats stay floats)."""
    return p.expand(like.shape) if isinstance(p, torch.Tensor) else p


def _intermediates(spec, x, v, acc_in, ctrl, noise, leader, exists, lone_offset, ring_len,
                   v0, T, a, b, s0, delta, length):  # fmt: skip
    """Everything the forward computes, as a dict (shared by forward and backward)."""
    xl = x.gather(1, leader)
    raw = xl - x
    if spec.ring:
        dx = raw - torch.floor(raw / ring_len) * ring_len + lone_offset
    else:
        dx = raw
    if isinstance(length, torch.Tensor) and length.dim() > 0:
        length_bn = length.expand(x.shape)
        half = 0.5 * (length_bn + length_bn.gather(1, leader))
    else:
        half = length
    gap = dx.to(v.dtype) - half
    vl = v.gather(1, leader)
    dv = v - vl
    sab = 2.0 * (a * b) ** 0.5
    dyn = v * T + v * dv / sab
    if spec.sstar_clip == "dynamic":
        sstar = s0 + torch.clamp(dyn, min=0.0)
    else:
        sstar = torch.clamp(s0 + dyn, min=0.0)
    r = v / v0
    rd = r**delta
    free = 1.0 - rd
    s = torch.where(exists, torch.clamp(gap, min=spec.min_gap), torch.ones_like(gap))
    q = sstar / s
    inter = torch.where(exists, q**2, torch.zeros_like(q))
    acc_idm = a * (free - inter)
    if spec.has_noise:  # additive, no gradient: it shifts the acceleration but none of its derivatives
        acc_idm = acc_idm + noise
    if not spec.has_accel:
        acc = acc_idm
    elif spec.has_ctrl:
        acc = torch.where(ctrl, acc_in, acc_idm)
    else:
        acc = acc_in
    vraw = v + acc * spec.dt
    v_new = torch.clamp(vraw, min=0.0)
    return dict(
        raw=raw, dx=dx, gap=gap, dv=dv, sab=sab, dyn=dyn, sstar=sstar, r=r, rd=rd, free=free,
        s=s, q=q, inter=inter, acc=acc, vraw=vraw, v_new=v_new,
    )  # fmt: skip


def step_forward(spec, x, v, acc_in, ctrl, noise, leader, exists, lane, topo_lane, lone_offset, laps, ring_len,
                 *params):  # fmt: skip
    """One fused step. Returns (x_new float64, v_new, applied accel, bad [B] bool: topology invalid, any bad),
    followed by the local derivatives when ``spec.save_coef``."""
    m = _intermediates(spec, x, v, acc_in, ctrl, noise, leader, exists, lone_offset, ring_len, *params)
    if spec.ring:
        wind = torch.where(exists, m["dx"], torch.zeros_like(m["dx"])).sum(dim=1)
        bad = (wind - laps).abs() >= 0.5 * ring_len[:, 0]
    else:
        bad = (exists & (m["raw"] < 0)).any(dim=1)
    if lane is not None:  # None: the caller knows the lanes are unchanged
        bad = bad | (lane != topo_lane).any(dim=1)
    v_new, dt = m["v_new"], spec.dt
    if spec.integrator == "euler":
        step = v_new * dt
    elif spec.integrator == "explicit":
        step = v * dt
    else:
        acc = m["acc"]
        stops = m["vraw"] < 0
        acc_safe = torch.where(stops, acc, -torch.ones_like(acc))
        step = torch.where(stops, -v * v / (2.0 * acc_safe), v * dt + 0.5 * acc * dt * dt)
    x_new = x + step.to(torch.float64)
    if spec.ring:
        x_new = x_new - torch.floor(x_new / ring_len) * ring_len
    out = (x_new, v_new, (v_new - v) / dt, bad, bad.any())
    if spec.save_coef:
        out = out + _local_derivatives(spec, m, v, ctrl, exists, *params)
    return out


def _local_derivatives(spec, m, v, ctrl, exists, v0, T, a, b, s0, delta, length):
    """Partial derivatives of v_new: (dv_new/dv, dv_new/dv_leader, dv_new/dgap), all 0 where v_new is clamped.

    With these the backward needs no recomputation (Euler/explicit). A controlled vehicle ignores its
    surroundings, so its dv_new/dv is just the clamp mask and dv_new/daccel = dt * dv_new/dv. (Three float
    outputs and no bool one: inductor stores bool outputs slowly.)
    """
    dyn, sab, q, s, r, dt = m["dyn"], m["sab"], m["q"], m["s"], m["r"], spec.dt
    pass_sstar = (dyn >= 0) if spec.sstar_clip == "dynamic" else (s0 + dyn >= 0)
    zero = torch.zeros_like(v)
    two_q_s = torch.where(exists, 2.0 * q / s, zero)
    ds_dv = torch.where(pass_sstar, T + (m["dv"] + v) / sab, zero)
    ds_dvl = torch.where(pass_sstar, -v / sab, zero)
    c_v = a * (-delta * r ** (delta - 1.0) / v0 - two_q_s * ds_dv)
    c_vl = -a * two_q_s * ds_dvl
    c_gap = torch.where(m["gap"] >= spec.min_gap, a * two_q_s * q, zero)
    if spec.has_accel:  # controlled vehicles do not respond to their surroundings
        idm = ~ctrl if spec.has_ctrl else torch.zeros_like(exists)
        c_v, c_vl, c_gap = torch.where(idm, c_v, zero), torch.where(idm, c_vl, zero), torch.where(idm, c_gap, zero)
    keep = m["vraw"] >= 0
    return (
        torch.where(keep, 1.0 + dt * c_v, zero),
        torch.where(keep, dt * c_vl, zero),
        torch.where(keep, dt * c_gap, zero),
    )


def step_backward_coef(spec, needs, ctrl, follower, has_follower, d_v, d_vl, d_gap, gxn, gvn, gapp):
    """Vector-Jacobian product of :func:`step_forward` from the saved partials of v_new (``_local_derivatives``).

    For "euler" / "explicit" when no IDM parameter needs a gradient. Returns (g_x, g_v, g_acc_in).
    """
    dt = spec.dt
    zero = torch.zeros_like(d_v)
    g_vnew = gvn if gvn is not None else zero
    g_v = zero
    if gapp is not None:
        g_vnew = g_vnew + gapp / dt
        g_v = -gapp / dt
    if gxn is not None:
        if spec.integrator == "euler":
            g_vnew = g_vnew + gxn.to(d_v.dtype) * dt
        else:
            g_v = g_v + gxn.to(d_v.dtype) * dt
    g_vl = g_vnew * d_vl
    g_v = g_v + g_vnew * d_v + torch.where(has_follower, g_vl.gather(1, follower), zero)
    g_dx = (g_vnew * d_gap).to(torch.float64)
    g_x = torch.where(has_follower, g_dx.gather(1, follower), torch.zeros_like(g_dx)) - g_dx
    if gxn is not None:
        g_x = gxn + g_x
    g_accin = None
    if spec.has_accel:  # controlled: dv_new/daccel = dt * (clamp mask) = dt * dv_new/dv
        g_acc = g_vnew * d_v * dt
        g_accin = torch.where(ctrl, g_acc, zero) if spec.has_ctrl else g_acc
    grads = (g_x, g_v, g_accin)
    return tuple(g if need else None for g, need in zip(grads, needs))


def step_backward(spec, needs, x, v, acc_in, ctrl, noise, leader, exists, follower, has_follower, lone_offset, ring_len,
                  *rest):  # fmt: skip
    """Vector-Jacobian product of :func:`step_forward` (outputs x_new, v_new, applied accel).

    ``needs``: tuple of bools, which of (x, v, acc_in, v0, T, a, b, s0, delta, length) need a gradient.
    ``rest`` = the 7 IDM parameters followed by the output gradients (g_x_new, g_v_new, g_applied).
    Returns per-vehicle ``[B, N]`` gradients (None where not needed); parameter gradients are not yet
    reduced to the parameters' shapes.
    """
    v0, T, a, b, s0, delta, length, gxn, gvn, gapp = rest
    m = _intermediates(spec, x, v, acc_in, ctrl, noise, leader, exists, lone_offset, ring_len,
                       v0, T, a, b, s0, delta, length)  # fmt: skip
    dt = spec.dt
    zero = torch.zeros_like(v)
    g_step = gxn.to(v.dtype) if gxn is not None else None  # None output gradients count as zeros
    g_vnew = gvn if gvn is not None else zero
    g_v = zero
    if gapp is not None:
        g_vnew = g_vnew + gapp / dt
        g_v = -gapp / dt
    g_acc = zero
    if g_step is None:
        pass
    elif spec.integrator == "euler":
        g_vnew = g_vnew + g_step * dt
    elif spec.integrator == "explicit":
        g_v = g_v + g_step * dt
    else:
        acc = m["acc"]
        stops = m["vraw"] < 0
        acc_safe = torch.where(stops, acc, -torch.ones_like(acc))
        g_v = g_v + g_step * torch.where(stops, -v / acc_safe, torch.full_like(v, dt))
        g_acc = g_step * torch.where(stops, v * v / (2.0 * acc_safe * acc_safe), torch.full_like(v, 0.5 * dt * dt))
    g_vraw = torch.where(m["vraw"] >= 0, g_vnew, torch.zeros_like(g_vnew))
    g_v = g_v + g_vraw
    g_acc = g_acc + g_vraw * dt
    g_accin = None
    if not spec.has_accel:
        g_idm = g_acc
    elif spec.has_ctrl:
        zero = torch.zeros_like(g_acc)
        g_accin = torch.where(ctrl, g_acc, zero)
        g_idm = torch.where(ctrl, zero, g_acc)
    else:
        g_accin = g_acc
        g_idm = torch.zeros_like(g_acc)
    # acc_idm = a (1 - r^delta - inter)
    r, rd, q, s, sstar, dyn, dv, sab = m["r"], m["rd"], m["q"], m["s"], m["sstar"], m["dyn"], m["dv"], m["sab"]
    g_v0 = g_T = g_a = g_b = g_s0 = g_delta = g_len = None
    g_rd = -g_idm * a
    g_r = g_rd * (delta * r ** (delta - 1.0))
    g_v = g_v + g_r / v0
    if needs[3]:
        g_v0 = -g_r * v / (v0 * v0)
    if needs[5]:
        g_a = g_idm * (m["free"] - m["inter"])
    if needs[8]:
        g_delta = g_rd * torch.where(r == 0, torch.zeros_like(r), rd * torch.log(torch.where(r == 0, 1.0, r)))
    # inter = q^2 where a leader exists; q = s*/s; s = max(gap, min_gap)
    g_q = torch.where(exists, 2.0 * q * g_rd, torch.zeros_like(q))
    g_sstar = g_q / s
    g_s = -g_q * sstar / (s * s)
    g_gap = torch.where(exists & (m["gap"] >= spec.min_gap), g_s, torch.zeros_like(g_s))
    if spec.sstar_clip == "dynamic":
        g_s0 = g_sstar
        g_dyn = torch.where(dyn >= 0, g_sstar, torch.zeros_like(g_sstar))
    else:
        g_s0 = torch.where(s0 + dyn >= 0, g_sstar, torch.zeros_like(g_sstar))
        g_dyn = g_s0
    # dyn = v T + v dv / sab, sab = 2 sqrt(a b)
    g_vdv = g_dyn / sab
    g_dv = g_vdv * v
    g_v = g_v + g_dyn * T + g_vdv * dv + g_dv
    if needs[4]:
        g_T = g_dyn * v
    if needs[5] or needs[6]:
        g_ab = -g_vdv * v * dv / sab / (a * b) ** 0.5
        g_a = g_a + g_ab * b if needs[5] else None
        g_b = g_ab * a if needs[6] else None
    # leader terms: each follower i sends (g_dx, -g_dv, -g_gap/2) to its leader; read them back via `follower`
    g_dx = g_gap.to(torch.float64)
    zero64 = torch.zeros_like(g_dx)
    g_x = torch.where(has_follower, g_dx.gather(1, follower), zero64) - g_dx
    if gxn is not None:
        g_x = gxn + g_x
    g_v = g_v - torch.where(has_follower, g_dv.gather(1, follower), zero)
    if needs[9]:
        if length.dim() > 0:  # gap = dx - (L_i + L_leader) / 2
            g_half = -0.5 * g_gap
            g_len = g_half + torch.where(has_follower, g_half.gather(1, follower), zero)
        else:  # gap = dx - L
            g_len = -g_gap
    grads = (g_x, g_v, g_accin, g_v0, g_T, g_a, g_b, g_s0, g_delta, g_len)
    return tuple(g if need else None for g, need in zip(grads, needs))
