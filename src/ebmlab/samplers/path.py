"""Annealing paths from a tractable base density q to a Boltzmann density exp(−E), and their β schedules.

The geometric path between **any** base :class:`~ebmlab.densities.Density` q and **any** energy E is

    π_β(x) ∝ q(x)^{1−β} exp(−β E(x)),   E_β(x) = (1 − β) E₀(x) + β E(x),   E₀ = −log q,

so π_0 = q (Z_0 = 1, exactly sampled) and π_1 ∝ exp(−E). ``path.at(β)`` is a plain energy for any
:mod:`ebmlab.samplers` kernel; β may be a float or one value per chain (replica exchange). Every evaluation
through ``at(β)`` records its :class:`PathPoint` (E₀, E and their gradients) in ``.last``, so AIS and replica
exchange recover D = E − E₀ at the kernel's new positions without evaluating the energies again
(:func:`track`). Used by :func:`ebmlab.estimators.ais`, the annealed and tempered negatives,
:class:`~ebmlab.samplers.ReplicaExchange` and the stepping-stone estimator.

>>> import torch
>>> from ebmlab.densities import StandardNormal
>>> path = GeometricPath(StandardNormal(2), lambda x: 0.5 * (x - 1).square().sum(1))
>>> x = torch.zeros(3, 2)
>>> bool(torch.allclose(path.at(0.0)(x), -path.base.log_prob(x)))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from ebmlab.densities import Density
from ebmlab.energies.base import EnergyFn, energy_and_grad, evaluate_energy
from ebmlab.errors import ConfigError, EbmlabError, ShapeError
from ebmlab.samplers.base import Sampler
from ebmlab.samplers.finite_watch import deferred

__all__ = [
    "AnnealingPath",
    "GeometricPath",
    "PathEnergy",
    "PathPoint",
    "geometric_betas",
    "linear_betas",
    "make_betas",
    "raise_untracked",
    "sigmoid_betas",
    "track",
    "track_on_device",
    "tracks_on_device",
]


# ------------------------------------------------------------------------------------------- schedules
# β schedules are host-side float64 (device="cpu" on purpose): AIS reads them once (``tolist``), replica exchange
# copies its ladder once per device (``device_copies``).


def _count(n: object, low: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < low:
        raise ConfigError(f"the number of temperatures must be an int >= {low} (β = 0 and β = 1 included), got {n!r}.")
    return n


def linear_betas(n: int) -> Tensor:
    """β_t = t/(n − 1), t = 0..n − 1 (float64)."""
    return torch.linspace(0.0, 1.0, _count(n, 2), dtype=torch.float64, device="cpu")


def geometric_betas(n: int, beta_min: float = 0.01) -> Tensor:
    """β = 0, then n − 1 values log-spaced from ``beta_min`` to 1 (dense near 0, where log Z_β changes fastest);
    ``[0, 1]`` for n = 2. The one geometric ladder of AIS, replica exchange and stepping stone."""
    n = _count(n, 2)
    if not 0.0 < float(beta_min) < 1.0:
        raise ConfigError(f"beta_min must lie in (0, 1), got {beta_min!r}.")
    if n == 2:
        return torch.tensor([0.0, 1.0], dtype=torch.float64, device="cpu")
    tail = torch.logspace(math.log10(beta_min), 0.0, n - 1, dtype=torch.float64, device="cpu")
    return torch.cat((torch.zeros(1, dtype=torch.float64, device="cpu"), tail))


def sigmoid_betas(n: int, delta: float = 4.0) -> Tensor:
    """Sigmoid schedule (Grosse, Maddison & Salakhutdinov 2013): β̃_t = σ(δ(2t/T − 1)) rescaled to [0, 1]."""
    s = torch.sigmoid(delta * (2.0 * torch.linspace(0.0, 1.0, _count(n, 2), dtype=torch.float64, device="cpu") - 1.0))
    return (s - s[0]) / (s[-1] - s[0])


_SCHEDULES = {"linear": linear_betas, "geometric": geometric_betas, "sigmoid": sigmoid_betas}


def make_betas(schedule: str | Tensor | Sequence[float], n: int | None = None) -> Tensor:
    """A schedule by name (``linear``, ``geometric``, ``sigmoid``; ``n`` values) or a given strictly increasing
    sequence from 0 to 1 (float64)."""
    if isinstance(schedule, str):
        if schedule not in _SCHEDULES:
            raise ConfigError(f"unknown schedule {schedule!r}; valid: {', '.join(_SCHEDULES)} (or a tensor of βs).")
        if n is None:
            raise ConfigError(f"schedule {schedule!r} needs the number of temperatures n.")
        return _SCHEDULES[schedule](n)
    betas = torch.as_tensor(schedule, dtype=torch.float64).flatten()
    if betas.numel() < 2 or betas[0] != 0 or betas[-1] != 1 or not bool((betas.diff() > 0).all()):
        raise ConfigError(f"betas must increase strictly from β=0 to β=1 (at least 2 values), got {betas.tolist()}.")
    return betas


# ------------------------------------------------------------------------------------------- the path


@dataclass(frozen=True)
class PathPoint:
    """The parts of E_β at positions x: E₀ = −log q(x) and E(x), with their x-gradients (None: not computed)."""

    x: Tensor
    base: Tensor
    target: Tensor
    base_grad: Tensor | None = None
    target_grad: Tensor | None = None

    @property
    def log_ratio(self) -> Tensor:
        """D(x) = E(x) − E₀(x) = −log [exp(−E(x)) / q(x)]; d log Z_β / dβ = −E_{π_β}[D]."""
        return self.target - self.base

    def energy(self, beta: float | Tensor) -> Tensor:
        """(1 − β) E₀ + β E, exactly E₀ at β = 0 (a +inf energy there is no NaN)."""
        b = _per_chain(beta, self.base)
        mixed = (1.0 - b) * self.base + b * self.target
        return torch.where(b == 0, self.base, mixed) if isinstance(b, Tensor) else (self.base if b == 0 else mixed)

    def grad(self, beta: float | Tensor) -> Tensor:
        assert self.base_grad is not None and self.target_grad is not None
        b = _per_chain(beta, self.base)
        if isinstance(b, Tensor):
            b = b.reshape(-1, *([1] * (self.x.dim() - 1)))
        return (1.0 - b) * self.base_grad + b * self.target_grad

    def take(self, rows: Tensor | slice) -> PathPoint:
        """The points at ``rows`` (an index tensor or a boolean mask)."""
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return PathPoint(self.x[rows], self.base[rows], self.target[rows], pick(self.base_grad), pick(self.target_grad))

    def where(self, mask: Tensor, other: PathPoint) -> PathPoint:
        """Row-wise ``self`` where ``mask`` else ``other``."""

        def sel(a: Tensor | None, b: Tensor | None) -> Tensor | None:
            if a is None or b is None:
                return None
            return torch.where(mask.reshape(-1, *([1] * (a.dim() - 1))), a, b)

        x = sel(self.x, other.x)
        assert x is not None
        base, target = sel(self.base, other.base), sel(self.target, other.target)
        assert base is not None and target is not None
        return PathPoint(
            x, base, target, sel(self.base_grad, other.base_grad), sel(self.target_grad, other.target_grad)
        )


def _per_chain(beta: float | Tensor, like: Tensor) -> float | Tensor:
    if isinstance(beta, Tensor) and beta.dim() > 0:
        if beta.shape != like.shape:
            raise ShapeError(f"path: {beta.shape[0]} values of beta for {like.shape[0]} chains.")
        return beta.to(like.dtype)
    return float(beta)


@runtime_checkable
class AnnealingPath(Protocol):
    """A family π_β ∝ exp(−E_β), β ∈ [0, 1], from an exactly sampled normalised ``base`` (π_0) to exp(−E)."""

    base: Density

    def energy(self, x: Tensor, beta: float | Tensor) -> Tensor: ...

    def at(self, beta: float | Tensor) -> EnergyFn: ...


# Optional: ``point(x, grad) -> PathPoint`` (E₀, E and gradients at x) lets AIS and replica exchange reuse the kernel's
# evaluations; ``GeometricPath`` has it. ``at(beta)`` may return any energy callable with ``beta`` and ``path``.


class GeometricPath:
    """E_β(x) = −(1 − β) log q(x) + β E(x) for any base density q and any energy E (module doc).

    ∇ log q comes from ``base.log_prob_and_grad`` when the density has one (the Gaussians), else autograd.
    """

    def __init__(self, base: Density, energy: EnergyFn) -> None:
        if not isinstance(base, Density):
            raise ConfigError(
                f"GeometricPath: base must be a Density (event_shape, sample(n, generator), log_prob), got "
                f"{type(base).__name__}; e.g. ebmlab.densities.DiagonalNormal(torch.zeros(d), 2.0)."
            )
        if not callable(energy):
            raise ConfigError(f"GeometricPath: energy must be a callable (n, *event) -> (n,), got {energy!r}.")
        self.base = base
        self.target = energy

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.base.event_shape)

    def base_energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(−log q(x), −∇ log q(x))."""
        analytic = getattr(self.base, "log_prob_and_grad", None)
        if analytic is not None:
            lp, g = analytic(x)
            return -lp.detach(), -g.detach()
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            lp = self.base.log_prob(xg)
            (g,) = torch.autograd.grad(lp.sum(), xg)
        return -lp.detach(), -g

    def point(self, x: Tensor, grad: bool = False) -> PathPoint:
        """E₀ and E at x (and their gradients when ``grad``)."""
        if grad:
            e0, g0 = self.base_energy_and_grad(x)
            e1, g1 = energy_and_grad(self.target, x)
            return PathPoint(x, e0, e1, g0, g1)
        with torch.no_grad():
            return PathPoint(x, -self.base.log_prob(x), evaluate_energy(self.target, x))

    def energy(self, x: Tensor, beta: float | Tensor) -> Tensor:
        return self.point(x).energy(beta)

    def at(self, beta: float | Tensor) -> PathEnergy:
        return PathEnergy(self, beta)

    def __repr__(self) -> str:
        return f"GeometricPath(base={type(self.base).__name__}, energy={type(self.target).__name__})"


