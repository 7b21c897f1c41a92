"""SHAC's Hopper and Ant on MuJoCo (C), differentiable through finite-difference Jacobians.

Observations, rewards, terminations, episode lengths (1000 steps of 1/60 s), action scale (200 N m per
unit action, written straight into the joints as in dflex) and the stochastic resets follow SHAC's
``envs/{hopper,ant}.py``, translated from dflex's y-up world to MuJoCo's z-up one. The physics is
MuJoCo's (soft-constraint contacts and joint limits), not dflex's penalty springs: see docs/tasks.md.
The simulator state (qpos, qvel) is float64 whatever the env dtype; observations and rewards are cast.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .base import PhysicsEnv, State
from .mjsim import MjBatch, default_threads, mj_step_op

ASSETS = Path(__file__).resolve().parent / "assets"
F64 = torch.float64


class MujocoEnv(PhysicsEnv):
    """A PhysicsEnv whose state is MuJoCo's ``qpos [B, nq]`` and ``qvel [B, nv]`` (float64).

    Options: ``frame_skip`` substeps per 1/60 s control step (default 4, i.e. 1/240 s substeps);
    ``fd_eps``/``fd_centered``: the finite differences of the Jacobians; ``threads``: MuJoCo threads
    (default: all cores but one on machines with more than two); ``jacobians``: "chain" (per-substep
    ``mjd_transitionFD``, one core), "batch" (whole-step differences on the thread pool) or "auto".
    """

    xml = ""
    control_dt = 1.0 / 60.0  # s; the MuJoCo substep is control_dt / frame_skip

    def __init__(
        self,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
        frame_skip: int = 4,
        fd_eps: float = 1e-6,
        fd_centered: bool = False,
        threads: int | None = None,
        jacobians: str = "auto",
    ):
        threads = default_threads() if threads is None else threads
        self.sim = MjBatch(
            ASSETS / self.xml,
            int(num_envs),
            frame_skip,
            control_dt=self.control_dt,
            fd_eps=fd_eps,
            fd_centered=fd_centered,
            threads=threads,
            jacobians=jacobians,
        )
        super().__init__(num_envs, device, dtype, seed)

    def close(self) -> None:
        self.sim.close()

    def _advance(self, state: State, action: torch.Tensor) -> State:
        qpos, qvel = mj_step_op(self.sim, state["qpos"], state["qvel"], action)
        return {"qpos": qpos, "qvel": qvel}

    def _u(self, n: int, k: int) -> torch.Tensor:
        """Uniform(-1, 1) samples ``[n, k]`` in float64 from the env's generator."""
        return 2.0 * self.uniform(n, k, dtype=F64) - 1.0


