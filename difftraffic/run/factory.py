"""Resolving and validating what ``difftraffic run`` trains, and building its env and learner.

Everything here runs before a run directory is created, so each user mistake becomes one UserError:
unknown task/scenario, bad device or dtype, unknown or ill-typed ``--config-override`` keys, resume
mismatches. ``settings`` is the dict written to ``config.yaml`` (keys documented in docs/cli.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from difftraffic import registry
from difftraffic.errors import UserError

TASK_NAMES = registry.task_names()
"""The named (non-scenario) tasks, from the registry (the CLI need not import learners to parse arguments)."""
DTYPES = ("float32", "float64")

DEFAULT_THREADS = {"functions": 1, "traffic": 1, "physics": 1}
"""Torch intra-op threads per task family (tiny tensors: one thread avoids sync overhead; see docs/cli.md)."""

RESULT_KEYS = (
    "task", "task_options", "learner", "seed", "device", "dtype", "num_envs", "threads", "eval_episodes", "eval_seed",
)  # fmt: skip
"""Settings that determine training results or eval.csv: a resume must not change them."""
CADENCE_KEYS = (
    "eval_every", "record_every", "checkpoint_every", "record_envs", "record_steps", "grad_window", "record_grads",
    "tensorboard",
)  # fmt: skip
"""Settings a resume may change (they only decide what is logged and when)."""


def repo_root() -> Path:
    """The source tree root (holds scenarios/ and benchmarks/)."""
    return Path(__file__).resolve().parents[2]


def resolve_task(spec: str) -> tuple[str, str, str]:
    """``(task, name, family)``: the task spec to store (absolute path for scenario files), a short name
    for run directories and plots, and the family ('functions', 'physics' or 'traffic')."""
    if spec in registry.TASKS:
        return spec, spec, registry.TASKS[spec].family
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in spec:
        if path.is_dir():
            raise UserError(f"{spec}: is a directory, not a scenario file")
        if not path.is_file():
            raise UserError(f"{spec}: no such scenario file")
        return str(path.resolve()), path.stem, "traffic"
    bundled = registry.bundled_scenarios()
    if spec in bundled:
        return spec, spec, "traffic"
    scenarios = ", ".join(bundled) or "none found"
    raise UserError(f"{spec}: unknown task or scenario (tasks: {', '.join(TASK_NAMES)}; scenarios: {scenarios})")


def resolve_device(text: str) -> str:
    """'cpu', 'cuda' or 'cuda:N', checked against this machine."""
    import torch

    if text == "cpu":
        return text
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not m:
        raise UserError(f"--device {text}: expected cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UserError(f"--device {text}: CUDA is not available (torch {torch.__version__}, no usable GPU)")
    index = int(m.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) present")
    return text


def torch_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise UserError(f"--dtype {name}: choose float32 or float64")
    return getattr(torch, name)


MAX_SEED = 2**31 - 1
"""Largest run seed: evaluation/recording use seed + 10000, and every RNG (random, numpy, torch) must take it."""


def check_positive(flag: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UserError(f"{flag} {value}: must be >= {minimum}")


def check_seed(value: int | None) -> None:
    """``--seed``: 0 to :data:`MAX_SEED` (checked before anything is created)."""
    check_positive("--seed", value, 0)
    if value is not None and value > MAX_SEED:
        raise UserError(f"--seed {value}: must be <= {MAX_SEED}")


def default_learner_config(learner: str, env: Any) -> dict[str, Any]:
    """The learner's resolved default config for ``env``'s task family and task (a YAML-serialisable dict)."""
    import learners

    return dict(learners.default_config(learner, env))


def _wrap_build_error(what: str, exc: BaseException) -> UserError:
    if isinstance(exc, ImportError):
        missing = getattr(exc, "name", None) or str(exc)
        return UserError(f"{what}: needs the optional package {missing!r} (see docs/cli.md, extras)")
    return UserError(f"{what}: {exc}")


def make_env(settings: dict[str, Any], num_envs: int | None = None, seed: int | None = None, device: str | None = None):
    """Build the run's task (``num_envs``/``seed``/``device`` override the settings); UserError on failure."""
    import learners

    options = settings.get("task_options") or {}
    try:
        return learners.make_task(
            settings["task"],
            num_envs=int(num_envs if num_envs is not None else settings["num_envs"]),
            device=device or settings["device"],
            dtype=torch_dtype(settings["dtype"]),
            seed=int(settings["seed"] if seed is None else seed),
            **options,
        )
    except UserError:
        raise
    except TypeError as exc:
        if not options:
            raise
        name = settings.get("task_name", settings["task"])
        raise UserError(f"--task-option {' '.join(options)}: not accepted by {name} ({exc})") from None
    except (ValueError, KeyError, ImportError, OSError) as exc:  # ScenarioError is a ValueError
        raise _wrap_build_error(settings.get("task_name", settings["task"]), exc) from None


def make_learner(settings: dict[str, Any], env: Any, overrides: list[str] | tuple[str, ...] = ()):
    """Build the run's learner on ``env`` from ``settings['learner_config']``; UserError on failure.

    A config error about a key the user overrode is reported against that ``--config-override``."""
    import learners

    # the seed travels as make_learner's argument (older run configs also listed it in the learner config)
    config = {k: v for k, v in settings["learner_config"].items() if k != "seed"}
    try:
        return learners.make_learner(settings["learner"], env, config=config, seed=int(settings["seed"]))
    except (ValueError, KeyError, TypeError) as exc:
        msg = str(exc).strip("'\"")
        for item in overrides:
            if msg.startswith(item.partition("=")[0].strip() + ":"):
                raise UserError(f"--config-override {item}: {msg.partition(':')[2].strip()}") from None
        raise UserError(f"learner {settings['learner']}: {msg}") from None


def compare_for_resume(saved: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences that forbid resuming (everything but epochs and cadence settings)."""
    diffs = []
    for key in RESULT_KEYS:
        if saved.get(key) != new.get(key):
            diffs.append(f"{key} {new.get(key)!r} differs from the run's {saved.get(key)!r}")
    a = {k: v for k, v in (saved.get("learner_config") or {}).items() if k != "max_epochs"}
    b = {k: v for k, v in (new.get("learner_config") or {}).items() if k != "max_epochs"}
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            diffs.append(f"learner config {key} {b.get(key)!r} differs from the run's {a.get(key)!r}")
    if new.get("epochs", 0) < saved.get("epochs", 0):
        diffs.append(f"--epochs {new.get('epochs')} is below the run's {saved.get('epochs')}")
    return diffs
