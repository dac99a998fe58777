"""Base class of analytic targets: energies whose normaliser and samples are known exactly.

A target is an energy E with Boltzmann density p(x) = exp(-E(x)) / Z, Z = ∫ exp(-E(x)) dx, for which
``log_z()`` is exact (closed form or 1-D quadrature in float64) and ``sample`` draws exact samples. Targets
are ground truth for samplers and estimators: compare a sampler's output with ``sample``, an estimate of
log Z with ``log_z()``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["Bounds", "Target"]

Bounds = tuple[tuple[float, float], ...]


class Target:
    """An energy ``E: (n, *event_shape) -> (n,)`` with exact ``log_z()`` and exact ``sample``.

    Subclasses implement ``energy``, ``energy_and_grad``, ``log_z`` and ``_sample`` (float64 samples on
    the generator's device). Constant tensors are built once in float64 by ``_tensors`` and cached per
    (dtype, device) by ``_constants``.

    Attributes:
        name: registry name.
        event_shape: shape of one sample.
        bounds: a box ``((lo, hi), ...)`` per coordinate holding essentially all the mass (for plots and
            quadrature), or None.
        has_exact_log_z, has_exact_sample: whether ``log_z()`` / ``sample`` are exact.
        log_prob_is_approximate: True when ``energy`` is a (documented) numerical approximation of the
            density that ``sample`` draws from.
    """

    has_exact_log_z: bool = True
    has_exact_sample: bool = True
    log_prob_is_approximate: bool = False

    def __init__(self, name: str, event_shape: tuple[int, ...], bounds: Bounds | None = None) -> None:
        self.name = name
        self.event_shape: tuple[int, ...] = tuple(int(s) for s in event_shape)
        self.bounds: Bounds | None = None if bounds is None else tuple((float(lo), float(hi)) for lo, hi in bounds)
        self._cache: dict[tuple[torch.dtype, torch.device], dict[str, Tensor]] = {}

    @property
    def dim(self) -> int:
        """Number of coordinates of one sample, ``prod(event_shape)``."""
        return math.prod(self.event_shape)

    # -- energy ---------------------------------------------------------------------------------------
    def energy(self, x: Tensor) -> Tensor:
        """E(x) of shape ``(n,)`` for ``x`` of shape ``(n, *event_shape)``, differentiable in x."""
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self.energy(x)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(E(x), ∇ₓE(x))``, detached. Subclasses override this with an analytic gradient."""
        with torch.enable_grad():
            xg = self._check(x).detach().requires_grad_(True)
            e = self.energy(xg)
            (g,) = torch.autograd.grad(e.sum(), xg)
        return e.detach(), g

    def log_z(self) -> float:
        """log Z = log ∫ exp(-E(x)) dx, exact (computed in float64)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) = -E(x) - log Z, shape ``(n,)``. With ``sample`` and ``event_shape`` this makes a target with
        exact ``log_z`` and exact samples an :class:`ebmlab.densities.Density` (e.g. an AIS base)."""
        return -self.energy(x) - self.log_z()

    def log_prob_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(log p(x), ∇ₓ log p(x) = −∇E(x)) from ``energy_and_grad``."""
        e, g = self.energy_and_grad(x)
        return -e - self.log_z(), -g

    # -- sampling -------------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``n`` exact samples of shape ``(n, *event_shape)``, drawn on the generator's device (CPU when
        no generator is given). All randomness comes from ``generator``: the same seed gives the same
        samples."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"sample: n must be a non-negative int, got {n!r}")
        if not dtype.is_floating_point:
            raise ConfigError(f"sample: dtype must be a floating dtype (e.g. torch.float32), got {dtype}")
        device = generator.device if generator is not None else torch.device("cpu")
        x = self._sample(n, generator, device)
        return x.reshape(n, *self.event_shape).to(dtype)

    def _sample(self, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
        """Exact samples in float64, shape ``(n, *event_shape)``."""
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------------------
    def _tensors(self) -> dict[str, Tensor]:
        """Float64 constant tensors used by ``energy`` (cached per dtype/device by ``_constants``)."""
        return {}

    def _constants(self, x: Tensor) -> dict[str, Tensor]:
        key = (x.dtype, x.device)
        consts = self._cache.get(key)
        if consts is None:
            consts = {k: v.to(dtype=x.dtype, device=x.device) for k, v in self._tensors().items()}
            self._cache[key] = consts
        return consts

    def _check(self, x: Tensor) -> Tensor:
        """Validate the shape ``(n, *event_shape)``; promote non-float input to the default dtype."""
        if x.dim() == 0 or tuple(x.shape[1:]) != self.event_shape:
            raise ShapeError(
                f"target {self.name!r} expects x of shape (n, {', '.join(map(str, self.event_shape))}), "
                f"got {tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) for a single point."
            )
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, event_shape={self.event_shape})"
