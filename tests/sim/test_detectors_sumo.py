"""Induction loops against SUMO 1.28's own E1 output (libsumo, headless).

The platoon of test_sumo_agreement (a scripted leader that brakes to a stop, stands and accelerates, and 10
IDM followers; euler, dt 0.1 s, 60 s) passes nine E1 loops of different positions, periods and lengths,
two under the standing queue. SUMO writes its E1 intervals with 10 decimals (``--precision 10``).

1. SUMO's own trajectory (front positions and speeds read every step) fed to our loops reproduces every
   field of every interval, partial last intervals included: the formulas are SUMO's.
2. Our simulator's trajectory (it matches SUMO's to 1e-6 m) gives the same E1 outputs.

SUMO stamps the move that leads to its output at time t with t (entry time = SIMTIME + passing time), so
our loops run with ``start_time = dt`` (frame 0 is SUMO's state at t = 0).
"""

import os
import subprocess
import xml.etree.ElementTree as ET

import torch

import difftraffic as dt
from difftraffic.sim.measure import Detectors, Frame, LoopSpec

from .test_sumo_agreement import _libsumo, drive_platoon

DT, STEPS, FOLLOWERS, L = 0.1, 600, 10, 5.0
LOOPS = [  # position (m), period (s), length (m)
    (1100.0, 10.0, 0.0), (1203.7, 7.5, 0.0), (1321.0, 5.0, 0.0), (1380.0, 10.0, 1.5), (1314.5, 3.0, 0.0),
    (1395.0, 10.0, 0.0), (1420.5, 12.0, 0.0), (1500.0, 60.0, 0.0), (1650.3, 10.0, 0.0),
]  # fmt: skip
SUMO_FIELDS = {
    "nVehContrib": "n_contrib", "flow": "flow", "occupancy": "occupancy", "speed": "speed",
    "harmonicMeanSpeed": "harmonic_speed", "length": "length", "nVehEntered": "n_entered",
}  # fmt: skip
SPECS = [LoopSpec(f"d{j}", 0, p, per, ln) for j, (p, per, ln) in enumerate(LOOPS)]


def run_sumo(tmp_path, libsumo, sumo):
    """SUMO's per-step front positions and speeds ``[STEPS+1, N]`` and its E1 intervals (attribute dicts)."""
    (tmp_path / "n.nod.xml").write_text('<nodes><node id="a" x="0" y="0"/><node id="b" x="5000" y="0"/></nodes>')
    (tmp_path / "n.edg.xml").write_text('<edges><edge id="e" from="a" to="b" numLanes="1" speed="50"/></edges>')
    net = tmp_path / "n.net.xml"
    netconvert = os.path.join(sumo.SUMO_HOME, "bin", "netconvert")
    subprocess.run([netconvert, "-n", str(tmp_path / "n.nod.xml"), "-e", str(tmp_path / "n.edg.xml"), "-o", str(net)],
                   check=True, capture_output=True)  # fmt: skip
    common = 'carFollowModel="IDM" speedDev="0" speedFactor="1" emergencyDecel="100" minGap="2" length="5" tau="1"'
    routes = [
        "<routes>",
        f'<vType id="idm" accel="1" decel="1.5" delta="4" maxSpeed="30" stepping="0.25" {common}/>',
        f'<vType id="lead" accel="5" decel="5" maxSpeed="50" {common}/>',
        '<route id="r" edges="e"/>',
    ]
    for i in range(FOLLOWERS + 1):
        kind = "lead" if i == 0 else "idm"
        routes.append(f'<vehicle id="v{i}" type="{kind}" route="r" depart="0" departPos="{1000.0 - i * 35.0}" '
                      'departSpeed="25"/>')  # fmt: skip
    (tmp_path / "r.rou.xml").write_text("\n".join([*routes, "</routes>"]))
    e1 = tmp_path / "e1.xml"
    loops = [f'<inductionLoop id="{s.name}" lane="e_0" pos="{s.position}" period="{s.period}" length="{s.length}" '
             f'file="{e1}"/>' for s in SPECS]  # fmt: skip
    (tmp_path / "d.add.xml").write_text("\n".join(["<additional>", *loops, "</additional>"]))
    libsumo.start(["sumo", "-n", str(net), "-r", str(tmp_path / "r.rou.xml"), "-a", str(tmp_path / "d.add.xml"),
                   "--step-length", str(DT), "--end", f"{(STEPS + 1) * DT:.1f}", "--precision", "10",
                   "--no-step-log", "true", "--collision.action", "none", "--time-to-teleport", "-1",
                   "--no-warnings", "true"])  # fmt: skip
    pos, vel = drive_platoon(libsumo)  # closing SUMO writes the last (partial) intervals
    return pos, vel, [row.attrib for row in ET.parse(e1).getroot()]