class HopperEnv(MujocoEnv):
    """SHAC Hopper: obs [qpos[1:] (z, angle, thigh, leg, foot), qvel (6)]; 3 joint torques of 200 N m.

    reward = xd + height_reward + (1 - angle^2 / (pi/6)^2) - 0.1 |a|^2 with
    h = clip(z + 0.3, -1, 0.3), height_reward = h if h >= 0 else -200 h^2 (z is the torso height
    relative to its start, m). Terminates when z < -0.45 m. The start pose bends thigh and leg by
    -0.1 rad so that it lies inside the joint limits (SHAC starts exactly on them); uniform noise of
    +-0.05 on x, z, angle, joints and all velocities.
    """

    task_name = "hopper"
    xml = "hopper.xml"
    obs_dim = 11
    act_dim = 3
    episode_length = 1000
    start_joints = (-0.1, -0.1, 0.0)  # rad: thigh, leg, foot
    termination_height = -0.45  # m

    def _initial_state(self, n: int) -> State:
        qpos = torch.zeros(n, 6, dtype=F64, device=self.device)
        qpos[:, 3:] = torch.tensor(self.start_joints, dtype=F64, device=self.device)
        qpos = qpos + 0.05 * self._u(n, 6)
        qvel = 0.05 * self._u(n, 6)
        return {"qpos": qpos, "qvel": qvel}

    def _observe(self, state: State, action: torch.Tensor) -> torch.Tensor:
        return torch.cat((state["qpos"][:, 1:], state["qvel"]), dim=-1).to(self.dtype)

    def _reward(self, state: State, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        z, angle, xd = state["qpos"][:, 1], state["qpos"][:, 2], state["qvel"][:, 0]
        h = torch.clamp(z - (self.termination_height + 0.15), -1.0, 0.3)
        height = torch.where(h < 0.0, -200.0 * h * h, h)
        upright = 1.0 - angle**2 / (math.pi / 6.0) ** 2
        return (xd + height + upright).to(self.dtype) - 0.1 * (action**2).sum(-1)

    def _terminated(self, state: State, obs: torch.Tensor) -> torch.Tensor:
        return state["qpos"][:, 1] < self.termination_height


def quat_rotate(q: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``u [B, 3]`` by unit quaternions ``q [B, 4]`` (w, x, y, z)."""
    w, v = q[:, :1], q[:, 1:]
    t = 2.0 * torch.linalg.cross(v, u, dim=-1)
    return u + w * t + torch.linalg.cross(v, t, dim=-1)


class AntEnv(MujocoEnv):
    """SHAC Ant: 37 obs, 8 joint torques of 200 N m (order hip_1, ankle_1, ..., hip_4, ankle_4).

    obs = [torso height, torso quaternion (w, x, y, z), torso velocity (world, m/s), angular velocity
    (world, rad/s), joint angles (8), 0.1 * joint speeds (8), up-vector z, heading . direction to the
    target 10 km along +x, previous action (8)]. reward = vx + 0.1 up_z + heading + (height - 0.27);
    terminates when the torso is below 0.27 m. Starts at height 0.75 m with joints
    [0, 1, 0, -1, 0, -1, 0, 1] rad; noise: position +-0.1 m, a rotation of up to +-pi/24 about a random
    axis, joints +-0.2 rad, velocities +-0.25.
    """

    task_name = "ant"
    xml = "ant.xml"
    obs_dim = 37
    act_dim = 8
    episode_length = 1000
    start_height = 0.75  # m
    start_joints = (0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0)  # rad
    termination_height = 0.27  # m
    target_x = 10000.0  # m

    def _initial_state(self, n: int) -> State:
        pos = torch.tensor([0.0, 0.0, self.start_height], dtype=F64, device=self.device) + 0.1 * self._u(n, 3)
        angle = (math.pi / 12.0) * 0.5 * self._u(n, 1)
        axis = torch.nn.functional.normalize(0.5 * self._u(n, 3), dim=-1)
        quat = torch.cat((torch.cos(angle / 2), torch.sin(angle / 2) * axis), dim=-1)
        joints = torch.tensor(self.start_joints, dtype=F64, device=self.device) + 0.2 * self._u(n, 8)
        qvel = 0.25 * self._u(n, 14)
        return {"qpos": torch.cat((pos, quat, joints), dim=-1), "qvel": qvel}

    def _observe(self, state: State, action: torch.Tensor) -> torch.Tensor:
        qpos, qvel = state["qpos"], state["qvel"]
        pos, quat = qpos[:, :3], qpos[:, 3:7]
        ang_vel = quat_rotate(quat, qvel[:, 3:6])
        w, x, y, z = quat.unbind(-1)
        up_z = 1.0 - 2.0 * (x * x + y * y)  # z component of R e_z
        heading = torch.stack((1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z)), dim=-1)  # (R e_x)_xy
        to_target = torch.stack((self.target_x - pos[:, 0], -pos[:, 1]), dim=-1)
        heading_proj = (heading * torch.nn.functional.normalize(to_target, dim=-1)).sum(-1)
        parts = (
            pos[:, 2:3],
            quat,
            qvel[:, :3],
            ang_vel,
            qpos[:, 7:],
            0.1 * qvel[:, 6:],
            up_z[:, None],
            heading_proj[:, None],
            action.to(F64),
        )
        return torch.cat(parts, dim=-1).to(self.dtype)

    def _reward(self, state: State, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return obs[:, 5] + 0.1 * obs[:, 27] + obs[:, 28] + (obs[:, 0] - self.termination_height)

    def _terminated(self, state: State, obs: torch.Tensor) -> torch.Tensor:
        return state["qpos"][:, 2] < self.termination_height
