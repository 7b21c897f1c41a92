"""The pace-car step (incl. same-step autoreset) as one pure tensor function, and its carried state.

Order of one step (the authors' simulator's order, docs/reference.md §C5):

1. leaders and gaps over all vehicles incl. the pace car, at the step's start (``TrafficSim.leaders``);
   followers of the pace car see its signed scalar speed as the leader speed;
2. IDM acceleration of the IDM cars (``idm_acceleration``), integrated with the scenario's
   integrator (``TrafficSim.integrate``; the paper uses "explicit": x += v_old dt, then v, v >= 0);
3. the pace car moves with the kinematic bicycle (:mod:`difftraffic.bicycle`);
4. the pace car is projected onto the road (``Road.to_road``) and assigned a discrete lane
   (``Road.lane_membership``, -1 off the road); IDM world poses come from ``Road.to_world``;
5. observation, reward and termination on the new state (:mod:`difftraffic.pacecar_rules`);
6. envs that ended are replaced by a fresh initial state (built from pre-drawn random numbers, so
   the whole step stays one graph that ``torch.compile`` can fuse).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from difftraffic.sim.bicycle import bicycle_step, scale_action, world_velocity
from difftraffic.sim.idm import IDMParams, idm_acceleration
from difftraffic.sim.simulator import SimState, TrafficSim
from difftraffic.tasks.pacecar.compiled import CompiledStep
from difftraffic.tasks.pacecar.layout import PaceCarLayout
from difftraffic.tasks.pacecar.rules import CAUSE, PaceCarRules, observation, speed_reward, termination_cause
from difftraffic.tasks.pacecar.state import IDM_FIELDS, PaceCarState

COMPILE_OPTIONS = {"cpp.vec_isa_ok": False, "cpp_wrapper": True}
"""Inductor options for the compiled step. Rows of ~11 vehicles are shorter than a SIMD vector, so the
scalar C++ code is faster here than the masked vector code (measured: 64 vs 80 us per no-grad step)."""


def _state_tensors(st: PaceCarState) -> tuple:
    return st.pos, st.kin, st.ints, st.idm_table


def _slice_idm(p: IDMParams, cols: slice) -> IDMParams:
    kw = {}
    for name in IDM_FIELDS:
        val = getattr(p, name)
        kw[name] = val[:, cols] if isinstance(val, torch.Tensor) and val.dim() == 2 else val
    return IDMParams(**kw)


@dataclass
class StepOut:
    """What one step returns besides the new (post-reset) state. All ``[B]`` unless noted."""

    obs: torch.Tensor  # [B, obs_dim], first observation of the new episode where an env ended
    final_obs: torch.Tensor  # [B, obs_dim], observation before the reset
    reward: torch.Tensor  # failure reward applied
    terminated: torch.Tensor  # bool
    truncated: torch.Tensor  # bool, time limit reached without failure
    cause: torch.Tensor  # long, TERMINATION_CAUSES code incl. time_limit; 0 where still running
    episode_return: torch.Tensor  # return of the episode that ended (valid where done)
    episode_length: torch.Tensor  # long, its length in steps

    @classmethod
    def unpack(cls, res_f: torch.Tensor, res_i: torch.Tensor, flags: torch.Tensor) -> StepOut:
        """Views into the packed kernel outputs (see :meth:`PaceCarKernel.step`)."""
        d = (res_f.shape[1] - 2) // 2
        return cls(
            obs=res_f[:, :d],
            final_obs=res_f[:, d : 2 * d],
            reward=res_f[:, 2 * d],
            terminated=flags[:, 0],
            truncated=flags[:, 1],
            cause=res_i[:, 0],
            episode_return=res_f[:, 2 * d + 1].detach(),
            episode_length=res_i[:, 1],
        )


class PaceCarKernel:
    """Pure step/observe/reset functions of the pace-car task for a fixed layout and settings.

    The eager and the compiled step compute the same function (equal up to floating-point rounding
    of fused kernels: measured <= 2.4e-7 in float32 rewards and 4.4e-16 in float64 over 300 steps).
    """

    def __init__(
        self,
        layout: PaceCarLayout,
        dt: float,
        episode_length: int,
        rules: PaceCarRules,
        integrator: str = "explicit",
        sstar_clip: str = "total",
    ):
        self.layout = layout
        self.road = layout.road
        self.sim = TrafficSim(layout.road, dt=dt, integrator=integrator, lane_changes=None, sstar_clip=sstar_clip)
        self.dt = float(dt)
        self.episode_length = int(episode_length)
        self.rules = rules
        self._compiled = None
        self.compile_failed = False
        self._fresh_tables: dict[torch.dtype, tuple[PaceCarState, torch.Tensor]] = {}

    # ------------------------------------------------------------------ world
    def world(self, st: PaceCarState) -> tuple[torch.Tensor, ...]:
        """World x, y (m, float64), heading (rad) and velocity vx, vy (m/s) of every vehicle, ``[B, N]``."""
        lat = self.road.lane_center(st.lane[:, 1:]).to(st.s.dtype)
        cx, cy, ch = self.road.to_world(st.s[:, 1:], lat)
        ch = ch.to(st.v.dtype)
        vx_c, vy_c = world_velocity(ch, st.v[:, 1:])
        vx_p, vy_p = world_velocity(st.heading, st.v[:, 0])
        wx = torch.cat([st.px[:, None], cx], dim=1)
        wy = torch.cat([st.py[:, None], cy], dim=1)
        wh = torch.cat([st.heading[:, None], ch], dim=1)
        vx = torch.cat([vx_p[:, None], vx_c], dim=1)
        vy = torch.cat([vy_p[:, None], vy_c], dim=1)
        return wx, wy, wh, vx, vy

    def observe(self, st: PaceCarState) -> torch.Tensor:
        """Observation ``[B, 4 N]`` of a state."""
        wx, wy, _, vx, vy = self.world(st)
        return observation(wx, wy, vx, vy, st.v.dtype)

    def fresh(
        self,
        reset_lane: torch.Tensor,
        noise: torch.Tensor | None,
        dtype: torch.dtype,
        table: tuple[PaceCarState, torch.Tensor] | None = None,
    ) -> tuple[PaceCarState, torch.Tensor]:
        """Initial states and their observations for start lanes ``reset_lane``: gathered from ``table`` (every
        lane's initial state and observation) when the reset is deterministic given the lane, as in the paper."""
        if table is None:
            st = self.layout.initial_state(reset_lane, noise, dtype)
            return st, self.observe(st)
        st, obs = table
        idm_table = None if st.idm_table is None else st.idm_table[reset_lane]
        fresh = PaceCarState(st.pos[reset_lane], st.kin[reset_lane], st.ints[reset_lane], idm_table, st.idm_const)
        return fresh, obs[reset_lane]

    def _fresh_table(self, dtype: torch.dtype) -> tuple[PaceCarState, torch.Tensor]:
        """The initial state and observation for every start lane (built once, eagerly)."""
        table = self._fresh_tables.get(dtype)
        if table is None:
            with torch.no_grad():
                lanes = torch.arange(self.road.num_lanes, device=self.layout.device)
                st = self.layout.initial_state(lanes, None, dtype)
                table = self._fresh_tables[dtype] = (st, self.observe(st))
        return table

    # ------------------------------------------------------------------- step
    def step(
        self,
        st: PaceCarState,
        action: torch.Tensor,
        reset_lane: torch.Tensor,
        noise: torch.Tensor | None,
        compiled: bool = False,
        keep_pre_reset: bool = False,
    ) -> tuple[PaceCarState, StepOut, PaceCarState | None]:
        """One step with same-step autoreset; ``reset_lane`` ``[B]`` and ``noise`` define the states that
        replace ended envs (see :meth:`PaceCarLayout.initial_state`). Returns the new state, the outputs and,
        with ``keep_pre_reset``, the state before the autoreset (else None).

        ``compiled=True`` runs the step through ``torch.compile`` (one graph per autograd mode, compiled
        lazily and cached by inductor on disk); if compiling fails the kernel warns once and stays eager.
        """
        dtype = st.kin.dtype
        table = None if (noise is not None or self.layout.noise_channels) else self._fresh_table(dtype)
        if compiled and not self.compile_failed:
            try:
                if self._compiled is None:
                    self._compiled = CompiledStep(self._step_flat, COMPILE_OPTIONS)
                tabs = (None,) * 5 if table is None else (*_state_tensors(table[0]), table[1])
                args = (*_state_tensors(st), action, reset_lane, noise, *tabs)
                out = self._compiled(args, (keep_pre_reset,))
                new = PaceCarState(out[0], out[1], out[2], out[3], st.idm_const)
                pre = PaceCarState(out[7], out[8], out[9], out[3], st.idm_const) if keep_pre_reset else None
                return new, StepOut.unpack(out[4], out[5], out[6]), pre
            except Exception as exc:  # no C++ compiler, unsupported op, ...: run eagerly from now on
                self.compile_failed = True
                warnings.warn(
                    f"pace car: torch.compile failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}); "
                    "running eagerly",
                    stacklevel=2,
                )
        new, res_f, res_i, flags, pre = self._step(st, action, reset_lane, noise, keep_pre_reset, table)
        return new, StepOut.unpack(res_f, res_i, flags), pre

    def _step_flat(
        self, pos, kin, ints, idm_table, action, reset_lane, noise, t_pos, t_kin, t_ints, t_idm, t_obs, keep_pre_reset
    ) -> tuple:
        """:meth:`_step` on plain tensors (what gets compiled: every tensor is an argument, nothing to rebuild)."""
        const = self.layout.idm_const
        st = PaceCarState(pos, kin, ints, idm_table, const)
        table = None if t_pos is None else (PaceCarState(t_pos, t_kin, t_ints, t_idm, const), t_obs)
        new, res_f, res_i, flags, pre = self._step(st, action, reset_lane, noise, keep_pre_reset, table)
        out = (new.pos, new.kin, new.ints, new.idm_table, res_f, res_i, flags)
        return out + ((pre.pos, pre.kin, pre.ints) if pre is not None else ())

    def _step(
        self,
        st: PaceCarState,
        action: torch.Tensor,
        reset_lane: torch.Tensor,
        noise: torch.Tensor | None,
        keep_pre_reset: bool = False,
        table: tuple[PaceCarState, torch.Tensor] | None = None,
    ) -> tuple[PaceCarState, torch.Tensor, torch.Tensor, torch.Tensor, PaceCarState | None]:
        """The pure step. Returns the new state, packed outputs (few tensors keep a compiled call cheap) and
        the pre-reset state when asked: res_f ``[B, 2 D + 2]`` = obs | final_obs | reward | episode return,
        res_i ``[B, 2]`` = cause | episode length, flags ``[B, 2]`` = terminated | truncated."""
        sim, layout = self.sim, self.layout
        v, s, lane, idm = st.v, st.s, st.lane, st.idm
        steer, acc_p = scale_action(action.to(v.dtype), layout.max_steer, layout.max_accel)
        # 1-2. IDM cars: leaders over all vehicles (pace car included), IDM, integration.
        ld = sim.leaders(SimState(x=s, v=v, lane=lane, idm=idm))
        car_idm = _slice_idm(idm, slice(1, None))
        acc = idm_acceleration(
            v[:, 1:], ld.v_leader[:, 1:], ld.gap[:, 1:], ld.exists[:, 1:], car_idm, sim.sstar_clip, sim.min_gap
        )
        cars = sim.integrate(SimState(x=s[:, 1:], v=v[:, 1:], lane=lane[:, 1:], idm=car_idm), acc)
        # 3. pace car: kinematic bicycle in world coordinates.
        px, py, heading, vp = bicycle_step(st.px, st.py, st.heading, v[:, 0], steer, acc_p, self.dt, layout.pace_length)
        # 4. projection onto the road and discrete lane membership (no gradient through the lane).
        sp, latp = self.road.to_road(px, py)
        lane_p = self.road.lane_membership(sp, latp)
        t = st.t + 1
        new = PaceCarState.pack(
            s=torch.cat([sp[:, None], cars.x], dim=1),
            px=px,
            py=py,
            v=torch.cat([vp[:, None], cars.v], dim=1),
            accel=torch.cat([acc_p[:, None], cars.accel], dim=1),
            heading=heading,
            ret=st.ret,
            lane=torch.cat([lane_p[:, None], lane[:, 1:]], dim=1),
            t=t,
            idm_table=st.idm_table,
            idm_const=st.idm_const,
        )
        # 5. observation, reward, termination on the new state.
        wx, wy, _, vx, vy = self.world(new)
        final_obs = observation(wx, wy, vx, vy, v.dtype)
        reward = speed_reward(new.v[:, 1:], self.rules.target_speed)
        cause = termination_cause(wx, wy, lane_p, self.rules)
        terminated = cause > 0
        reward = torch.where(terminated, torch.full_like(reward, self.rules.failure_reward), reward)
        truncated = (t >= self.episode_length) & ~terminated
        cause = torch.where(truncated, CAUSE["time_limit"], cause)
        done = terminated | truncated
        ep_ret = st.ret + reward.detach()
        new.kin = torch.cat([new.kin[:, :-1], ep_ret[:, None]], dim=1)
        # 6. same-step autoreset.
        pre = new if keep_pre_reset else None
        fresh, fresh_obs = self.fresh(reset_lane, noise, v.dtype, table)
        new = new.where(done, fresh)
        obs = torch.where(done[:, None], fresh_obs, final_obs)
        res_f = torch.cat([obs, final_obs, reward[:, None], ep_ret[:, None]], dim=1)
        res_i = torch.stack([cause, t], dim=1)
        flags = torch.stack([terminated, truncated], dim=1)
        return new, res_f, res_i, flags, pre
