"""Sources of y for rate–distortion: samplers ``sample(n, generator) -> (n, dim)``.

A source is known through samples only (the EBA setting); one that also has ``log_prob(y) -> (n,)``, a normalised
log-density (``GaussianSource``, or a user ``Source`` subclass), can opt into the density c-estimator of the lower
bound (:mod:`ebmlab.ratedistortion.density_c`). The built-in ones also carry what the
closed forms need (variances, p, scale). A user source is a Python callable ``f(n, generator)`` or a
``.npy`` file of samples (read with ``allow_pickle=False``: nothing in the file can execute code).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ebmlab.device_copies import copies_on
from ebmlab.errors import ConfigError, ShapeError

__all__ = [
    "BernoulliSource",
    "CallableSource",
    "GaussianSource",
    "LaplaceSource",
    "SampleSource",
    "Source",
    "get_source",
    "npy_source",
]


class Source:
    """Base class: ``dim`` (event size), ``discrete`` (alphabet {0, 1}ᵈ) and ``sample(n, generator)``."""

    dim: int = 1
    discrete: bool = False
    name: str = "source"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError


def _device_of(generator: torch.Generator | None) -> torch.device:
    """Where a source draws: the generator's device (the CPU without one)."""
    return generator.device if generator is not None else torch.device("cpu")


@dataclass
class GaussianSource(Source):
    """y ~ N(0, diag(variances)); ``variances`` all > 0."""

    variances: Sequence[float]
    name: str = "gaussian"

    def __post_init__(self) -> None:
        v = [float(s) for s in self.variances]
        if not v or not all(s > 0 and math.isfinite(s) for s in v):
            raise ConfigError(f"gaussian source: variances must be positive finite numbers, got {v}; e.g. 1.0,0.5.")
        self.variances = v
        self.dim = len(v)
        self._var = torch.tensor(v, dtype=torch.float64, device="cpu")  # copied once per device (device_copies)
        self._std = self._var.sqrt()

    @property
    def std(self) -> Tensor:
        return self._std.clone()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        dev = _device_of(generator)
        (std,) = copies_on(self, ("_std",), dev)
        return torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=dev) * std

    def log_prob(self, y: Tensor) -> Tensor:
        """ln p(y) = Σ_k −½ y_k²/σ_k² − ½ ln(2πσ_k²) for y (n, dim) (the density c-estimator's input)."""
        (var,) = copies_on(self, ("_var",), y.device)
        return (-0.5 * y.square() / var - 0.5 * torch.log(2 * math.pi * var)).sum(-1)


@dataclass
class BernoulliSource(Source):
    """y ∈ {0, 1} with P(y = 1) = p, 0 < p < 1 (one dimension)."""

    p: float
    name: str = "bernoulli"
    discrete: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < float(self.p) < 1.0:
            raise ConfigError(f"bernoulli source: p must lie in (0, 1), got {self.p!r}; e.g. --p 0.3.")
        self.p = float(self.p)
        self.dim = 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=_device_of(generator))
        return (u < self.p).to(torch.float64)


@dataclass
class LaplaceSource(Source):
    """y ~ Laplace(0, b), density e^{−|y|/b} / (2b), one dimension."""

    scale: float
    name: str = "laplace"

    def __post_init__(self) -> None:
        if not (float(self.scale) > 0 and math.isfinite(float(self.scale))):
            raise ConfigError(f"laplace source: scale b must be a positive finite number, got {self.scale!r}.")
        self.scale = float(self.scale)
        self.dim = 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=_device_of(generator)) - 0.5
        return -self.scale * u.sign() * torch.log1p(-2.0 * u.abs())


class CallableSource(Source):
    """A user sampler ``f(n, generator) -> (n, dim)`` (checked for shape and finiteness on every call)."""

    def __init__(self, fn: Callable[[int, torch.Generator | None], Tensor], dim: int, name: str = "callable") -> None:
        if not callable(fn):
            raise ConfigError(f"CallableSource needs a callable f(n, generator), got {type(fn).__name__}.")
        self.fn, self.dim, self.name = fn, int(dim), name

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        y = torch.as_tensor(self.fn(n, generator), dtype=torch.float64)
        if y.dim() == 1 and self.dim == 1:
            y = y[:, None]
        if y.shape != (n, self.dim):
            raise ShapeError(f"source {self.name!r} returned shape {tuple(y.shape)}, expected ({n}, {self.dim}).")
        if not bool(torch.isfinite(y).all()):
            raise ShapeError(f"source {self.name!r} returned non-finite samples; return finite values only.")
        return y


class SampleSource(Source):
    """Resamples (with replacement) a fixed array of samples ``(N, dim)``, e.g. from a ``.npy`` file."""

    def __init__(self, samples: Tensor | np.ndarray, name: str = "samples") -> None:
        y = torch.as_tensor(np.asarray(samples, dtype=np.float64))
        if y.dim() == 1:
            y = y[:, None]
        if y.dim() != 2 or y.shape[0] < 2:
            raise ShapeError(f"source {name!r}: expected samples of shape (N, dim) with N >= 2, got {tuple(y.shape)}.")
        if not bool(torch.isfinite(y).all()):
            raise ShapeError(f"source {name!r}: the samples contain NaN/inf; remove them first.")
        self.samples, self.dim, self.name = y, int(y.shape[1]), name
        self.discrete = bool(((y == 0) | (y == 1)).all())

    @classmethod
    def from_npy(cls, path: str | Path) -> SampleSource:
        path = Path(path)
        if path.suffix != ".npy" or not path.is_file():
            raise ConfigError(f"source file {str(path)!r} not found or not a .npy file; save samples with numpy.save.")
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(f"source file {str(path)!r} is not a plain numeric .npy array ({exc}).") from None
        return cls(arr, name=path.name)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        dev = _device_of(generator)
        idx = torch.randint(self.samples.shape[0], (n,), generator=generator, device=dev)
        (samples,) = copies_on(self, ("samples",), dev)
        return samples[idx]


def npy_source(path: str) -> SampleSource:
    """``source: {name: npy, path: FILE.npy}``: resample the samples saved in a ``.npy`` file (no pickle)."""
    return SampleSource.from_npy(path)


def get_source(
    name: str,
    variances: Sequence[float] | None = None,
    p: float | None = None,
    scale: float | None = None,
) -> Source:
    """A source by name (``gaussian``, ``bernoulli``, ``laplace``) or a path to a ``.npy`` file of samples."""
    if name == "gaussian":
        return GaussianSource([1.0] if variances is None else variances)
    if name == "bernoulli":
        return BernoulliSource(0.5 if p is None else p)
    if name == "laplace":
        return LaplaceSource(1.0 if scale is None else scale)
    if name.endswith(".npy"):
        return SampleSource.from_npy(name)
    raise ConfigError(f"unknown source {name!r}; use gaussian, bernoulli, laplace or a path to a .npy file of samples.")
