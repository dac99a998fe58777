"""Brackets on log Z by bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015).

Forward AIS from a base q to p ∝ exp(−E) has E[w] = Z, so log-mean-exp of its weights is a stochastic
**lower** bound on log Z (Jensen). Reverse AIS starts from samples of p and anneals back to q; its weights
have E[w_rev] = Z_q / Z = 1/Z, so −log-mean-exp(log w_rev) is a stochastic **upper** bound. The two
meet only when both chains equilibrate, so the width of [lower, upper] measures how far either can be
off — information that no single run's standard error carries.

Reverse AIS is forward AIS with the roles swapped: its "base" is the set of target samples with
unnormalised log-density −E (normaliser Z) and its "target" is −log q (normaliser 1), so the same
:func:`~ebmlab.estimators.ais.ais` on a :class:`~ebmlab.samplers.GeometricPath` runs it and estimates log(1/Z).

The target samples come from an exact sampler only when the caller passes them (``exact_samples``,
labelled ``"exact"``); otherwise from the forward run's weighted samples, resampled and then moved by
``mcmc_steps`` MALA steps on p (labelled ``"mcmc"``) — then the upper bound is only as good as those
chains, which the bracket's width shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities.base import Density
from ebmlab.energies.base import EnergyFn
from ebmlab.errors import ConfigError
from ebmlab.estimators.ais import ais
from ebmlab.estimators.base import Estimate
from ebmlab.samplers import MALA, GeometricPath, make_betas, sample

__all__ = ["Bracket", "bidirectional_log_z"]


class _SamplesAsBase:
    """A 'density' whose samples are given points and whose log-density is −E (unnormalised, Z)."""

    def __init__(self, x: Tensor, energy: EnergyFn) -> None:
        self.x, self.energy = x, energy

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if n != self.x.shape[0]:
            raise ConfigError(f"reverse AIS: {self.x.shape[0]} target samples given but {n} chains asked for.")
        return self.x

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.energy(x)


class _NegLogQ:
    def __init__(self, base: Density) -> None:
        self.base = base

    def __call__(self, x: Tensor) -> Tensor:
        return -self.base.log_prob(x)


@dataclass
class Bracket:
    """``lower`` (forward AIS) and ``upper`` (reverse AIS) estimates of log Z, and where the reverse
    run's samples came from (``"exact"`` or ``"mcmc"``)."""

    lower: Estimate
    upper: Estimate
    reverse_samples: str

    @property
    def width(self) -> float:
        return self.upper.value - self.lower.value

    def contains(self, value: float, z: float = 2.0) -> bool:
        """Whether ``value`` lies in [lower − z·SE, upper + z·SE]."""
        return self.lower.value - z * self.lower.stderr <= value <= self.upper.value + z * self.upper.stderr


def bidirectional_log_z(
    energy: EnergyFn,
    base: Density,
    generator: torch.Generator,
    *,
    n_chains: int = 256,
    n_temperatures: int = 500,
    kernel: str = "hmc",
    schedule: str = "sigmoid",
    exact_samples: Tensor | None = None,
    mcmc_steps: int = 500,
    **ais_kwargs: Any,
) -> Bracket:
    """Forward and reverse AIS between ``base`` and exp(−E) (module docstring)."""
    betas = make_betas(schedule, n_temperatures)
    forward = ais(GeometricPath(base, energy), kernel, n_chains, betas, generator, **ais_kwargs)
    lower = forward.estimate()
    if exact_samples is not None:
        x_rev, where = exact_samples[:n_chains].to(forward.samples.dtype), "exact"
        if x_rev.shape[0] != n_chains:
            raise ConfigError(f"bidirectional_log_z: need {n_chains} exact samples, got {exact_samples.shape[0]}.")
    else:
        w = torch.softmax(forward.log_weights, 0)
        idx = torch.multinomial(w, n_chains, replacement=True, generator=generator)
        start = forward.samples[idx]
        x_rev = sample(energy, MALA(0.05), start, mcmc_steps, warmup=mcmc_steps // 2, generator=generator).final_state.x
        where = "mcmc"
    reverse_path = GeometricPath(_SamplesAsBase(x_rev, energy), _NegLogQ(base))
    reverse = ais(reverse_path, kernel, n_chains, betas, generator, **ais_kwargs)
    inv = reverse.estimate()  # estimates log(1/Z)
    upper = Estimate(-inv.value, inv.stderr, ess=inv.ess, n=inv.n, method="reverse-ais", details=inv.details)
    return Bracket(lower, upper, where)
