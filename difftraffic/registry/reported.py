"""The GI-PPO paper's reported numbers (Son et al., NeurIPS 2023), keyed by our task, scenario and learner names.

* :data:`PAPER_METRIC` — the paper's metric: per run the maximum over training of the running mean of the
  last 100 episode returns, averaged over 3–5 seeds. Function optimisation from Table 1 (reward = −f); where
  Table 1 rounds to one digit (Dejong 64-D LR −0.0007, Ackley 1-D GI-PPO −0.0005) the authors'
  ``max_rewards.txt`` value is used (−7.4e-4, −5.2e-4). Traffic (max return 1000) and physics from the
  authors' ``neurips2023_outputs/{traffic,physics}/results/*/max_rewards.txt`` (SonSang/DiffRL; see
  docs/reference.md §E). Traffic scenarios A–E are :data:`PAPER_SCENARIOS`.
* :data:`PAPER_TIMING` — Table 2: wall-clock seconds to train 500 epochs on the traffic problems
  (Intel Xeon W-2255, one RTX A5000, PyTorch 1.9).

The numbers are written per table with the learners of its columns, in the table's own order.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER_SEEDS = 5
"""The paper averages over 5 random seeds (the authors' result folders hold 3–5 runs per method)."""
TIMING_EPOCHS = 500
"""Table 2 measures the full traffic budget of 500 epochs."""
TIMING_BASELINE = "rp"
"""Table 2's discussion compares every learner's time with RP's: our timing tables give ratios to it."""


@dataclass(frozen=True)
class PaperScenario:
    """One of the paper's pace-car traffic problems, as a bundled scenario."""

    name: str
    letter: str
    """The paper's scenario letter (the authors' ``TrafficSinglePaceCarEnv_<letter>``)."""
    title: str
    in_figure: bool
    """Drawn in the paper's Fig. 4 (scenario C has only the authors' ``max_rewards.txt``)."""


PAPER_SCENARIOS: dict[str, PaperScenario] = {
    s.name: s
    for s in (
        PaperScenario("1lane", "A", "Single lane", True),
        PaperScenario("2lane", "B", "2 lanes", True),
        PaperScenario("3lane", "C", "3 lanes", False),
        PaperScenario("4lane", "D", "4 lanes", True),
        PaperScenario("10lane", "E", "10 lanes", True),
    )
}

_COLUMNS = {
    "functions": ("lr", "rp", "ppo", "lrp", "gippo"),
    "traffic": ("gippo", "ppo", "lr", "rp", "lrp"),
    "physics": ("gippo", "ppo", "lr", "rp", "pe"),
    "timing": ("lr", "rp", "ppo", "lrp", "gippo"),
}
_ROWS: dict[str, dict[str, tuple[float, ...]]] = {
    # Table 1, columns LR, RP, PPO, LR+RP, GI-PPO.
    "functions": {
        "dejong": (-1.24e-6, -1.42e-8, -5.21e-5, -6.36e-8, -3.84e-10),
        "dejong64": (-7.4e-4, -9.28e-7, -1.1e-3, -3.05e-6, -1.04e-6),
        "ackley": (-1.2772, -0.4821, -0.2489, -1.2255, -5.2e-4),
        "ackley64": (-0.6378, -8.9e-3, -0.1376, -3.26e-2, -3.6e-3),
    },
    # max_rewards.txt, columns GI-PPO, PPO, LR, RP, LR+RP.
    "traffic": {
        "1lane": (943.5, 946.3, 945.3, 947.4, 947.2),
        "2lane": (873.7, 489.5, 434.7, 545.2, 679.5),
        "3lane": (157.5, 181.3, 116.4, 103.0, 152.9),
        "4lane": (137.1, 131.8, 125.9, 131.2, 127.8),
        "10lane": (44.4, 32.5, 22.3, 22.8, 28.0),
    },
    # max_rewards.txt, columns GI-PPO, PPO, LR, RP, PE.
    "physics": {
        "ant": (5933.0, 4797.0, 1778.0, 7066.0, 901.0),
        "hopper": (4777.0, 4452.0, 4084.0, 5176.0, 432.0),
        "cartpole": (-509.0, -1094.0, -1351.0, -496.0, -1275.0),
    },
    # Table 2 (seconds for 500 epochs), columns LR, RP, PPO, LR+RP, GI-PPO.
    "timing": {
        "1lane": (120.0, 282.0, 181.0, 1335.0, 332.0),
        "2lane": (142.0, 330.0, 218.0, 1513.0, 411.0),
        "4lane": (304.0, 646.0, 366.0, 2093.0, 813.0),
        "10lane": (244.0, 496.0, 294.0, 2103.0, 533.0),
    },
}


def _table(kind: str) -> dict[tuple[str, str], float]:
    cols = _COLUMNS[kind]
    return {(problem, learner): v for problem, row in _ROWS[kind].items() for learner, v in zip(cols, row)}


PAPER_METRIC: dict[tuple[str, str], float] = {**_table("functions"), **_table("traffic"), **_table("physics")}
"""(problem, learner) → the paper's average maximum running-mean return."""
PAPER_TIMING: dict[tuple[str, str], float] = _table("timing")
"""(problem, learner) → Table 2 seconds for 500 training epochs."""


def paper_metric(problem: str, learner: str) -> float | None:
    """The paper's value for (problem, learner), or None where it reports none."""
    return PAPER_METRIC.get((problem, learner))


def paper_timing(problem: str, learner: str) -> float | None:
    """Table 2 seconds for (problem, learner), or None."""
    return PAPER_TIMING.get((problem, learner))
