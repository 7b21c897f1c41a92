"""Batched MuJoCo stepping in C with finite-difference Jacobians, as a differentiable torch op.

``MjBatch.step`` advances ``[B, nq]`` qpos and ``[B, nv]`` qvel under ``[B, nu]`` ctrl by one control
step (``frame_skip`` mj_step substeps) on a ``mujoco.batch.Batch``. ``mj_step_op`` wraps it in a
``torch.autograd.Function`` whose backward pass is two batched products with the step's Jacobians in
full coordinates ``z = [qpos, qvel]``. The Jacobians come from one of two backends:

* ``"chain"`` (one core): every substep's tangent-space transition Jacobians from ``mjd_transitionFD``
  (forward or central differences), chained over the frame-skip: ``A <- A_k A``, ``B <- A_k B + B_k``;
* ``"batch"`` (many cores): finite differences of the whole control step, all ``B (1 + 2 nv + nu)``
  perturbed copies stepped at once on the Batch's C++ thread pool (GIL released).

Both then map the tangent Jacobians to full coordinates with :class:`~.mjtangent.Tangent` (quaternions).
The model must use a non-RK4 integrator (``mjd_transitionFD`` rejects RK4) and should disable
warm-starting, so that a step is a pure function of (qpos, qvel, ctrl): state_dict round trips and
finite differences are then exact.
"""

from __future__ import annotations

import os

import mujoco
import mujoco.batch
import numpy as np
import torch

from .mjtangent import Tangent