def worst_differences(readings, rows) -> tuple[dict[str, float], int]:
    """Largest |ours - SUMO's| per E1 field over all intervals, and the number of intervals compared."""
    worst, compared = dict.fromkeys(SUMO_FIELDS, 0.0), 0
    for series in readings.series:
        theirs = [r for r in rows if r["id"] == series.spec.name]
        assert [float(r["begin"]) for r in theirs] == [round(b, 6) for b in series.begin], series.spec.name
        assert [float(r["end"]) for r in theirs] == [round(e, 6) for e in series.end], series.spec.name
        for i, row in enumerate(theirs):
            compared += 1
            for key, ours in SUMO_FIELDS.items():
                worst[key] = max(worst[key], abs(float(row[key]) - float(series.values[ours][i, 0])))
    return worst, compared


def test_loops_reproduce_sumo_e1_output(tmp_path, in_ci):
    libsumo, sumo = _libsumo(in_ci)
    pos, vel, rows = run_sumo(tmp_path, libsumo, sumo)
    contributions = sum(int(r["nVehContrib"]) for r in rows)
    assert contributions >= 40 and max(float(r["occupancy"]) for r in rows) > 90.0  # a queue stands on a loop
    sim = dt.TrafficSim(dt.Road(num_lanes=1, length=1e5), dt=DT, integrator="euler")
    n = FOLLOWERS + 1
    lane, active, ids = torch.zeros(1, n, dtype=torch.long), torch.ones(1, n, dtype=torch.bool), torch.arange(n)[None]

    # 1. SUMO's own trajectory through our loops
    def frame(k):
        return Frame((pos[k] - L / 2)[None], vel[k][None], lane, active, ids)

    det = Detectors(sim, frame(0), SPECS, start_time=DT, length=L)
    for k in range(1, STEPS + 1):
        det.observe(frame(k))
    worst, compared = worst_differences(det.readings(), rows)
    assert compared == len(rows)
    print("E1 vs SUMO, SUMO trajectory:", compared, "intervals", worst)
    assert max(worst.values()) < 1e-8, worst

    # 2. our simulator (IDM followers, the leader scripted to SUMO's speeds) with live loops
    idm = dt.IDMParams(v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0, delta=4.0, length=L)
    state = sim.init_state((pos[0] - L / 2)[None], vel[0][None], idm=idm)
    ctrl = torch.zeros(1, n, dtype=torch.bool)
    ctrl[0, 0] = True
    det = Detectors(sim, state, SPECS, start_time=DT)
    for k in range(STEPS):
        acc = torch.zeros(1, n, dtype=torch.float64)
        acc[0, 0] = (vel[k + 1, 0] - state.v[0, 0]) / DT
        state = sim.step(state, acc, ctrl)
        det.observe(state)
    worst, _ = worst_differences(det.readings(), rows)
    assert worst["nVehContrib"] == worst["nVehEntered"] == 0
    print("E1 vs SUMO, own simulation:", worst)
    assert max(worst.values()) < 1e-6, worst
