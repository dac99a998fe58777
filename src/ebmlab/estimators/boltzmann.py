"""The Boltzmann distribution p_β(x) = exp(−β E(x)) / Z_β and its thermodynamics (seed 003).

    Z_β = Σₓ exp(−β E(x))  (or ∫ … dx),   F_β = −(1/β) log Z_β   (free energy),
    U_β = E_β[E(X)]   (internal energy),   H = −E[log p] = β (U_β − F_β) = β U_β + log Z_β   (entropy),
    d/dβ U_β = −Var_β(E) ≤ 0,   heat capacity C = β² Var_β(E).

On a continuous space H is the differential entropy (w.r.t. Lebesgue measure). Among all distributions
with E[E(X)] = μ, p_β maximises the entropy, with β fixed by U_β = μ (seed 003, Prop. 1): since U_β
decreases strictly in β (unless E is constant), β(μ) is found by bracketed root finding
(:func:`beta_for_mean_energy`), and from samples at a reference β₀ by reweighting
(:func:`beta_for_mean_energy_from_samples`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from scipy import optimize
from torch import Tensor

from ebmlab.energies.base import EnergyFn, energy_and_grad, evaluate_energy
from ebmlab.energies.compose import Tempered
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate
from ebmlab.estimators.spaces import BinarySpace, EnergySpectrum, Grid, energy_spectrum

__all__ = [
    "BoltzmannDistribution",
    "Thermodynamics",
    "beta_for_mean_energy",
    "beta_for_mean_energy_from_samples",
]

Space = Tensor | BinarySpace | Grid

_BETA_LO, _BETA_HI = 1e-12, 1e12


@dataclass(frozen=True)
class Thermodynamics:
    """log Z, F, U = E[E], H and C = β² Var(E) of a Boltzmann distribution at one β, each an Estimate."""

    beta: float
    log_z: Estimate
    free_energy: Estimate
    internal_energy: Estimate
    entropy: Estimate
    heat_capacity: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            **{
                k: getattr(self, k).to_dict()
                for k in ("log_z", "free_energy", "internal_energy", "entropy", "heat_capacity")
            },
        }


def _check_beta(beta: float) -> float:
    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ConfigError(f"beta must be a positive finite number (β = 1/T), got {beta!r}.")
    return beta


class BoltzmannDistribution:
    """p_β(x) ∝ exp(−β E(x)) for an energy E, optionally over an enumerable or integrable ``space``.

    Args:
        energy: callable ``(n, *event) -> (n,)``.
        beta: inverse temperature β > 0.
        space: a ``(N, *event)`` tensor of all states, a :class:`BinarySpace`, or a :class:`Grid` (1-D/2-D
            box for quadrature). With a space, every quantity is exact (enumeration) or deterministic
            (quadrature, error estimate in ``stderr``); without, estimate them from samples / AIS.
        chunk_size: states per energy evaluation when building the spectrum.
    """

    def __init__(
        self, energy: EnergyFn, beta: float = 1.0, space: Space | None = None, chunk_size: int = 65536
    ) -> None:
        self.energy = energy
        self.beta = _check_beta(beta)
        self.space = space
        self.chunk_size = chunk_size
        self._spectrum: EnergySpectrum | None = None

    # -- densities --------------------------------------------------------------------------------------
    def log_prob_unnormalized(self, x: Tensor) -> Tensor:
        """−β E(x), shape ``(n,)``."""
        return -self.beta * evaluate_energy(self.energy, x)

    def score(self, x: Tensor) -> Tensor:
        """∇ₓ log p_β(x) = −β ∇E(x) (analytic gradient when the energy has one, else autograd)."""
        return -self.beta * energy_and_grad(self.energy, x)[1]

    def tempered_energy(self) -> Tempered:
        """β·E as an energy, e.g. for the samplers (whose targets are exp(−energy))."""
        return Tempered(self.energy, self.beta)

    def with_beta(self, beta: float) -> BoltzmannDistribution:
        """The same system at another β (sharing the cached spectrum)."""
        other = BoltzmannDistribution(self.energy, beta, self.space, self.chunk_size)
        other._spectrum = self._spectrum
        return other

    # -- exact thermodynamics ---------------------------------------------------------------------------
    @property
    def spectrum(self) -> EnergySpectrum:
        """Energies of all states / grid nodes (evaluated once, cached)."""
        if self.space is None:
            raise ConfigError(
                "this BoltzmannDistribution has no enumerable or integrable space; pass space= (a tensor of all "
                "states, a BinarySpace or a Grid) for exact values, or estimate from samples (internal_energy("
                "samples=...), log_z_ais, ...)."
            )
        if self._spectrum is None:
            self._spectrum = energy_spectrum(self.energy, self.space, self.chunk_size)
        return self._spectrum

    def thermodynamics(self) -> Thermodynamics:
        """log Z, F, U, H, C at β from the space.

        ``stderr`` holds deterministic error estimates: for quadrature |fine − coarse| plus the
        estimated mass outside the box m as an allowance m·max(1, |value|); for both a rounding allowance
        r·max(1, |value|), r = β·E_p[|E|]·eps (≈ 0 for float64 energies).
        """
        spec, b = self.spectrum, self.beta
        quad = spec.kind == "quadrature"

        def values(coarse: bool) -> tuple[float, float, float, float, float]:
            log_z = spec.log_z(b, coarse)
            mean, var = spec.moments(b, coarse)
            return log_z, -log_z / b, mean, b * mean + log_z, b * b * var

        fine = values(False)
        errs = [abs(f - c) for f, c in zip(fine, values(True), strict=True)] if quad else [0.0] * 5
        edge = spec.edge_mass(b) if quad else 0.0
        r = spec.rounding(b)  # bound for log Z; the others get the same relative allowance r·max(1, |value|)
        names = ("log_z", "free_energy", "internal_energy", "entropy", "heat_capacity")
        est = {
            name: Estimate(v, e + (edge + r) * max(1.0, abs(v)), n=spec.n_states, method=spec.kind, exact=not quad)
            for name, v, e in zip(names, fine, errs, strict=True)
        }
        return Thermodynamics(b, **est)

    def log_z(self) -> Estimate:
        """log Z_β from the space."""
        return self.thermodynamics().log_z

    def free_energy(self, log_z: Estimate | None = None) -> Estimate:
        """F_β = −log Z_β / β: from the space, or from a given log Z estimate (e.g. AIS of β·E)."""
        if log_z is None:
            return self.thermodynamics().free_energy
        return Estimate(-log_z.value / self.beta, log_z.stderr / self.beta, log_z.ess, log_z.n, log_z.method)

    def internal_energy(self, samples: Tensor | None = None) -> Estimate:
        """U_β = E_β[E]: from the space, or the sample mean of E over (independent) samples of p_β, SE = s/√n."""
        if samples is None:
            return self.thermodynamics().internal_energy
        with torch.no_grad():
            e = evaluate_energy(self.energy, samples).to(torch.float64)
        if e.numel() < 2:
            raise ShapeError(f"internal_energy: need at least 2 samples, got {e.numel()}.")
        return Estimate(float(e.mean()), float(e.std() / math.sqrt(e.numel())), n=e.numel(), method="sample-mean")

    def entropy(self, samples: Tensor | None = None, log_z: Estimate | None = None) -> Estimate:
        """H = β (U − F) = β U + log Z: from the space, or from samples (for U) and a log Z estimate.

        With independent estimates, SE(H) = √(β² SE(U)² + SE(log Z)²).
        """
        if samples is None and log_z is None:
            return self.thermodynamics().entropy
        if samples is None or log_z is None:
            raise ConfigError(
                "entropy from estimates needs both samples (for E[E]) and log_z (an Estimate of log Z_β)."
            )
        u = self.internal_energy(samples)
        value = self.beta * u.value + log_z.value
        return Estimate(
            value, math.hypot(self.beta * u.stderr, log_z.stderr), n=u.n, method=f"sample-mean+{log_z.method}"
        )

    # -- temperature from a mean energy -----------------------------------------------------------------
    def beta_for_mean_energy(self, mu: float) -> float:
        """β > 0 with E_β[E] = μ (exact, from the space)."""
        return beta_for_mean_energy(mu, self.spectrum)

    def __repr__(self) -> str:
        return f"BoltzmannDistribution(beta={self.beta}, space={self.space!r})"


def beta_for_mean_energy(mu: float, spectrum: EnergySpectrum, xtol: float = 1e-12) -> float:
    """Solve U_β = μ for β ∈ (0, ∞) exactly over an enumerated / integrated spectrum.

    U_β falls strictly from the β→0 mean (uniform over the states, or over the box for quadrature) to the
    minimum energy as β→∞; brentq on log β within [1e-12, 1e12]. μ outside that open range raises
    ConfigError stating the achievable range.
    """
    mu = float(mu)
    e_min, e_uniform = spectrum.min_energy, spectrum.moments(1e-300)[0]
    if not (e_min < mu < e_uniform):
        raise ConfigError(
            f"mean energy μ = {mu:.6g} is not achievable at any β > 0: E_β[E] ranges over ({e_min:.6g}, "
            f"{e_uniform:.6g}) — from the minimum energy (β→∞) to the uniform mean (β→0). Choose μ inside it "
            "(μ above the uniform mean would need β < 0)."
        )
    return _solve_log_beta(lambda b: spectrum.moments(b)[0] - mu, xtol, (e_min, e_uniform))


def _solve_log_beta(f: Any, xtol: float, rng: tuple[float, float]) -> float:
    """Root of a decreasing f(β) on log β, expanding the bracket from [1e-2, 1e2]."""
    lo, hi = -2.0, 2.0
    while f(10**lo) < 0 and lo > math.log10(_BETA_LO):
        lo -= 2.0
    while f(10**hi) > 0 and hi < math.log10(_BETA_HI):
        hi += 2.0
    if f(10**lo) < 0 or f(10**hi) > 0:
        raise ConfigError(
            f"no β in [{_BETA_LO:g}, {_BETA_HI:g}] reaches the requested mean energy (achievable range "
            f"({rng[0]:.6g}, {rng[1]:.6g})); μ is too close to an end of the range."
        )
    log_beta = optimize.brentq(lambda lb: f(10**lb), lo, hi, xtol=xtol, rtol=1e-14, maxiter=500)
    return float(10**log_beta)


def beta_for_mean_energy_from_samples(mu: float, energies: Tensor, beta_ref: float, min_ess: float = 20.0) -> Estimate:
    """β with E_β[E] = μ, by reweighting energies eᵢ of independent samples drawn at ``beta_ref`` = β₀.

    U_β ≈ Σ wᵢ eᵢ / Σ wᵢ with wᵢ = exp(−(β − β₀) eᵢ) (self-normalised importance sampling). The SE is the
    delta method on the estimating equation: SE(β̂) = SE(Û_β) / Var̂_β(E), with SE(Û_β)² = Σ w̃ᵢ² (eᵢ − Û)²
    (w̃ normalised). Limits: only μ strictly inside (min eᵢ, max eᵢ) can be reached, and the answer is
    trustworthy only near β₀ — the Kish ESS of the weights at the solution is returned and a ConfigError is
    raised below ``min_ess``. MCMC samples must be thinned to (nearly) independent draws for the SE to hold.
    """
    beta_ref = _check_beta(beta_ref)
    e = torch.as_tensor(energies, dtype=torch.float64).detach().flatten()
    if e.numel() < 2 or not bool(torch.isfinite(e).all()):
        raise ShapeError(
            f"energies must hold at least 2 finite values, got {e.numel()} (finite: {bool(torch.isfinite(e).all())})."
        )
    lo, hi = float(e.min()), float(e.max())
    if not lo < float(mu) < hi:
        raise ConfigError(
            f"μ = {float(mu):.6g} lies outside the range of the sample energies ({lo:.6g}, {hi:.6g}); reweighting "
            "can only reach means strictly inside it. Draw samples at a β closer to the one you seek."
        )

    def moments(beta: float) -> tuple[Tensor, float, float]:
        w = torch.softmax(-(beta - beta_ref) * e, 0)
        m = float((w * e).sum())
        return w, m, float((w * (e - m).square()).sum())

    beta = _solve_log_beta(lambda b: moments(b)[1] - float(mu), 1e-12, (lo, hi))
    w, m, var = moments(beta)
    ess = float(1.0 / w.square().sum())
    if ess < min_ess:
        raise ConfigError(
            f"reweighting from β₀ = {beta_ref:g} to β = {beta:.4g} leaves an effective sample size of {ess:.1f} "
            f"< {min_ess:g}; the estimate would be unreliable. Draw samples at a β closer to {beta:.3g}."
        )
    se_u = float((w.square() * (e - m).square()).sum().sqrt())
    return Estimate(beta, se_u / var, ess=ess, n=e.numel(), method="reweighting", details={"beta_ref": beta_ref})
