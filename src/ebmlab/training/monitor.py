"""Divergence monitor: non-finite values and runaway magnitudes in what a step logs.

A step diverges when

* an optimised loss (``"loss"`` / ``"loss/<group>"``), a gradient norm, or a watched key
  (``train.monitor``; default: every logged key) is NaN or ±inf; or
* ``|value| > train.max_abs[key]`` for a thresholded key (default: ``energy_data``,
  ``energy_neg``, ``gap`` above 1e4 — the energies of an EBM running away).

The loop then either stops (``on_divergence: stop``, :class:`~ebmlab.errors.NonFiniteError`) or
rolls back to the last checkpoint (``on_divergence: rollback``). The check happens before the
optimiser step, so a NaN never reaches the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ebmlab.training.options import TrainConfig

__all__ = ["Divergence", "DivergenceMonitor"]


@dataclass(frozen=True)
class Divergence:
    """What diverged: ``signal`` had ``value`` at ``step`` (``reason`` says which rule fired)."""

    step: int
    signal: str
    value: float
    reason: str

    def describe(self) -> str:
        return f"{self.signal} = {self.value!r} ({self.reason})"


class DivergenceMonitor:
    """Checks a step's values against the rules configured in ``TrainConfig``."""

    def __init__(self, config: TrainConfig) -> None:
        self.watch = None if config.monitor is None else set(config.monitor)
        self.max_abs = dict(config.max_abs)

    def check(self, step: int, values: Mapping[str, float], always: Iterable[str] = ()) -> Divergence | None:
        """The first divergence among ``values`` (``always``: keys checked for NaN/inf regardless of
        ``train.monitor``), or None."""
        watched = set(always) | (set(values) if self.watch is None else self.watch)
        for key, value in values.items():
            if key in watched and not math.isfinite(value):
                return Divergence(step, key, value, "non-finite")
        for key, limit in self.max_abs.items():
            found = values.get(key)
            if found is not None and math.isfinite(found) and abs(found) > limit:
                return Divergence(step, key, found, f"|{key}| > train.max_abs.{key} = {limit:g}")
        return None
