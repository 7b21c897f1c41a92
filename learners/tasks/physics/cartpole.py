"""SHAC's CartPoleSwingUp in pure PyTorch: closed-form dynamics of the dflex cart-pole.

Model (dflex reading of SHAC's ``cartpole.urdf`` at density 1000 kg/m^3, see docs/tasks.md):
a 50 kg cart on a slider along x and a 2.5 kg, 1 m pole hinged at the cart (centre of mass 0.5 m
from the pivot, inertia m(L^2 + w^2)/12 about it). theta = 0 is upright, theta = -pi hangs down.
Both joints carry armature 0.01 (added to the mass-matrix diagonal) and always-on viscous damping
1.0; the slider has soft limits at +-4 m (100 N/m beyond them). Gravity 9.81 m/s^2, no ground.

    M(theta) [xdd, thdd] = [F - c xd + k (clip(x, -4, 4) - x) + m l sin(theta) thd^2,
                            -c thd + m g l sin(theta)]
    M = [[M_c + m + a, m l cos(theta)], [m l cos(theta), I + m l^2 + a]]

The control step is 1/60 s, split into 4 semi-implicit Euler substeps (qd += qdd h; q += qd h).
The action in [-1, 1] is the cart force in units of 1000 N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import PhysicsEnv, State


@dataclass(frozen=True)
class CartpoleParams:
    """Physical constants of the dflex cart-pole (SI units)."""

    cart_mass: float = 50.0  # kg: 0.5 x 0.5 x 0.2 m box at 1000 kg/m^3
    pole_mass: float = 2.5  # kg: 0.05 x 0.05 x 1.0 m box
    pole_com: float = 0.5  # m, pivot to the pole's centre of mass
    pole_inertia: float = 2.5 * (1.0**2 + 0.05**2) / 12.0  # kg m^2 about the pole's centre of mass
    armature: float = 0.01  # kg (slider) and kg m^2 (hinge), added to the mass-matrix diagonal
    damping: float = 1.0  # N s/m (slider) and N m s/rad (hinge), always on
    limit: float = 4.0  # m, slider limits at +-limit
    limit_stiffness: float = 100.0  # N/m beyond the limits
    gravity: float = 9.81  # m/s^2
    force_scale: float = 1000.0  # N per unit action
    dt: float = 1.0 / 60.0  # s, control step
    substeps: int = 4


def cartpole_step(q: torch.Tensor, qd: torch.Tensor, force: torch.Tensor, p: CartpoleParams) -> tuple:
    """Advance ``q = [x, theta]`` (m, rad) and ``qd`` (m/s, rad/s), both ``[B, 2]``, by one control step
    under the cart force ``force`` ``[B]`` (N). Differentiable; returns the new ``(q, qd)``."""
    m, l = p.pole_mass, p.pole_com
    m11 = p.cart_mass + m + p.armature
    m22 = p.pole_inertia + m * l * l + p.armature
    ml, mgl, h = m * l, m * p.gravity * l, p.dt / p.substeps
    x, th = q[:, 0], q[:, 1]
    xd, thd = qd[:, 0], qd[:, 1]
    for _ in range(p.substeps):
        s, c = torch.sin(th), torch.cos(th)
        m12 = ml * c
        det = m11 * m22 - m12 * m12
        f_limit = p.limit_stiffness * (torch.clamp(x, -p.limit, p.limit) - x)
        f_cart = force - p.damping * xd + f_limit + ml * s * thd * thd
        f_pole = mgl * s - p.damping * thd
        xd = xd + h * (m22 * f_cart - m12 * f_pole) / det
        thd = thd + h * (m11 * f_pole - m12 * f_cart) / det
        x = x + h * xd
        th = th + h * thd
    return torch.stack((x, th), dim=-1), torch.stack((xd, thd), dim=-1)


def cartpole_energy(q: torch.Tensor, qd: torch.Tensor, p: CartpoleParams) -> torch.Tensor:
    """Mechanical energy ``[B]`` (J): kinetic (incl. armature) + gravity + slider-limit springs."""
    m, l = p.pole_mass, p.pole_com
    x, th, xd, thd = q[:, 0], q[:, 1], qd[:, 0], qd[:, 1]
    kinetic = 0.5 * (p.cart_mass + m + p.armature) * xd**2 + m * l * torch.cos(th) * xd * thd
    kinetic = kinetic + 0.5 * (p.pole_inertia + m * l * l + p.armature) * thd**2
    spring = 0.5 * p.limit_stiffness * (x - torch.clamp(x, -p.limit, p.limit)) ** 2
    return kinetic + m * p.gravity * l * torch.cos(th) + spring


class CartpoleSwingUpEnv(PhysicsEnv):
    """SHAC CartPoleSwingUp: obs [x, xd, sin th, cos th, thd]; reward -th^2 - 0.1 thd^2 - 0.05 x^2 - 0.1 xd^2.

    240-step episodes (4 s), no early termination. Each episode starts at x = 0, theta = -pi with
    uniform noise pi*(U - 0.5) on x (m) and theta (rad) and 0.5*(U - 0.5) on both velocities.
    """

    task_name = "cartpole"
    obs_dim = 5
    act_dim = 1
    episode_length = 240

    def __init__(self, num_envs=64, device="cpu", dtype=torch.float32, seed=0, params: CartpoleParams | None = None):
        self.params = params or CartpoleParams()
        super().__init__(num_envs, device, dtype, seed)

    def _initial_state(self, n: int) -> State:
        start = torch.tensor([0.0, -math.pi], device=self.device, dtype=self.dtype)
        q = start + math.pi * (self.uniform(n, 2) - 0.5)
        qd = 0.5 * (self.uniform(n, 2) - 0.5)
        return {"q": q, "qd": qd}

    def _advance(self, state: State, action: torch.Tensor) -> State:
        q, qd = cartpole_step(state["q"], state["qd"], action[:, 0] * self.params.force_scale, self.params)
        return {"q": q, "qd": qd}

    def _observe(self, state: State, action: torch.Tensor) -> torch.Tensor:
        q, qd = state["q"], state["qd"]
        th = q[:, 1:2]
        return torch.cat((q[:, 0:1], qd[:, 0:1], torch.sin(th), torch.cos(th), qd[:, 1:2]), dim=-1)

    def _reward(self, state: State, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x, xd, s, c, thd = obs.unbind(-1)
        th = torch.atan2(s, c)  # theta wrapped to (-pi, pi]
        return -(th**2) - 0.1 * thd**2 - 0.05 * x**2 - 0.1 * xd**2
