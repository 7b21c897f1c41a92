"""TrafficSim: batched, differentiable car-following simulation on a multi-lane road.

State: :class:`~difftraffic.sim.simstate.SimState` (``[B, N]`` = [envs, vehicles]; see ``simstate.py``).

``TrafficSim.step`` is a pure function of the state: autograd flows through positions, speeds,
controlled accelerations and IDM parameters; the discrete leader choice, lane membership and lane
changes carry no gradient (see docs/model.md).

Backends (``TrafficSim(..., backend=)``): ``"eager"`` is the simple reference (plain autograd, one
sort-validity check per step, works with every torch feature incl. torch.func and double backward);
``"fused"`` runs the same step as one autograd node with a hand-derived backward
(``step_kernels.py``); ``"compiled"`` is ``"fused"`` through torch.compile (lazily, cached; falls back
to ``"fused"`` if compiling fails); ``"auto"`` (default) uses ``"compiled"`` for at least
:data:`AUTO_COMPILE_MIN_VEHICLES` vehicles, ``"fused"`` below, and ``"eager"`` inside torch.func
transforms or when traced by a user's ``torch.compile`` (which then fuses the eager ops itself). The
choice depends only on the workload, so identical inputs give identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.autograd.forward_ad as fwad

from difftraffic.sim.fused_step import fused_step
from difftraffic.sim.idm import SSTAR_CLIPS, IDMParams, idm_acceleration
from difftraffic.sim.mobil import MOBILParams, mobil_lane_changes
from difftraffic.sim.road import Road
from difftraffic.sim.simstate import Leaders, SimState, Trajectory, check_inputs, check_ring_length
from difftraffic.sim.step_kernels import StepSpec
from difftraffic.sim.topology import Ring, build_topology, rebuild_rows

__all__ = ["AUTO_COMPILE_MIN_VEHICLES", "BACKENDS", "INTEGRATORS", "Leaders", "SimState", "TrafficSim", "Trajectory"]

INTEGRATORS = ("euler", "explicit", "ballistic")
"""euler: v first (clamped at 0), then x += v_new dt (SUMO/Flow default).
explicit: x += v_old dt, then v (the GI-PPO paper's simulator).
ballistic: x += v dt + a dt^2 / 2 with the exact stopping distance when the vehicle stops in the step."""

BACKENDS = ("auto", "eager", "fused", "compiled")
AUTO_COMPILE_MIN_VEHICLES = 4096
"""``backend="auto"`` compiles the fused step when a batch holds at least this many vehicles (B * N)."""

_LANE_KEY = float(2**32)  # sort key = (lane + 1) * 2^32 + x: lanes never interleave for |x| < 2e9 m


def _is_transformed(*tensors) -> bool:
    """True inside torch.func transforms (functorch-wrapped tensors) or for forward-mode AD dual tensors, where
    only the eager path applies (the fused node has no forward-mode derivative)."""
    if any(isinstance(t, torch.Tensor) and torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors):
        return True
    if getattr(fwad, "_current_level", 0) < 0:  # no dual level is active: no tensor can carry a tangent
        return False
    return any(isinstance(t, torch.Tensor) and fwad.unpack_dual(t).tangent is not None for t in tensors)


class TrafficSim:
    """Batched IDM traffic on a :class:`Road`.

    Args:
        road: the road (straight or ring).
        dt: time step (s).
        integrator: one of :data:`INTEGRATORS`.
        lane_changes: None (vehicles keep their lanes) or "mobil" (discrete MOBIL lane changes for
            IDM-driven vehicles, decided at the start of each step; no gradient flows through them).
        sstar_clip: "dynamic" (book form, SUMO/Flow) or "total" (the paper's simulator); see idm.py.
        min_gap: floor of the gap used in the IDM interaction term (m).
        mobil: :class:`~difftraffic.mobil.MOBILParams` (defaults when None); used with lane_changes="mobil".
        backend: one of :data:`BACKENDS` (see the module docstring).
    """

    def __init__(
        self,
        road: Road,
        dt: float = 0.1,
        integrator: str = "euler",
        lane_changes: str | None = None,
        sstar_clip: str = "dynamic",
        min_gap: float = 1e-3,
        mobil: MOBILParams | None = None,
        backend: str = "auto",
    ):
        if not isinstance(road, Road):
            raise TypeError(f"road must be a difftraffic.Road, got {type(road).__name__}")
        if integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
        if sstar_clip not in SSTAR_CLIPS:
            raise ValueError(f"sstar_clip must be one of {SSTAR_CLIPS}, got {sstar_clip!r}")
        if lane_changes not in (None, "mobil"):
            raise ValueError(f"lane_changes must be None or 'mobil', got {lane_changes!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not (isinstance(dt, int | float) and dt > 0):
            raise ValueError(f"dt must be > 0 s, got {dt!r}")
        if not (isinstance(min_gap, int | float) and min_gap > 0):
            raise ValueError(f"min_gap must be > 0 m, got {min_gap!r}")
        if mobil is not None and not isinstance(mobil, MOBILParams):
            raise TypeError(f"mobil must be a MOBILParams, got {type(mobil).__name__}")
        self.road = road
        self.dt = float(dt)
        self.integrator = integrator
        self.lane_changes = lane_changes
        self.sstar_clip = sstar_clip
        self.min_gap = float(min_gap)
        self.mobil = mobil or MOBILParams()
        self.mobil.validate()
        self.backend = backend
        self._specs: dict[tuple[bool, bool, bool], StepSpec] = {}
        self._ring_cache: dict[tuple, torch.Tensor] = {}

    @property
    def ring_length(self) -> float | None:
        """The road length (m) on a ring road, None on a straight road (a state may carry per-env lengths)."""
        return float(self.road.length) if self.road.ring else None

    def ring(self, state: SimState) -> Ring:
        """The ring length of ``state``: None (straight road), the road's length (float) or per-env ``[B, 1]``."""
        if not self.road.ring:
            return None
        return self.ring_length if state.ring_length is None else state.ring_length[:, None]

    def _ring_tensor(self, state: SimState) -> torch.Tensor | None:
        """Per-env ring lengths ``[B, 1]`` (float64) for the fused kernels (cached when they are the road's)."""
        if not self.road.ring:
            return None
        if state.ring_length is not None:
            return state.ring_length[:, None]
        key = (state.x.shape[0], state.x.device)
        cached = self._ring_cache.get(key)
        if cached is None:
            cached = self._ring_cache[key] = torch.full((key[0], 1), self.ring_length, dtype=torch.float64,
                                                        device=key[1])  # fmt: skip
        return cached

    # ------------------------------------------------------------------ state
    def init_state(
        self,
        x: torch.Tensor,
        v: torch.Tensor,
        lane: torch.Tensor | None = None,
        idm: IDMParams | None = None,
        ring_length: torch.Tensor | None = None,
    ) -> SimState:
        """Build a state from positions ``x`` (m), speeds ``v`` (m/s, >= 0) and lanes, all ``[B, N]``.

        The simulation dtype and device are those of ``v``. ``lane`` defaults to 0 everywhere,
        ``idm`` to :class:`IDMParams` defaults. On a ring road ``ring_length`` (``[B]``, m) gives every env
        its own circumference (default: the road's ``length``). Positions are wrapped into [0, length) on a ring.
        """
        lane, idm = check_inputs(x, v, lane, idm, self.road.num_lanes)
        length = check_ring_length(ring_length, self.road.ring, v.shape[0], v.device)
        x64 = self.road.wrap(x.to(torch.float64), None if length is None else length[:, None])
        timer = torch.zeros_like(v) if self.lane_changes == "mobil" else None
        return SimState(x=x64, v=v, lane=lane, idm=idm, lc_timer=timer, ring_length=length)

    # --------------------------------------------------------- leader search
    def sort_order(self, x: torch.Tensor, lane: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        """Permutation ``[B, N]`` sorting vehicles by (lane, x); reuses ``order`` while it is still valid."""
        key = (lane + 1).to(torch.float64) * _LANE_KEY + x.detach()
        # inside torch.compile, re-sort every step: the validity check would be a host sync (graph break)
        if order is not None and order.shape == key.shape and not torch.compiler.is_compiling():
            ks = key.gather(1, order)
            if bool((ks[:, 1:] >= ks[:, :-1]).all()):
                return order
        return torch.argsort(key, dim=1, stable=True)

    def leaders(self, state: SimState) -> Leaders:
        """Nearest vehicle ahead in the same lane for every vehicle (ring roads wrap around)."""
        x, lane = state.x, state.lane
        n = x.shape[1]
        order = self.sort_order(x, lane, state.order)
        sl = lane.gather(1, order)
        pos = torch.arange(n, device=x.device).expand_as(order)
        same_next = torch.zeros_like(order, dtype=torch.bool)
        same_next[:, :-1] = sl[:, 1:] == sl[:, :-1]
        if self.road.ring:
            starts = torch.ones_like(same_next)
            starts[:, 1:] = sl[:, 1:] != sl[:, :-1]
            seg_start = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), dim=1).values
            lead_pos = torch.where(same_next, pos + 1, seg_start)
            wraps = ~same_next
            exists_sorted = torch.ones_like(same_next)
        else:
            lead_pos = torch.where(same_next, pos + 1, pos)
            wraps = torch.zeros_like(same_next)
            exists_sorted = same_next
        on_road_sorted = sl >= 0
        exists_sorted = exists_sorted & on_road_sorted
        # back from sorted positions to vehicle indices
        leader = torch.empty_like(order).scatter_(1, order, order.gather(1, lead_pos))
        exists = torch.empty_like(exists_sorted).scatter_(1, order, exists_sorted)
        wrapped = torch.empty_like(wraps).scatter_(1, order, wraps)

        dx = x.gather(1, leader) - x
        if self.road.ring:
            dx = dx + wrapped.to(dx.dtype) * self.ring(state)
        length = state.idm.length
        if isinstance(length, torch.Tensor) and length.dim() > 0:
            length = length.expand(x.shape)
            half_sum = 0.5 * (length + length.gather(1, leader))
        else:
            half_sum = length
        gap = dx.to(state.v.dtype) - half_sum
        v_leader = state.v.gather(1, leader)
        gap = torch.where(exists, gap, torch.zeros_like(gap))
        return Leaders(index=leader, exists=exists, gap=gap, v_leader=v_leader, order=order)

    # ------------------------------------------------------------- dynamics
    def accelerations(self, state: SimState, leaders: Leaders | None = None) -> torch.Tensor:
        """IDM acceleration (m/s^2) of every vehicle, ``[B, N]``."""
        ld = leaders if leaders is not None else self.leaders(state)
        return idm_acceleration(state.v, ld.v_leader, ld.gap, ld.exists, state.idm, self.sstar_clip, self.min_gap)

    def integrate(self, state: SimState, acc: torch.Tensor, order: torch.Tensor | None = None) -> SimState:
        """Advance positions and speeds by one step with acceleration ``acc`` (m/s^2); speeds stay >= 0."""
        dt, v, x = self.dt, state.v, state.x
        v_new = torch.clamp(v + acc * dt, min=0.0)
        if self.integrator == "euler":
            dx = v_new * dt
        elif self.integrator == "explicit":
            dx = v * dt
        else:  # ballistic
            stops = (v + acc * dt) < 0
            acc_safe = torch.where(stops, acc, -torch.ones_like(acc))
            dx = torch.where(stops, -v * v / (2.0 * acc_safe), v * dt + 0.5 * acc * dt * dt)
        ring = None if state.ring_length is None else state.ring_length[:, None]
        x_new = self.road.wrap(x + dx.to(torch.float64), ring)
        applied = (v_new - v) / dt
        order = order if order is not None else state.order
        return replace(state, x=x_new, v=v_new, order=order, accel=applied)

    def step(
        self,
        state: SimState,
        accel: torch.Tensor | None = None,
        controlled: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> SimState:
        """One simulation step. IDM drives every vehicle, except that where ``controlled`` ([B, N] bool;
        all vehicles when None) is True the given ``accel`` (m/s^2, [B, N]) is applied instead.

        ``noise`` (``[B, N]``, m/s^2, no gradient) is added to the IDM acceleration of IDM-driven vehicles
        (e.g. Flow's human drivers: ``sqrt(dt) * N(0, sigma)`` per step). With ``lane_changes="mobil"`` the
        non-controlled vehicles first take their lane-change decisions (no gradient), then every vehicle
        moves along its (new) lane.
        """
        shape = state.v.shape
        if state.lane.shape != shape or state.x.shape != shape:
            raise ValueError(f"state.x, state.v and state.lane must share one [B, N] shape, got {list(shape)}")
        if accel is not None and (not isinstance(accel, torch.Tensor) or accel.shape != shape):
            raise ValueError(f"accel must be a {list(shape)} tensor, got {list(getattr(accel, 'shape', []))}")
        if noise is not None and (not isinstance(noise, torch.Tensor) or noise.shape != shape):
            raise ValueError(f"noise must be a {list(shape)} tensor, got {list(getattr(noise, 'shape', []))}")
        if controlled is not None:
            if accel is None:
                raise ValueError("controlled needs accel: the acceleration of the controlled vehicles")
            if not isinstance(controlled, torch.Tensor) or controlled.dtype != torch.bool or controlled.shape != shape:
                raise ValueError(f"controlled must be a bool {list(shape)} tensor")
        if self.lane_changes == "mobil":
            state = self.change_lanes(state, controlled if accel is not None else None)
        backend = self._resolve_backend(state, accel)
        if backend == "eager":
            ld = self.leaders(state)
            acc = self.accelerations(state, ld)
            if noise is not None:
                acc = acc + noise.detach().to(acc.dtype)
            if accel is not None:
                acc = accel.to(acc.dtype) if controlled is None else torch.where(controlled, accel.to(acc.dtype), acc)
            return self.integrate(state, acc, ld.order)
        return self._fused(state, accel, controlled, noise, compiled=backend == "compiled")

    def change_lanes(self, state: SimState, controlled: torch.Tensor | None = None) -> SimState:
        """Apply one round of MOBIL lane-change decisions (no gradient); positions and speeds are unchanged."""
        timer = state.lc_timer if state.lc_timer is not None else torch.zeros_like(state.v.detach())
        lane, timer, _ = mobil_lane_changes(
            state.x,
            state.v,
            state.lane,
            state.idm,
            timer,
            controlled,
            self.mobil,
            num_lanes=self.road.num_lanes,
            ring_length=self.ring(state),
            dt=self.dt,
            sstar_clip=self.sstar_clip,
            min_gap=self.min_gap,
        )
        return replace(state, lane=lane, lc_timer=timer)

    def _resolve_backend(self, state: SimState, accel: torch.Tensor | None) -> str:
        if self.backend == "eager" or torch.compiler.is_compiling():  # a user's torch.compile traces eager ops
            return "eager"
        if _is_transformed(state.x, state.v, accel, *vars(state.idm).values()):
            return "eager"
        if self.backend == "auto":
            return "compiled" if state.v.numel() >= AUTO_COMPILE_MIN_VEHICLES else "fused"
        return self.backend

    def _spec(
        self, accel: torch.Tensor | None, controlled: torch.Tensor | None, noise: torch.Tensor | None
    ) -> StepSpec:
        key = (accel is not None, accel is not None and controlled is not None, noise is not None)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = StepSpec(
                dt=self.dt,
                integrator=self.integrator,
                sstar_clip=self.sstar_clip,
                min_gap=self.min_gap,
                ring=self.road.ring,
                has_accel=key[0],
                has_ctrl=key[1],
                has_noise=key[2],
            )
        return spec

    def _fused(self, state: SimState, accel, controlled, noise, compiled: bool) -> SimState:
        """The fused step on the cached topology (re-sorting only the envs where it went stale)."""
        x, v, lane = state.x, state.v, state.lane
        if x.dtype != torch.float64:
            raise ValueError(f"state.x must be float64 (build states with TrafficSim.init_state), got {x.dtype}")
        spec = self._spec(accel, controlled, noise)
        acc_in = accel.to(v.dtype) if accel is not None else None
        ctrl = controlled if spec.has_ctrl else None
        noise = noise.detach().to(v.dtype) if noise is not None else None
        p = state.idm
        params = (p.v0, p.T, p.a, p.b, p.s0, p.delta, p.length)
        ring, ring_len = self.ring(state), self._ring_tensor(state)
        topo = state.topo
        stale = topo is None or topo.leader.shape != v.shape or topo.leader.device != v.device
        if stale or (topo.laps is None) != (ring is None):  # also: a state moved to another road
            topo = build_topology(x, lane, ring)
        x_new, v_new, applied, bad, any_bad = fused_step(
            spec, compiled, x, v, acc_in, ctrl, lane, topo, params, noise, ring_len
        )
        if bool(any_bad):
            topo = rebuild_rows(topo, bad.nonzero().flatten(), x, lane, ring)
            x_new, v_new, applied, *_ = fused_step(
                spec, compiled, x, v, acc_in, ctrl, lane, topo, params, noise, ring_len
            )
        return replace(state, x=x_new, v=v_new, order=topo.order, accel=applied, topo=topo)

    def rollout(
        self,
        state: SimState,
        steps: int,
        accel: torch.Tensor | Callable[[int, SimState], torch.Tensor] | None = None,
        controlled: torch.Tensor | None = None,
    ) -> Trajectory:
        """Run ``steps`` steps and stack the states (differentiable).

        ``accel`` is None (pure IDM), a ``[steps, B, N]`` tensor, or a function ``(t, state) -> [B, N]``
        giving the acceleration of the ``controlled`` vehicles at step t.
        """
        xs, vs, lanes, accs = [state.x], [state.v], [state.lane], []
        for t in range(int(steps)):
            if accel is None:
                a_t = None
            elif callable(accel):
                a_t = accel(t, state)
            else:
                a_t = accel[t]
            state = self.step(state, a_t, controlled)
            xs.append(state.x)
            vs.append(state.v)
            lanes.append(state.lane)
            accs.append(state.accel)
        acc = torch.stack(accs) if accs else state.v.new_zeros((0, *state.v.shape))
        return Trajectory(x=torch.stack(xs), v=torch.stack(vs), lane=torch.stack(lanes), accel=acc, final=state)
