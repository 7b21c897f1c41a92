"""Scenario YAML files: ``load_scenario(path) -> Scenario``, ``make_env(spec, ...)``, ``check_scenario(path)``.

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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from difftraffic.env import DiffEnv
from difftraffic.scenario.schema import ScenarioError, Section
from difftraffic.sim.idm import SSTAR_CLIPS, IDMParams
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import INTEGRATORS, SimState, TrafficSim
from difftraffic.tasks.pacecar.layout import DriverGroup, PaceCarConfig, Randomisation, round_robin
from difftraffic.tasks.pacecar.rules import PaceCarRules
from difftraffic.tasks.ringwave import RingWaveConfig

__all__ = ["Scenario", "ScenarioError", "bundled_scenarios", "check_scenario", "load_scenario", "make_env"]

TASK_KINDS = ("pacecar", "ringwave", "none")
IDM_KEYS = ("v0", "T", "a", "b", "s0", "delta", "length")
_PACKAGE_DIR = Path(__file__).resolve().parent
SCENARIO_DIRS = (_PACKAGE_DIR / "bundled", _PACKAGE_DIR.parents[1] / "scenarios")
"""Where bundled scenarios are looked up: package data first, then the repository's top-level scenarios/."""


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
            n = cfg.num_cars
            x = (torch.arange(n, dtype=torch.float64) / n * (lo - cfg.bunching)).to(device)
            lane = torch.zeros(n, dtype=torch.long, device=device)
            groups, rnd = cfg.groups, cfg.randomise
        else:
            road = cfg.road
            x_list, lane_list = [], []
            for li in range(road.num_lanes):
                pos = cfg.start
                for g in cfg.groups:
                    for _ in range(g.per_lane[li]):
                        x_list.append(pos)
                        lane_list.append(li)
                        pos += cfg.spacing
            order = sorted(range(len(x_list)), key=lambda i: (lane_list[i], x_list[i]))
            x = torch.tensor([x_list[i] for i in order], dtype=torch.float64, device=device)
            lane = torch.tensor([lane_list[i] for i in order], dtype=torch.long, device=device)
            n = x.numel()
            groups, rnd = cfg.groups, cfg.randomise
        rows = {k: [] for k in IDM_KEYS}
        for li in range(road.num_lanes):
            for g in groups:
                for _ in range(g.per_lane[li if len(g.per_lane) > 1 else 0]):
                    for k in IDM_KEYS:
                        rows[k].append(float(getattr(g.idm, k)))
        x = x.expand(num_envs, n).clone()
        v = torch.full((num_envs, n), float(getattr(cfg, "speed", 0.0)), dtype=dtype, device=device)
        if rnd.position or rnd.speed:
            u = 2.0 * torch.rand((num_envs, n, 2), generator=gen, device=device, dtype=torch.float64) - 1.0
            x = x + rnd.position * u[..., 0]
            v = torch.clamp(v + rnd.speed * u[..., 1].to(dtype), min=0.0)
        same = all(len(set(r)) == 1 for r in rows.values())
        if same:
            idm = IDMParams(**{k: r[0] for k, r in rows.items()})
        else:
            idm = IDMParams(
                **{k: torch.tensor(r, dtype=dtype, device=device).expand(num_envs, n) for k, r in rows.items()}
            )
        sim = TrafficSim(road, dt=cfg.dt, integrator=cfg.integrator, sstar_clip=cfg.sstar_clip)
        return sim, sim.init_state(x, v, lane.expand(num_envs, n), idm)


