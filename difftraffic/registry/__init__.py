"""The one list of task and learner names, read by the CLI, the sweeps, the Gymnasium adapters and ``learners``.

No torch import (``import difftraffic.registry`` stays a few milliseconds): factories and classes are given as
``"module:attribute"`` strings and imported only by :func:`load` when something is built.

* Adding a task: one :class:`TaskEntry` in :data:`TASKS` (plus its implementation, a factory
  ``factory(num_envs=, device=, dtype=, seed=, **options)`` returning a :class:`~difftraffic.env.DiffEnv`).
* Adding a learner: one :class:`LearnerEntry` in :data:`LEARNERS` (plus its class, a ``learners.base.Learner``
  subclass whose ``name`` is the entry's name, and its ``learners/configs/<name>.yaml``).
* Traffic tasks are scenario files; bundled ones are found by name (:mod:`difftraffic.registry.bundled`).
* The paper's reported numbers, keyed by these names: :mod:`difftraffic.registry.reported`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from difftraffic.registry.bundled import SCENARIO_DIRS, bundled_scenarios, scenario_file
from difftraffic.registry.reported import (
    PAPER_METRIC,
    PAPER_SCENARIOS,
    PAPER_SEEDS,
    PAPER_TIMING,
    TIMING_BASELINE,
    TIMING_EPOCHS,
    PaperScenario,
    paper_metric,
    paper_timing,
)

FAMILIES = ("functions", "physics", "traffic", "generic")
"""Task families: learner config defaults are chosen per family (``learners/configs/*.yaml``); "generic" is
any other DiffEnv (a user's own task)."""
TRAFFIC_EPOCHS = 500
"""The paper's epoch budget of the traffic problems (any scenario)."""


@dataclass(frozen=True)
class TaskEntry:
    """A named (non-scenario) task."""

    name: str
    family: str
    """One of :data:`FAMILIES` (the env's ``family`` attribute must agree)."""
    factory: str
    """``"module:attribute"``: called as ``factory(num_envs=, device=, dtype=, seed=, **kwargs, **options)``."""
    title: str
    """How the paper names it (tables and figure panels)."""
    epochs: int
    """The paper's epoch budget (one epoch = a rollout window in every env, then the updates)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Fixed keyword arguments of the factory."""
    extra: str | None = None
    """The optional dependency group (``pip install 'difftraffic[extra]'``) the factory needs, if any."""


@dataclass(frozen=True)
class LearnerEntry:
    """A policy learner."""

    name: str
    cls: str
    """``"module:Class"`` of its ``learners.base.Learner`` subclass."""
    title: str
    """How the paper names it."""
    colour: str
    """Its matplotlib colour in every figure."""
    families: tuple[str, ...]
    """The task families the paper ran it on (its rows in the paper's tables; the presets' grids)."""
    paper_column: int
    """Its column in the paper's tables (left to right)."""


def _function(name: str, title: str) -> TaskEntry:
    """A function-optimisation task (``learners/tasks/functions.py`` holds the function, dimension and bound)."""
    return TaskEntry(name, "functions", "learners.tasks.functions:FunctionEnv", title, 2000, {"name": name})


_MUJOCO = "learners.tasks.physics.mujoco_tasks"
TASKS: dict[str, TaskEntry] = {
    t.name: t
    for t in (
        _function("dejong", "Dejong (1)"),
        _function("dejong64", "Dejong (64)"),
        _function("ackley", "Ackley (1)"),
        _function("ackley64", "Ackley (64)"),
        TaskEntry("cartpole", "physics", "learners.tasks.physics.cartpole:CartpoleSwingUpEnv", "Cartpole", 500),
        TaskEntry("hopper", "physics", f"{_MUJOCO}:HopperEnv", "Hopper", 2000, extra="physics"),
        TaskEntry("ant", "physics", f"{_MUJOCO}:AntEnv", "Ant", 2000, extra="physics"),
    )
}
"""The named tasks, in the order the CLI lists them."""

LEARNERS: dict[str, LearnerEntry] = {
    e.name: e
    for e in (
        LearnerEntry("lr", "learners.lr:LR", "LR", "tab:blue", ("functions", "traffic", "physics"), 0),
        LearnerEntry("rp", "learners.rp:RP", "RP", "tab:orange", ("functions", "traffic", "physics"), 1),
        LearnerEntry("lrp", "learners.lrp:LRP", "LR+RP", "tab:purple", ("functions", "traffic"), 3),
        LearnerEntry("ppo", "learners.ppo:PPO", "PPO", "tab:green", ("functions", "traffic", "physics"), 2),
        LearnerEntry("pe", "learners.pe:PE", "PE", "tab:brown", ("physics",), 4),
        LearnerEntry("gippo", "learners.gippo:GIPPO", "GI-PPO", "tab:red", ("functions", "traffic", "physics"), 5),
    )
}
"""The learners, in the order the CLI lists them."""
DEFAULT_LEARNER = "gippo"
"""What ``difftraffic run`` and ``make demo`` train without ``--learner``."""
BASELINE_LEARNER = "ppo"
"""The paper's main baseline (GI-PPO runs PPO after its alpha step); the help examples compare against it."""


# ------------------------------------------------------------------------------------------------ tasks
def task_names(family: str | None = None, extra: str | None = None) -> tuple[str, ...]:
    """The named tasks (of one family; needing one optional dependency group, e.g. "physics" = MuJoCo)."""
    return tuple(
        t.name for t in TASKS.values() if (family is None or t.family == family) and (extra is None or t.extra == extra)
    )


def task_entry(name: str) -> TaskEntry:
    """The entry of task ``name``; KeyError naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r} (tasks: {', '.join(TASKS)})") from None


def task_family(spec: str | Path) -> str:
    """The family of a task name or scenario path: a named task's (also for ``<name>.yaml``), else 'traffic'."""
    text = str(spec)
    name = Path(text).stem if text.endswith((".yaml", ".yml")) else text
    return TASKS[name].family if name in TASKS else "traffic"


def paper_epochs(task: str) -> int:
    """The paper's epoch budget of a task or scenario name (traffic: :data:`TRAFFIC_EPOCHS`)."""
    return TASKS[task].epochs if task in TASKS else TRAFFIC_EPOCHS


def budget_text() -> str:
    """The paper's budgets in words, e.g. ``2000 functions, hopper and ant, 500 cartpole and traffic``: whole
    families where all their tasks share a budget, else the tasks themselves."""
    by_budget: dict[int, list[str]] = {}
    for family in FAMILIES[:-1]:
        names = task_names(family)
        budgets = {TASKS[n].epochs for n in names} if names else {TRAFFIC_EPOCHS}
        if len(budgets) == 1:
            by_budget.setdefault(budgets.pop(), []).append(family)
        else:
            for n in names:
                by_budget.setdefault(TASKS[n].epochs, []).append(n)
    return ", ".join(f"{epochs} {_and(items)}" for epochs, items in sorted(by_budget.items(), reverse=True))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def problem_title(name: str) -> str:
    """How the paper names a task or scenario (the name itself where it has none)."""
    if name in TASKS:
        return TASKS[name].title
    return PAPER_SCENARIOS[name].title if name in PAPER_SCENARIOS else name


# ---------------------------------------------------------------------------------------------- learners
def learner_names() -> tuple[str, ...]:
    return tuple(LEARNERS)


def learner_entry(name: str) -> LearnerEntry:
    """The entry of learner ``name``; KeyError naming the known learners otherwise."""
    try:
        return LEARNERS[name]
    except KeyError:
        raise KeyError(f"unknown learner {name!r} (learners: {', '.join(LEARNERS)})") from None


def paper_rank(name: str) -> int:
    """A learner's column in the paper's tables; unknown learners rank after all of them."""
    return LEARNERS[name].paper_column if name in LEARNERS else len(LEARNERS)


def paper_order(names: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """``names`` (default: every learner) in the paper's column order; unknown names last, as given."""
    names = tuple(LEARNERS) if names is None else tuple(names)
    return tuple(sorted(names, key=lambda n: (paper_rank(n), names.index(n))))


def learners_for(family: str) -> tuple[str, ...]:
    """The learners the paper ran on ``family``'s tasks, in its column order."""
    return paper_order([e.name for e in LEARNERS.values() if family in e.families])


def learner_title(name: str) -> str:
    return LEARNERS[name].title if name in LEARNERS else name


# ----------------------------------------------------------------------------------------------- loading
def load(path: str) -> Any:
    """The object a ``"package.module:attribute"`` string names (imports the module)."""
    module, _, attribute = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


__all__ = [
    "BASELINE_LEARNER",
    "DEFAULT_LEARNER",
    "FAMILIES",
    "LEARNERS",
    "PAPER_METRIC",
    "PAPER_SCENARIOS",
    "PAPER_SEEDS",
    "PAPER_TIMING",
    "SCENARIO_DIRS",
    "TASKS",
    "TIMING_BASELINE",
    "TIMING_EPOCHS",
    "TRAFFIC_EPOCHS",
    "LearnerEntry",
    "PaperScenario",
    "TaskEntry",
    "budget_text",
    "bundled_scenarios",
    "learner_entry",
    "learner_names",
    "learner_title",
    "learners_for",
    "load",
    "paper_epochs",
    "paper_metric",
    "paper_order",
    "paper_rank",
    "paper_timing",
    "problem_title",
    "scenario_file",
    "task_entry",
    "task_family",
    "task_names",
]
