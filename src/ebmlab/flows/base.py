"""Bijections, their composition, the standard normal base and the flow distribution.

Conventions (every bijection in :mod:`ebmlab.flows` follows them):

* inputs are batched vectors of shape ``(n, D)``;
* ``forward(z) -> (x, log_det)`` with ``log_det = log|det ∂x/∂z|`` of shape ``(n,)``;
* ``inverse(x) -> (z, log_det)`` with ``log_det = log|det ∂z/∂x| = -log|det ∂x/∂z|``.

The base N(0, I) is :class:`ebmlab.densities.StandardNormal`. A flow distribution pushes it through a bijection T, x = T(z), and has the density
(change of variables)

    log P(x) = log N(z | 0, I) - log|det ∂x/∂z|,   z = T⁻¹(x).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import Tensor, nn

from ebmlab.densities import StandardNormal
from ebmlab.errors import ConfigError, ShapeError

__all__ = ["Bijection", "Compose", "FlowDistribution", "StandardNormal", "check_vectors"]


def check_vectors(x: Tensor, dim: int, who: str) -> None:
    """Raise :class:`ShapeError` unless ``x`` has shape ``(n, dim)``."""
    if x.dim() != 2 or x.shape[1] != dim:
        raise ShapeError(
            f"{who} expects a batch of vectors of shape (n, {dim}), got {tuple(x.shape)}; "
            "flatten the event dimensions (x.reshape(n, -1)) and keep the batch dimension first."
        )


class Bijection(nn.Module):
    """An invertible map of ℝ^D with a tractable log-Jacobian (see the module docstring)."""

    dim: int

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class Compose(Bijection):
    """T = T_K ∘ … ∘ T_1 (``layers[0]`` is applied first); log-dets add up."""

    def __init__(self, layers: Iterable[Bijection]) -> None:
        super().__init__()
        bijections = list(layers)
        if not bijections:
            raise ConfigError("Compose: expected at least one bijection, got none.")
        dims = {int(layer.dim) for layer in bijections}
        if len(dims) != 1:
            raise ConfigError(f"Compose: all bijections must act on the same dimension, got {sorted(dims)}.")
        self.dim = dims.pop()
        self.layers = nn.ModuleList(bijections)

    def _bijections(self) -> list[Bijection]:
        return cast(list[Bijection], list(self.layers))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(z, self.dim, "Compose.forward")
        log_det = z.new_zeros(z.shape[0])
        for layer in self._bijections():
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        check_vectors(x, self.dim, "Compose.inverse")
        log_det = x.new_zeros(x.shape[0])
        for layer in reversed(self._bijections()):
            x, ld = layer.inverse(x)
            log_det = log_det + ld
        return x, log_det


class FlowDistribution(nn.Module):
    """P(x) of x = T(z), z ~ N(0, I): ``sample``, ``log_prob``, ``sample_and_log_prob``.

    ``log_prob(x) = log N(T⁻¹(x)) + log|det ∂z/∂x|``. Samples are drawn with the parameters' dtype on the
    generator's device (which must hold the parameters). A :class:`~ebmlab.densities.Density` (e.g. an AIS base
    or the start of negatives' chains).
    """

    def __init__(self, transform: Bijection) -> None:
        super().__init__()
        self.transform = transform
        self.dim = transform.dim
        self.base = StandardNormal(transform.dim)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def _dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(z, x, log|det ∂x/∂z|)`` for ``n`` fresh draws z ~ N(0, I) (differentiable in the parameters)."""
        dtype = self._dtype()
        z = self.base.to(dtype).sample(n, generator) if self.base.loc.dtype != dtype else self.base.sample(n, generator)
        x, log_det = self.transform(z)
        return z, x, log_det

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws ``(n, D)`` of P, detached."""
        with torch.no_grad():
            return self.sample_latent(n, generator)[1]

    def sample_and_log_prob(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(x, log P(x))`` in one forward pass (no inverse needed); differentiable in the parameters."""
        z, x, log_det = self.sample_latent(n, generator)
        return x, self.base.log_prob(z) - log_det

    def log_prob(self, x: Tensor) -> Tensor:
        """log P(x) = log N(T⁻¹(x)) + log|det ∂T⁻¹/∂x|, shape ``(n,)``."""
        check_vectors(x, self.dim, "FlowDistribution.log_prob")
        z, log_det_inv = self.transform.inverse(x)
        return self.base.log_prob(z) + log_det_inv

    def entropy_base(self) -> float:
        """H(z) of the base, (D/2)(1 + log 2π)."""
        return float(self.base.entropy())
