"""Hopper and Ant on MuJoCo: Jacobian chaining vs rollout finite differences, model set-up, obs/reward."""

import itertools
import math
import os

import numpy as np
import pytest
import torch

mujoco = pytest.importorskip("mujoco") if not os.environ.get("CI") else __import__("mujoco")

from learners.tasks import make_task  # noqa: E402
from learners.tasks.physics.mjsim import MjBatch, mj_step_op  # noqa: E402
from learners.tasks.physics.mjtangent import Tangent  # noqa: E402
from learners.tasks.physics.mujoco_tasks import ASSETS  # noqa: E402

F64 = torch.float64


def lifted_state(env, lift):
    """Free flight: the start state raised by ``lift`` m; lift 0: the state after landing (30 idle steps)."""
    if lift == 0.0:
        with torch.no_grad():
            for _ in range(30):
                env.step(torch.zeros(env.num_envs, env.act_dim, dtype=env.dtype))
    qpos, qvel = env.state["qpos"].clone(), env.state["qvel"].clone()
    qpos[:, 1 if env.name == "hopper" else 2] += lift
    return qpos, qvel


def rollout_loss(sim, qpos, qvel, ctrls, weights):
    """Sum over T steps of weights . [qpos, qvel] (one weight row per step and env)."""
    loss = 0.0
    for t in range(ctrls.shape[0]):
        qpos, qvel = mj_step_op(sim, qpos, qvel, ctrls[t])
        loss = loss + (torch.cat((qpos, qvel), -1) * weights[t]).sum(-1)
    return loss


def central_differences(loss_fn, base, env_axis, eps=1e-6):
    """d loss_fn(base)[b] / d base, perturbing every entry (all envs at once: they are independent)."""
    fd = torch.zeros_like(base)
    other = [range(n) for k, n in enumerate(base.shape) if k != env_axis]
    with torch.no_grad():
        for idx in itertools.product(*other):
            index = list(idx)
            index.insert(env_axis, slice(None))
            pert = torch.zeros_like(base)
            pert[tuple(index)] = eps
            fd[tuple(index)] = (loss_fn(base + pert) - loss_fn(base - pert)) / (2 * eps)
    return fd


@pytest.mark.parametrize(
    "name, lift, centered, tol, jacobians",
    [
        ("hopper", 3.0, False, 1e-5, "chain"),
        ("ant", 3.0, False, 1e-5, "chain"),
        ("hopper", 0.0, False, 3e-3, "chain"),
        ("ant", 0.0, False, 3e-3, "chain"),
        ("ant", 0.0, True, 3e-5, "chain"),
        ("ant", 3.0, False, 1e-5, "batch"),
        ("ant", 0.0, True, 3e-5, "batch"),
    ],
)
def test_chained_jacobians_match_whole_rollout_differences(name, lift, centered, tol, jacobians):
    """8-step rollout: d loss / d(qpos_0, qvel_0, ctrl_t) by the FD Jacobians vs rollout differences.

    In free flight the chain is exact up to MuJoCo's forward-difference error. On the ground the stiff soft
    contacts make that error ~1e-3 (docs/tasks.md, accuracy); with central differences inside the Jacobians it
    drops to ~1e-5, which shows the chaining and quaternion maps themselves are exact. The "batch" backend
    (whole-step differences on mujoco.batch) must pass the same bounds.
    """
    steps = 8
    env = make_task(name, num_envs=2, dtype=F64, seed=3, fd_centered=centered, jacobians=jacobians)
    qpos0, qvel0 = lifted_state(env, lift)
    gen = torch.Generator().manual_seed(0)
    ctrls = torch.rand(steps, 2, env.act_dim, generator=gen, dtype=F64) * 1.6 - 0.8
    weights = torch.randn(steps, 2, env.sim.nq + env.sim.nv, generator=gen, dtype=F64)
    leaves = [t.clone().requires_grad_(True) for t in (qpos0, qvel0, ctrls)]
    rollout_loss(env.sim, *leaves, weights).sum().backward()
    if jacobians == "chain":  # its working MjData show the contacts of the last substep
        contacts = max(d.ncon for d in env.sim.datas)
        assert (contacts == 0) == (lift > 0)  # free flight vs on the ground
    fds = [
        central_differences(lambda q: rollout_loss(env.sim, q, qvel0, ctrls, weights), qpos0, 0),
        central_differences(lambda v: rollout_loss(env.sim, qpos0, v, ctrls, weights), qvel0, 0),
        central_differences(lambda u: rollout_loss(env.sim, qpos0, qvel0, u, weights), ctrls, 1),
    ]
    for leaf, fd in zip(leaves, fds):
        rel = ((leaf.grad - fd).abs().max() / fd.abs().max()).item()
        assert rel < tol, (name, lift, rel)
        cos = torch.nn.functional.cosine_similarity(leaf.grad.flatten(), fd.flatten(), dim=0).item()
        assert cos > 0.99999