# ----------------------------------------------------------------------------- lookup
def bundled_scenarios() -> list[str]:
    """Names of the bundled scenarios."""
    names = set()
    for d in SCENARIO_DIRS:
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def resolve_path(spec: str | Path) -> Path:
    """A scenario file for a path or a bundled scenario name; raises ScenarioError when there is none."""
    text = str(spec)
    looks_like_path = isinstance(spec, Path) or text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text
    if looks_like_path:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ScenarioError(f"{text}: file: not found")
        return path
    for d in SCENARIO_DIRS:
        path = d / f"{text}.yaml"
        if path.is_file():
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
        config, compile_mode = _pacecar_config(name, road_sec, drivers, pace, task)
    else:
        if pace.data:
            pace.fail("", f"only the pacecar task has a pace car (task.kind is {kind!r})")
        if not ring:
            road_sec.fail("ring", f"task.kind {kind!r} needs a ring road (ring: true)")
        config = _ring_config(name, road_sec, drivers, task, kind)
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


def _idm(sec: Section, default: IDMParams) -> IDMParams:
    kw = {}
    for k in IDM_KEYS:
        lo = {"T": ("ge", 0.0), "s0": ("ge", 0.0)}.get(k, ("gt", 0.0))
        kw[k] = sec.number(k, float(getattr(default, k)), **{lo[0]: lo[1]})
    sec.done()
    return IDMParams(**kw)


def _groups(drivers: Section, lanes: int, default_idm: IDMParams, ring: bool) -> tuple[DriverGroup, ...]:
    groups = []
    for g in drivers.sections("groups"):
        name = g.string("name", "human")
        if g.has("count") == g.has("per_lane"):
            g.fail("count", "give exactly one of count (spread round robin over lanes) or per_lane")
        if g.has("count"):
            per_lane = round_robin(g.integer("count", ge=0), lanes)
        else:
            per_lane = g.int_list("per_lane", lanes)
        idm = _idm(g.section("idm"), default_idm)
        width = g.number("width", 2.0, gt=0.0)
        noise = g.number("noise", 0.0, ge=0.0)
        if noise and not ring:
            g.fail("noise", "acceleration noise is only supported on ring tasks")
        g.done()
        groups.append(DriverGroup(per_lane=per_lane, idm=idm, width=width, name=name, accel_noise=noise))
    if sum(sum(g.per_lane) for g in groups) < 1:
        drivers.fail("groups", "at least one IDM car is needed")
    return tuple(groups)


def _randomise(drivers: Section) -> Randomisation:
    sec = drivers.section("randomise")
    position = sec.number("position", 0.0, ge=0.0)
    speed = sec.number("speed", 0.0, ge=0.0)
    idm_sec = sec.section("idm")
    idm = tuple((k, idm_sec.number(k, 0.0, ge=0.0)) for k in IDM_KEYS if idm_sec.has(k))
    idm_sec.done()
    sec.done()
    return Randomisation(position=position, speed=speed, idm=tuple((k, w) for k, w in idm if w > 0))


def _common_task(task: Section, dt: float, integrator: str, clip: str, length: int) -> dict[str, Any]:
    """The task keys every config shares, as config keyword arguments."""
    return {
        "dt": task.number("dt", dt, gt=0.0),
        "integrator": task.string("integrator", integrator, INTEGRATORS),
        "sstar_clip": task.string("sstar_clip", clip, SSTAR_CLIPS),
        "episode_length": task.integer("episode_length", length, ge=1),
    }


