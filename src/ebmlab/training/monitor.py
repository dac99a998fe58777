"""Divergence monitor: non-finite values and runaway magnitudes in what a step logs.

A step diverges when

* an optimised loss (``"loss"`` / ``"loss/<group>"``), a gradient norm, or a watched key
  (``train.monitor``; default: every logged key) is NaN or ±inf; or
* ``|value| > train.max_abs[key]`` for a thresholded key (default: ``energy_data``,
  ``energy_neg``, ``gap`` above 1e4 — the energies of an EBM running away).

The loop then either stops (``on_divergence: stop``, :class:`~ebmlab.errors.NonFiniteError`) or
rolls back to the last checkpoint (``on_divergence: rollback``). The check happens before the
optimiser step, so a NaN never reaches the parameters. Per step it costs one device→host transfer of one
flag (:meth:`DivergenceMonitor.flagged`, all rules fused on the device); only when that flag is set are the
values read back to name the cause (:meth:`DivergenceMonitor.check`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

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
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

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

    def flagged(
        self,
        values: Mapping[str, Tensor | float],
        always: Iterable[str] = (),
        finite: Mapping[str, Tensor | float] | None = None,
    ) -> bool:
        """Whether :meth:`check` would find a divergence in ``values`` (or a non-finite entry of ``finite``,
        e.g. gradient norms), with one device→host transfer: the rules run fused on the device."""
        watched = set(always) | (set(values) if self.watch is None else self.watch)
        tensors: list[Tensor] = []
        rules: list[tuple[str, bool, float]] = []  # (key, NaN/inf is a divergence, |value| limit)
        for key, value in values.items():
            bound = self.max_abs.get(key, math.inf)
            if not isinstance(value, Tensor):
                if (key in watched and not math.isfinite(value)) or (math.isfinite(value) and abs(value) > bound):
                    return True
            elif key in watched or key in self.max_abs:
                tensors.append(value)
                rules.append((key, key in watched, bound))
        for key, value in (finite or {}).items():
            if not isinstance(value, Tensor):
                if not math.isfinite(value):
                    return True
                continue
            tensors.append(value)
            rules.append((key, True, math.inf))
        if not tensors:
            return False
        device = tensors[0].device  # a method may log values from several devices (e.g. a CPU scalar on CUDA)
        x = torch.stack([t.detach().reshape(()).to(device, torch.float64) for t in tensors])
        watch, limit = self._rules(tuple(rules), x.device)
        finite_x = torch.isfinite(x)
        return bool(((~finite_x & watch) | (finite_x & (x.abs() > limit))).any())

    def _rules(self, rules: tuple[tuple[str, bool, float], ...], device: torch.device) -> tuple[Tensor, Tensor]:
        """(watched mask, |value| limits) on ``device``, built once per layout of keys and rules."""
        found = self._cache.get((rules, device))
        if found is None:
            watch = torch.tensor([r[1] for r in rules], device=device)
            found = watch, torch.tensor([r[2] for r in rules], dtype=torch.float64, device=device)
            self._cache[(rules, device)] = found
        return found
