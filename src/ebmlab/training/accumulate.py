"""Logged values without per-step device→host transfers on accelerators.

On an accelerator (:func:`keep_on_device`) a step's logged values stay 0-d tensors on the method's device
(detached); :class:`RunningSums` adds them into one float64 vector there (one stack, one add per step), and
values become Python floats only when a record is written (every ``train.log_every`` steps and at the
end), at a checkpoint, or for callbacks, all sums of one device in one transfer (:func:`as_floats`). On the
CPU reading a value is a plain memory read, cheaper than the tensor arithmetic that would replace it, so
values are Python floats at once. The sums are float64 and a checkpoint stores them
as Python floats, so a resumed run continues bit for bit, and a record's means equal those of summing
``float(value)`` on the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["RunningSums", "Value", "as_floats", "keep_on_device"]

#: a logged value: a 0-d tensor (kept on its device) or a Python number
Value = Tensor | float


def keep_on_device(device: torch.device) -> bool:
    """Whether logged values stay tensors on ``device`` between records (everywhere but the CPU)."""
    return device.type != "cpu"


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
    """``add(values)`` each step; ``means()`` at a log record (and reset); ``state()`` for checkpoints.

    Tensor values of a step are stacked into one float64 vector and added to the running vector while the
    keys stay the same (the usual case); otherwise sums are kept per key. Both add the same float64 numbers
    in the same order as summing Python floats.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Value] = {}
        self.count = 0
        self._keys: tuple[str, ...] = ()
        self._vector: Tensor | None = None

    def add(self, values: Mapping[str, Value]) -> None:
        """Add one step's values (tensors stay on their device, summed in float64)."""
        tensors = {k: v for k, v in values.items() if isinstance(v, Tensor)}
        keys = tuple(tensors)
        same_device = len({t.device for t in tensors.values()}) == 1
        fresh = not any(k in self.sums for k in keys)  # no per-key sum to continue
        if keys and same_device and fresh and (self._vector is None or keys == self._keys):
            x = torch.stack([t.detach().reshape(()) for t in tensors.values()]).to(torch.float64)
            if self._vector is None:
                self._vector, self._keys = x, keys
            else:
                self._vector = self._vector + x
        else:
            self._spill()
            for key, tensor in tensors.items():
                self.sums[key] = self.sums.get(key, 0.0) + tensor.detach().reshape(()).to(torch.float64)
        for key, value in values.items():
            if not isinstance(value, Tensor):
                self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def _spill(self) -> None:
        """Move the running vector into the per-key sums."""
        if self._vector is not None:
            for i, key in enumerate(self._keys):
                self.sums[key] = self.sums.get(key, 0.0) + self._vector[i]
            self._vector, self._keys = None, ()

    def _all(self) -> dict[str, Value]:
        if self._vector is not None:  # one transfer for the vector, then per-key floats
            self.sums |= dict(zip(self._keys, self._vector.tolist(), strict=True))
            self._vector, self._keys = None, ()
        return self.sums

    def means(self) -> dict[str, float]:
        """The mean of every key since the last call (each sum over the number of steps), then reset."""
        means = {k: v / self.count for k, v in as_floats(self._all()).items()}
        self.sums, self.count = {}, 0
        return means

    def state(self) -> dict[str, Any]:
        return {"sums": as_floats(self._all()), "count": self.count}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self._vector, self._keys = None, ()
        self.sums = {k: float(v) for k, v in state["sums"].items()}
        self.count = int(state["count"])
