"""MuJoCo's tangent space for batched states: qpos has a quaternion (4 numbers) where qvel has an angular
velocity (3 numbers) for every free or ball joint; everything else maps one to one.

MuJoCo integrates a quaternion q with a local-frame rotation w as ``q * exp(w / 2)`` (``mj_integratePos``),
so at q a perturbation ``dq`` of the 4 numbers corresponds to the tangent ``w = 2 vec(conj(q) dq)``
(its component along q, a change of norm, is removed since MuJoCo normalises) and a tangent ``w`` to
``dq = q (0, w) / 2``. All functions take batched numpy arrays ``[..., nq]``.
"""

from __future__ import annotations

import mujoco
import numpy as np


class Tangent:
    """Index bookkeeping and linear maps between full coordinates [qpos, qvel] and the tangent [dq, qvel]."""

    def __init__(self, model: mujoco.MjModel):
        self.nq, self.nv = int(model.nq), int(model.nv)
        self.quats: list[tuple[int, int]] = []  # (qpos address, dof address) of every quaternion
        for j in range(model.njnt):
            jtype, qadr, vadr = int(model.jnt_type[j]), int(model.jnt_qposadr[j]), int(model.jnt_dofadr[j])
            if jtype == int(mujoco.mjtJoint.mjJNT_FREE):
                self.quats.append((qadr + 3, vadr + 3))
            elif jtype == int(mujoco.mjtJoint.mjJNT_BALL):
                self.quats.append((qadr, vadr))
        quat_q = {qa + k for qa, _ in self.quats for k in range(4)}
        quat_v = {va + k for _, va in self.quats for k in range(3)}
        self.plain_q = np.array([k for k in range(self.nq) if k not in quat_q], dtype=int)
        self.plain_v = np.array([k for k in range(self.nv) if k not in quat_v], dtype=int)

    def full_to_tangent(self, qpos: np.ndarray) -> np.ndarray:
        """``[B, 2nv, nq+nv]``: full perturbations [dqpos, dqvel] at ``qpos`` to tangent ones."""
        B, nq, nv = qpos.shape[0], self.nq, self.nv
        out = np.zeros((B, 2 * nv, nq + nv))
        out[:, nv:, nq:] = np.eye(nv)
        out[:, self.plain_v, self.plain_q] = 1.0
        for qa, va in self.quats:
            w, v = qpos[:, qa], qpos[:, qa + 1 : qa + 4]
            out[:, va : va + 3, qa] = -2.0 * v  # w = 2 (q0 dv - dq0 v - v x dv)
            out[:, va : va + 3, qa + 1 : qa + 4] = 2.0 * (w[:, None, None] * np.eye(3) - skew(v))
        return out

    def tangent_to_full(self, qpos: np.ndarray) -> np.ndarray:
        """``[B, nq+nv, 2nv]``: tangent perturbations at ``qpos`` to full ones (dq = q (0, w) / 2)."""
        B, nq, nv = qpos.shape[0], self.nq, self.nv
        out = np.zeros((B, nq + nv, 2 * nv))
        out[:, nq:, nv:] = np.eye(nv)
        out[:, self.plain_q, self.plain_v] = 1.0
        for qa, va in self.quats:
            w, v = qpos[:, qa], qpos[:, qa + 1 : qa + 4]
            out[:, qa, va : va + 3] = -0.5 * v
            out[:, qa + 1 : qa + 4, va : va + 3] = 0.5 * (w[:, None, None] * np.eye(3) + skew(v))
        return out

    def integrate(self, qpos: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """``mj_integratePos`` with unit time: ``qpos [..., nq]`` moved by tangent ``dq [..., nv]``."""
        out = qpos.copy()
        out[..., self.plain_q] += dq[..., self.plain_v]
        for qa, va in self.quats:
            w = dq[..., va : va + 3]
            angle = np.linalg.norm(w, axis=-1, keepdims=True)
            axis = np.divide(w, angle, out=np.zeros_like(w), where=angle > 0)
            rot = np.concatenate((np.cos(angle / 2), np.sin(angle / 2) * axis), axis=-1)
            q = quat_mul(qpos[..., qa : qa + 4], rot)
            out[..., qa : qa + 4] = q / np.linalg.norm(q, axis=-1, keepdims=True)
        return out

    def difference(self, qpos0: np.ndarray, qpos1: np.ndarray) -> np.ndarray:
        """``mj_differentiatePos`` with unit time: the tangent ``[..., nv]`` taking qpos0 to qpos1."""
        out = np.zeros((*np.broadcast_shapes(qpos0.shape, qpos1.shape)[:-1], self.nv))
        out[..., self.plain_v] = qpos1[..., self.plain_q] - qpos0[..., self.plain_q]
        for qa, va in self.quats:
            q0, q1 = qpos0[..., qa : qa + 4], qpos1[..., qa : qa + 4]
            rel = quat_mul(q0 * np.array([1.0, -1.0, -1.0, -1.0]), q1)
            rel = np.where(rel[..., :1] < 0, -rel, rel)  # shortest rotation
            s = np.linalg.norm(rel[..., 1:], axis=-1, keepdims=True)
            angle = 2.0 * np.arctan2(s, rel[..., :1])
            scale = np.divide(angle, s, out=np.full_like(s, 2.0), where=s > 1e-300)
            out[..., va : va + 3] = scale * rel[..., 1:]
        return out


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (w, x, y, z) over the last axis."""
    aw, av = a[..., :1], a[..., 1:]
    bw, bv = b[..., :1], b[..., 1:]
    w = aw * bw - (av * bv).sum(-1, keepdims=True)
    v = aw * bv + bw * av + np.cross(av, bv)
    return np.concatenate((w, v), axis=-1)


def skew(v: np.ndarray) -> np.ndarray:
    """``[B, 3] -> [B, 3, 3]`` cross-product matrices (``skew(v) @ u == v x u``)."""
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out
