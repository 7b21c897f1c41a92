"""Shared by the benchmark scripts: device parsing and synchronisation, device description, JSON output.

Device work is asynchronous: a timer read without :func:`sync` measures the launch, not the work.
:func:`write_json` writes through a temporary file and a rename, so a benchmark killed mid-write
leaves the previous complete file (or none), never half of one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch


def parse_device(text: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a usable torch.device; ValueError (one line) otherwise."""
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device: {text!r} is not a device (cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device: {text!r} asked for, but torch {torch.__version__} sees no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device: {text!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"--device: {text!r}: only cpu and cuda are supported")
    return dev


def device_arg(text: str) -> torch.device:
    """argparse ``type=`` for ``--device``: a bad value is argparse's one-line error (exit code 2)."""
    try:
        return parse_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--device: ")) from None


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def device_info(device: torch.device | str) -> dict[str, Any]:
    """What ran the benchmark: torch version, device name, host CPU count and torch threads."""
    dev = torch.device(device)
    info: dict[str, Any] = {
        "device": str(dev),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(
            device_name=props.name,
            device_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            capability=f"{props.major}.{props.minor}",
        )
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info


def _clean(obj: Any) -> Any:
    """JSON-safe copy: tuples to lists, non-finite floats to None, torch types to strings."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, torch.device | torch.dtype):
        return str(obj)
    return obj


def write_json(path: str | Path | None, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (nothing when ``path`` is None)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(_clean(obj), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
