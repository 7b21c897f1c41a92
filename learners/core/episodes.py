"""Window of the last finished episodes' returns (the paper's ``rewards/step`` metric)."""

from __future__ import annotations

import math
from collections import deque

import torch


class EpisodeWindow:
    """Returns and lengths of the last ``size`` finished episodes (exact window, oldest dropped first).

    Episodes are added in (time, env) order, one host transfer per epoch.
    """

    def __init__(self, size: int = 100):
        self.size = int(size)
        self.returns: deque[float] = deque(maxlen=self.size)
        self.lengths: deque[int] = deque(maxlen=self.size)
        self.finished = 0

    def add(self, done: torch.Tensor, returns: torch.Tensor, lengths: torch.Tensor) -> int:
        """Add the episodes ending where ``done`` ``[H, B]`` is True; returns how many ended."""
        mask = done.reshape(-1).cpu()
        rets = returns.reshape(-1).detach().double().cpu()[mask].tolist()
        lens = lengths.reshape(-1).cpu()[mask].tolist()
        self.returns.extend(rets)
        self.lengths.extend(int(x) for x in lens)
        self.finished += len(rets)
        return len(rets)

    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns) if self.returns else math.nan

    def mean_length(self) -> float:
        return sum(self.lengths) / len(self.lengths) if self.lengths else math.nan

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "returns": torch.tensor(list(self.returns), dtype=torch.float64),
            "lengths": torch.tensor(list(self.lengths), dtype=torch.long),
            "finished": self.finished,
        }

    def load_state_dict(self, state: dict) -> None:
        self.size = int(state["size"])
        self.returns = deque(state["returns"].tolist(), maxlen=self.size)
        self.lengths = deque((int(x) for x in state["lengths"].tolist()), maxlen=self.size)
        self.finished = int(state["finished"])
