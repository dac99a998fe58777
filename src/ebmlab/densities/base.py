"""The density protocol shared by bases, priors, proposals, flows, VAEs and exact targets."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["ConditionalDensity", "Density", "check_event", "event_shape_of"]


@runtime_checkable
class Density(Protocol):
    """A normalised density q over events of shape ``event_shape``.

    ``sample(n, generator)`` returns ``(n, *event_shape)`` with all randomness from ``generator`` (on
    its device); ``log_prob(x)`` returns log q(x), shape ``(n,)``, differentiable where q is.
    """

    @property
    def event_shape(self) -> tuple[int, ...]: ...

    def sample(self, n: int, generator: torch.Generator) -> Tensor: ...

    def log_prob(self, x: Tensor) -> Tensor: ...


# Optional hooks a density may add: ``log_prob_and_grad(x) -> (log q, ∇ₓ log q)`` without autograd (the Gaussians,
# exact targets), and ``conditional_logits(x, index)`` for binary units (Bernoulli): both are used by
# :class:`ebmlab.samplers.GeometricPath` when present.


@runtime_checkable
class ConditionalDensity(Protocol):
    """q(x | c): ``sample(c, generator)`` draws one x per row of ``c``; ``log_prob(x, c)`` → ``(n,)``."""

    @property
    def event_shape(self) -> tuple[int, ...]: ...

    def sample(self, c: Tensor, generator: torch.Generator) -> Tensor: ...

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor: ...


def event_shape_of(obj: object, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """``obj.event_shape`` (or ``(obj.dim,)``), else ``default``; a one-line error when neither exists."""
    shape = getattr(obj, "event_shape", None)
    if shape is None and isinstance(getattr(obj, "dim", None), int):
        shape = (obj.dim,)  # type: ignore[attr-defined]
    if shape is None:
        shape = default
    if shape is None:
        raise ConfigError(
            f"{type(obj).__name__} has no event_shape; pass event_shape=(d,) (the shape of one sample) explicitly."
        )
    return tuple(int(s) for s in shape)


def check_event(x: Tensor, event_shape: tuple[int, ...], where: str) -> None:
    """Raise a ShapeError unless ``x`` has shape ``(n, *event_shape)``."""
    if not isinstance(x, Tensor) or tuple(x.shape[1:]) != tuple(event_shape) or x.dim() != len(event_shape) + 1:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{where}: expected x of shape (n, {', '.join(map(str, event_shape))}), got {got}.")


def positive_count(n: object, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{where}: n must be a positive int, got {n!r}.")
    return n
