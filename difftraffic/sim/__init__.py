"""The simulator: road geometry (``road``), IDM (``idm``), MOBIL lane changes (``mobil``), the pace car's kinematic
bicycle (``bicycle``), the batched state (``simstate``), the step and rollout (``simulator.TrafficSim``), its fused
hand-derived-backward kernels (``step_kernels``, ``fused_step``: eager or inductor-compiled) and the cached
leader/follower topology (``topology``). Imports nothing above it (tasks, scenarios, learners, ...)."""

from difftraffic.sim.idm import IDMParams
from difftraffic.sim.mobil import MOBILParams
from difftraffic.sim.road import Road
from difftraffic.sim.simstate import SimState, Trajectory
from difftraffic.sim.simulator import TrafficSim

__all__ = ["IDMParams", "MOBILParams", "Road", "SimState", "TrafficSim", "Trajectory"]