def _pacecar_config(
    name: str, road_sec: Section, drivers: Section, pace: Section, task: Section
) -> tuple[PaceCarConfig, bool | str]:
    lanes = road_sec.integer("lanes", ge=1, required=True)
    length = road_sec.number("length", 1.0e6, gt=0.0)
    ring = road_sec.boolean("ring", False)
    width = road_sec.number("lane_width", 4.0, gt=0.0)
    road_sec.done()
    road = Road(num_lanes=lanes, length=length, ring=ring, lane_width=width)
    from difftraffic.tasks.pacecar.layout import PAPER_IDM

    groups = _groups(drivers, lanes, PAPER_IDM, ring=False)
    place = drivers.section("placement")
    start = place.number("start", 0.0)
    spacing = place.number("spacing", 10.0, gt=0.0)
    speed = place.number("speed", 0.0, ge=0.0)
    place.done()
    randomise = _randomise(drivers)
    drivers.done()
    start_sec = pace.section("start")
    lane_raw = start_sec.raw("lane", "random")
    if lane_raw == "random":
        pace_lane = None
    elif isinstance(lane_raw, int) and not isinstance(lane_raw, bool):
        pace_lane = lane_raw
        if not 0 <= pace_lane < lanes:
            start_sec.fail("lane", f"must be 'random' or a lane in [0, {lanes - 1}], got {pace_lane}")
    else:
        start_sec.fail("lane", f"must be 'random' or a lane index, got {lane_raw!r}")
    ahead = start_sec.number("ahead", 50.0)
    pace_speed = start_sec.number("speed", 0.0)
    start_sec.done()
    pace_length = pace.number("length", 5.0, gt=0.0)
    pace_width = pace.number("width", 2.0, gt=0.0)
    steer_deg = pace.number("max_steer_deg", 20.0, gt=0.0, lt=90.0)
    max_accel = pace.number("max_accel", 8.0, gt=0.0)
    pace.done()
    common = _common_task(task, 0.03, "explicit", "total", 1000)
    term = task.section("termination")
    rules = PaceCarRules(
        target_speed=task.number("target_speed", 10.0, gt=0.0),
        collision_distance=term.optional_number("collision", 2.5, gt=0.0),
        too_far_distance=term.optional_number("too_far", 100.0, gt=0.0),
        out_of_lane=term.boolean("out_of_lane", True),
        behind=term.boolean("behind", not ring),
        failure_reward=task.number("failure_reward", -1.0),
    )
    term.done()
    compile_mode = _compile(task)
    task.done()
    cfg = PaceCarConfig(
        road=road,
        groups=groups,
        start=start,
        spacing=spacing,
        speed=speed,
        randomise=randomise,
        pace_length=pace_length,
        pace_width=pace_width,
        max_steer=math.radians(steer_deg),
        max_accel=max_accel,
        pace_ahead=ahead,
        pace_lane=pace_lane,
        pace_speed=pace_speed,
        rules=rules,
        name=name,
        **common,
    )
    _validated(cfg, task.file)
    return cfg, compile_mode


def _compile(task: Section) -> bool | str:
    raw = task.raw("compile", "auto")
    if raw not in (True, False, "auto"):
        task.fail("compile", f"must be true, false or auto, got {raw!r}")
    return raw


