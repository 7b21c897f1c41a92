"""Carried state of a batch of pace-car envs, packed into a few tensors.

A compiled step pays a fixed cost per input and output tensor (measured ~2 us per autograd output
on this machine), so the state lives in three packed tensors plus an optional IDM table; the
named fields below are views into them. N = 1 + number of IDM cars; column 0 is the pace car.

* ``pos`` float64 ``[B, N + 2]``: s (road longitudinal coordinate, m; the pace car's is its
  projection on the road) for every vehicle, then the pace car's world x, y (m).
* ``kin`` dtype ``[B, 2 N + 2]``: speed v (m/s; the pace car's is signed), the acceleration
  applied in the last step (m/s^2), then the pace car's heading (rad) and the return so far.
* ``ints`` long ``[B, N + 1]``: lane index (-1 off the road), then steps since reset.
* ``idm_table`` dtype ``[B, N, 7]`` (IDM parameters per vehicle, in :data:`IDM_FIELDS` order;
  column 0 holds the pace car's length) or None when every vehicle shares ``idm_const``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from difftraffic.sim.idm import IDM_FIELDS, IDMParams


@dataclass
class PaceCarState:
    """See the module docstring."""

    pos: torch.Tensor
    kin: torch.Tensor
    ints: torch.Tensor
    idm_table: torch.Tensor | None
    idm_const: IDMParams

    # ----------------------------------------------------------- named views
    @property
    def n(self) -> int:
        """Vehicles per env, N."""
        return self.ints.shape[1] - 1

    @property
    def s(self) -> torch.Tensor:
        return self.pos[:, : self.n]

    @property
    def px(self) -> torch.Tensor:
        return self.pos[:, self.n]

    @property
    def py(self) -> torch.Tensor:
        return self.pos[:, self.n + 1]

    @property
    def v(self) -> torch.Tensor:
        return self.kin[:, : self.n]

    @property
    def accel(self) -> torch.Tensor:
        return self.kin[:, self.n : 2 * self.n]

    @property
    def heading(self) -> torch.Tensor:
        return self.kin[:, 2 * self.n]

    @property
    def ret(self) -> torch.Tensor:
        return self.kin[:, 2 * self.n + 1]

    @property
    def lane(self) -> torch.Tensor:
        return self.ints[:, : self.n]

    @property
    def t(self) -> torch.Tensor:
        return self.ints[:, self.n]

    @property
    def idm(self) -> IDMParams:
        """IDM parameters: the shared floats, or ``[B, N]`` views of the table."""
        if self.idm_table is None:
            return self.idm_const
        return IDMParams(**{k: self.idm_table[:, :, i] for i, k in enumerate(IDM_FIELDS)})

    # ---------------------------------------------------------------- builders
    @classmethod
    def pack(
        cls,
        s: torch.Tensor,
        px: torch.Tensor,
        py: torch.Tensor,
        v: torch.Tensor,
        accel: torch.Tensor,
        heading: torch.Tensor,
        ret: torch.Tensor,
        lane: torch.Tensor,
        t: torch.Tensor,
        idm_table: torch.Tensor | None,
        idm_const: IDMParams,
    ) -> PaceCarState:
        """Build a state from named ``[B, N]`` / ``[B]`` tensors."""
        pos = torch.cat([s, px[:, None], py[:, None]], dim=1)
        kin = torch.cat([v, accel, heading[:, None], ret[:, None]], dim=1)
        ints = torch.cat([lane, t[:, None]], dim=1)
        return cls(pos=pos, kin=kin, ints=ints, idm_table=idm_table, idm_const=idm_const)

    def detach(self) -> PaceCarState:
        table = None if self.idm_table is None else self.idm_table.detach()
        return PaceCarState(self.pos.detach(), self.kin.detach(), self.ints, table, self.idm_const)

    def where(self, mask: torch.Tensor, other: PaceCarState) -> PaceCarState:
        """Per env: ``other`` where ``mask`` (``[B]`` bool) is True, else self."""
        m = mask[:, None]
        table = self.idm_table
        if table is not None:
            table = torch.where(m[:, :, None], other.idm_table, table)
        return PaceCarState(
            pos=torch.where(m, other.pos, self.pos),
            kin=torch.where(m, other.kin, self.kin),
            ints=torch.where(m, other.ints, self.ints),
            idm_table=table,
            idm_const=self.idm_const,
        )

    def as_dict(self) -> dict:
        """Plain tensors for ``state_dict`` (detached copies)."""
        out = {"pos": self.pos.detach().clone(), "kin": self.kin.detach().clone(), "ints": self.ints.clone()}
        if self.idm_table is not None:
            out["idm_table"] = self.idm_table.detach().clone()
        return out

    @classmethod
    def from_dict(cls, d: dict, idm_const: IDMParams, device: torch.device, dtype: torch.dtype) -> PaceCarState:
        table = d.get("idm_table")
        return cls(
            pos=d["pos"].to(device=device, dtype=torch.float64).clone(),
            kin=d["kin"].to(device=device, dtype=dtype).clone(),
            ints=d["ints"].to(device=device, dtype=torch.long).clone(),
            idm_table=None if table is None else table.to(device=device, dtype=dtype).clone(),
            idm_const=idm_const,
        )
