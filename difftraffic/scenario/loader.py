"""Scenario YAML files: ``load_scenario(path) -> Scenario`` and ``make_env(spec, ...)``.

One file = one road + drivers + task (every key is documented in docs/scenarios.md). ``spec`` is
a path to a ``.yaml`` file or the name of a bundled scenario ("1lane" ... "10lane", "ring22",
"ring_wave"; files in the top-level ``scenarios/`` directory), so it works from any working
directory. Task kinds:

* ``pacecar`` -> :class:`~difftraffic.pacecar.PaceCarEnv` (the GI-PPO paper's task);
* ``ringwave`` -> :class:`~difftraffic.ringwave.RingWaveEnv` (Flow's wave attenuation);
* ``none`` -> a pure simulation: ``make_env`` refuses it, ``Scenario.make_sim`` returns a
  ``(TrafficSim, SimState)`` pair to run with ``sim.step`` / ``sim.rollout``.

Every problem raises :class:`ScenarioError` with a one-line message ``"<file>: <key>: <why>"``.
Files are read with ``yaml.safe_load``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from difftraffic import registry
from difftraffic.env import DiffEnv
from difftraffic.scenario.schema import ScenarioError, Section
from difftraffic.scenario.sections import pacecar_config, ring_config
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import SimState, TrafficSim
from difftraffic.tasks.placement import Fleet, perturb
from difftraffic.tasks.ringwave import RingWaveConfig

__all__ = ["Scenario", "ScenarioError", "bundled_scenarios", "load_scenario", "make_env"]

TASK_KINDS = ("pacecar", "ringwave", "none")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. ``config`` is a PaceCarConfig, a RingWaveConfig, or (kind "none") a
    RingWaveConfig/PaceCarConfig describing the road and drivers only; ``learner`` holds the optional
    free-form learner overrides; ``source`` the parsed YAML."""

    name: str
    path: Path
    kind: str
    config: Any
    learner: dict = field(default_factory=dict)
    compile: bool | str = "auto"
    description: str = ""
    source: dict = field(default_factory=dict)

    def make_env(
        self,
        num_envs: int = 64,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
        compile: bool | str | None = None,
    ) -> DiffEnv:
        """Build the scenario's task (see the module docstring)."""
        if self.kind == "pacecar":
            from difftraffic.tasks.pacecar.task import PaceCarEnv

            mode = self.compile if compile is None else compile
            return PaceCarEnv(self.config, num_envs=num_envs, device=device, dtype=dtype, seed=seed, compile=mode)
        if self.kind == "ringwave":
            from difftraffic.tasks.ringwave import RingWaveEnv

            return RingWaveEnv(self.config, num_envs=num_envs, device=device, dtype=dtype, seed=seed)
        raise ScenarioError(
            f"{self.path}: task.kind: 'none' is a pure-simulation scenario without a task; "
            "use load_scenario(...).make_sim() and TrafficSim.step/rollout"
        )

    def make_sim(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int | None = 0,
    ) -> tuple[TrafficSim, SimState]:
        """The scenario's IDM traffic as a standalone simulator and initial state (no pace car / no control).

        Ring scenarios need a fixed ring length; random position/speed noise is drawn with ``seed``."""
        cfg = self.config
        gen = torch.Generator(device=torch.device(device))
        gen.manual_seed(0 if seed is None else int(seed))
        if isinstance(cfg, RingWaveConfig):
            lo, hi = cfg.length_range
            if lo != hi:
                raise ScenarioError(
                    f"{self.path}: road.length: make_sim needs a fixed ring length, got [{lo:g}, {hi:g}]"
                )
            road = Road(num_lanes=1, length=lo, ring=True)
            fleet = Fleet(cfg.groups, 1)
            x = fleet.spread_on_ring(torch.full((1,), lo, dtype=torch.float64, device=device), cfg.bunching)[0]
        else:
            road = cfg.road
            fleet = Fleet(cfg.groups, road.num_lanes)
            x = torch.tensor(fleet.line_up(cfg.start, cfg.spacing), dtype=torch.float64, device=device)
        n = len(fleet)
        lane = torch.tensor(fleet.lane, dtype=torch.long, device=device)
        x = x.expand(num_envs, n).clone()
        v = torch.full((num_envs, n), float(getattr(cfg, "speed", 0.0)), dtype=dtype, device=device)
        rnd = cfg.randomise
        if rnd.position or rnd.speed:
            u = 2.0 * torch.rand((num_envs, n, 2), generator=gen, device=device, dtype=torch.float64) - 1.0
            x, v = perturb(x, v, rnd, u)
        idm = fleet.idm(device, dtype)
        if isinstance(idm.v0, torch.Tensor):
            idm = type(idm)(**{k: val.expand(num_envs, n) for k, val in vars(idm).items()})
        sim = TrafficSim(road, dt=cfg.dt, integrator=cfg.integrator, sstar_clip=cfg.sstar_clip)
        return sim, sim.init_state(x, v, lane.expand(num_envs, n), idm)


# ----------------------------------------------------------------------------- lookup
def bundled_scenarios() -> list[str]:
    """Names of the bundled scenarios (the registry's lookup)."""
    return list(registry.bundled_scenarios())


def resolve_path(spec: str | Path) -> Path:
    """A scenario file for a path or a bundled scenario name; raises ScenarioError when there is none."""
    text = str(spec)
    looks_like_path = isinstance(spec, Path) or text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ScenarioError(f"{text}: file: not found")
        return path
    path = registry.scenario_file(text)
    if path is not None:
        return path
    names = ", ".join(bundled_scenarios()) or "none found"
    raise ScenarioError(f"{text}: file: no such scenario file or bundled scenario (bundled: {names})")


# ----------------------------------------------------------------------------- parsing
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (or bundled name); raises ScenarioError on any problem."""
    file = resolve_path(path)
    label = str(path) if (isinstance(path, Path) or str(path).endswith((".yaml", ".yml"))) else str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{label}: file: cannot be read ({exc.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{label}: yaml: syntax error at {where}: {problem}") from None
    top = Section(label, "", data)
    name = top.string("name", file.stem)
    description = top.string("description", "")
    task = top.section("task", required=True)
    kind = task.string("kind", choices=TASK_KINDS)
    road_sec = top.section("road", required=True)
    drivers = top.section("drivers", required=True)
    pace = top.section("pacecar")
    learner = top.mapping("learner")
    ring = road_sec.boolean("ring", False)
    if kind == "pacecar":
        config, compile_mode = pacecar_config(name, road_sec, drivers, pace, task)
    else:
        if pace.data:
            pace.fail("", f"only the pacecar task has a pace car (task.kind is {kind!r})")
        if not ring:
            road_sec.fail("ring", f"task.kind {kind!r} needs a ring road (ring: true)")
        config = ring_config(name, road_sec, drivers, task, kind)
        compile_mode = "auto"
    top.done()
    return Scenario(
        name=name,
        path=file,
        kind=kind,
        config=config,
        learner=learner,
        compile=compile_mode,
        description=description,
        source=data,
    )


# ----------------------------------------------------------------------------- entry points
def make_env(
    spec: str | Path | Scenario,
    num_envs: int = 64,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
    compile: bool | str | None = None,
) -> DiffEnv:
    """Build the task of a scenario (path, bundled name or loaded Scenario)."""
    scenario = spec if isinstance(spec, Scenario) else load_scenario(spec)
    return scenario.make_env(num_envs=num_envs, device=device, dtype=dtype, seed=seed, compile=compile)
