"""Named sweeps (``difftraffic sweep --preset NAME``): the paper's experiments as task × learner × seed grids.

Built from :mod:`difftraffic.registry` (tasks by family, the learners the paper ran on each family, the
paper's epoch budgets and its Fig. 4 scenarios):

* ``table1``: the function-optimisation tasks × their learners; 2000 epochs (Table 1, Fig. 2, 6).
* ``traffic``: the Fig. 4 pace-car scenarios (1, 2, 4 and 10 lanes) × their learners; 500 epochs.
* ``physics``: the physics tasks × their learners; the paper's budgets (Fig. 3), the MuJoCo tasks' 2000
  meant to be capped with ``--max-epochs-per-task TASK=N``.
* ``timing``: the traffic grid with one seed, one job at a time, no evaluation/recording inside the training
  loop, so each run's wall-clock is comparable (Table 2: seconds for 500 epochs).

Seeds default to 1, 2, 3 (the paper averages 3–5 runs); ``timing`` uses seed 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from difftraffic.registry import PAPER_SCENARIOS, learners_for, paper_epochs, task_names

DEFAULT_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Preset:
    """One named sweep.

    ``kind`` is ``"returns"`` (aggregated into summary.csv and ``docs/results/<name>.md``) or ``"timing"``
    (aggregated into ``timing.csv``/``timing.md``). ``sequential`` forces one job at a time (comparable
    wall-clock). ``run_args`` are extra ``difftraffic run`` flags given to every job.
    """

    name: str
    description: str
    tasks: tuple[str, ...]
    learners: tuple[str, ...]
    epochs: dict[str, int]
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    kind: str = "returns"
    sequential: bool = False
    run_args: tuple[str, ...] = field(default_factory=tuple)

    def epochs_for(self, task: str) -> int:
        return self.epochs.get(task, paper_epochs(task))


def _budgets(tasks: tuple[str, ...]) -> dict[str, int]:
    return {t: paper_epochs(t) for t in tasks}


FUNCTION_TASKS = task_names("functions")
TRAFFIC_TASKS = tuple(s.name for s in PAPER_SCENARIOS.values() if s.in_figure)
PHYSICS_TASKS = task_names("physics")
MUJOCO_TASKS = task_names("physics", extra="physics")
"""The physics tasks on MuJoCo: 2000 epochs of finite-difference Jacobians take hours, so sweeps cap them."""

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "table1",
            "function optimisation (paper Table 1, Fig. 2, Fig. 6)",
            FUNCTION_TASKS,
            learners_for("functions"),
            _budgets(FUNCTION_TASKS),
        ),
        Preset(
            "traffic",
            "pace-car traffic problems (paper Fig. 4)",
            TRAFFIC_TASKS,
            learners_for("traffic"),
            _budgets(TRAFFIC_TASKS),
        ),
        Preset(
            "physics",
            f"differentiable physics (paper Fig. 3); cap {'/'.join(MUJOCO_TASKS)} with --max-epochs-per-task",
            PHYSICS_TASKS,
            learners_for("physics"),
            _budgets(PHYSICS_TASKS),
        ),
        Preset(
            "timing",
            "training wall-clock per learner on the traffic problems (paper Table 2), one job at a time",
            TRAFFIC_TASKS,
            learners_for("traffic"),
            _budgets(TRAFFIC_TASKS),
            seeds=(1,),
            kind="timing",
            sequential=True,
            # Only training is timed: no periodic evaluation or episode recording inside the training loop.
            run_args=("--eval-every", "0", "--record-every", "0", "--no-tensorboard"),
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; KeyError (with the known names) otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} (choose one of {', '.join(PRESETS)})") from None