def _ring_config(name: str, road_sec: Section, drivers: Section, task: Section, kind: str) -> RingWaveConfig:
    lanes = road_sec.integer("lanes", 1, ge=1)
    if lanes != 1:
        road_sec.fail("lanes", f"ring tasks have one lane, got {lanes}")
    raw_len = road_sec.raw("length", 230.0)
    if isinstance(raw_len, list):
        if len(raw_len) != 2 or any(isinstance(v, bool) or not isinstance(v, int | float) for v in raw_len):
            road_sec.fail("length", f"must be a number or a [min, max] range of numbers, got {raw_len!r}")
        lo, hi = float(raw_len[0]), float(raw_len[1])
        if kind == "none" and lo != hi:
            road_sec.fail("length", "a pure-simulation ring needs a fixed length")
    elif isinstance(raw_len, int | float) and not isinstance(raw_len, bool):
        lo = hi = float(raw_len)
    else:
        road_sec.fail("length", f"must be a number or a [min, max] range of numbers, got {raw_len!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        road_sec.fail("length", f"needs 0 < min <= max, got [{lo:g}, {hi:g}]")
    road_sec.number("lane_width", 4.0, gt=0.0)
    road_sec.done()
    from difftraffic.tasks.ringwave import FLOW_HUMAN

    groups = _groups(drivers, 1, FLOW_HUMAN, ring=True)
    place = drivers.section("placement")
    bunching = place.number("bunching", 50.0 if kind == "ringwave" else 0.0, ge=0.0)
    place.done()
    randomise = _randomise(drivers)
    drivers.done()
    kw = _common_task(task, 0.1, "euler", "dynamic", 3000)
    if kind == "ringwave":
        kw |= {
            "warmup_steps": task.integer("warmup_steps", 750, ge=0),
            "max_accel": task.number("max_accel", 1.0, gt=0.0),
            "speed_scale": task.number("speed_scale", 15.0, gt=0.0),
            "headway_scale": task.number("headway_scale", hi, gt=0.0),
            "speed_weight": task.number("speed_weight", 4.0),
            "speed_norm": task.number("speed_norm", 20.0, gt=0.0),
            "accel_weight": task.number("accel_weight", 4.0),
        }
        if sum(g.per_lane[0] for g in groups) < 2:
            drivers.fail("groups", "the ring-wave task needs the controlled car and at least one more")
    task.done()
    cfg = RingWaveConfig(
        length_range=(lo, hi),
        groups=groups,
        bunching=bunching,
        randomise=randomise,
        name=name,
        **kw,
    )
    _validated(cfg, task.file)
    return cfg


def _validated(cfg: Any, file: str) -> None:
    """Run the config's own cross-field checks, reporting as ScenarioError."""
    try:
        cfg.validate()
    except ValueError as exc:
        raise ScenarioError(f"{file}: {exc}") from None


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


def check_scenario(path: str | Path, steps: int = 20) -> str:
    """Validate a scenario and run a short float64 gradient/finiteness check; returns a one-line summary.

    Raises ScenarioError for invalid files and for non-finite values or gradients in the check.
    """
    sc = load_scenario(path)
    label = str(sc.path)
    if sc.kind == "none":
        sim, state = sc.make_sim(num_envs=2, dtype=torch.float64, seed=0)
        v0 = state.v.clone().requires_grad_(True)
        state = SimState(x=state.x, v=v0, lane=state.lane, idm=state.idm)
        traj = sim.rollout(state, steps)
        if not bool(torch.isfinite(traj.x).all() & torch.isfinite(traj.v).all()):
            raise ScenarioError(f"{label}: check: non-finite positions or speeds within {steps} steps")
        (grad,) = torch.autograd.grad(traj.v[-1].sum(), v0)
        if not bool(torch.isfinite(grad).all()):
            raise ScenarioError(f"{label}: check: non-finite gradient d speed / d initial speed")
        n = state.v.shape[1]
        return (
            f"{sc.name}: ok (pure simulation, {n} cars, ring {sim.road.length:g} m, dt {sim.dt:g} s); "
            f"{steps}-step check: finite, |d v(T) / d v(0)| = {grad.norm().item():.3g}"
        )
    env = sc.make_env(num_envs=2, dtype=torch.float64, seed=0, compile=False)
    obs = env.reset()
    gen = torch.Generator().manual_seed(0)
    actions, total = [], 0.0
    for t in range(steps):
        a = (torch.rand((2, env.act_dim), generator=gen, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
        actions.append(a)
        obs, reward, _, _, info = env.step(a)
        if not bool(torch.isfinite(obs).all() & torch.isfinite(reward).all()):
            raise ScenarioError(f"{label}: check: non-finite observation or reward at step {t + 1}")
        total = total + reward.sum() + info["final_obs"].sum() * 1e-3
    grads = torch.autograd.grad(total, actions, allow_unused=True)
    flat = torch.cat([torch.zeros(1, dtype=torch.float64)] + [g.flatten() for g in grads if g is not None])
    if not bool(torch.isfinite(flat).all()):
        raise ScenarioError(f"{label}: check: non-finite gradient d (rewards, observations) / d actions")
    return (
        f"{sc.name}: ok ({sc.kind} task, obs {env.obs_dim}, act {env.act_dim}, dt {env.dt:g} s, "
        f"{env.episode_length} steps); {steps}-step check: finite, |d return / d actions| = {flat.norm().item():.3g}"
    )
