"""Agreement with SUMO 1.28 (libsumo): a scripted leader and 10 IDM followers, 60 s, must match to 1e-6 m.

SUMO setup (docs/reference.md §SUMO): carFollowModel IDM with speedDev 0 / speedFactor 1, stepping 0.25 s
(one Euler iteration at dt 0.1), emergencyDecel high enough never to cap IDM, the leader under
setSpeedMode 0. Vehicles departing at t=0 appear after the first simulationStep at their departPos /
departSpeed, so SUMO's state after step k+1 is our state after step k. SUMO reports the front bumper
position; ours is the centre (front - L/2); both gaps are front-to-front minus the leader's length.
"""

import os
import subprocess

import pytest
import torch

import difftraffic as dt

DT, STEPS, FOLLOWERS, L = 0.1, 600, 10, 5.0


def leader_speed(t: float) -> float:
    """Cruise 25, brake to 0 over 8-18 s, stand, 0 -> 20 at 2 m/s^2, then 20 -> 32 at 2.4 m/s^2 (outruns IDM)."""
    if t < 8:
        return 25.0
    if t < 18:
        return 25.0 - 2.5 * (t - 8)
    if t < 25:
        return 0.0
    if t < 35:
        return 2.0 * (t - 25)
    if t < 40:
        return 20.0 + 2.4 * (t - 35)
    return 32.0


def _libsumo(in_ci: bool):
    try:
        import libsumo
        import sumo
    except ImportError:
        if in_ci:
            raise
        pytest.skip("libsumo not installed (pip install eclipse-sumo==1.28.* libsumo==1.28.*)")
    return libsumo, sumo


def run_sumo(tmp_path, libsumo, sumo):
    (tmp_path / "n.nod.xml").write_text('<nodes><node id="a" x="0" y="0"/><node id="b" x="5000" y="0"/></nodes>')
    (tmp_path / "n.edg.xml").write_text('<edges><edge id="e" from="a" to="b" numLanes="1" speed="50"/></edges>')
    netconvert = os.path.join(sumo.SUMO_HOME, "bin", "netconvert")
    net = tmp_path / "n.net.xml"
    subprocess.run(
        [netconvert, "-n", str(tmp_path / "n.nod.xml"), "-e", str(tmp_path / "n.edg.xml"), "-o", str(net)],
        check=True,
        capture_output=True,
    )
    common = 'carFollowModel="IDM" speedDev="0" speedFactor="1" emergencyDecel="100" minGap="2" length="5" tau="1"'
    lines = [
        "<routes>",
        f'<vType id="idm" accel="1" decel="1.5" delta="4" maxSpeed="30" stepping="0.25" {common}/>',
        f'<vType id="lead" accel="5" decel="5" maxSpeed="50" {common}/>',
        '<route id="r" edges="e"/>',
    ]
    for i in range(FOLLOWERS + 1):  # net gaps of 30 m at 25 m/s
        kind = "lead" if i == 0 else "idm"
        pos = 1000.0 - i * 35.0
        lines.append(f'<vehicle id="v{i}" type="{kind}" route="r" depart="0" departPos="{pos}" departSpeed="25"/>')
    lines.append("</routes>")
    routes = tmp_path / "r.rou.xml"
    routes.write_text("\n".join(lines))
    libsumo.start(["sumo", "-n", str(net), "-r", str(routes), "--step-length", str(DT), "--no-step-log", "true",
                   "--collision.action", "none", "--time-to-teleport", "-1", "--no-warnings", "true"])  # fmt: skip
    return drive_platoon(libsumo)


def drive_platoon(libsumo):
    """Step a started SUMO run of the platoon (closing it at the end): front positions and speeds
    ``[STEPS+1, FOLLOWERS+1]`` after each step, the leader driven by :func:`leader_speed`."""
    ids = [f"v{i}" for i in range(FOLLOWERS + 1)]
    pos = torch.zeros(STEPS + 1, FOLLOWERS + 1, dtype=torch.float64)
    vel = torch.zeros_like(pos)
    try:
        libsumo.simulationStep()  # vehicles appear at departPos/departSpeed: our t = 0
        assert set(libsumo.vehicle.getIDList()) == set(ids)
        libsumo.vehicle.setSpeedMode("v0", 0)
        for k in range(STEPS + 1):
            if k > 0:
                libsumo.simulationStep()
            for j, vid in enumerate(ids):
                pos[k, j] = libsumo.vehicle.getLanePosition(vid)
                vel[k, j] = libsumo.vehicle.getSpeed(vid)
            libsumo.vehicle.setSpeed("v0", leader_speed((k + 1) * DT))  # takes effect in the next step
    finally:
        libsumo.close()
    return pos, vel


def test_single_lane_platoon_matches_sumo_idm(tmp_path, in_ci):
    libsumo, sumo = _libsumo(in_ci)
    pos, vel = run_sumo(tmp_path, libsumo, sumo)
    sim = dt.TrafficSim(dt.Road(num_lanes=1, length=1e5), dt=DT, integrator="euler")
    idm = dt.IDMParams(v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0, delta=4.0, length=L)
    state = sim.init_state((pos[0] - L / 2)[None], vel[0][None], idm=idm)
    ctrl = torch.zeros(1, FOLLOWERS + 1, dtype=torch.bool)
    ctrl[0, 0] = True
    err_x = err_v = 0.0
    for k in range(STEPS):
        acc = torch.zeros(1, FOLLOWERS + 1, dtype=torch.float64)
        acc[0, 0] = (vel[k + 1, 0] - state.v[0, 0]) / DT  # the scripted leader
        state = sim.step(state, acc, ctrl)
        err_x = max(err_x, (state.x[0] + L / 2 - pos[k + 1]).abs().max().item())
        err_v = max(err_v, (state.v[0] - vel[k + 1]).abs().max().item())
    assert vel.min().item() == 0.0 and vel.max().item() > 30.0  # the run covers a stop and the outrunning leader
    assert err_x < 1e-6, f"max position error {err_x:.3g} m"
    assert err_v < 1e-6, f"max speed error {err_v:.3g} m/s"
