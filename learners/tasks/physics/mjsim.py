"""Batched MuJoCo stepping in C with finite-difference Jacobians, as a differentiable torch op.

``MjBatch`` holds one MjModel and one MjData per env. ``MjBatch.step`` advances ``[B, nq]`` qpos,
``[B, nv]`` qvel under ``[B, nu]`` ctrl by one control step (``frame_skip`` mj_step substeps).
``mj_step_op`` wraps it in a ``torch.autograd.Function``: when gradients are needed, every substep's
transition Jacobians from ``mjd_transitionFD`` (forward differences by default, tangent space) are chained over the
frame-skip (``A <- A_k A``, ``B <- A_k B + B_k``) and mapped to full qpos coordinates: a quaternion
``q`` of a free/ball joint takes input perturbations ``dq`` to the tangent ``dw = 2 vec(conj(q) dq)``
and tangent outputs back to ``dq = q (0, dw) / 2``. The backward pass is then two batched products.

The model must use an explicit (non-RK4) integrator and should disable warm-starting, so that a step is
a pure function of (qpos, qvel, ctrl): then state_dict round trips and finite differences are exact.
Jacobians are computed on a thread pool when ``threads > 1`` (MuJoCo releases the GIL), which pays off on
machines with several free cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch


class MjBatch:
    """``num_envs`` copies of one MuJoCo model, stepped by ``frame_skip`` substeps per control step."""

    def __init__(
        self,
        xml_path: str,
        num_envs: int,
        frame_skip: int = 4,
        control_dt: float | None = None,
        fd_eps: float = 1e-6,
        fd_centered: bool = False,
        threads: int = 1,
    ):
        """``control_dt`` (s), when given, sets the substep to ``control_dt / frame_skip``; ``fd_centered``
        uses central instead of forward differences for the Jacobians (about twice the cost)."""
        self.model = mujoco.MjModel.from_xml_path(str(xml_path))
        if self.model.opt.integrator == int(mujoco.mjtIntegrator.mjINT_RK4):
            raise ValueError(f"{xml_path}: RK4 is not supported by mjd_transitionFD; use euler or implicitfast")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        self.num_envs, self.frame_skip, self.fd_eps = int(num_envs), int(frame_skip), float(fd_eps)
        self.fd_centered = bool(fd_centered)
        if control_dt is not None:
            self.model.opt.timestep = float(control_dt) / self.frame_skip
        m = self.model
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        self.datas = [mujoco.MjData(m) for _ in range(self.num_envs)]
        self.threads = max(1, min(int(threads), self.num_envs))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        # (qpos address, dof address) of every quaternion (free joints: after the 3 position coords).
        self.quats = []
        for j in range(m.njnt):
            jtype, qadr, vadr = int(m.jnt_type[j]), int(m.jnt_qposadr[j]), int(m.jnt_dofadr[j])
            if jtype == int(mujoco.mjtJoint.mjJNT_FREE):
                self.quats.append((qadr + 3, vadr + 3))
            elif jtype == int(mujoco.mjtJoint.mjJNT_BALL):
                self.quats.append((qadr, vadr))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _chunks(self) -> list[range]:
        n, k = self.num_envs, self.threads
        bounds = [round(i * n / k) for i in range(k + 1)]
        return [range(bounds[i], bounds[i + 1]) for i in range(k)]

    def _run(self, fn) -> None:
        if self._pool is None:
            fn(range(self.num_envs))
        else:
            list(self._pool.map(fn, self._chunks()))

    def step(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One control step for every env (no derivatives); float64 arrays in and out."""
        out_q, out_v = np.empty_like(qpos), np.empty_like(qvel)
        m, fs = self.model, self.frame_skip

        def work(envs: range) -> None:
            for i in envs:
                d = self.datas[i]
                d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[i], qvel[i], ctrl[i]
                mujoco.mj_step(m, d, fs)
                out_q[i], out_v[i] = d.qpos, d.qvel

        self._run(work)
        return out_q, out_v

    def step_jacobians(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray):
        """One control step plus its Jacobians in full coordinates z = [qpos, qvel]:
        returns ``qpos', qvel', dz'/dz [B, nq+nv, nq+nv], dz'/dctrl [B, nq+nv, nu]``."""
        B, nv, nu, m = self.num_envs, self.nv, self.nu, self.model
        out_q, out_v = np.empty_like(qpos), np.empty_like(qvel)
        jac_x = np.empty((B, 2 * nv, 2 * nv))
        jac_u = np.empty((B, 2 * nv, nu))

        def work(envs: range) -> None:
            a_k, b_k = np.empty((2 * nv, 2 * nv)), np.empty((2 * nv, nu))
            for i in envs:
                d = self.datas[i]
                d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[i], qvel[i], ctrl[i]
                mujoco.mjd_transitionFD(m, d, self.fd_eps, self.fd_centered, a_k, b_k, None, None)
                a, b = a_k.copy(), b_k.copy()
                mujoco.mj_step(m, d)
                for _ in range(self.frame_skip - 1):
                    mujoco.mjd_transitionFD(m, d, self.fd_eps, self.fd_centered, a_k, b_k, None, None)
                    a = a_k @ a
                    b = a_k @ b + b_k
                    mujoco.mj_step(m, d)
                out_q[i], out_v[i] = d.qpos, d.qvel
                jac_x[i], jac_u[i] = a, b

        self._run(work)
        if not self.quats:  # tangent space == full coordinates
            return out_q, out_v, jac_x, jac_u
        to_tan = self._full_to_tangent(qpos)  # [B, 2nv, nq+nv]
        to_full = self._tangent_to_full(out_q)  # [B, nq+nv, 2nv]
        return out_q, out_v, to_full @ jac_x @ to_tan, to_full @ jac_u

    def _full_to_tangent(self, qpos: np.ndarray) -> np.ndarray:
        """Linear map of full perturbations [dqpos, dqvel] to tangent ones [dq_tan, dqvel] at ``qpos``."""
        B, nq, nv = qpos.shape[0], self.nq, self.nv
        out = np.zeros((B, 2 * nv, nq + nv))
        out[:, nv:, nq:] = np.eye(nv)
        quat_q = {qa + k for qa, _ in self.quats for k in range(4)}
        plain_q = [k for k in range(nq) if k not in quat_q]
        quat_v = {va + k for _, va in self.quats for k in range(3)}
        plain_v = [k for k in range(nv) if k not in quat_v]
        out[:, plain_v, plain_q] = 1.0
        for qa, va in self.quats:
            w, v = qpos[:, qa], qpos[:, qa + 1 : qa + 4]
            out[:, va : va + 3, qa] = -2.0 * v  # dw = 2 (w dv - dw0 v - v x dv)
            out[:, va : va + 3, qa + 1 : qa + 4] = 2.0 * (w[:, None, None] * np.eye(3) - _skew(v))
        return out

    def _tangent_to_full(self, qpos: np.ndarray) -> np.ndarray:
        """Linear map of tangent perturbations to full ones at ``qpos`` (dq = q (0, dw) / 2 on quaternions)."""
        B, nq, nv = qpos.shape[0], self.nq, self.nv
        out = np.zeros((B, nq + nv, 2 * nv))
        out[:, nq:, nv:] = np.eye(nv)
        quat_q = {qa + k for qa, _ in self.quats for k in range(4)}
        plain_q = [k for k in range(nq) if k not in quat_q]
        quat_v = {va + k for _, va in self.quats for k in range(3)}
        plain_v = [k for k in range(nv) if k not in quat_v]
        out[:, plain_q, plain_v] = 1.0
        for qa, va in self.quats:
            w, v = qpos[:, qa], qpos[:, qa + 1 : qa + 4]
            out[:, qa, va : va + 3] = -0.5 * v
            out[:, qa + 1 : qa + 4, va : va + 3] = 0.5 * (w[:, None, None] * np.eye(3) + _skew(v))
        return out


