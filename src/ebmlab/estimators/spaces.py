"""State spaces that can be summed over exactly, and the energy spectrum they produce.

Every exact computation on an enumerable or integrable system goes through an :class:`EnergySpectrum`:
the energies eᵢ = E(xᵢ) of all states (or grid nodes) with log-measures log mᵢ, so that for any β

    log Z_β = log Σᵢ mᵢ exp(−β eᵢ),   E_β[E] = Σᵢ pᵢ eᵢ,   pᵢ = mᵢ exp(−β eᵢ) / Z_β.

Energies are evaluated once (in chunks) and cached as float64, so sweeping β (e.g. to solve for the
temperature) costs no further energy evaluations.

* a tensor of states ``(N, *event)`` or :class:`BinarySpace` — counting measure, mᵢ = 1;
* :class:`Grid` — a box in 1-D or 2-D with the (tensor-product) trapezoidal rule, mᵢ = quadrature
  weights; the same nodes with every other point dropped give a coarse rule of step 2h, and
  |fine − coarse| is reported as the error estimate (conservative: for smooth integrands that vanish at
  the box edges the trapezoidal rule converges faster than any power of h, so the fine value is far more
  accurate than the coarse one). Mass beyond the box is estimated by ``edge_mass`` (each face's density
  continued outward as a geometric tail) and added to the error, and so is the rounding bound
  β·E_p[|E|]·eps of the dtype the energies were computed in (float32 energies limit log Z to ~1e-7).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ebmlab.device_copies import device_of
from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.energies.states import MAX_ENUMERATION_STATES, BinarySpace
from ebmlab.errors import ConfigError, NonFiniteError, ShapeError

__all__ = ["MAX_ENUMERATION_STATES", "BinarySpace", "EnergySpectrum", "Grid", "energy_spectrum"]


class Grid:
    """A uniform grid on a 1-D or 2-D box for trapezoidal quadrature.

    Args:
        bounds: ``((lo, hi),)`` or ``((lo₁, hi₁), (lo₂, hi₂))``; the box must hold essentially all the mass.
        n_points: nodes per dimension (odd, so that the coarse rule of step 2h shares the end points);
            default 4001 in 1-D and 401 per dimension in 2-D.
        event_shape: shape of one state (default ``(len(bounds),)``).
    """

    def __init__(
        self,
        bounds: Sequence[tuple[float, float]],
        n_points: int | None = None,
        event_shape: tuple[int, ...] | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)
        if len(bounds) not in (1, 2):
            raise ConfigError(
                f"Grid: quadrature is implemented in 1-D and 2-D, got {len(bounds)} dimensions; "
                "use log_z_importance or log_z_ais in higher dimensions."
            )
        if any(not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) for lo, hi in bounds):
            raise ConfigError(f"Grid: every bound must be finite with lo < hi, got {bounds}.")
        n = (4001 if len(bounds) == 1 else 401) if n_points is None else n_points
        if isinstance(n, bool) or not isinstance(n, int) or n < 5 or n % 2 == 0:
            raise ConfigError(
                f"Grid: n_points must be an odd int >= 5 (so the coarse rule shares the ends), got {n!r}."
            )
        self.bounds = bounds
        self.n_points = n
        self.event_shape = (len(bounds),) if event_shape is None else tuple(event_shape)
        if math.prod(self.event_shape) != len(bounds):
            raise ShapeError(f"Grid: event_shape {self.event_shape} does not hold {len(bounds)} coordinates.")
        self.dtype = dtype or torch.get_default_dtype()

    @property
    def n_states(self) -> int:
        return self.n_points ** len(self.bounds)

    def _axes(self) -> list[Tensor]:
        return [torch.linspace(lo, hi, self.n_points, dtype=torch.float64, device="cpu") for lo, hi in self.bounds]

    def nodes(self) -> Tensor:
        """All nodes, ``(n_points^d, *event_shape)`` (last coordinate varies fastest)."""
        mesh = torch.meshgrid(*self._axes(), indexing="ij")
        pts = torch.stack([m.reshape(-1) for m in mesh], dim=1)
        return pts.reshape(-1, *self.event_shape).to(self.dtype)

    def log_weights(self, coarse: bool = False) -> Tensor:
        """log of the trapezoidal weights (fine rule, or the coarse rule of step 2h; −inf off its nodes)."""
        per_axis = []
        for lo, hi in self.bounds:
            h = (hi - lo) / (self.n_points - 1)
            w = torch.full((self.n_points,), h, dtype=torch.float64, device="cpu")  # the weights: on the CPU
            if coarse:
                w = torch.where(torch.arange(self.n_points, device="cpu") % 2 == 0, 2 * w, torch.zeros_like(w))
            w[0] *= 0.5
            w[-1] *= 0.5
            per_axis.append(w.log())
        if len(per_axis) == 1:
            return per_axis[0]
        return (per_axis[0][:, None] + per_axis[1][None, :]).reshape(-1)

    def steps(self) -> tuple[float, ...]:
        """Node spacing h per dimension."""
        return tuple((hi - lo) / (self.n_points - 1) for lo, hi in self.bounds)

    def __repr__(self) -> str:
        return f"Grid(bounds={self.bounds}, n_points={self.n_points})"


@dataclass(frozen=True)
class EnergySpectrum:
    """Energies of every state/node with their log-measures; exact thermodynamics at any β.

    Attributes:
        energies: eᵢ, float64 ``(N,)``.
        log_measure: log mᵢ, float64 ``(N,)`` (zeros for counting measure).
        kind: ``"enumeration"`` or ``"quadrature"``.
        log_measure_coarse: the coarse quadrature rule (quadrature only), for the error estimate.
        grid: ``(n_points per dimension, steps h)`` of a quadrature grid, for the truncation estimate.
        eps: machine epsilon of the dtype the energies were computed in (for the rounding bound).
    """

    energies: Tensor
    log_measure: Tensor
    kind: str = "enumeration"
    log_measure_coarse: Tensor | None = None
    grid: tuple[int, tuple[float, ...]] | None = None
    eps: float = 0.0

    @property
    def n_states(self) -> int:
        return self.energies.numel()

    @property
    def min_energy(self) -> float:
        return float(self.energies.min())

    def log_z(self, beta: float = 1.0, coarse: bool = False) -> float:
        """log Σᵢ mᵢ exp(−β eᵢ)."""
        lm = self.log_measure_coarse if coarse and self.log_measure_coarse is not None else self.log_measure
        return float(torch.logsumexp(lm - beta * self.energies, 0))

    def probabilities(self, beta: float = 1.0, coarse: bool = False) -> Tensor:
        """pᵢ = mᵢ exp(−β eᵢ) / Z_β."""
        lm = self.log_measure_coarse if coarse and self.log_measure_coarse is not None else self.log_measure
        return torch.softmax(lm - beta * self.energies, 0)

    def moments(self, beta: float = 1.0, coarse: bool = False) -> tuple[float, float]:
        """(E_β[E], Var_β[E]); note d/dβ E_β[E] = −Var_β[E] ≤ 0."""
        p = self.probabilities(beta, coarse)
        live = p > 0  # +inf energies have p = 0 and contribute nothing
        e = self.energies[live]
        mean = (p[live] * e).sum()
        var = (p[live] * (e - mean).square()).sum()
        return float(mean), float(var)

    def rounding(self, beta: float = 1.0) -> float:
        """Bound on the error of log Z_β (and of E_β[E]/|E|) from rounding the energies: β·E_p[|e|]·eps."""
        p = self.probabilities(beta)
        live = p > 0
        return beta * float((p[live] * self.energies[live].abs()).sum()) * self.eps

    def edge_mass(self, beta: float = 1.0) -> float:
        """Estimated fraction of the mass outside the box (quadrature; 0 for enumeration).

        Along each face, the density is continued outward as the geometric tail of the ratio r between the
        face node and its inner neighbour: mass beyond ≈ f(face)·h·r/(1 − r) (exact for an exponential tail,
        conservative for Gaussian/quartic ones); ``inf`` where the density does not decrease outward.
        """
        if self.grid is None:
            return 0.0
        n, steps = self.grid
        log_f = self.log_measure - beta * self.energies  # log of weight·density
        log_z = float(torch.logsumexp(log_f, 0))
        log_f = log_f.reshape((n,) * len(steps))
        total = 0.0
        for axis in range(len(steps)):
            for face, inner in ((0, 1), (n - 1, n - 2)):
                lf_face, lf_in = log_f.select(axis, face), log_f.select(axis, inner)
                log_r = (lf_face - lf_in + math.log(2.0)).clamp(max=0.0)  # face weight is half the inner one
                # face node weight is h/2 × (cross weights): density·cross = exp(lf_face)·2/h
                log_r = torch.where(
                    torch.isneginf(lf_face), torch.full_like(log_r, -1.0), log_r
                )  # zero density: no tail
                log_tail = lf_face + math.log(2.0) - torch.log(-torch.expm1(log_r)) + log_r
                if torch.isposinf(log_tail).any() or torch.isnan(log_tail).any():
                    return math.inf  # the density does not decrease outward
                total += math.exp(float(torch.logsumexp(log_tail.flatten(), 0)) - log_z)  # in log space: no overflow
        return total


def _iter_states(space: Tensor | BinarySpace | Grid, chunk_size: int) -> Iterator[Tensor]:
    if isinstance(space, BinarySpace):
        yield from space.chunks(chunk_size)
    elif isinstance(space, Grid):
        nodes = space.nodes()
        yield from nodes.split(chunk_size)
    elif isinstance(space, Tensor):
        if space.dim() < 1 or space.shape[0] == 0:
            raise ShapeError(
                f"states must be a tensor (n_states, *event) with n_states >= 1, got {tuple(space.shape)}."
            )
        if space.shape[0] > MAX_ENUMERATION_STATES:
            raise ConfigError(f"{space.shape[0]} states exceed the enumeration limit {MAX_ENUMERATION_STATES}.")
        yield from space.split(chunk_size)
    else:
        raise ConfigError(
            f"expected a state space: a tensor of all states, a BinarySpace or a Grid; got {type(space).__name__}."
        )


@torch.no_grad()
def energy_spectrum(energy: EnergyFn, space: Tensor | BinarySpace | Grid, chunk_size: int = 65536) -> EnergySpectrum:
    """Evaluate E on every state/node of ``space`` (in chunks, on the energy's device) and return the cached
    spectrum (on the CPU)."""
    parts, eps, device = [], 0.0, device_of(energy)
    for chunk in _iter_states(space, chunk_size):
        e = evaluate_energy(energy, chunk.to(device)).detach()
        eps = max(eps, torch.finfo(e.dtype).eps if e.is_floating_point() else 0.0)
        parts.append(e.to(torch.float64).cpu())
    energies = torch.cat(parts)
    bad = torch.isnan(energies) | torch.isneginf(energies)
    if bad.any():
        raise NonFiniteError(
            f"energy is NaN or -inf at {int(bad.sum())} of {energies.numel()} states; expected finite energies "
            "(+inf is allowed: zero density). Check the energy for overflow."
        )
    if torch.isposinf(energies).all():
        raise NonFiniteError("energy is +inf at every state: the density is zero everywhere on this space.")
    if isinstance(space, Grid):
        return EnergySpectrum(
            energies,
            space.log_weights(),
            "quadrature",
            space.log_weights(coarse=True),
            (space.n_points, space.steps()),
            eps,
        )
    return EnergySpectrum(energies, torch.zeros_like(energies), "enumeration", eps=eps)
