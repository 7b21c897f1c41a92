"""``difftraffic simulate``: the files it writes round-trip against a direct rollout, SUMO's FCD XML conventions,
one-line errors (exit 2) and no partial output."""

from __future__ import annotations

import csv
import os
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import difftraffic as dt
from difftraffic.recording.episode import Episode
from difftraffic.recording.fcd import SUMO_ATTRIBUTES
from difftraffic.sim.measure import Detectors

from ..clihelpers import assert_user_error
from .conftest import run_cli

STEPS, ENVS = 300, 2


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "ring"
    res = run_cli("simulate", "ring22", "--steps", STEPS, "--envs", ENVS, "--seed", 3, "--format", "sumo-fcd",
                  "--out", out)  # fmt: skip
    assert res.code == 0, res.err
    return out, res


def reference(seed=3):
    sc = dt.load_scenario("ring22")
    sim, state = sc.make_sim(num_envs=ENVS, dtype=torch.float64, seed=seed)
    det = Detectors(sim, state, sc.detectors)
    xs, vs = [state.x], [state.v]
    for _ in range(STEPS):
        state = sim.step(state)
        det.observe(state)
        xs.append(state.x)
        vs.append(state.v)
    return torch.stack(xs), torch.stack(vs), det.readings()


def test_outputs_are_written(ring_run):
    out, res = ring_run
    names = {p.name for p in out.iterdir()}
    assert names == {"fcd.csv", "detectors.csv", "fundamental_diagram.png", "time_space.png", "episode.npz",
                     "fcd_env0.xml", "fcd_env1.xml"}  # fmt: skip
    assert f"wrote {out}: fcd.csv ({(STEPS + 1) * ENVS * 22} rows)" in res.out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging directory left
    for png in ("fundamental_diagram.png", "time_space.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fcd_csv_holds_front_bumper_positions_of_the_rollout(ring_run):
    out, _ = ring_run
    x, v, _ = reference()
    with open(out / "fcd.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["env", "time", "vehicle_id", "lane", "position", "speed", "accel"]
    assert len(rows) == (STEPS + 1) * ENVS * 22
    table = np.array([[float(r[k]) for k in ("env", "time", "vehicle_id", "position", "speed", "accel")] for r in rows])
    k = np.rint(table[:, 1] / 0.1).astype(int)
    env, vid = table[:, 0].astype(int), table[:, 2].astype(int)
    want_pos = np.mod(x.numpy()[k, env, vid] + 2.5, 230.0)  # centre + L/2, wrapped
    assert np.abs(table[:, 3] - want_pos).max() < 1e-5
    assert np.abs(table[:, 4] - v.numpy()[k, env, vid]).max() < 1e-5
    accel = (v.numpy()[1:] - v.numpy()[:-1]) / 0.1
    later = k > 0
    assert np.abs(table[later, 5] - accel[k[later] - 1, env[later], vid[later]]).max() < 1e-5
    assert np.all(table[~later, 5] == 0.0)


def test_detectors_csv_matches_live_detectors(ring_run):
    out, _ = ring_run
    _, _, readings = reference()
    with open(out / "detectors.csv") as fh:
        rows = list(csv.DictReader(fh))
    expected = sum(len(s.begin) * ENVS for s in readings.series)
    assert len(rows) == expected
    for row in rows:
        series = readings[row["detector"]]
        i = series.begin.index(float(row["begin"]))
        env = int(row["env"])
        assert row["kind"] == series.kind and float(row["end"]) == pytest.approx(series.end[i])
        for key, val in series.values.items():
            assert float(row[key]) == pytest.approx(float(val[i, env]), abs=2e-6), (row["detector"], key)
        blank = {"density", "vehicle_time", "distance"} if series.kind == "loop" else {"n_contrib", "occupancy"}
        assert all(row[c] == "" for c in blank)
    ring = [r for r in rows if r["detector"] == "ring"]
    assert all(float(r["density"]) == pytest.approx(22 / 0.230) for r in ring)  # the whole ring: N / L


def test_episode_replays_the_rollout(ring_run):
    out, _ = ring_run
    x, v, _ = reference()
    ep = Episode.load(out / "episode.npz")
    assert ep.x.shape == (STEPS + 1, ENVS, 22) and ep.active is None
    assert np.abs(ep.s - x.numpy()).max() < 1e-3 and np.abs(ep.speed - v.numpy()).max() < 1e-4
    assert not ep.reward.any() and ep.valid.all() and not ep.controlled.any()
    assert ep.meta["road"]["ring"] and ep.meta["task"] == "none"
    assert [d["name"] for d in ep.meta["detectors"]] == ["loop_0", "loop_115", "ring", "half"]
    from viewer import ReplayController, ViewerModel, render_pil

    model = ViewerModel(ReplayController(ep), (320, 240))
    model.ctrl.seek_to(STEPS)
    assert render_pil(model.scene()).shape == (240, 320, 3)


def sumo_fcd(tmp_path, in_ci):
    """SUMO's own FCD output of a one-vehicle run (skipped where SUMO is not installed)."""
    try:
        import libsumo
        import sumo
    except ImportError:
        if in_ci:
            raise
        pytest.skip("libsumo not installed")
    (tmp_path / "n.nod.xml").write_text('<nodes><node id="a" x="0" y="0"/><node id="b" x="500" y="0"/></nodes>')
    (tmp_path / "n.edg.xml").write_text('<edges><edge id="e" from="a" to="b" numLanes="2"/></edges>')
    netconvert = os.path.join(sumo.SUMO_HOME, "bin", "netconvert")
    net, fcd = tmp_path / "n.net.xml", tmp_path / "fcd.xml"
    subprocess.run([netconvert, "-n", str(tmp_path / "n.nod.xml"), "-e", str(tmp_path / "n.edg.xml"), "-o", str(net)],
                   check=True, capture_output=True)  # fmt: skip
    (tmp_path / "r.rou.xml").write_text('<routes><route id="r" edges="e"/><vehicle id="v" route="r" depart="0"/>'
                                        "</routes>")  # fmt: skip
    libsumo.start(["sumo", "-n", str(net), "-r", str(tmp_path / "r.rou.xml"), "--fcd-output", str(fcd),
                   "--end", "2", "--no-step-log", "true"])  # fmt: skip
    try:
        for _ in range(3):
            libsumo.simulationStep()
    finally:
        libsumo.close()
    return ET.parse(fcd).getroot()


def test_sumo_fcd_xml_has_sumos_structure_and_attributes(ring_run, tmp_path, in_ci):
    out, _ = ring_run
    ours = ET.parse(out / "fcd_env0.xml").getroot()
    theirs = sumo_fcd(tmp_path, in_ci)
    assert ours.tag == theirs.tag == "fcd-export"
    assert [c.tag for c in ours] == ["timestep"] * (STEPS + 1)
    their_vehicle = theirs.find("timestep/vehicle")
    assert tuple(their_vehicle.attrib) == SUMO_ATTRIBUTES  # SUMO 1.28's default set, in its order
    x, v, _ = reference()
    for k in (0, 150, STEPS):
        step = ours[k]
        assert list(step.attrib) == list(theirs[0].attrib) == ["time"]
        assert float(step.get("time")) == pytest.approx(k * 0.1)
        vehicles = step.findall("vehicle")
        assert len(vehicles) == 22 and all(tuple(el.attrib) == SUMO_ATTRIBUTES for el in vehicles)
        for el in vehicles:
            i = int(el.get("id"))
            front = (x[k, 0, i].item() + 2.5) % 230.0
            assert float(el.get("pos")) == pytest.approx(front, abs=0.006)
            assert float(el.get("speed")) == pytest.approx(v[k, 0, i].item(), abs=0.006)
            phi = front / (230.0 / (2 * np.pi))  # counter-clockwise: heading phi + 90 deg; SUMO: 0 = north, clockwise
            assert float(el.get("x")) == pytest.approx(230.0 / (2 * np.pi) * np.cos(phi), abs=0.006)
            assert float(el.get("angle")) == pytest.approx((-np.degrees(phi)) % 360.0, abs=0.006) or phi < 1e-3
            assert el.get("lane") == "ring_0" and el.get("type") == "human" and el.get("slope") == "0.00"
    import sumolib

    assert sum(1 for _ in sumolib.xml.parse(str(out / "fcd_env1.xml"), "timestep")) == STEPS + 1


def test_progress_line_in_a_pipe(tmp_path):
    res = run_cli("simulate", "ring22", "--steps", 40, "--out", tmp_path / "o")
    assert res.code == 0
    lines = [ln for ln in res.out.splitlines() if ln.startswith("step ")]
    assert lines[-1].startswith("step 40/40 | 4.0 s simulated") and len(lines) >= 2


PACECAR = "name: p\nroad: {lanes: 1}\ndrivers: {groups: [{count: 1}]}\ntask: {kind: pacecar}\n"
BAD_DETECTOR = "name: r\nroad: {length: 100.0, ring: true}\ndrivers: {groups: [{count: 4}]}\ntask: {kind: none}\n"


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (("nosuch", "--steps", 5), ["nosuch: file: no such scenario file or bundled scenario"]),
        (("p.yaml", "--steps", 5), ["p.yaml: task.kind: is 'pacecar'; simulate runs pure-simulation scenarios"]),
        (("ring22", "--steps", 0), ["--steps 0: must be >= 1"]),
        (("ring22", "--steps", 5, "--envs", 0), ["--envs 0: must be >= 1"]),
        (("ring22", "--steps", 5, "--seed", -2), ["--seed -2: must be >= 0"]),
        (("ring22", "--steps", 5, "--format", "xml"), ["argument --format: invalid choice: 'xml'"]),
        (("ring22", "--steps", 5, "--device", "tpu"), ["--device tpu: expected cpu, cuda or cuda:N"]),
        (("ring22",), ["the following arguments are required: --steps, --out"]),
        (("bad.yaml", "--steps", 5), ["bad.yaml: detectors[0].position: must lie on the road, s in [0, 100) m"]),
    ],
)
def test_user_errors_leave_nothing(in_tmp, argv, fragments):
    (in_tmp / "p.yaml").write_text(PACECAR)
    (in_tmp / "bad.yaml").write_text(BAD_DETECTOR + "detectors: [{position: 150.0, period: 1.0}]\n")
    before = set(in_tmp.iterdir())
    args = ["simulate", *argv] + ([] if "--steps" not in argv else ["--out", in_tmp / "new" / "out"])
    assert_user_error(run_cli(*args), *fragments)
    assert set(in_tmp.iterdir()) == before  # no output directory, no staging directory


def test_existing_output_is_refused_and_an_empty_one_is_used(in_tmp):
    full = in_tmp / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    assert_user_error(run_cli("simulate", "ring22", "--steps", 5, "--out", full), "--out", "not an empty directory")
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    empty = in_tmp / "empty"
    empty.mkdir()
    assert run_cli("simulate", "ring22", "--steps", 5, "--out", empty, "--quiet").code == 0
    assert (empty / "fcd.csv").is_file()


def test_a_failure_midway_leaves_nothing(in_tmp, monkeypatch):
    import difftraffic.run.diagrams as diagrams

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(diagrams, "time_space_diagram", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_cli("simulate", "ring22", "--steps", 5, "--out", in_tmp / "a" / "b")
    assert list(in_tmp.iterdir()) == []