def test_quaternion_maps_are_inverse_on_the_tangent_space():
    sim = MjBatch(ASSETS / "ant.xml", 3)
    qpos = np.tile(sim.model.qpos0, (3, 1))
    rng = np.random.default_rng(0)
    quat = rng.normal(size=(3, 4))
    qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    tangent = Tangent(sim.model)
    ident = tangent.full_to_tangent(qpos) @ tangent.tangent_to_full(qpos)
    assert np.allclose(ident, np.eye(2 * sim.nv), atol=1e-12)
    # integrate and difference invert each other and agree with MuJoCo's own mj_integratePos
    dq = rng.normal(scale=0.3, size=(3, sim.nv))
    moved = tangent.integrate(qpos, dq)
    assert np.allclose(tangent.difference(qpos, moved), dq, atol=1e-12)
    for i in range(3):
        ref = qpos[i].copy()
        mujoco.mj_integratePos(sim.model, ref, dq[i], 1.0)
        assert np.allclose(moved[i], ref, atol=1e-12)


def test_models_carry_the_shac_parameters():
    hopper = MjBatch(ASSETS / "hopper.xml", 1).model
    ant = MjBatch(ASSETS / "ant.xml", 1).model
    assert hopper.body_mass.sum() == pytest.approx(15.82, abs=0.01)  # capsules at 1000 kg/m^3
    assert ant.body_mass[1] == pytest.approx(1000 * 4 / 3 * math.pi * 0.25**3)  # torso sphere, density 1000
    for model, damping, armature in ((hopper, 12.0, 1.0), (ant, 11.0, 0.05)):
        assert int(model.opt.integrator) == int(mujoco.mjtIntegrator.mjINT_IMPLICITFAST)
        assert model.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_WARMSTART)
        assert model.opt.timestep == pytest.approx(1 / 240)
        assert np.allclose(model.actuator_gear[:, 0], 200.0)
        hinge_dofs = model.jnt_dofadr[model.jnt_limited.astype(bool)]
        assert np.allclose(model.dof_damping[hinge_dofs], damping)
        assert np.allclose(model.dof_armature[hinge_dofs], armature)
    assert np.allclose(hopper.dof_damping[:3], 10.0)  # dflex's always-on limit damping on the root joints
    names = [mujoco.mj_id2name(ant, mujoco.mjtObj.mjOBJ_JOINT, int(j)) for j in ant.actuator_trnid[:, 0]]
    assert names == ["hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4"]


def test_rk4_models_are_rejected(tmp_path):
    xml = (ASSETS / "hopper.xml").read_text().replace('integrator="implicitfast"', 'integrator="RK4"')
    (tmp_path / "rk4.xml").write_text(xml)
    with pytest.raises(ValueError, match="RK4"):
        MjBatch(tmp_path / "rk4.xml", 1)


@pytest.mark.parametrize("name", ["hopper", "ant"])
def test_start_poses_lie_inside_the_joint_limits(name):
    env = make_task(name, num_envs=500, dtype=F64, seed=0)
    model = env.sim.model
    limited = np.flatnonzero(model.jnt_limited)
    q = env.state["qpos"][:, model.jnt_qposadr[limited]].numpy()
    lo, hi = model.jnt_range[limited, 0], model.jnt_range[limited, 1]
    assert (q > lo + 0.01).all() and (q < hi - 0.01).all()
    if name == "ant":
        assert torch.allclose(env.state["qpos"][:, 3:7].norm(dim=-1), torch.ones(500, dtype=F64))
        angle = 2 * torch.acos(env.state["qpos"][:, 3].clamp(max=1.0))
        assert angle.max() <= math.pi / 24 + 1e-9


