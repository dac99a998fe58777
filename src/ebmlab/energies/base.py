"""The energy protocol: any callable mapping ``(n, *event_shape) -> (n,)``.

An energy E defines the Boltzmann density p(x) = exp(-E(x)) / Z with Z = ∫ exp(-E(x)) dx.
(Seed 000 writes ``Z = ∫ E dx``; the normaliser of exp(-E) is ∫ exp(-E).)

Energies may optionally provide ``energy_and_grad(x) -> (E, ∇ₓE)`` with an analytic gradient
(the targets do); :func:`energy_and_grad` uses it when present and falls back to autograd otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ebmlab.errors import ShapeError

__all__ = ["Energy", "EnergyFn", "energy_and_grad", "evaluate_energy", "parameters_are_constant"]

EnergyFn = Callable[[Tensor], Tensor]
_MODULE_GETATTR = nn.Module.__getattr__
#: True while :func:`energy_and_grad` evaluates an energy by autograd: only ∇ₓE is taken there
_INPUT_GRAD_ONLY: ContextVar[bool] = ContextVar("ebmlab_input_grad_only", default=False)


def parameters_are_constant() -> bool:
    """Whether the energy is being evaluated for ∇ₓE alone (inside :func:`energy_and_grad`), so that its parameters
    are constants of this evaluation. PyTorch's own layers need not ask: autograd skips the parameters' gradients
    when only ``x``'s is requested. A layer with its own ``autograd.Function`` cannot see that (its
    ``ctx.needs_input_grad`` says only what requires grad), so it passes its parameters detached when this is True,
    as :func:`~ebmlab.energies.onednn_linears` does."""
    return _INPUT_GRAD_ONLY.get()


@runtime_checkable
class Energy(Protocol):
    """Structural type of an energy: ``energy(x)`` with ``x`` of shape ``(n, *event)`` returns ``(n,)``."""

    def __call__(self, x: Tensor) -> Tensor: ...


def _name(energy: object) -> str:
    return getattr(energy, "name", None) or type(energy).__name__


def _check_energy_shape(energy: object, x: Tensor, e: Tensor) -> None:
    if e.shape != x.shape[:1]:
        raise ShapeError(
            f"energy {_name(energy)!r} returned shape {tuple(e.shape)} for input of shape "
            f"{tuple(x.shape)}; expected ({x.shape[0]},), one energy per chain. "
            "Reduce over the event dimensions (e.g. `.sum(dim=-1)`), keeping the batch dimension."
        )


def evaluate_energy(energy: EnergyFn, x: Tensor) -> Tensor:
    """E(x) of shape ``(n,)``, checked for shape."""
    e = energy(x)
    _check_energy_shape(energy, x, e)
    return e


def energy_and_grad(energy: EnergyFn, x: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(E(x), ∇ₓE(x))``, both detached.

    Uses ``energy.energy_and_grad`` (analytic) when the energy has one; otherwise differentiates with autograd **with respect to x only**, so no gradient is accumulated
    into the energy's parameters (``torch.autograd.grad`` with ``inputs=x``).
    """
    analytic = analytic_of(energy)
    if analytic is not None:
        e, g = analytic(x)
        _check_energy_shape(energy, x, e)
        return e, g
    if torch.is_grad_enabled():  # the usual case: no context manager to enter
        return _autograd_energy_and_grad(energy, x)
    with torch.enable_grad():
        return _autograd_energy_and_grad(energy, x)


def analytic_of(energy: object) -> Callable[[Tensor], tuple[Tensor, Tensor]] | None:
    """``getattr(energy, "energy_and_grad", None)``, without the AttributeError that ``nn.Module.__getattr__`` raises
    and Python catches on a miss (~3 µs, once per sampler step): for a module whose class has no such method, the
    instance's attributes, then its submodules (where ``__getattr__`` would look; parameters and buffers are not
    callables)."""
    if not isinstance(energy, nn.Module):
        return getattr(energy, "energy_and_grad", None)
    cls = type(energy)
    if hasattr(cls, "energy_and_grad") or cls.__getattr__ is not _MODULE_GETATTR:
        return getattr(energy, "energy_and_grad", None)
    found = vars(energy).get("energy_and_grad")
    return found if found is not None else energy._modules.get("energy_and_grad")


def _autograd_energy_and_grad(energy: EnergyFn, x: Tensor) -> tuple[Tensor, Tensor]:
    xg = x.detach().requires_grad_(True)
    token = _INPUT_GRAD_ONLY.set(True)  # the graph below never leaves this function: parameters are constants
    try:
        e = energy(xg)
    finally:
        _INPUT_GRAD_ONLY.reset(token)
    _check_energy_shape(energy, x, e)
    (g,) = torch.autograd.grad(e.sum(), xg)
    return e.detach(), g
