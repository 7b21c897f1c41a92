"""Platoons simulated by Eclipse SUMO (through libsumo, headless): ground truth from a real peer.

Each platoon drives on its own straight one-lane edge: a leader commanded with
``setSpeed`` along a speed profile, and followers each with their own vType ``carFollowModel="IDM"``
(``accel`` = a, ``decel`` = b, ``tau`` = T, ``minGap`` = s0, ``delta``, ``maxSpeed`` = v0). The setup SUMO needs
to run the textbook IDM exactly (docs/model.md, "Agreement with SUMO"): ``speedFactor="1" speedDev="0"`` (no
random desired speeds), ``stepping="0.25"`` (one Euler iteration per 0.1 s step, i.e. difftraffic's "euler"),
``emergencyDecel`` high enough never to cap IDM, a lane speed above every v0. Vehicles departing at t = 0
appear after the first ``simulationStep`` at their ``departPos`` / ``departSpeed``: that state is t = 0.
Positions are SUMO's lane positions (front bumpers). Needs ``eclipse-sumo`` and ``libsumo`` (the dev extra).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from difftraffic.calibration.synthetic import _table, exciting_leader_speed, initial_gaps, platoon_plan

LANE_SPEED = 60.0
"""m/s: the edge's speed limit (above every desired speed v0, so v0 = the vType's maxSpeed)."""


def _network(workdir: Path, roads: int) -> Path:
    """``roads`` parallel, unconnected one-lane edges ``e0, e1, ...`` (separate edges, not lanes of one edge:
    SUMO's keep-right rule would otherwise slow a lane's cars down next to a slower lane)."""
    import sumo

    nodes = "".join(f'<node id="a{p}" x="0" y="{100 * p}"/><node id="b{p}" x="20000" y="{100 * p}"/>'
                    for p in range(roads))  # fmt: skip
    edges = "".join(f'<edge id="e{p}" from="a{p}" to="b{p}" numLanes="1" speed="{LANE_SPEED}"/>' for p in range(roads))
    (workdir / "n.nod.xml").write_text(f"<nodes>{nodes}</nodes>")
    (workdir / "n.edg.xml").write_text(f"<edges>{edges}</edges>")
    net = workdir / "n.net.xml"
    netconvert = os.path.join(sumo.SUMO_HOME, "bin", "netconvert")
    subprocess.run(
        [netconvert, "-n", str(workdir / "n.nod.xml"), "-e", str(workdir / "n.edg.xml"), "-o", str(net)],
        check=True,
        capture_output=True,
    )
    return net


def sumo_platoons(
    params: Mapping[str, np.ndarray],
    platoons: int,
    duration: float = 130.0,
    dt: float = 0.1,
    leader_speed: Callable[[np.ndarray, float], np.ndarray] = exciting_leader_speed,
    length: float = 5.0,
    classes: np.ndarray | None = None,
    workdir: str | Path | None = None,
):
    """Like :func:`difftraffic.calibration.synthetic.simulate_platoons`, but simulated by SUMO (see the module
    docstring): ``params[k]`` has ``platoons * n`` entries (platoon-major, front to back); returns a
    :class:`~difftraffic.calibration.table.TrajectoryTable` with the same vehicle ids."""
    import libsumo

    n, steps, times, target, grid = platoon_plan(params, platoons, duration, dt, leader_speed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        net = _network(tmp, platoons)
        common = f'carFollowModel="IDM" speedDev="0" speedFactor="1" emergencyDecel="100" length="{length}"'
        lead = f'<vType id="lead" accel="9" decel="9" tau="1" minGap="2" maxSpeed="{LANE_SPEED}" {common}/>'
        lines = ["<routes>", *(f'<route id="r{p}" edges="e{p}"/>' for p in range(platoons)), lead]
        ids = []
        for p in range(platoons):
            gaps = initial_gaps({k: grid[k][p] for k in grid}, target[0, p])
            front = 5000.0 - np.concatenate([[0.0], np.cumsum(gaps + length)])
            for i in range(n + 1):
                vid = str(1000 * p + i)
                ids.append(vid)
                vtype = "lead"
                if i > 0:
                    vtype = f"d{vid}"
                    g = {k: float(grid[k][p, i - 1]) for k in grid}
                    lines.append(
                        f'<vType id="{vtype}" accel="{g["a"]!r}" decel="{g["b"]!r}" tau="{g["T"]!r}" '
                        f'minGap="{g["s0"]!r}" delta="{g["delta"]!r}" maxSpeed="{g["v0"]!r}" stepping="0.25" {common}/>'
                    )
                lines.append(f'<vehicle id="{vid}" type="{vtype}" route="r{p}" depart="0" '
                             f'departPos="{float(front[i])!r}" departSpeed="{float(target[0, p])!r}"/>')  # fmt: skip
        lines.append("</routes>")
        routes = tmp / "r.rou.xml"
        routes.write_text("\n".join(lines))
        libsumo.start(["sumo", "-n", str(net), "-r", str(routes), "--step-length", repr(dt), "--no-step-log", "true",
                       "--collision.action", "none", "--time-to-teleport", "-1", "--no-warnings", "true"])  # fmt: skip
        pos = np.zeros((steps + 1, platoons, n + 1))
        vel = np.zeros_like(pos)
        try:
            libsumo.simulationStep()
            present = set(libsumo.vehicle.getIDList())
            if present != set(ids):
                raise RuntimeError(f"SUMO did not insert vehicles {sorted(set(ids) - present)[:5]} at t = 0")
            for p in range(platoons):
                libsumo.vehicle.setSpeedMode(str(1000 * p), 0)
            for k in range(steps + 1):
                if k > 0:
                    libsumo.simulationStep()
                for p in range(platoons):
                    for i in range(n + 1):
                        vid = str(1000 * p + i)
                        pos[k, p, i] = libsumo.vehicle.getLanePosition(vid)
                        vel[k, p, i] = libsumo.vehicle.getSpeed(vid)
                if k < steps:
                    for p in range(platoons):
                        libsumo.vehicle.setSpeed(str(1000 * p), float(target[k + 1, p]))
        finally:
            libsumo.close()
    return _table(pos, vel, times, length, classes, "<sumo>")
