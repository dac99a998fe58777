"""The method contract: what a learning algorithm gives the one training loop.

A method is an ``nn.Module`` that computes its losses; it never owns a loop (Lightning's module
contract, reduced to what EBMs need). :func:`~ebmlab.training.fit` does the optimisation, logging,
checkpointing, distribution and divergence handling for every method.

``losses(batch, ctx) -> Losses``
    ``batch`` is the next mini-batch (``None`` for energy-only methods trained with ``data=None``);
    ``ctx`` is a :class:`StepContext`: the step number, the loop's ``torch.Generator`` (all randomness
    must come from it, so runs resume exactly), rank and world size, and the stage being updated.
    ``Losses.minimize`` maps a parameter group to the scalar minimised over that group's parameters;
    ``Losses.log`` holds scalars that are only logged. A group absent from ``minimize`` is not stepped.

Logged keys are the same whether or not a method declares groups: ``loss`` (the sum of the
minimised values), ``loss/<group>``, ``grad_norm/<group>``, ``lr/<group>`` and every ``log`` key.
A method without :meth:`Method.param_groups` has one group, ``"model"``.

Update order (``Method.stages``): ``None`` (default) differentiates every group at the same
parameters, then steps them together (simultaneous updates). A tuple of stages, e.g.
``(("critic",), ("generator",))``, calls ``losses`` once per stage with ``ctx.stage`` set, stepping
that stage's groups before the next call (sequential updates: KALE, EBA). Schedules such as "k critic
steps per generator step" are pure functions of ``ctx.step`` (``ctx.every(k)``), so resume stays exact.

>>> import torch
>>> ctx = StepContext(step=6, generator=torch.Generator())
>>> ctx.every(3), ctx.every(4), ctx.every(4, offset=2)
(True, False, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError

__all__ = ["DEFAULT_GROUP", "GROUP_KEYS", "Losses", "Method", "StepContext", "resolve_groups", "stages_of"]

#: optimiser settings a method may give per group (config ``train.groups.<name>`` overrides them)
GROUP_KEYS = ("optimizer", "lr", "betas", "momentum", "weight_decay", "grad_clip")
#: the one parameter group of a method without ``param_groups``
DEFAULT_GROUP = "model"


@dataclass(frozen=True)
class StepContext:
    """What one ``losses`` call may know about the run.

    Attributes:
        step: the optimiser step being computed, 1-based (the first call sees ``step=1``).
        generator: this rank's random stream, owned and checkpointed by the loop.
        rank, world_size: position in a distributed run (``0, 1`` in a single process).
        stage: the groups updated by this call (all groups for simultaneous updates).
    """

    step: int
    generator: torch.Generator
    rank: int = 0
    world_size: int = 1
    stage: tuple[str, ...] = ()

    def every(self, k: int, offset: int = 0) -> bool:
        """True on steps ``offset + k, offset + 2k, …`` (and ``offset`` itself when it is ≥ 1)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"StepContext.every: k must be an int >= 1, got {k!r}.")
        return (self.step - offset) % k == 0

    def updates(self, group: str) -> bool:
        """Whether ``group`` is stepped after this call (always true for simultaneous updates)."""
        return not self.stage or group in self.stage

    def at_stage(self, stage: tuple[str, ...]) -> StepContext:
        return replace(self, stage=tuple(stage))

    @property
    def device(self) -> torch.device:
        return self.generator.device


@dataclass
class Losses:
    """``minimize``: group → scalar to minimise; ``log``: name → scalar, logged only."""

    minimize: dict[str, Tensor]
    log: dict[str, Tensor | float] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of learning algorithms: override :meth:`losses`; every hook has a default."""

    #: sequential update order, e.g. ``(("critic",), ("generator",))``; None = simultaneous
    stages: tuple[tuple[str, ...], ...] | None = None

    def losses(self, batch: Any, ctx: StepContext) -> Losses:
        raise NotImplementedError(f"{type(self).__name__} must implement losses(batch, ctx) -> Losses.")

    def param_groups(self) -> Mapping[str, Any] | None:
        """``{name: [params]}`` or ``{name: {"params": [...], "lr": ...}}``; None = one group ``"model"``."""
        return None

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define sample(n, generator).")

    def extra_state(self) -> dict[str, Tensor]:
        """Non-parameter tensors that must survive a resume (replay buffers, persistent chains)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Tensor]) -> None:
        if state:
            raise ConfigError(f"{type(self).__name__} got extra state {sorted(state)} but defines no load_extra_state.")

    def divergence_signals(self, losses: Losses) -> dict[str, float]:
        """Extra values checked by the divergence monitor (not logged)."""
        return {}


def _name(method: object) -> str:
    return type(method).__name__


def resolve_groups(method: nn.Module) -> dict[str, dict[str, Any]]:
    """The method's parameter groups as ``{name: {"params": [...], **settings}}``.

    Without ``param_groups`` (or when it returns None) there is one group, ``"model"``, holding every
    parameter with ``requires_grad``. Groups must be non-empty and disjoint.
    """
    hook = getattr(method, "param_groups", None)
    raw = hook() if callable(hook) else None
    if raw is None:
        params = [p for p in method.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(f"{_name(method)} has no trainable parameters (requires_grad=True); nothing to fit.")
        return {DEFAULT_GROUP: {"params": params}}
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"{_name(method)}.param_groups() must return a non-empty dict name -> parameters, got {raw!r}."
        )
    groups: dict[str, dict[str, Any]] = {}
    seen: dict[int, str] = {}
    for name, spec in raw.items():
        entry = dict(spec) if isinstance(spec, Mapping) else {"params": spec}
        unknown = set(entry) - {"params", *GROUP_KEYS}
        if unknown:
            raise ConfigError(
                f"{_name(method)}.param_groups()[{name!r}]: unknown settings {sorted(unknown)}; "
                f"allowed: params, {', '.join(GROUP_KEYS)}."
            )
        params = [p for p in entry.get("params", []) if p.requires_grad]
        if not params:
            raise ConfigError(f"{_name(method)}.param_groups()[{name!r}] holds no trainable parameters.")
        for p in params:
            if id(p) in seen:
                raise ConfigError(
                    f"{_name(method)}.param_groups(): a parameter is in both {seen[id(p)]!r} and {name!r}; "
                    "each parameter must belong to exactly one group."
                )
            seen[id(p)] = name
        groups[str(name)] = {**entry, "params": params}
    return groups


def stages_of(method: nn.Module, groups: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    """The method's update stages, checked against its groups (one stage of all groups by default)."""
    declared = getattr(method, "stages", None)
    if declared is None:
        return (tuple(groups),)
    stages = tuple(tuple(str(g) for g in stage) for stage in declared)
    flat = [g for stage in stages for g in stage]
    unknown = sorted(set(flat) - set(groups))
    if not stages or unknown or len(flat) != len(set(flat)):
        raise ConfigError(
            f"{_name(method)}.stages = {declared!r} must list each parameter group at most once "
            f"(groups: {', '.join(groups)}; unknown: {unknown})."
        )
    return stages