JACOBIANS = ("auto", "chain", "batch")


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
        jacobians: str = "auto",
    ):
        """``control_dt`` (s), when given, sets the substep to ``control_dt / frame_skip``; ``fd_centered`` uses
        central differences (about twice the cost); ``jacobians`` picks the backend ("auto": "batch" when
        ``threads > 1``, else "chain")."""
        self.model = mujoco.MjModel.from_xml_path(str(xml_path))
        if self.model.opt.integrator == int(mujoco.mjtIntegrator.mjINT_RK4):
            raise ValueError(f"{xml_path}: RK4 is not supported by mjd_transitionFD; use euler or implicitfast")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        if jacobians not in JACOBIANS:
            raise ValueError(f"jacobians must be one of {JACOBIANS}, got {jacobians!r}")
        self.num_envs, self.frame_skip = int(num_envs), int(frame_skip)
        self.fd_eps, self.fd_centered = float(fd_eps), bool(fd_centered)
        self.threads = max(1, int(threads))
        self.jacobians = jacobians if jacobians != "auto" else ("batch" if self.threads > 1 else "chain")
        if control_dt is not None:
            self.model.opt.timestep = float(control_dt) / self.frame_skip
        m = self.model
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        self.tangent = Tangent(m)
        self._fwd = mujoco.batch.Batch(m, nsim=self.num_envs, nthread=self.threads)
        self._datas: list | None = None  # per-env MjData of the chain backend
        self._fd: mujoco.batch.Batch | None = None  # perturbed copies of the batch backend

    def close(self) -> None:
        self._fwd = self._fd = self._datas = None

    @property
    def datas(self) -> list:
        """One MjData per env (the chain backend's working copies; their contacts describe the last step)."""
        if self._datas is None:
            self._datas = [mujoco.MjData(self.model) for _ in range(self.num_envs)]
        return self._datas

    @staticmethod
    def _run(batch: mujoco.batch.Batch, qpos, qvel, ctrl, nstep: int) -> tuple[np.ndarray, np.ndarray]:
        batch.bind("qpos")[:], batch.bind("qvel")[:], batch.bind("ctrl")[:] = qpos, qvel, ctrl
        batch.step(nstep=nstep)
        return batch.bind("qpos").copy(), batch.bind("qvel").copy()

    def step(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One control step for every env (no derivatives); float64 arrays in and out."""
        return self._run(self._fwd, qpos, qvel, ctrl, self.frame_skip)

    def step_jacobians(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray):
        """One control step and its Jacobians in full coordinates z = [qpos, qvel]:
        returns ``qpos', qvel', dz'/dz [B, nq+nv, nq+nv], dz'/dctrl [B, nq+nv, nu]``."""
        if self.jacobians == "chain":
            out_q, out_v, jac_x, jac_u = self._chain(qpos, qvel, ctrl)
        else:
            out_q, out_v, jac_x, jac_u = self._batch_fd(qpos, qvel, ctrl)
        if not self.tangent.quats:  # tangent space == full coordinates
            return out_q, out_v, jac_x, jac_u
        to_full = self.tangent.tangent_to_full(out_q)  # [B, nq+nv, 2nv]
        return out_q, out_v, to_full @ jac_x @ self.tangent.full_to_tangent(qpos), to_full @ jac_u

    def _chain(self, qpos, qvel, ctrl):
        """Per env and substep: mjd_transitionFD, chained over the frame-skip (tangent space)."""
        B, nv, nu, m = self.num_envs, self.nv, self.nu, self.model
        out_q, out_v = np.empty_like(qpos), np.empty_like(qvel)
        jac_x, jac_u = np.empty((B, 2 * nv, 2 * nv)), np.empty((B, 2 * nv, nu))
        a_k, b_k = np.empty((2 * nv, 2 * nv)), np.empty((2 * nv, nu))
        for i, d in enumerate(self.datas):
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
        return out_q, out_v, jac_x, jac_u

    def _batch_fd(self, qpos, qvel, ctrl):
        """Finite differences of the whole control step, every perturbed copy stepped on the thread pool."""
        B, nq, nv, nu = self.num_envs, self.nq, self.nv, self.nu
        P = 2 * nv + nu  # perturbation directions: tangent positions, velocities, controls
        signs = (1.0, -1.0) if self.fd_centered else (1.0,)
        n = 1 + P * len(signs)
        if self._fd is None:
            self._fd = mujoco.batch.Batch(self.model, nsim=B * n, nthread=self.threads)
        eye = self.fd_eps * np.eye(P)
        q = np.repeat(qpos[:, None], n, axis=1)
        v = np.repeat(qvel[:, None], n, axis=1)
        u = np.repeat(ctrl[:, None], n, axis=1)
        for s, sign in enumerate(signs):
            rows = slice(1 + s * P, 1 + (s + 1) * P)
            q[:, rows] = self.tangent.integrate(q[:, rows], sign * eye[None, :, :nv])
            v[:, rows] += sign * eye[None, :, nv : 2 * nv]
            u[:, rows] += sign * eye[None, :, 2 * nv :]
        out_q, out_v = self._run(self._fd, q.reshape(-1, nq), v.reshape(-1, nv), u.reshape(-1, nu), self.frame_skip)
        out_q, out_v = out_q.reshape(B, n, nq), out_v.reshape(B, n, nv)
        ref = 0 if not self.fd_centered else 1 + P  # forward: against the base copy; central: +eps vs -eps
        hi = slice(1, 1 + P)
        lo = slice(ref, ref + 1) if not self.fd_centered else slice(1 + P, 1 + 2 * P)
        width = self.fd_eps * (2.0 if self.fd_centered else 1.0)
        dq = self.tangent.difference(out_q[:, lo], out_q[:, hi]) / width  # [B, P, nv]
        dv = (out_v[:, hi] - out_v[:, lo]) / width
        jac = np.concatenate((dq, dv), axis=-1).transpose(0, 2, 1)  # [B, 2nv, P]
        return out_q[:, 0], out_v[:, 0], jac[:, :, : 2 * nv], jac[:, :, 2 * nv :]


class _MjStep(torch.autograd.Function):
    """(qpos, qvel, ctrl) -> (qpos', qvel') through MuJoCo with an FD-Jacobian backward."""

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
        g_state = torch.bmm(g, jac_x)[:, 0].to(device, dtype)
        g_ctrl = torch.bmm(g, jac_u)[:, 0].to(device, ctrl_dtype)
        return g_state[:, :nq], g_state[:, nq:], g_ctrl, None


def _to(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(array).to(like.device, like.dtype)


def mj_step_op(sim: MjBatch, qpos: torch.Tensor, qvel: torch.Tensor, ctrl: torch.Tensor):
    """Differentiable control step; skips the Jacobians when no gradient can be requested."""
    if torch.is_grad_enabled() and (qpos.requires_grad or qvel.requires_grad or ctrl.requires_grad):
        return _MjStep.apply(qpos, qvel, ctrl, sim)
    q, v = sim.step(*[t.detach().cpu().double().numpy() for t in (qpos, qvel, ctrl)])
    return _to(q, qpos), _to(v, qvel)


def default_threads() -> int:
    """MuJoCo threads: all cores but one on machines with more than two, else 1 (threads do not pay there)."""
    cores = os.cpu_count() or 1
    return min(16, cores - 1) if cores > 2 else 1
