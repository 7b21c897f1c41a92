"""Optional TensorBoard logging (the ``tensorboard`` package, extra ``[tb]``); CSV logging never needs it."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class TBLogger:
    """Scalars per epoch into ``log_dir``; ``purge_step`` discards events at or after it (resume)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def log(self, step: int, scalars: dict[str, Any]) -> None:
        for key, value in scalars.items():
            if hasattr(value, "item") and callable(value.item):
                value = value.item()
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(key, float(value), global_step=step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
