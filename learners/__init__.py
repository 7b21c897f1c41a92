"""Policy learners (LR, RP, LR+RP, PPO, PE, GI-PPO) on the common DiffEnv interface.

from learners import make_task, make_learner, LEARNERS, default_config
env = make_task("dejong", num_envs=64, device="cpu", dtype=torch.float32, seed=0)
learner = make_learner("gippo", env, config=None, seed=0)
for metrics in learner.train(100):
    ...
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .core.config import LEARNER_NAMES, defaults_for
from .tasks import TASK_NAMES, make_task, task_family

_CLASSES = {"lr": "lr:LR", "rp": "rp:RP", "lrp": "lrp:LRP", "ppo": "ppo:PPO", "pe": "pe:PE", "gippo": "gippo:GIPPO"}
LEARNERS = LEARNER_NAMES


def learner_class(name: str):
    """The class implementing learner ``name`` (imported lazily)."""
    if name not in _CLASSES:
        raise ValueError(f"learner: unknown {name!r}; choose from {list(LEARNERS)}")
    module, cls = _CLASSES[name].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def make_learner(name: str, env, config: dict[str, Any] | None = None, seed: int = 0):
    """Build learner ``name`` on ``env``; ``config`` overrides the family defaults (unknown key -> ValueError)."""
    return learner_class(name)(env, config=config, seed=seed)


def default_config(name: str, task: Any = None) -> dict[str, Any]:
    """The resolved default config of learner ``name`` for a task name, scenario path or DiffEnv (None = generic)."""
    if task is None:
        return defaults_for(name, "generic", None)
    if isinstance(task, (str, Path)):
        spec = str(task)
        stem = Path(spec).stem if spec.endswith((".yaml", ".yml")) else spec
        return defaults_for(name, task_family(spec), stem)
    from .base import detect_family

    family, task_name = detect_family(task)
    return defaults_for(name, family, task_name)


__all__ = ["LEARNERS", "TASK_NAMES", "default_config", "learner_class", "make_learner", "make_task", "task_family"]
