"""The ``Method`` protocol: what a learning algorithm gives the one training loop.

A method is an ``nn.Module`` that computes its losses; it never owns a loop. :func:`fit` does
the optimisation, logging, checkpointing and divergence handling for every method.

Contract (also in ``docs/training.md``):

``losses(batch, generator) -> dict[str, Tensor]``
    ``batch`` is the next mini-batch (a tensor, or whatever a DataLoader yields; ``None`` for
    energy-only methods trained with ``data=None``, e.g. the Boltzmann generator). All randomness
    must come from ``generator`` (a ``torch.Generator`` owned and checkpointed by the loop), so
    that runs are reproducible and resume exactly. Key ``"loss"`` is the scalar minimised over all
    trainable parameters. Every other key is a scalar logged as ``float`` (keep them cheap).

``optimizer_groups() -> dict[str, list[Parameter] | dict]`` (optional)
    For methods with several objectives (cooperative VAE+EBM, GEBM/KALE max-min, EBA):
    ``{"ebm": [...], "vae": [...]}``, or ``{"ebm": {"params": [...], "lr": 1e-4}}`` with default
    optimiser settings (``optimizer``, ``lr``, ``betas``, ``momentum``, ``weight_decay``,
    ``grad_clip``) that ``train.groups.<name>`` in the config overrides. ``losses`` then returns
    ``"loss/<group>"`` keys; each is differentiated w.r.t. its own group's parameters only and
    stepped by that group's own optimiser. All groups' gradients are taken at the same parameter
    values before any group steps (simultaneous updates); a group whose key is absent from a
    step's losses is not stepped (alternating schemes, e.g. k critic steps per generator step).
    A maximisation (``max_E``) is written as minimising the negated objective.

``extra_state() -> dict[str, Tensor]`` / ``load_extra_state(state)`` (optional)
    Non-parameter state that must survive a resume (a replay buffer's
    ``ReplayBuffer.state_dict()``, counters). Plain tensors only: they are stored in safetensors.

``divergence_signals(losses) -> dict[str, float]`` (optional)
    Extra values for the divergence monitor (checked like logged keys, not logged).

``sample(n, generator) -> Tensor`` (optional)
    Used by ``ebmlab sample RUN_DIR`` through :func:`ebmlab.experiments.load_run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ebmlab.errors import ConfigError

__all__ = ["GROUP_KEYS", "Method", "resolve_groups"]

#: optimiser settings a method may give per group (config ``train.groups.<name>`` overrides them)
GROUP_KEYS = ("optimizer", "lr", "betas", "momentum", "weight_decay", "grad_clip")


@runtime_checkable
class Method(Protocol):
    """A learning algorithm: an ``nn.Module`` whose ``losses(batch, generator)`` returns a dict of
    scalar tensors, ``"loss"`` (or ``"loss/<group>"``) being minimised. See the module docstring
    for the optional ``optimizer_groups``, ``extra_state``/``load_extra_state``,
    ``divergence_signals`` and ``sample``."""

    def losses(self, batch: Tensor | None, generator: torch.Generator) -> dict[str, Tensor]: ...


def _name(method: object) -> str:
    return type(method).__name__


def resolve_groups(method: nn.Module) -> dict[str, dict[str, Any]]:
    """The method's parameter groups as ``{name: {"params": [...], **settings}}``.

    Without ``optimizer_groups`` there is one group, ``"default"``, holding every parameter with
    ``requires_grad``. Groups must be non-empty and disjoint.
    """
    hook = getattr(method, "optimizer_groups", None)
    if hook is None:
        params = [p for p in method.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(f"{_name(method)} has no trainable parameters (requires_grad=True); nothing to fit.")
        return {"default": {"params": params}}
    raw = hook()
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"{_name(method)}.optimizer_groups() must return a non-empty dict name -> parameters, got {raw!r}."
        )
    groups: dict[str, dict[str, Any]] = {}
    seen: dict[int, str] = {}
    for name, spec in raw.items():
        entry = dict(spec) if isinstance(spec, Mapping) else {"params": spec}
        unknown = set(entry) - {"params", *GROUP_KEYS}
        if unknown:
            raise ConfigError(
                f"{_name(method)}.optimizer_groups()[{name!r}]: unknown settings {sorted(unknown)}; "
                f"allowed: params, {', '.join(GROUP_KEYS)}."
            )
        params = [p for p in entry.get("params", []) if p.requires_grad]
        if not params:
            raise ConfigError(f"{_name(method)}.optimizer_groups()[{name!r}] holds no trainable parameters.")
        for p in params:
            if id(p) in seen:
                raise ConfigError(
                    f"{_name(method)}.optimizer_groups(): a parameter is in both {seen[id(p)]!r} and {name!r}; "
                    "each parameter must belong to exactly one group."
                )
            seen[id(p)] = name
        groups[str(name)] = {**entry, "params": params}
    return groups
