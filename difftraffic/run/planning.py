"""Planning a ``difftraffic run`` session: every check and every object built before a directory exists.

``plan_run(args)`` returns a :class:`Plan` (resolved settings, the run directory, the env and learner,
the checkpoint to resume from) or raises a UserError. A new run's directory must not exist or be empty.
A resume takes the saved settings, lets the user grow ``--epochs`` and change cadence flags, and
rejects everything that would change results.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from difftraffic import registry
from difftraffic.errors import UserError
from difftraffic.run.factory import (
    CADENCE_KEYS,
    DEFAULT_THREADS,
    RESULT_KEYS,
    check_positive,
    check_seed,
    compare_for_resume,
    default_learner_config,
    make_env,
    make_learner,
    resolve_device,
    resolve_task,
)
from difftraffic.run.overrides import apply_overrides, parse_scalar, split_override
from difftraffic.run.rundir import CONFIG_MARKER, RunDir, load_checkpoint, read_config, run_name, unique_path

DEFAULT_EPOCHS = 100
"""Epoch budget when neither --epochs nor the learner config's max_epochs gives one."""
DEFAULT_NUM_ENVS = 64
LEARNER_META_KEYS = ("learner", "task", "family", "seed")
"""Learner config keys that the run sets itself (not overridable with --config-override)."""
EVAL_SEED_OFFSET = 10_000
"""Evaluation/recording envs use seed + this, so they never share start states with training envs."""


@dataclass
class Plan:
    settings: dict[str, Any]
    run: RunDir
    env: Any
    learner: Any
    checkpoint: dict[str, Any] | None
    stop_after: int | None
    quiet: bool


POSITIVE_FLAGS = ("--epochs", "--num-envs", "--threads", "--eval-episodes", "--record-envs", "--record-steps",
                  "--stop-after")  # fmt: skip
NON_NEGATIVE_FLAGS = ("--eval-every", "--record-every", "--checkpoint-every", "--grad-window")
"""``difftraffic run`` flags that must be >= 1 / >= 0 when given."""


def _check_flags(args: argparse.Namespace) -> None:
    for minimum, flags in ((1, POSITIVE_FLAGS), (0, NON_NEGATIVE_FLAGS)):
        for flag in flags:
            check_positive(flag, getattr(args, flag[2:].replace("-", "_")), minimum)
    check_seed(args.seed)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))


