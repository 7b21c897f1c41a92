"""--config-override parsing and type checks against the resolved config."""

import math

import pytest

from difftraffic.errors import UserError
from difftraffic.run.overrides import apply_overrides, parse_scalar

CONFIG = {
    "actor_lr": 3e-4,
    "mini_epochs": 5,
    "stable_ppo": True,
    "activation": "elu",
    "actor_hidden": [512, 64, 64],
    "num_threads": None,
    "critic": {"lr": 1e-3, "betas": [0.7, 0.95]},
}


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 1e-3),
        ("5", 5),
        ("-2", -2),
        ("true", True),
        ("False", False),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("elu", "elu"),
        ("inf", math.inf),
    ],
)
def test_parse_scalar(text, value):
    assert parse_scalar(text) == value


def test_typed_overrides_applied_to_a_copy():
    new, applied = apply_overrides(
        CONFIG,
        [
            "actor_lr=1e-3",
            "mini_epochs=3",
            "stable_ppo=false",
            "activation=relu",
            "actor_hidden=[128, 64]",
            "critic.lr=2",
            "num_threads=2",
        ],
    )
    assert new["actor_lr"] == 1e-3 and new["mini_epochs"] == 3 and new["stable_ppo"] is False
    assert new["activation"] == "relu" and new["actor_hidden"] == [128, 64]
    assert new["critic"]["lr"] == 2.0 and isinstance(new["critic"]["lr"], float)
    assert new["num_threads"] == 2
    assert applied["critic.lr"] == 2.0
    assert CONFIG["actor_lr"] == 3e-4 and CONFIG["critic"]["lr"] == 1e-3  # original untouched


@pytest.mark.parametrize(
    "item, message",
    [
        ("actor_lr=fast", "actor_lr expects a number, got 'fast'"),
        ("mini_epochs=2.5", "mini_epochs expects an integer, got '2.5'"),
        ("stable_ppo=1", "stable_ppo expects a bool"),
        ("actor_hidden=[1.5, 2]", "actor_hidden expects a list"),
        ("actor_hidden=7", "actor_hidden expects a list"),
        ("critic=3", "critic is a section"),
        ("actor_lrr=1", "unknown key 'actor_lrr' (did you mean actor_lr?)"),
        ("critic.nope=1", "unknown key 'critic.nope'"),
        ("actor_lr", "expected key=value"),
        ("=3", "expected key=value"),
        ("actor_hidden=[1, 2", "not a valid YAML list/dict"),
    ],
)
def test_bad_overrides_are_one_line_user_errors(item, message):
    with pytest.raises(UserError) as info:
        apply_overrides(CONFIG, [item])
    text = str(info.value)
    assert message in text and text.startswith("--config-override ") and "\n" not in text
