"""Running sums of the values a method logs between two log records (the record holds their means).

Sums are kept in float64 (Python floats or float64 tensors), so a resumed run (whose sums come back
from the checkpoint as floats) continues bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

__all__ = ["RunningSums"]


class RunningSums:
    """``add(values)`` each step; ``means()`` at a log record (and reset); ``state()`` for checkpoints."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: Mapping[str, float | Tensor]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def means(self) -> dict[str, float]:
        """The mean of every key since the last call (each sum over the number of steps), then reset."""
        means = {k: v / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def state(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.sums = {k: float(v) for k, v in state["sums"].items()}
        self.count = int(state["count"])
