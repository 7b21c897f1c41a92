"""Named sweeps (``difftraffic sweep --preset NAME``): the paper's experiments as task × learner × seed grids.

* ``table1``: dejong, dejong64, ackley, ackley64 × lr, rp, ppo, lrp, gippo; 2000 epochs (Table 1, Fig. 2, 6).
* ``traffic``: 1lane, 2lane, 4lane, 10lane × lr, rp, ppo, lrp, gippo; 500 epochs (Fig. 4).
* ``physics``: cartpole, hopper, ant × lr, rp, ppo, pe, gippo; cartpole 500 epochs, hopper and ant the paper's
  2000 (Fig. 3), meant to be capped with ``--max-epochs-per-task hopper=N``.
* ``timing``: the traffic grid with one seed, one job at a time, no evaluation/recording inside the training
  loop, so each run's wall-clock is comparable (Table 2: seconds for 500 epochs).

Seeds default to 1, 2, 3 (the paper averages 3–5 runs); ``timing`` uses seed 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SEEDS = (1, 2, 3)
PAPER_EPOCHS = {
    "dejong": 2000,
    "dejong64": 2000,
    "ackley": 2000,
    "ackley64": 2000,
    "cartpole": 500,
    "hopper": 2000,
    "ant": 2000,
}
"""The paper's epoch budget per task; traffic scenarios (any other name) train 500 epochs."""
TRAFFIC_EPOCHS = 500


def paper_epochs(task: str) -> int:
    """The paper's budget for ``task`` (a task name or scenario name)."""
    return PAPER_EPOCHS.get(task, TRAFFIC_EPOCHS)


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


FUNCTION_TASKS = ("dejong", "dejong64", "ackley", "ackley64")
TRAFFIC_TASKS = ("1lane", "2lane", "4lane", "10lane")
PHYSICS_TASKS = ("cartpole", "hopper", "ant")
TABLE_LEARNERS = ("lr", "rp", "ppo", "lrp", "gippo")
PHYSICS_LEARNERS = ("lr", "rp", "ppo", "pe", "gippo")

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "table1",
            "function optimisation (paper Table 1, Fig. 2, Fig. 6)",
            FUNCTION_TASKS,
            TABLE_LEARNERS,
            {t: 2000 for t in FUNCTION_TASKS},
        ),
        Preset(
            "traffic",
            "pace-car traffic problems (paper Fig. 4)",
            TRAFFIC_TASKS,
            TABLE_LEARNERS,
            {t: 500 for t in TRAFFIC_TASKS},
        ),
        Preset(
            "physics",
            "differentiable physics (paper Fig. 3); cap hopper/ant with --max-epochs-per-task",
            PHYSICS_TASKS,
            PHYSICS_LEARNERS,
            {"cartpole": 500, "hopper": 2000, "ant": 2000},
        ),
        Preset(
            "timing",
            "training wall-clock per learner on the traffic problems (paper Table 2), one job at a time",
            TRAFFIC_TASKS,
            TABLE_LEARNERS,
            {t: 500 for t in TRAFFIC_TASKS},
            seeds=(1,),
            kind="timing",
            sequential=True,
            # Only training is timed: no periodic evaluation or episode recording inside the epoch loop.
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
