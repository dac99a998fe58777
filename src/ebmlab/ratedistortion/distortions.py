"""Distortion measures ρ(x, y) on batches: ``rho(x, y) -> (n,)`` for aligned pairs.

* ``squared``: Σ_k (x_k − y_k)², summed over dimensions (the convention of reverse water-filling);
* ``mse``: (1/d) Σ_k (x_k − y_k)², per-dimension mean squared error;
* ``hamming``: Σ_k 1[x_k ≠ y_k] (for binary alphabets; x rounded is not assumed — exact equality);
* ``abs``: Σ_k |x_k − y_k|.

``pairwise(rho, x, y)`` gives the matrix ρ(x_j, y_i) of shape ``(len(y), len(x))``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["DISTORTIONS", "Distortion", "get_distortion", "pairwise"]

Distortion = Callable[[Tensor, Tensor], Tensor]


def _check(x: Tensor, y: Tensor) -> None:
    if x.shape[-1] != y.shape[-1]:
        raise ShapeError(f"distortion: x has {x.shape[-1]} dimensions but y has {y.shape[-1]}; they must match.")


def squared(x: Tensor, y: Tensor) -> Tensor:
    _check(x, y)
    return (x - y).square().sum(-1)


def mse(x: Tensor, y: Tensor) -> Tensor:
    _check(x, y)
    return (x - y).square().mean(-1)


def hamming(x: Tensor, y: Tensor) -> Tensor:
    _check(x, y)
    return (x != y).to(x.dtype).sum(-1)


def absolute(x: Tensor, y: Tensor) -> Tensor:
    _check(x, y)
    return (x - y).abs().sum(-1)


DISTORTIONS: dict[str, Distortion] = {"squared": squared, "mse": mse, "hamming": hamming, "abs": absolute}


def get_distortion(name: str) -> Distortion:
    try:
        return DISTORTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown distortion {name!r}; valid: {', '.join(DISTORTIONS)}.") from None


def pairwise(rho: Distortion, x: Tensor, y: Tensor) -> Tensor:
    """ρ(x_j, y_i) as a ``(len(y), len(x))`` matrix (broadcast over the last dimension)."""
    if x.dim() != 2 or y.dim() != 2:
        raise ShapeError(f"pairwise distortion needs x (m, d) and y (n, d), got {tuple(x.shape)} and {tuple(y.shape)}.")
    return rho(x[None, :, :], y[:, None, :])