def _seed_globals(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG is what user code shares
    torch.manual_seed(seed)


def _cadence(args: argparse.Namespace, epochs: int, family: str, tensorboard: bool) -> dict[str, Any]:
    return {
        "eval_every": max(1, epochs // 10) if args.eval_every is None else args.eval_every,
        "record_every": max(1, epochs // 4) if args.record_every is None else args.record_every,
        "record_envs": args.record_envs or 4,
        "record_steps": args.record_steps,
        "grad_window": 32 if args.grad_window is None else args.grad_window,
        "record_grads": args.record_grads or "final",
        "checkpoint_every": 10 if args.checkpoint_every is None else args.checkpoint_every,
        "tensorboard": tensorboard,
    }


def _tensorboard_wanted(args: argparse.Namespace) -> bool:
    from difftraffic.run.tblog import tensorboard_available

    return not args.no_tensorboard and tensorboard_available()


def _command(args: argparse.Namespace) -> str:
    return "difftraffic " + shlex.join(getattr(args, "argv", []) or [])


def plan_run(args: argparse.Namespace) -> Plan:
    _check_flags(args)
    return _plan_resume(args) if args.resume else _plan_new(args)


def task_options(items: list[str]) -> dict[str, Any]:
    """``--task-option KEY=VALUE`` items -> keyword arguments (values parsed as by --config-override)."""
    options: dict[str, Any] = {}
    for item in items:
        key, text = split_override(item, "--task-option")
        if not key.isidentifier():
            raise UserError(f"--task-option {item}: the key must be a Python identifier (a keyword argument)")
        if key in ("num_envs", "device", "dtype", "seed"):
            raise UserError(f"--task-option {item}: {key} is set by the run itself (use --{key.replace('_', '-')})")
        try:
            options[key] = parse_scalar(text)
        except ValueError as exc:
            raise UserError(f"--task-option {item}: {exc}") from None
    return options


def _plan_new(args: argparse.Namespace) -> Plan:
    if not args.task:
        raise UserError("run: missing TASK|SCENARIO to train (or --resume --out DIR to continue a run)")
    task, name, family = resolve_task(args.task)
    learner_name = args.learner or registry.DEFAULT_LEARNER
    seed = 0 if args.seed is None else int(args.seed)
    device = resolve_device(args.device or "cpu")
    threads = args.threads or DEFAULT_THREADS[family]
    _set_threads(threads)
    settings: dict[str, Any] = {
        CONFIG_MARKER: 1,
        "task": task,
        "task_name": name,
        "task_family": family,
        "task_options": task_options(args.task_option),
        "learner": learner_name,
        "seed": seed,
        "device": device,
        "dtype": args.dtype or "float32",
        "epochs": None,
        "num_envs": args.num_envs,
        "threads": threads,
    }
    out = Path(args.out) if args.out else unique_path(Path("runs") / run_name(name, learner_name, seed))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out}: already exists and is not empty (use --resume to continue a run there)")
    # The learner's defaults depend on the task family and name, read from a one-env probe.
    probe = make_env(settings, num_envs=1)
    defaults = default_learner_config(learner_name, probe)
    probe.close()
    for item in args.config_override:
        key = item.partition("=")[0].strip()
        if key in LEARNER_META_KEYS:
            raise UserError(f"--config-override {item}: {key} is set by the run itself (use the flag, e.g. --{key})")
    config, applied = apply_overrides(defaults, list(args.config_override))
    for flag, key, value in (("--num-envs", "num_envs", args.num_envs), ("--threads", "num_threads", args.threads)):
        if key in applied and value is not None and applied[key] != value:
            raise UserError(f"--config-override {key}={applied[key]}: conflicts with {flag} {value}")
    num_envs = int(args.num_envs or config.get("num_envs") or DEFAULT_NUM_ENVS)
    epochs = int(args.epochs or config.get("max_epochs") or DEFAULT_EPOCHS)
    if applied.get("num_threads") is not None and args.threads is None:
        n = applied["num_threads"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise UserError(f"--config-override num_threads={n}: num_threads expects an integer >= 1")
        settings["threads"] = threads = n
        _set_threads(threads)
    config.update(num_envs=num_envs, num_threads=threads)
    if "max_epochs" not in applied:
        config["max_epochs"] = epochs
    settings.update(epochs=epochs, num_envs=num_envs)
    settings.update(
        eval_episodes=args.eval_episodes or 16,
        eval_seed=seed + EVAL_SEED_OFFSET,
        record_seed=seed + EVAL_SEED_OFFSET,
    )
    settings.update(_cadence(args, epochs, family, _tensorboard_wanted(args)))
    settings.update(config_overrides=list(args.config_override), learner_config=config)
    settings.update(version=_version(), created=_now(), command=_command(args))
    _seed_globals(seed)
    env = make_env(settings)
    learner = make_learner(settings, env, args.config_override)
    settings["learner_config"] = {k: v for k, v in learner.config.items() if k != "seed"}  # fully resolved
    return Plan(settings, RunDir(out), env, learner, None, args.stop_after, args.quiet)


def _plan_resume(args: argparse.Namespace) -> Plan:
    if not args.out:
        raise UserError("--resume: needs --out DIR, the run directory to continue")
    run = RunDir.open(args.out)
    saved = read_config(run.config)
    new = dict(saved)
    if args.task:
        task, name, family = resolve_task(args.task)
        new.update(task=task, task_name=name, task_family=family)
    explicit = {
        "learner": args.learner,
        "seed": args.seed,
        "dtype": args.dtype,
        "num_envs": args.num_envs,
        "threads": args.threads,
        "eval_episodes": args.eval_episodes,
        "device": resolve_device(args.device) if args.device else None,
    }
    new.update({k: v for k, v in explicit.items() if v is not None})
    new["task_options"] = task_options(args.task_option) if args.task_option else saved.get("task_options")
    new["epochs"] = int(args.epochs or saved["epochs"])
    config, applied = apply_overrides(saved["learner_config"], list(args.config_override))
    pinned = any(item.split("=", 1)[0].strip() == "max_epochs" for item in saved.get("config_overrides", []))
    if "max_epochs" in config and "max_epochs" not in applied and not pinned:
        config["max_epochs"] = new["epochs"]
    new["learner_config"] = config
    new["config_overrides"] = list(saved.get("config_overrides", [])) + list(args.config_override)
    cadence = _cadence(args, new["epochs"], new["task_family"], _tensorboard_wanted(args))
    for key in CADENCE_KEYS:
        explicit_value = getattr(args, key, None) if key != "tensorboard" else (False if args.no_tensorboard else None)
        if explicit_value is not None:
            new[key] = cadence[key]
    diffs = compare_for_resume(saved, new)
    if diffs:
        more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
        raise UserError(f"--resume {run.path}: {diffs[0]}{more}; a resume may only raise --epochs")
    path = run.checkpoint("latest")
    if not path.exists():
        raise UserError(f"--resume {run.path}: nothing to resume from (no {path.relative_to(run.path)} yet)")
    ckpt = load_checkpoint(path, map_location=new["device"])
    for key in RESULT_KEYS:
        if ckpt.get("run", {}).get(key) != saved.get(key):
            raise UserError(
                f"{path}: belongs to a different run ({key} {ckpt.get('run', {}).get(key)!r}, "
                f"config.yaml says {saved.get(key)!r})"
            )
    new.setdefault("resumed", [])
    new["resumed"] = list(new["resumed"]) + [_now()]
    _set_threads(new["threads"])
    env = make_env(new)
    learner = make_learner(new, env, args.config_override)
    try:
        learner.load_state_dict(ckpt["learner"])
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: does not fit learner {new['learner']} ({exc.__class__.__name__})") from None
    restore_global_rng(ckpt["rng"])
    return Plan(new, run, env, learner, ckpt, args.stop_after, args.quiet)


def _version() -> str:
    from difftraffic import __version__

    return __version__


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def global_rng_state() -> dict[str, Any]:
    """The global torch, python and numpy RNG states as checkpoint-safe values."""
    import random

    import numpy as np
    import torch

    np_state = np.random.get_state(legacy=False)  # noqa: NPY002
    return {
        "torch": torch.get_rng_state(),
        "python": [int(x) for x in random.getstate()[1]],
        "numpy_key": torch.from_numpy(np_state["state"]["key"].astype("int64")),
        "numpy_pos": int(np_state["state"]["pos"]),
    }


def restore_global_rng(state: dict[str, Any]) -> None:
    """Restore the global RNGs saved by :func:`global_rng_state`."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(int(x) for x in state["python"]), None))
    key = state["numpy_key"].numpy().astype(np.uint32)
    np_state = {
        "bit_generator": "MT19937",
        "state": {"key": key, "pos": int(state["numpy_pos"])},
        "has_gauss": 0,
        "gauss": 0.0,
    }
    np.random.set_state(np_state)  # noqa: NPY002
