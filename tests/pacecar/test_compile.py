"""The compiled pace-car step equals the eager one; failures fall back cleanly; the "auto" policy."""

import pytest
import torch

import difftraffic.tasks.pacecar.task as pacecar
from difftraffic.tasks.pacecar.compiled import CompiledStep
from difftraffic.tasks.pacecar.dynamics import COMPILE_OPTIONS
from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.task import PaceCarEnv, resolve_compile


def actions(t, b, dtype, device="cpu"):
    g = torch.Generator().manual_seed(t)
    a = (torch.rand(b, 2, generator=g, dtype=dtype) * 1.4 - 0.7) * torch.tensor([0.3, 1.0], dtype=dtype)
    return a.to(device)


def rollout(env, steps, grad_steps):
    env.reset()
    outs = []
    with torch.no_grad():
        for t in range(steps):
            obs, reward, terminated, truncated, info = env.step(actions(t, env.num_envs, env.dtype, env.device))
            outs.append(torch.cat([obs.flatten(), reward, info["termination"].to(env.dtype)]))
    env.detach()
    leaves = [actions(100 + t, env.num_envs, env.dtype, env.device).requires_grad_(True) for t in range(grad_steps)]
    total = 0
    for a in leaves:
        obs, reward, *_ = env.step(a)
        total = total + reward.sum() + 1e-2 * obs.sum()
    grads = torch.autograd.grad(total, leaves)
    return torch.stack(outs), torch.stack(grads)


def test_compiled_step_matches_eager():
    cfg = PaceCarConfig.paper(2, 4, episode_length=25, name="compile-equivalence")
    eager = rollout(PaceCarEnv(cfg, num_envs=3, dtype=torch.float64, seed=7, compile=False), 60, 4)
    env = PaceCarEnv(cfg, num_envs=3, dtype=torch.float64, seed=7, compile=True)
    compiled = rollout(env, 60, 4)
    assert env.kernel._compiled is not None and not env.kernel.compile_failed
    assert env.kernel._compiled.direct_calls > 0  # the captured graphs were called without dynamo
    assert torch.allclose(compiled[0], eager[0], rtol=1e-12, atol=1e-10)  # same terminations, same values
    assert torch.allclose(compiled[1], eager[1], rtol=1e-10, atol=1e-12)
    assert eager[1].abs().sum() > 0


def test_compiled_step_helper_direct_path_and_fallback():
    scale = torch.tensor([2.0, 3.0], dtype=torch.float64)

    def pure(x, y):
        return x * y + 1.0, None, (x - y).sum(dim=1)

    def lifts_a_constant(x, y):  # `scale` becomes a graph input the caller never passes: no direct path
        return (x * scale, y)

    for fn, direct in ((pure, True), (lifts_a_constant, False)):
        step = CompiledStep(fn, COMPILE_OPTIONS)
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
        y = torch.tensor([[0.5, 0.25], [1.0, 2.0]], dtype=torch.float64)
        for _ in range(3):
            got = step((x, y))
            want = fn(x, y)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert (g is None and w is None) or torch.equal(g, w)
        (grad,) = torch.autograd.grad(got[0].sum() + (got[2].sum() if direct else 0.0), x)
        assert torch.equal(grad, y + 1.0) if direct else torch.equal(grad, scale.expand(2, 2))
        with torch.no_grad():
            assert not step((x, y))[0].requires_grad
        assert (step.direct_calls > 0) == direct


def test_failed_compile_warns_once_and_runs_eagerly(monkeypatch):
    def broken(fn, **kw):
        def run(*args):
            raise RuntimeError("no C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    cfg = PaceCarConfig.paper(2, 4, episode_length=25, name="compile-fallback")
    eager = rollout(PaceCarEnv(cfg, num_envs=2, dtype=torch.float64, seed=1, compile=False), 30, 3)
    env = PaceCarEnv(cfg, num_envs=2, dtype=torch.float64, seed=1, compile=True)
    with pytest.warns(
        UserWarning, match=r"torch.compile failed \(RuntimeError: no C\+\+ compiler found\); running eagerly"
    ):
        got = rollout(env, 30, 3)
    assert env.kernel.compile_failed
    assert torch.equal(got[0], eager[0]) and torch.equal(got[1], eager[1])


def test_auto_compiles_only_after_many_steps(monkeypatch):
    calls = []

    def fake(fn, **kw):
        def run(*args):
            calls.append(1)
            return fn(*args)

        return run

    monkeypatch.setattr(torch, "compile", fake)
    monkeypatch.setattr(pacecar, "COMPILE_AUTO_AFTER", 5)
    monkeypatch.delenv("DIFFTRAFFIC_COMPILE", raising=False)
    env = PaceCarEnv(PaceCarConfig.paper(1, 1, name="compile-auto"), num_envs=1, compile="auto")
    env.reset()
    for _ in range(8):
        env.step(torch.zeros(1, 2))
    assert len(calls) == 3  # steps 6, 7 and 8


def test_resolve_compile(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("DIFFTRAFFIC_COMPILE", raising=False)
    assert resolve_compile("auto", cpu) == "auto" and resolve_compile(None, cpu) == "auto"
    assert resolve_compile(True, cpu) is True and resolve_compile(False, cpu) is False
    assert resolve_compile("auto", torch.device("cuda")) is False
    monkeypatch.setenv("DIFFTRAFFIC_COMPILE", "0")
    assert resolve_compile("auto", cpu) is False and resolve_compile(True, cpu) is True
    monkeypatch.setenv("DIFFTRAFFIC_COMPILE", "1")
    assert resolve_compile(None, cpu) is True
    with pytest.raises(ValueError, match="compile must be True, False or 'auto'"):
        resolve_compile("yes", cpu)


@pytest.mark.cuda
def test_cuda_matches_cpu():
    cfg = PaceCarConfig.paper(3, 9, episode_length=30, pace_lane=1, name="cuda-check")  # no random start lanes
    cpu = rollout(PaceCarEnv(cfg, num_envs=4, dtype=torch.float64, seed=3, compile=False), 40, 3)
    gpu = rollout(PaceCarEnv(cfg, num_envs=4, dtype=torch.float64, seed=3, device="cuda", compile=False), 40, 3)
    assert gpu[0].device.type == "cuda"
    assert torch.allclose(gpu[0].cpu(), cpu[0], atol=1e-9) and torch.allclose(gpu[1].cpu(), cpu[1], atol=1e-9)