def test_hopper_observation_reward_and_termination():
    env = make_task("hopper", num_envs=2, dtype=F64, seed=0)
    obs, reward, terminated, _, info = env.step(torch.tensor([[0.5, -0.5, 0.2], [0.0, 0.0, 0.0]], dtype=F64))
    qpos, qvel = env.state["qpos"], env.state["qvel"]
    assert torch.equal(obs, torch.cat((qpos[:, 1:], qvel), -1))
    z, angle, xd = qpos[:, 1], qpos[:, 2], qvel[:, 0]
    h = (z + 0.3).clamp(-1.0, 0.3)
    height = torch.where(h < 0, -200 * h * h, h)
    expected = xd + height + 1 - angle**2 / (math.pi / 6) ** 2 - 0.1 * torch.tensor([0.54, 0.0], dtype=F64)
    assert torch.allclose(reward, expected)
    falls = make_task("hopper", num_envs=2, dtype=F64, seed=0)  # unactuated, it collapses
    steps, terminated = 0, torch.zeros(2, dtype=torch.bool)
    while not terminated.any() and steps < 1000:
        _, _, terminated, truncated, info = falls.step(torch.zeros(2, 3, dtype=F64))
        steps += 1
    assert terminated.any() and not truncated.any() and steps < 1000
    assert (info["final_obs"][terminated, 0] < -0.45).all()
    assert (info["episode_length"][terminated] == steps).all()


def test_ant_observation_and_reward_by_hand():
    env = make_task("ant", num_envs=1, dtype=F64, seed=0)
    sd = env.state_dict()
    qpos = torch.tensor([[2.0, 0.0, 0.6, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0]], dtype=F64)
    sd["state"] = {"qpos": qpos, "qvel": torch.zeros(1, 14, dtype=F64)}
    env.load_state_dict(sd)
    obs = env._observe(env.state, torch.full((1, 8), 0.5, dtype=F64))
    assert obs.shape == (1, 37)
    assert obs[0, 0] == 0.6 and torch.equal(obs[0, 1:5], qpos[0, 3:7])
    assert obs[0, 27] == pytest.approx(1.0) and obs[0, 28] == pytest.approx(1.0)  # upright, facing +x
    assert torch.equal(obs[0, 29:], torch.full((8,), 0.5, dtype=F64))
    assert env._reward(env.state, obs, None).item() == pytest.approx(0.0 + 0.1 + 1.0 + 0.6 - 0.27)
    # a yaw of 90 degrees faces +y: heading . target direction = 0; angular velocity rotates to the world frame
    c = math.cos(math.pi / 4)
    sd["state"]["qpos"][0, 3:7] = torch.tensor([c, 0.0, 0.0, c], dtype=F64)
    sd["state"]["qvel"][0, 3:6] = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    env.load_state_dict(sd)
    obs = env._observe(env.state, torch.zeros(1, 8, dtype=F64))
    assert obs[0, 28] == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(obs[0, 8:11], torch.tensor([0.0, 1.0, 0.0], dtype=F64))


def test_jacobian_backends_agree_and_threads_are_deterministic():
    """The thread-pool backend (whole-step FD on mujoco.batch) matches the per-substep chain; thread counts
    do not change a single bit."""
    a = (torch.rand(6, 8, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 - 1).requires_grad_(True)
    results = {}
    for jac, threads, centered in (("chain", 1, True), ("batch", 1, True), ("batch", 2, True), ("batch", 2, False)):
        env = make_task("ant", num_envs=6, dtype=F64, seed=1, threads=threads, jacobians=jac, fd_centered=centered)
        with torch.no_grad():
            for _ in range(30):  # land, so that contacts are active
                env.step(torch.zeros(6, 8, dtype=F64))
        obs, reward, *_ = env.step(a)
        (g,) = torch.autograd.grad(reward.sum() + obs[:, :11].sum(), a)
        results[(jac, threads, centered)] = (obs.detach(), g)
    (o1, g1), (o2, g2) = results[("batch", 1, True)], results[("batch", 2, True)]
    assert torch.equal(o1, o2) and torch.equal(g1, g2)
    o_chain, g_chain = results[("chain", 1, True)]
    assert torch.equal(o_chain, o1)  # same forward step
    assert torch.allclose(g1, g_chain, rtol=1e-4, atol=1e-6 * g_chain.abs().max())
    g_fwd = results[("batch", 2, False)][1]
    assert torch.allclose(g_fwd, g_chain, rtol=1e-2, atol=1e-3 * g_chain.abs().max())
    coarse = make_task("hopper", num_envs=1, frame_skip=2)
    assert coarse.sim.model.opt.timestep == pytest.approx(1 / 120)
    with pytest.raises(ValueError, match="jacobians"):
        make_task("hopper", num_envs=1, jacobians="magic")
