"""Copies of env states and step outputs, and exact comparisons of them (for the replay and seed checks)."""

from __future__ import annotations

import io
import math
from typing import Any

import torch

INFO_KEYS = ("final_obs", "episode_return", "episode_length")
"""The ``info`` entries every step returns."""


def clone_out(out: tuple) -> tuple:
    obs, reward, term, trunc, info = out
    info = {k: info[k].detach().clone() for k in INFO_KEYS}
    return obs.detach().clone(), reward.detach().clone(), term.clone(), trunc.clone(), info


def roundtrip(state: Any) -> Any:
    """Serialise with torch.save and load back with weights_only=True (a deep, checkpoint-safe copy)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def out_diff(expected: tuple, got: tuple) -> str | None:
    names = ("obs", "reward", "terminated", "truncated")
    for name, e, g in zip(names, expected[:4], got[:4]):
        if not torch.equal(e, g):
            return name
    done = expected[2] | expected[3]
    for k in INFO_KEYS:
        e, g = expected[4][k], got[4][k]
        if k != "final_obs":
            e, g = e[done], g[done]
        if not torch.equal(e, g):
            return f'info["{k}"]'
    return None
