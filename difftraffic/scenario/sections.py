"""Parsing and validating the sections of a scenario file into task configurations.

``pacecar_config`` and ``ring_config`` read the ``road``, ``drivers``, ``pacecar`` and ``task`` sections
(:class:`~difftraffic.scenario.schema.Section`: typed getters that raise one-line ``ScenarioError``s naming
the file and key) into a :class:`~difftraffic.tasks.pacecar.layout.PaceCarConfig` or a
:class:`~difftraffic.tasks.ringwave.RingWaveConfig`. Every key is documented in docs/scenarios.md.
"""

from __future__ import annotations

import math
from typing import Any

from difftraffic.scenario.schema import ScenarioError, Section
from difftraffic.sim.idm import IDM_FIELDS, SSTAR_CLIPS, IDMParams
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import INTEGRATORS
from difftraffic.tasks.pacecar.layout import PaceCarConfig
from difftraffic.tasks.pacecar.rules import PaceCarRules
from difftraffic.tasks.placement import PAPER_IDM, DriverGroup, Randomisation, round_robin
from difftraffic.tasks.ringwave import FLOW_HUMAN, RingWaveConfig


def _idm(sec: Section, default: IDMParams) -> IDMParams:
    kw = {}
    for k in IDM_FIELDS:
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
    idm = tuple((k, idm_sec.number(k, 0.0, ge=0.0)) for k in IDM_FIELDS if idm_sec.has(k))
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


def pacecar_config(
    name: str, road_sec: Section, drivers: Section, pace: Section, task: Section
) -> tuple[PaceCarConfig, bool | str]:
    lanes = road_sec.integer("lanes", ge=1, required=True)
    length = road_sec.number("length", 1.0e6, gt=0.0)
    ring = road_sec.boolean("ring", False)
    width = road_sec.number("lane_width", 4.0, gt=0.0)
    road_sec.done()
    road = Road(num_lanes=lanes, length=length, ring=ring, lane_width=width)
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


def ring_config(name: str, road_sec: Section, drivers: Section, task: Section, kind: str) -> RingWaveConfig:
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
