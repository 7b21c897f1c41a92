"""IDM formulas against hand-computed values (Flow/SUMO human driver: v0=30, T=1, a=1, b=1.5, s0=2, delta=4)."""

import pytest
import torch

from difftraffic.sim.idm import IDMParams, desired_gap, equilibrium_gap, idm_acceleration

P = IDMParams()  # v0=30, T=1, a=1, b=1.5, s0=2, delta=4, length=5


def t(*vals):
    return torch.tensor([list(vals)], dtype=torch.float64)


def test_desired_gap_book_form_and_total_clip():
    v, dv = t(10.0, 10.0, 0.0), t(2.0, -20.0, 5.0)
    # 2 sqrt(ab) = 2.449489742783178; dyn = v T + v dv / 2 sqrt(ab)
    dyn = desired_gap(v, dv, P, "dynamic")
    assert dyn.tolist()[0] == pytest.approx([20.164965809277263, 2.0, 2.0], abs=1e-12)
    # "total" clips s0 + dyn at 0: 2 + 10 - 200 / 2.449 < 0 -> 0
    tot = desired_gap(v, dv, P, "total")
    assert tot.tolist()[0] == pytest.approx([20.164965809277263, 0.0, 2.0], abs=1e-12)
    with pytest.raises(ValueError, match="sstar_clip"):
        desired_gap(v, dv, P, "none")


def test_acceleration_with_leader_free_road_and_gap_floor():
    v, vl = t(10.0, 10.0, 10.0), t(8.0, 0.0, 10.0)
    gap = t(20.0, 123.0, -5.0)
    has = torch.tensor([[True, False, True]])
    acc = idm_acceleration(v, vl, gap, has, P)
    # 1 - (1/3)^4 - (20.164965809277263 / 20)^2; free road 1 - (1/3)^4; gap floored at 1e-3 m: s* = 12
    expected = [-0.028910294235648393, 0.9876543209876544, 1 - (1 / 3) ** 4 - (12.0 / 1e-3) ** 2]
    assert acc.tolist()[0] == pytest.approx(expected, rel=1e-12)


def test_per_vehicle_parameters_broadcast():
    v = t(10.0, 10.0)
    p = IDMParams(v0=torch.tensor([[20.0, 40.0]], dtype=torch.float64), a=torch.tensor([2.0], dtype=torch.float64))
    acc = idm_acceleration(v, v, t(0.0, 0.0), torch.tensor([[False, False]]), p)
    assert acc.tolist()[0] == pytest.approx([2 * (1 - 0.5**4), 2 * (1 - 0.25**4)], rel=1e-12)


def test_equilibrium_gap_gives_zero_acceleration():
    v = torch.tensor([[5.0, 15.0, 25.0]], dtype=torch.float64)
    s = equilibrium_gap(v, P)
    acc = idm_acceleration(v, v, s, torch.ones_like(v, dtype=torch.bool), P)
    assert acc.abs().max().item() < 1e-12
    assert s[0, 0].item() == pytest.approx((2 + 5) / (1 - (5 / 30) ** 4) ** 0.5, rel=1e-12)


@pytest.mark.parametrize(
    "kw, msg",
    [({"v0": 0.0}, "v0"), ({"T": -1.0}, "T"), ({"a": 0.0}, "a"), ({"b": -1.5}, "b"), ({"s0": -0.1}, "s0"),
     ({"length": 0.0}, "length"), ({"delta": torch.tensor([4.0, 0.0])}, "delta")],
)  # fmt: skip
def test_validate_rejects_impossible_values(kw, msg):
    with pytest.raises(ValueError, match=f"^{msg}: must be"):
        IDMParams(**kw).validate()
