"""Measuring a simulation: induction loops (SUMO's E1 formulas) and segment measures (Edie's density, flow and
space-mean speed), stepped alongside a rollout or run over a Trajectory. See docs/model.md, "Detectors"."""

from difftraffic.sim.measure.detectors import Detectors, Readings, Series, measure
from difftraffic.sim.measure.loops import LOOP_FIELDS
from difftraffic.sim.measure.segments import SEGMENT_FIELDS
from difftraffic.sim.measure.slots import Frame, frame_of, slot_fields
from difftraffic.sim.measure.specs import LoopSpec, SegmentSpec

__all__ = [
    "LOOP_FIELDS",
    "SEGMENT_FIELDS",
    "Detectors",
    "Frame",
    "LoopSpec",
    "Readings",
    "SegmentSpec",
    "Series",
    "frame_of",
    "measure",
    "slot_fields",
]
