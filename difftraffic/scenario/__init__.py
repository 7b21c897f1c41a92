"""Scenario YAML files: loading and validation (``loader``, ``sections``, ``schema``), the short gradient check
(``check``) and the bundled scenarios (``bundled/*.yaml``; the repository's top-level ``scenarios/`` links here)."""

from difftraffic.scenario.check import check_scenario
from difftraffic.scenario.loader import Scenario, bundled_scenarios, load_scenario, make_env, resolve_path
from difftraffic.scenario.schema import ScenarioError

__all__ = ["Scenario", "ScenarioError", "bundled_scenarios", "check_scenario", "load_scenario", "make_env",
           "resolve_path"]  # fmt: skip
