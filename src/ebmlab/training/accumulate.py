"""Logged values without per-step device→host transfers.

A step's logged values stay 0-d tensors on the method's device (detached); :class:`RunningSums` adds them
into float64 sums on that device, and values become Python floats only when a record is written (every
``train.log_every`` steps and at the end), at a checkpoint, or for callbacks. Each such read moves all
sums of one device in one transfer (:func:`as_floats`). The sums are float64 and a checkpoint stores them
as Python floats, so a resumed run continues bit for bit, and a record's means equal those of summing
``float(value)`` on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["RunningSums", "Value", "as_floats"]

#: a logged value: a 0-d tensor (kept on its device) or a Python number
Value = Tensor | float


def as_floats(values: Mapping[str, Value]) -> dict[str, float]:
    """Python floats of ``values``, fetching the tensors of each device in one transfer."""
    out = {k: float(v) for k, v in values.items() if not isinstance(v, Tensor)}
    by_device: dict[torch.device, list[str]] = {}
    for key, value in values.items():
        if isinstance(value, Tensor):
            by_device.setdefault(value.device, []).append(key)
    for keys in by_device.values():
        fetched = torch.stack([values[k].detach().reshape(()).to(torch.float64) for k in keys]).tolist()  # type: ignore[union-attr]
        out |= dict(zip(keys, fetched, strict=True))
    return {k: out[k] for k in values}


class RunningSums:
    """``add(values)`` each step; ``means()`` at a log record (and reset); ``state()`` for checkpoints."""

    def __init__(self) -> None:
        self.sums: dict[str, Value] = {}
        self.count = 0

    def add(self, values: Mapping[str, Value]) -> None:
        """Add one step's values (tensors stay on their device, summed in float64)."""
        for key, value in values.items():
            v = value.detach().reshape(()).to(torch.float64) if isinstance(value, Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + v
        self.count += 1

    def means(self) -> dict[str, float]:
        """The mean of every key since the last call (each sum over the number of steps), then reset."""
        means = {k: v / self.count for k, v in as_floats(self.sums).items()}
        self.sums, self.count = {}, 0
        return means

    def state(self) -> dict[str, Any]:
        return {"sums": as_floats(self.sums), "count": self.count}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.sums = {k: float(v) for k, v in state["sums"].items()}
        self.count = int(state["count"])
