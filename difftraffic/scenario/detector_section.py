"""The optional ``detectors:`` section of a scenario: a list of induction loops and road segments.

Each entry is a loop (``position``; SUMO E1) or a segment (``start`` and ``end``; Edie's measures):

    detectors:
      - {name: loop_a, lane: 0, position: 115.0, period: 30.0}          # length: 0.0 m (optional)
      - {name: whole, lane: all, start: 0.0, end: 230.0, period: 30.0}  # lane: all = every lane

Positions are road coordinates (m) on the scenario's road, periods (s) whole multiples of ``task.dt``.
Every problem is a one-line ScenarioError naming the file and key (e.g. ``detectors[1].position``).
"""

from __future__ import annotations

from typing import Any

from difftraffic.scenario.schema import Section
from difftraffic.sim.measure.specs import LoopSpec, SegmentSpec, Spec, check_on_road, period_steps


def road_extent(config: Any) -> tuple[int, float, bool]:
    """(lanes, length in m, ring) of a scenario config (the shortest ring of a length range)."""
    road = getattr(config, "road", None)
    if road is not None:
        return int(road.num_lanes), float(road.length), bool(road.ring)
    return 1, float(config.length_range[0]), True


def _lane(sec: Section, lanes: int, segment: bool) -> int | None:
    raw = sec.raw("lane", 0)
    if segment and raw == "all":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < lanes:
        allowed = f"a lane index in [0, {lanes - 1}]" + (" or 'all'" if segment else "")
        sec.fail("lane", f"must be {allowed}, got {raw!r}")
    return int(raw)


def detector_specs(top: Section, config: Any) -> tuple[Spec, ...]:
    """The detectors of the scenario's ``detectors`` list (empty when absent), checked against its road."""
    if not top.has("detectors"):
        top.used.add("detectors")
        return ()
    lanes, length, ring = road_extent(config)
    specs: list[Spec] = []
    names: set[str] = set()
    for i, sec in enumerate(top.sections("detectors")):
        name = sec.string("name", f"det{i}")
        if name in names:
            sec.fail("name", f"{name!r} is used twice; detector names must be unique")
        names.add(name)
        is_loop, is_seg = sec.has("position"), sec.has("start") or sec.has("end")
        if is_loop == is_seg:
            sec.fail("", "give either position (an induction loop) or start and end (a segment)")
        lane = _lane(sec, lanes, segment=is_seg)
        period = sec.number("period", required=True, gt=0.0)
        if is_loop:
            spec: Spec = LoopSpec(name, lane, sec.number("position"), period, sec.number("length", 0.0, ge=0.0))
            key = "position"
        else:
            start, end = sec.number("start", required=True), sec.number("end", required=True)
            if not start < end:
                sec.fail("end", f"must be > start ({start:g} m), got {end:g}")
            spec, key = SegmentSpec(name, lane, start, end, period), "start" if start < 0 else "end"
        sec.done()
        try:
            period_steps(spec, float(config.dt))
        except ValueError:
            sec.fail("period", f"must be a whole number of task.dt = {config.dt:g} s steps, got {period:g}")
        try:
            check_on_road(spec, lanes, length, ring)
        except ValueError:
            where = f"[0, {length:g})" if ring else f"[0, {length:g}]"
            sec.fail(key, f"must lie on the road, s in {where} m")
        specs.append(spec)
    return tuple(specs)
