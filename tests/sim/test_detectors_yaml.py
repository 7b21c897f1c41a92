"""The scenario ``detectors:`` section: parsed into LoopSpec / SegmentSpec, every mistake one line naming the key."""

import pytest

import difftraffic as dt
from difftraffic.scenario.schema import ScenarioError
from difftraffic.sim.measure import LoopSpec, SegmentSpec

RING = """
name: r
road: {lanes: 1, length: 230.0, ring: true}
drivers:
  groups: [{count: 10}]
task: {kind: none, dt: 0.1}
"""
STRAIGHT = """
name: s
road: {lanes: 2, length: 500.0}
drivers:
  groups: [{per_lane: [1, 1]}]
task: {kind: pacecar}
"""


def load(tmp_path, base, detectors):
    path = tmp_path / "sc.yaml"
    path.write_text(base + "detectors:\n" + detectors)
    return dt.load_scenario(path)


def test_bundled_ring22_has_loops_and_segments():
    sc = dt.load_scenario("ring22")
    assert LoopSpec("loop_115", 0, 115.0, 30.0) in sc.detectors
    assert SegmentSpec("ring", 0, 0.0, 230.0, 30.0) in sc.detectors


def test_loops_and_segments_are_parsed(tmp_path):
    sc = load(tmp_path, STRAIGHT, """
  - {name: up, lane: 1, position: 120.5, period: 1.5, length: 1.0}
  - {lane: all, start: 100, end: 300, period: 3.0}
""")  # fmt: skip
    assert sc.detectors == (LoopSpec("up", 1, 120.5, 1.5, 1.0), SegmentSpec("det1", None, 100.0, 300.0, 3.0))
    assert dt.load_scenario(tmp_path / "sc.yaml").detectors == sc.detectors
    without = tmp_path / "plain.yaml"
    without.write_text(RING)
    assert dt.load_scenario(without).detectors == ()


@pytest.mark.parametrize(
    "base, entry, message",
    [
        (RING, "  - {position: 10, period: 0.25}\n", "detectors[0].period: must be a whole number of task.dt = 0.1 s"),
        (RING, "  - {position: 230.0, period: 1}\n", "detectors[0].position: must lie on the road, s in [0, 230) m"),
        (RING, "  - {position: 10, period: -1}\n", "detectors[0].period: must be > 0, got -1"),
        (RING, "  - {position: 10}\n", "detectors[0].period: is required"),
        (RING, "  - {lane: 1, position: 10, period: 1}\n", "detectors[0].lane: must be a lane index in [0, 0], got 1"),
        (RING, "  - {lane: all, position: 10, period: 1}\n", "detectors[0].lane: must be a lane index in [0, 0], got"),
        (RING, "  - {period: 1}\n", "detectors[0]: give either position (an induction loop) or start and end"),
        (RING, "  - {position: 1, start: 0, end: 5, period: 1}\n", "detectors[0]: give either position"),
        (RING, "  - {start: 5, end: 5, period: 1}\n", "detectors[0].end: must be > start (5 m), got 5"),
        (RING, "  - {start: 5, period: 1}\n", "detectors[0].end: is required"),
        (RING, "  - {position: 1, period: 1, speed: 3}\n", "detectors[0].speed: unknown key"),
        (
            RING,
            "  - {name: a, position: 1, period: 1}\n  - {name: a, position: 2, period: 1}\n",
            "detectors[1].name: 'a' is used twice",
        ),
        (
            STRAIGHT,
            "  - {start: -5, end: 5, period: 0.03}\n",
            "detectors[0].start: must lie on the road, s in [0, 500]",
        ),
        (STRAIGHT, "  - {lane: 2, start: 0, end: 5, period: 0.03}\n", "lane: must be a lane index in [0, 1] or 'all'"),
        (STRAIGHT, "  - {position: 10, period: 0.1}\n", "task.dt = 0.03 s steps, got 0.1"),
        (RING, "  {position: 10}\n", "detectors: must be a non-empty list of mappings, got a mapping"),
        (RING, "  - 3\n", "detectors[0]: must be a mapping, got an integer"),
    ],
)
def test_bad_detector_entries_name_the_key(tmp_path, base, entry, message):
    with pytest.raises(ScenarioError) as err:
        load(tmp_path, base, entry)
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "sc.yaml"))
    assert message in text, text
