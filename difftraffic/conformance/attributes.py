"""Checks of what an env declares: its attributes (incl. ``family``), ``render_state()``, and what makes a
conforming output tensor (:func:`tensor_issue`)."""

from __future__ import annotations

from typing import Any

import torch

from difftraffic.conformance.context import CheckContext
from difftraffic.conformance.findings import FAIL, PASS, Finding
from difftraffic.env import DiffEnv, same_device
from difftraffic.registry import FAMILIES


def tensor_issue(what: str, t: Any, shape: tuple, dtype: torch.dtype | None, device: torch.device) -> str | None:
    """Why ``t`` is not a finite tensor of ``shape``/``dtype`` on ``device`` (None if it is)."""
    if not isinstance(t, torch.Tensor):
        return f"{what} is {type(t).__name__}, not a tensor"
    if tuple(t.shape) != tuple(shape):
        return f"{what} has shape {list(t.shape)}, expected {list(shape)}"
    if dtype is not None and t.dtype != dtype:
        return f"{what} has dtype {t.dtype}, expected {dtype}"
    if dtype is None and t.dtype == torch.bool:
        return f"{what} is bool, expected an integer count"
    if not same_device(t.device, device):
        return f"{what} is on {t.device}, env is on {device}"
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        return f"{what} has non-finite values"
    return None


def check_attributes(env: DiffEnv, ctx: CheckContext) -> list[Finding]:
    bad = []
    for key in ("num_envs", "obs_dim", "act_dim", "episode_length"):
        value = getattr(env, key, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            bad.append(f"{key}={value!r} is not a positive int")
    if not isinstance(getattr(env, "device", None), torch.device):
        bad.append(f"device={getattr(env, 'device', None)!r} is not a torch.device")
    elif env.device.type != ctx.device.type:
        bad.append(f"device {env.device} differs from the requested {ctx.device}")
    if getattr(env, "dtype", None) not in (torch.float32, torch.float64):
        bad.append(f"dtype={getattr(env, 'dtype', None)!r} is not float32/float64")
    if getattr(env, "family", None) not in FAMILIES:
        bad.append(f"family={getattr(env, 'family', None)!r} is not one of {', '.join(FAMILIES)}")
    if ctx.factory is not None and not bad and env.num_envs != ctx.num_envs:
        bad.append(f"num_envs={env.num_envs}, requested {ctx.num_envs}")
    if bad:
        return [Finding("attributes", FAIL, "; ".join(bad))]
    keys = ("num_envs", "obs_dim", "act_dim", "episode_length", "dtype", "device", "family")
    return [Finding("attributes", PASS, " ".join(f"{k}={getattr(env, k)}" for k in keys))]


def check_render(env: DiffEnv) -> list[Finding]:
    state, ok = env.render_state(), True
    if state is None:
        msg = "None (no drawing state: not a traffic task)"
    else:
        ok = isinstance(state, dict)
        msg = f"dict with keys {sorted(state)}" if ok else f"returned {type(state).__name__}, not a dict or None"
    return [Finding("render_state", PASS if ok else FAIL, msg)]