class PathEnergy:
    """The energy E_β of ``path`` at a fixed β (float or per chain ``(n,)``): a plain callable ``(n, *event) -> (n,)``
    with ``energy_and_grad``, the attributes ``beta`` and ``path``, and ``conditional_logits`` (Gibbs on binary
    units) when the base and the energy both have it. ``last`` holds the :class:`PathPoint` of the last call."""

    def __init__(self, path: GeometricPath, beta: float | Tensor) -> None:
        self.path = path
        self.beta = beta
        self.last: PathPoint | None = None
        base_cl = getattr(path.base, "conditional_logits", None)
        target_cl = getattr(getattr(path, "target", None), "conditional_logits", None)
        if base_cl is not None and target_cl is not None:
            self.conditional_logits = self._conditional_logits

    def __call__(self, x: Tensor) -> Tensor:
        self.last = self.path.point(x)
        return self.last.energy(self.beta)

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.last = self.path.point(x, grad=True)
        return self.last.energy(self.beta), self.last.grad(self.beta)

    def _conditional_logits(self, x: Tensor, index: Tensor) -> Tensor:
        """(1 − β) ℓ₀ + β ℓ for logits ℓ = E(x; x_i = 0) − E(x; x_i = 1), per unit of ``index``."""
        b = _per_chain(self.beta, x[:, 0])
        if isinstance(b, Tensor):
            b = b.unsqueeze(1)
        l0 = self.path.base.conditional_logits(x, index)  # type: ignore[attr-defined]
        l1 = self.path.target.conditional_logits(x, index)  # type: ignore[attr-defined]
        return (1.0 - b) * l0 + b * l1


