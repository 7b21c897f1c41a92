"""The Intelligent Driver Model (IDM) as pure tensor functions, and its parameters.

IDM (Treiber, Hennecke & Helbing 2000; book form of Treiber & Kesting):

    s*(v, dv) = s0 + max(0, v T + v dv / (2 sqrt(a b)))      ("dynamic" clip, the book / SUMO / Flow form)
    acc       = a (1 - (v / v0)^delta - (s* / s)^2)

with dv = v - v_leader (m/s) and s the net gap (m) = leader rear minus follower front. Without a
leader the interaction term is 0 (free road). The GI-PPO paper's simulator clips the whole s*
instead (``s* = max(0, s0 + v T + v dv / (2 sqrt(a b)))``, "total" clip); both are available.

Units: m, s, m/s, m/s^2. Every parameter is a Python float or a tensor broadcastable to
``[B, N]`` (per-vehicle values give heterogeneous drivers).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

Param = float | torch.Tensor

SSTAR_CLIPS = ("dynamic", "total")


@dataclass(frozen=True)
class IDMParams:
    """IDM driver parameters: floats or tensors broadcastable to ``[B, N]``.

    v0: desired speed (m/s); T: safe time headway (s); a: maximum acceleration (m/s^2);
    b: comfortable deceleration (m/s^2, positive); s0: minimum standstill gap (m);
    delta: acceleration exponent (-); length: vehicle length (m).
    Defaults are Flow's / SUMO's human driver (v0=30, T=1, a=1, b=1.5, s0=2, delta=4, L=5).
    """

    v0: Param = 30.0
    T: Param = 1.0
    a: Param = 1.0
    b: Param = 1.5
    s0: Param = 2.0
    delta: Param = 4.0
    length: Param = 5.0

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> IDMParams:
        """Move tensor-valued parameters to ``device``/``dtype`` (floats stay floats)."""
        kw = {}
        for f in fields(self):
            val = getattr(self, f.name)
            kw[f.name] = val.to(device=device, dtype=dtype) if isinstance(val, torch.Tensor) else val
        return IDMParams(**kw)

    def expand(self, shape: tuple[int, int], device: torch.device | str, dtype: torch.dtype) -> IDMParams:
        """Every parameter as a ``[B, N]`` tensor of ``dtype`` on ``device``."""
        kw = {}
        for f in fields(self):
            val = getattr(self, f.name)
            t = torch.as_tensor(val, device=device, dtype=dtype)
            kw[f.name] = t.expand(shape).clone() if t.shape != shape else t
        return IDMParams(**kw)

    def validate(self) -> None:
        """Raise ValueError on physically impossible values (non-positive v0, T<0, a<=0, b<=0, s0<0, L<=0)."""
        rules = {
            "v0": (0.0, False),
            "T": (0.0, True),
            "a": (0.0, False),
            "b": (0.0, False),
            "s0": (0.0, True),
            "delta": (0.0, False),
            "length": (0.0, False),
        }
        for name, (lo, inclusive) in rules.items():
            val = torch.as_tensor(getattr(self, name))
            bad = (val < lo) if inclusive else (val <= lo)
            if bool(bad.any()):
                op = ">=" if inclusive else ">"
                raise ValueError(f"{name}: must be {op} {lo}, got {val.min().item():g}")


IDM_FIELDS = tuple(f.name for f in fields(IDMParams))
"""IDMParams field names in order: v0, T, a, b, s0, delta, length."""


def desired_gap(v: torch.Tensor, dv: torch.Tensor, p: IDMParams, sstar_clip: str = "dynamic") -> torch.Tensor:
    """IDM desired gap s* (m) for speed ``v`` and approach rate ``dv = v - v_leader`` (m/s)."""
    dyn = v * p.T + v * dv / (2.0 * (p.a * p.b) ** 0.5)
    if sstar_clip == "dynamic":
        return p.s0 + torch.clamp(dyn, min=0.0)
    if sstar_clip == "total":
        return torch.clamp(p.s0 + dyn, min=0.0)
    raise ValueError(f"sstar_clip must be one of {SSTAR_CLIPS}, got {sstar_clip!r}")


def idm_acceleration(
    v: torch.Tensor,
    v_leader: torch.Tensor,
    gap: torch.Tensor,
    has_leader: torch.Tensor,
    p: IDMParams,
    sstar_clip: str = "dynamic",
    min_gap: float = 1e-3,
) -> torch.Tensor:
    """IDM acceleration (m/s^2), ``[B, N]``.

    ``gap`` is the net gap to the leader (m), floored at ``min_gap``; where ``has_leader`` is False
    the vehicle drives on a free road (no interaction term, ``v_leader``/``gap`` ignored).
    """
    free = 1.0 - (v / p.v0) ** p.delta
    s_star = desired_gap(v, v - v_leader, p, sstar_clip)
    safe_gap = torch.where(has_leader, torch.clamp(gap, min=min_gap), torch.ones_like(gap))
    interaction = torch.where(has_leader, (s_star / safe_gap) ** 2, torch.zeros_like(gap))
    return p.a * (free - interaction)


def equilibrium_gap(v: torch.Tensor | float, p: IDMParams, sstar_clip: str = "dynamic") -> torch.Tensor:
    """Gap (m) at which a vehicle at constant speed ``v`` behind an equal-speed leader has zero acceleration."""
    v = torch.as_tensor(v, dtype=torch.float64)
    s_star = desired_gap(v, torch.zeros_like(v), p, sstar_clip)
    return s_star / torch.sqrt(1.0 - (v / p.v0) ** p.delta)
