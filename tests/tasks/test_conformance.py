"""The conformance suite over every task, and the checker catching deliberately broken envs."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from difftraffic.conformance import (
    FAIL,
    PASS,
    ConformanceError,
    assert_env_conforms,
    check_env,
    failures,
    format_report,
)
from learners.tasks import FUNCTION_TASKS, scenario_tasks, task_factory
from learners.tasks.physics import CartpoleSwingUpEnv

ROOT = Path(__file__).resolve().parents[2]
HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None


def scenario_specs() -> list[str]:
    """Every bundled scenario with a task, once difftraffic.scenario exists (picked up automatically)."""
    return [str(p) for p in scenario_tasks()]


def physics(name):
    """MuJoCo tasks skip only when the extra is missing outside CI (CI installs every extra)."""
    if name in ("hopper", "ant") and not HAS_MUJOCO and not os.environ.get("CI"):
        return pytest.param(name, marks=pytest.mark.skip(reason="mujoco (extra [physics]) not installed"))
    return name


@pytest.mark.parametrize("spec", [*FUNCTION_TASKS, "cartpole", physics("hopper"), physics("ant")])
def test_task_conforms(spec):
    findings = assert_env_conforms(task_factory(spec))
    checks = {f.check for f in findings if f.status == PASS}
    assert {"reset", "step", "exclusive", "episode_stats", "state_dict", "detach", "seed", "grad-1step"} <= checks
    if spec not in FUNCTION_TASKS:
        assert {"history", "grad-8step", "time_limit", "final_obs"} <= checks


@pytest.mark.parametrize("spec", scenario_specs(), ids=lambda s: Path(s).stem)
def test_scenario_conforms(spec):
    assert_env_conforms(task_factory(spec))


def test_float64_instance_and_cuda_free_device_checks():
    env = CartpoleSwingUpEnv(num_envs=3, dtype=torch.float64)
    findings = check_env(env, num_envs=3)
    assert not failures(findings), format_report(findings)
    skipped = check_env(CartpoleSwingUpEnv(num_envs=3), grad_window=0)
    assert [f.status for f in skipped if f.check == "grad-1step"] == ["skip"]


@pytest.mark.cuda
@pytest.mark.parametrize("spec", ["dejong64", "cartpole", physics("hopper"), physics("ant")])
def test_task_conforms_on_cuda(spec):
    assert_env_conforms(task_factory(spec), device="cuda")


# ----- the checker must catch broken envs -----------------------------------------------------------


class NoDetach(CartpoleSwingUpEnv):
    def detach(self):
        pass


class FinalObsIsResetObs(CartpoleSwingUpEnv):
    def step(self, action):
        obs, r, te, tr, info = super().step(action)
        return obs, r, te, tr, {**info, "final_obs": obs}


class ForgetsProgress(CartpoleSwingUpEnv):
    def load_state_dict(self, state):
        progress = self.progress.clone()
        super().load_state_dict(state)
        self.progress = progress


class NoRngInStateDict(CartpoleSwingUpEnv):
    def state_dict(self):
        return {k: v for k, v in super().state_dict().items() if k != "rng"}

    def load_state_dict(self, state):
        super().load_state_dict({**state, "rng": self.gen.get_state()})


class DetachedVelocityReward(CartpoleSwingUpEnv):
    def _reward(self, state, obs, action):
        return super()._reward(state, torch.cat((obs[:, :1], obs[:, 1:2].detach(), obs[:, 2:]), -1), action)


class BothFlags(CartpoleSwingUpEnv):
    def step(self, action):
        obs, r, te, tr, info = super().step(action)
        return obs, r, tr.clone(), tr, info


class GlobalRng(CartpoleSwingUpEnv):
    def uniform(self, *shape, dtype=None):
        return torch.rand(shape, device=self.device, dtype=dtype or self.dtype)


class WrongRewardShape(CartpoleSwingUpEnv):
    def step(self, action):
        obs, r, te, tr, info = super().step(action)
        return obs, r[:, None], te, tr, info


class OffByOneLength(CartpoleSwingUpEnv):
    def step(self, action):
        obs, r, te, tr, info = super().step(action)
        return obs, r, te, tr, {**info, "episode_length": info["episode_length"] + 1}


class NanObs(CartpoleSwingUpEnv):
    def step(self, action):
        obs, r, te, tr, info = super().step(action)
        return obs / 0.0, r, te, tr, info


@pytest.mark.parametrize(
    "cls, check",
    [
        (NoDetach, "detach"),
        (FinalObsIsResetObs, "final_obs"),
        (ForgetsProgress, "state_dict"),
        (NoRngInStateDict, "state_dict"),
        (DetachedVelocityReward, "grad-1step"),
        (BothFlags, "exclusive"),
        (GlobalRng, "seed"),
        (WrongRewardShape, "step"),
        (OffByOneLength, "episode_stats"),
        (NanObs, "step"),
    ],
)
def test_checker_catches_broken_envs(cls, check):
    def factory(num_envs, device, dtype, seed):
        return cls(num_envs=num_envs, device=device, dtype=dtype, seed=seed)

    findings = check_env(factory, grad_window=4)
    failed = {f.check for f in failures(findings)}
    assert check in failed, format_report(findings)
    with pytest.raises(ConformanceError, match="FAIL"):
        assert_env_conforms(factory, grad_window=4)


def test_checker_catches_aliased_state_dict():
    class Aliased(CartpoleSwingUpEnv):
        def state_dict(self):
            return {**super().state_dict(), "progress": self.progress}

        def step(self, action):
            out = super().step(action)
            self.progress.copy_(self.progress + 0)  # in place, so an aliased state_dict changes
            return out

    class InPlaceProgress(Aliased):
        def step(self, action):
            before = self.progress
            out = super().step(action)
            before.copy_(self.progress)
            self.progress = before
            return out

    findings = check_env(lambda **kw: InPlaceProgress(**kw), grad=False)
    assert any(f.check == "state_dict" and "aliases" in f.message for f in failures(findings)), format_report(findings)


def test_factory_errors_become_findings():
    def broken(**kw):
        raise RuntimeError("no such road")

    findings = check_env(broken)
    assert [(f.check, f.status) for f in findings] == [("construct", FAIL)]
    assert "no such road" in format_report(findings)
