"""Building tasks: ``make_task(spec, ...)`` builds any DiffEnv from a task name or a scenario path.

Task names and their factories are :data:`difftraffic.registry.TASKS` (the function-optimisation and physics
families; MuJoCo tasks need the ``[physics]`` extra). Anything else is a traffic scenario (a YAML path or a
bundled scenario name) handed to ``difftraffic.scenario.make_env``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch

from difftraffic import registry
from difftraffic.env import DiffEnv

from .functions import FunctionEnv

FUNCTION_TASKS = registry.task_names("functions")
PHYSICS_TASKS = registry.task_names("physics")
TASK_NAMES = registry.task_names()


class UnknownTaskError(ValueError):
    """The spec is neither a task name nor a loadable scenario."""


def task_family(spec: str | Path) -> str:
    """'functions', 'physics' or 'traffic' for a task name or scenario path (see ``registry.task_family``)."""
    return registry.task_family(spec)


def _looks_like_path(spec: str) -> bool:
    return spec.endswith((".yaml", ".yml")) or "/" in spec or "\\" in spec or Path(spec).exists()


def bundled_scenario(name: str) -> Path | None:
    """The file of a bundled scenario name (:func:`difftraffic.registry.scenario_file`), if any."""
    return registry.scenario_file(name)


def build_named_task(name: str, **kwargs) -> DiffEnv:
    """Build registered task ``name``: its factory with the entry's fixed and the given keyword arguments.

    A missing optional dependency raises ImportError naming the extra to install."""
    entry = registry.task_entry(name)
    try:
        factory = registry.load(entry.factory)
    except ImportError as exc:
        if entry.extra is None:
            raise
        missing = exc.name or str(exc)
        raise ImportError(
            f"task {name!r} needs {missing}: pip install 'difftraffic[{entry.extra}]'", name=exc.name
        ) from exc
    return factory(**entry.kwargs, **kwargs)


def scenario_tasks() -> list[Path]:
    """Bundled scenario files that define a task (pure-simulation scenarios excluded); empty when
    ``difftraffic.scenario`` is unavailable."""
    try:
        from difftraffic.scenario.loader import bundled_scenarios, load_scenario
    except ImportError:
        return []
    scenarios = [load_scenario(name) for name in bundled_scenarios()]
    return [Path(sc.path) for sc in scenarios if sc.kind != "none"]


def make_task(
    spec: str | Path,
    num_envs: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
    **kwargs,
) -> DiffEnv:
    """Build a task: a name in TASK_NAMES, or a scenario (YAML path or bundled scenario name).

    Extra keyword arguments go to the task class (e.g. ``frame_skip``/``threads`` for the MuJoCo tasks).
    Raises :class:`UnknownTaskError` (a ValueError) for a name that is neither.
    """
    name = str(spec)
    if name in registry.TASKS:
        return build_named_task(name, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kwargs)
    known = ", ".join(TASK_NAMES)
    try:
        from difftraffic.scenario.loader import make_env
    except ImportError as exc:
        raise UnknownTaskError(
            f"unknown task {name!r}: choose one of {known} (traffic scenarios are unavailable: {exc})"
        ) from exc
    if _looks_like_path(name):
        return make_env(spec, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kwargs)
    bundled = bundled_scenario(name)
    if bundled is not None:
        return make_env(bundled, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kwargs)
    try:
        return make_env(name, num_envs=num_envs, device=device, dtype=dtype, seed=seed, **kwargs)
    except (FileNotFoundError, ValueError) as exc:
        raise UnknownTaskError(f"unknown task {name!r}: not one of {known}, nor a scenario ({exc})") from exc


def task_factory(spec: str | Path, **kwargs) -> Callable[..., DiffEnv]:
    """``factory(num_envs=, device=, dtype=, seed=)`` for ``spec`` (what ``check_env`` takes)."""
    factory = functools.partial(make_task, spec, **kwargs)
    factory.__name__ = str(spec)  # type: ignore[attr-defined]
    return factory


__all__ = [
    "FUNCTION_TASKS",
    "PHYSICS_TASKS",
    "TASK_NAMES",
    "FunctionEnv",
    "UnknownTaskError",
    "build_named_task",
    "bundled_scenario",
    "make_task",
    "scenario_tasks",
    "task_factory",
    "task_family",
]
