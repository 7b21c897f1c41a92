"""Policy learners (LR, RP, LR+RP, PPO, PE, GI-PPO) on the common DiffEnv interface.

from learners import make_task, make_learner, LEARNERS, TASK_NAMES, default_config
env = make_task(TASK, num_envs=64, device="cpu", dtype=torch.float32, seed=0)  # TASK_NAMES, a scenario name or path
learner = make_learner(NAME, env, config=None, seed=0)                        # NAME: one of LEARNERS
for metrics in learner.train(100):
    ...

Names, classes and titles of the learners and tasks: :mod:`difftraffic.registry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from difftraffic import registry

from .core.config import LEARNER_NAMES, defaults_for
from .tasks import TASK_NAMES, make_task, task_family

LEARNERS = LEARNER_NAMES


def learner_class(name: str):
    """The class implementing learner ``name`` (imported lazily)."""
    if name not in registry.LEARNERS:
        raise ValueError(f"learner: unknown {name!r}; choose from {list(LEARNERS)}")
    return registry.load(registry.LEARNERS[name].cls)


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
