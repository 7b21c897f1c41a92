"""Road geometry: a straight multi-lane road or a multi-lane ring; lane projection and assignment.

Road coordinates are (s, lat): s is the longitudinal coordinate (m) along lane 0's centreline and
lat the lateral offset (m) from lane 0's centreline towards higher lane indices. Lane i's centre
is at lat = i * lane_width.

* Straight road: lanes run along +x; lane i's centreline is y = i * lane_width, from x = 0 to
  x = length. World (x, y) = (s, lat). Vehicles may drive past ``length`` (the road is open).
* Ring road: lane 0 is a circle of circumference ``length`` (radius R = length / 2 pi) centred at
  the origin, driven counter-clockwise; lane i has radius R + i * lane_width. All lanes share the
  longitudinal coordinate s (the arc length along lane 0), so a ring's s lives in [0, length).
  ``length`` is the ring's circumference in every env unless a state carries per-env lengths
  (``TrafficSim.init_state(..., ring_length=L[B])``: the ring of env b is ``L[b]`` m long, e.g. Flow's
  wave-attenuation task draws it at every reset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Road:
    """A straight or ring road of ``num_lanes`` lanes (width ``lane_width`` m) and length ``length`` m."""

    num_lanes: int = 1
    length: float = 1.0e6
    ring: bool = False
    lane_width: float = 4.0

    def __post_init__(self) -> None:
        if int(self.num_lanes) != self.num_lanes or self.num_lanes < 1:
            raise ValueError(f"num_lanes: must be an integer >= 1, got {self.num_lanes}")
        if not (self.length > 0 and math.isfinite(self.length)):
            raise ValueError(f"length: must be a positive finite number of metres, got {self.length}")
        if not self.lane_width > 0:
            raise ValueError(f"lane_width: must be > 0 m, got {self.lane_width}")

    @property
    def radius(self) -> float:
        """Radius (m) of lane 0's centreline on a ring road."""
        return self.length / (2.0 * math.pi)

    def lane_center(self, lane: torch.Tensor | int) -> torch.Tensor | float:
        """Lateral coordinate (m) of a lane's centreline."""
        return lane * self.lane_width

    def wrap(self, s: torch.Tensor, length: torch.Tensor | None = None) -> torch.Tensor:
        """Map s into [0, length) on a ring (identity on a straight road); differentiable (slope 1).

        ``length``: per-env ring lengths ``[B, 1]`` (m) overriding ``self.length`` (see ``TrafficSim.init_state``)."""
        if not self.ring:
            return s
        L = self.length if length is None else length
        return s - torch.floor(s.detach() / L) * L

    def to_world(self, s: torch.Tensor, lat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """World position (x, y) in m and the road's heading (rad) at road coordinates (s, lat)."""
        if not self.ring:
            return s, lat, torch.zeros_like(s)
        r = self.radius + lat
        phi = s / self.radius
        return r * torch.cos(phi), r * torch.sin(phi), phi + 0.5 * math.pi

    def to_road(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inverse of :meth:`to_world` for the position: road coordinates (s, lat) of world point (x, y)."""
        if not self.ring:
            return x, y
        phi = torch.atan2(y, x)
        phi = torch.where(phi < 0, phi + 2.0 * math.pi, phi)
        return phi * self.radius, torch.sqrt(x * x + y * y) - self.radius

    def lane_membership(self, s: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
        """Discrete lane index (long) of a point, -1 when off the road.

        The lane is the one whose centreline is nearest; the point is off the road when its
        distance to that centreline, plus how far it lies before s=0 or past s=length on a straight
        road, is at least half a lane width (the rule of the paper's pace-car environment).
        No gradient flows through this choice.
        """
        with torch.no_grad():
            lane = torch.clamp(torch.round(lat / self.lane_width), 0, self.num_lanes - 1)
            dist = torch.abs(lat - lane * self.lane_width)
            if not self.ring:
                dist = dist + torch.clamp(s - self.length, min=0.0) + torch.clamp(-s, min=0.0)
            lane = lane.long()
            return torch.where(dist < 0.5 * self.lane_width, lane, torch.full_like(lane, -1))

    def as_dict(self) -> dict:
        """Plain-data description (for recorded episodes and config files)."""
        return {
            "num_lanes": int(self.num_lanes),
            "length": float(self.length),
            "ring": bool(self.ring),
            "lane_width": float(self.lane_width),
        }