def _reuse(energy: PathEnergy, x: Tensor, before: PathPoint, grad: bool) -> tuple[PathPoint, Tensor]:
    """The parts of rows equal to ``energy.last`` or to ``before``, and which rows those are ``(n,)``."""
    same = (x == before.x).reshape(x.shape[0], -1).all(1)
    point = before
    last = energy.last
    if last is not None and last.x.shape == x.shape and (not grad or last.base_grad is not None):
        fresh = (x == last.x).reshape(x.shape[0], -1).all(1) & ~same
        point = last.where(fresh, before)
        same = same | fresh
    return point, same


def track(energy: PathEnergy, x: Tensor, before: PathPoint, grad: bool) -> tuple[PathPoint, int]:
    """The path parts at the kernel's new positions ``x``, without new evaluations where possible.

    Rows equal to ``energy.last`` (the kernel's last evaluation: the accepted proposal) take its parts, rows
    equal to ``before`` keep theirs; the others (a kernel whose last call was elsewhere) are evaluated again.
    Returns the point and the number of rows evaluated again. Finding those rows reads the host once.
    """
    point, same = _reuse(energy, x, before, grad)
    if bool(same.all()):
        return point, 0
    redo = (~same).nonzero().flatten()
    again = energy.path.point(x[redo], grad=grad)

    def fill(a: Tensor | None, b: Tensor | None) -> Tensor | None:
        return None if a is None or b is None else a.index_put((redo,), b)

    base, target = fill(point.base, again.base), fill(point.target, again.target)
    assert base is not None and target is not None
    return PathPoint(
        x, base, target, fill(point.base_grad, again.base_grad), fill(point.target_grad, again.target_grad)
    ), int(redo.numel())


def track_on_device(energy: PathEnergy, x: Tensor, before: PathPoint, grad: bool) -> tuple[PathPoint, Tensor]:
    """:func:`track` without reading the host, after **one** transition of a kernel that ends at its proposal
    (:attr:`~ebmlab.samplers.base.Sampler.ends_at_proposal`): every chain is then at the proposal or where it
    started. Returns the point and a 0-d bool on the chains' device, True if some chain was neither (its parts
    are stale); the caller reads it once at the end and raises with :func:`raise_untracked`."""
    point, same = _reuse(energy, x, before, grad)
    return point, ~same.all()


def tracks_on_device(kernel: Sampler, transitions: int, device: torch.device) -> bool:
    """Whether to use :func:`track_on_device`: on the GPU path (:func:`~ebmlab.samplers.finite_watch.deferred`),
    one transition per call, a kernel that ends at its proposal."""
    return transitions == 1 and kernel.ends_at_proposal and deferred(device)


def raise_untracked(untracked: Tensor | None, kernel: str) -> None:
    """Raise if :func:`track_on_device` found a chain neither at the proposal nor where it started (one host read)."""
    if untracked is not None and bool(untracked):
        raise EbmlabError(
            f"{kernel}: after a transition some chains were neither at the kernel's last proposal nor where they "
            "started (a position holding NaN, or a kernel that evaluates the energy elsewhere last), so their path "
            f"parts were not recomputed. Set `ends_at_proposal = False` on the {kernel} kernel to check after every "
            "transition (one host read each)."
        )
