"""Learner configs: YAML defaults per learner x task family x task, user overrides, validation.

Resolution order (later wins): ``common.yaml`` defaults -> its family section -> its ``tasks.<task>``
-> the learner's YAML (same three levels) -> the user's dict. The result is a flat, YAML-serialisable
dict. Unknown keys, wrong types and impossible values raise ``ValueError("<key>: <why>")``.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

import yaml

from difftraffic import registry

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
LEARNER_NAMES = registry.learner_names()
FAMILIES = registry.FAMILIES
META_KEYS = ("learner", "task", "family")

# keys whose value may be null, with the type of a non-null value
NULLABLE = {
    "grad_norm": float, "num_threads": int, "minibatch_size": int, "lrp_truncate": int, "adv_grad_clip": float,
}  # fmt: skip
CHOICES = {
    "activation": ("elu", "relu", "tanh", "identity"),
    "critic_lr_schedule": ("linear", "constant"),
    "actor_lr_schedule": ("linear", "constant"),
    "ppo_lr_schedule": ("constant", "adaptive"),
    "rp_normalizer": ("segments", "steps"),
    "lrp_method": ("batched", "loop"),
    "stable_ppo_rule": ("minibatch", "mini_epoch_mean"),
    "alpha_fit_lr_rule": ("update_factor", "fixed"),
    "pe_gradient": ("one_step", "gae"),
    "family": FAMILIES,
}
POSITIVE_INT = {
    "max_epochs", "num_envs", "horizon", "critic_iterations", "critic_num_batch", "episode_window", "mini_epochs",
    "stable_ppo_tries", "alpha_fit_iterations", "alpha_fit_tries", "pe_iterations", "num_threads", "minibatch_size",
    "lrp_truncate",
}  # fmt: skip
POSITIVE_FLOAT = {
    "critic_lr", "min_lr", "actor_lr", "alpha_fit_lr", "alpha0", "max_alpha", "kl_threshold", "e_clip",
    "log_ratio_max", "mixture_gap", "invalid_obs", "grad_norm", "adv_grad_clip",
}  # fmt: skip
UNIT_INTERVAL = {"gamma", "lam", "actor_lambda"}  # in (0, 1]
FRACTION = {"target_critic_alpha", "det_interval"}  # in [0, 1)


def _load_yaml(name: str) -> dict:
    path = CONFIG_DIR / f"{name}.yaml"
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


def _layers(data: dict, family: str, task: str | None) -> list[dict]:
    layers = [data.get("defaults") or {}]
    if family != "generic":
        layers.append(data.get(family) or {})
    if task is not None:
        layers.append((data.get("tasks") or {}).get(task) or {})
    return layers


def defaults_for(learner: str, family: str, task: str | None) -> dict[str, Any]:
    """The resolved default config of ``learner`` for a task family and (optional) task name."""
    if learner not in registry.LEARNERS:
        raise ValueError(f"learner: unknown {learner!r}; choose from {list(registry.LEARNERS)}")
    if family not in FAMILIES:
        raise ValueError(f"family: unknown {family!r}; choose from {list(FAMILIES)}")
    out: dict[str, Any] = {"learner": learner, "task": task, "family": family}
    for layer in _layers(_load_yaml("common"), family, task) + _layers(_load_yaml(learner), family, task):
        out.update(layer)
    return out


def schema_keys(learner: str) -> set[str]:
    keys = set(META_KEYS)
    for name in ("common", learner):
        keys |= set((_load_yaml(name).get("defaults") or {}).keys())
    return keys


def resolve(learner: str, family: str, task: str | None, user: dict | None) -> dict[str, Any]:
    """Defaults for (learner, family, task) updated with ``user``, validated."""
    if user is not None and not isinstance(user, dict):
        raise ValueError(f"config: expected a dict of settings, got {type(user).__name__}")
    user = dict(user or {})
    if user.get("learner", learner) != learner:
        raise ValueError(f"learner: this config is for {user['learner']!r}, not {learner!r}")
    if user.get("task", task) != task:
        raise ValueError(f"task: this config is for task {user['task']!r}, the env is {task!r}")
    family = user.get("family", family)
    if family not in FAMILIES:
        raise ValueError(f"family: unknown {family!r}; choose from {list(FAMILIES)}")
    cfg = defaults_for(learner, family, task)
    allowed = schema_keys(learner)
    for key, value in user.items():
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{key}: unknown config key for learner {learner!r}{hint}")
        cfg[key] = value
    validate(cfg, defaults_for(learner, family, task))
    return cfg


def _type_name(t) -> str:
    return {float: "a number", int: "an integer", bool: "true/false", str: "a string", list: "a list"}.get(t, str(t))


def _check_scalar(key: str, value: Any, expected: type) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true/false, got {value!r}")
        return value
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected {_type_name(expected)}, got {value!r}")
    if expected is float:
        if not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{key}: must be finite, got {value!r}")
        return float(value)
    if expected is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported config type {expected}")


def validate(cfg: dict[str, Any], reference: dict[str, Any]) -> None:
    """Type-check ``cfg`` against the types of ``reference`` (the defaults) and check value ranges, in place."""
    for key, value in list(cfg.items()):
        if key in ("task",):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key}: expected a string, got {value!r}")
            continue
        if key in ("learner", "family"):
            _check_scalar(key, value, str)
        ref = reference.get(key)
        if value is None:
            if key not in NULLABLE:
                raise ValueError(f"{key}: must not be null")
            continue
        if key in NULLABLE:
            cfg[key] = value = _check_scalar(key, value, NULLABLE[key])
        elif isinstance(ref, list):
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{key}: expected a non-empty list, got {value!r}")
            elem = type(ref[0])
            cfg[key] = value = [_check_scalar(key, v, elem) for v in value]
            if len(ref) == 2 and key.endswith("betas"):
                if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
                    raise ValueError(f"{key}: expected two numbers in [0, 1), got {value!r}")
            elif any(v < 1 for v in value):
                raise ValueError(f"{key}: layer widths must be >= 1, got {value!r}")
        elif ref is not None:
            cfg[key] = value = _check_scalar(key, value, type(ref))
        if key in CHOICES and value not in CHOICES[key]:
            raise ValueError(f"{key}: unknown {value!r}; choose from {list(CHOICES[key])}")
        if key in POSITIVE_INT and value < 1:
            raise ValueError(f"{key}: must be >= 1, got {value!r}")
        if key in POSITIVE_FLOAT and value <= 0:
            raise ValueError(f"{key}: must be > 0, got {value!r}")
        if key in UNIT_INTERVAL and not 0.0 < value <= 1.0:
            raise ValueError(f"{key}: must be in (0, 1], got {value!r}")
        if key in FRACTION and not 0.0 <= value < 1.0:
            raise ValueError(f"{key}: must be in [0, 1), got {value!r}")
    if cfg.get("lrp_samples", 2) < 2:
        raise ValueError(f"lrp_samples: must be >= 2 to estimate a variance, got {cfg['lrp_samples']!r}")
    for key in ("alpha_factor", "lr_divisor"):
        if key in cfg and cfg[key] <= 1.0:
            raise ValueError(f"{key}: must be > 1, got {cfg[key]!r}")
    if "max_oorr" in cfg and not 0.0 <= cfg["max_oorr"] <= 1.0:
        raise ValueError(f"max_oorr: must be in [0, 1], got {cfg['max_oorr']!r}")