def _skew(v: np.ndarray) -> np.ndarray:
    """[B, 3] -> [B, 3, 3] cross-product matrices (skew(v) @ u == v x u)."""
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


class _MjStep(torch.autograd.Function):
    """(qpos, qvel, ctrl) -> (qpos', qvel') through MuJoCo with FD-Jacobian backward."""

    @staticmethod
    def forward(ctx, qpos, qvel, ctrl, sim: MjBatch):
        args = [t.detach().cpu().double().numpy() for t in (qpos, qvel, ctrl)]
        q, v, jac_x, jac_u = sim.step_jacobians(*args)
        ctx.save_for_backward(torch.from_numpy(jac_x), torch.from_numpy(jac_u))
        ctx.meta = (sim.nq, qpos.device, qpos.dtype, ctrl.dtype)
        return _to(q, qpos), _to(v, qvel)

    @staticmethod
    def backward(ctx, g_qpos, g_qvel):
        jac_x, jac_u = ctx.saved_tensors
        nq, device, dtype, ctrl_dtype = ctx.meta
        g = torch.cat((g_qpos, g_qvel), dim=-1).detach().cpu().double()[:, None, :]  # [B, 1, nq+nv]
        g_state = torch.bmm(g, jac_x)[:, 0]
        g_ctrl = torch.bmm(g, jac_u)[:, 0]
        g_state = g_state.to(device, dtype)
        return g_state[:, :nq], g_state[:, nq:], g_ctrl.to(device, ctrl_dtype), None


def _to(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(array).to(like.device, like.dtype)


def mj_step_op(sim: MjBatch, qpos: torch.Tensor, qvel: torch.Tensor, ctrl: torch.Tensor):
    """Differentiable control step; skips the Jacobians when no gradient can be requested."""
    if torch.is_grad_enabled() and (qpos.requires_grad or qvel.requires_grad or ctrl.requires_grad):
        return _MjStep.apply(qpos, qvel, ctrl, sim)
    args = [t.detach().cpu().double().numpy() for t in (qpos, qvel, ctrl)]
    q, v = sim.step(*args)
    return _to(q, qpos), _to(v, qvel)


def default_threads() -> int:
    """Threads for the Jacobians: the free cores above two (1 on small machines, where threads do not pay)."""
    return max(1, min(8, (os.cpu_count() or 1) - 1)) if (os.cpu_count() or 1) > 2 else 1
