"""Brackets on log Z by bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015).

Forward AIS from a base q to p ∝ exp(−E) has E[w] = Z, so log-mean-exp of its weights is a stochastic
**lower** bound on log Z (Jensen). Reverse AIS starts from samples of p and anneals back to q; its weights
have E[w_rev] = Z_q / Z = 1/Z, so −log-mean-exp(log w_rev) is a stochastic **upper** bound. The two
meet only when both chains equilibrate, so the width of [lower, upper] measures how far either can be
off — information that no single run's standard error carries.

Reverse AIS is forward AIS along the same path run backwards (:class:`ReversedPath`: π'_β = π_{1−β}, started
from the given samples of π_1, on the mirrored schedule β'_t = 1 − β_{T−t}), so the one
:func:`~ebmlab.estimators.ais.ais` runs it on **any** annealing path and any exact kernel — a
:class:`~ebmlab.samplers.GeometricPath` with MALA/HMC, a path over binary units with Gibbs, a model's own path
(:func:`bidirectional_ais`). A geometric path reversed is again geometric (from the samples, log-density −E,
to −log q; :func:`reversed_path`), which reuses the kernel's evaluations as forward AIS does. The upper bound is only as good as the reverse start: exact samples of p
(``samples_source="exact"``), MCMC samples (``"mcmc: …"``, with the chains' diagnostics from
:func:`mcmc_target_samples`), or — the default of :func:`bidirectional_log_z` — replica exchange judged by its own
checks (:mod:`~ebmlab.estimators.tempered_start`); ``Bracket.validated`` says whether they are known to be samples
of p. Samples that are not from p can push the "upper bound" anywhere — below the lower one included, which the
bracket's sign then shows (many-well-32 from the forward run's own samples: both ends 4.2 nats low).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ebmlab.densities.base import Density
from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.ais import ais
from ebmlab.estimators.base import Estimate
from ebmlab.estimators.proposals import GaussianProposal
from ebmlab.estimators.tempered_start import tempered_target_samples
from ebmlab.samplers import MALA, GeometricPath, Sampler, make_betas, sample
from ebmlab.samplers.path import AnnealingPath

__all__ = [
    "Bracket",
    "ReversedPath",
    "bidirectional_ais",
    "bidirectional_log_z",
    "mcmc_target_samples",
    "reverse_ais",
    "reversed_path",
]


class _GivenSamples:
    """The reverse run's start: the given samples of π_1; log-density −E_1 (unnormalised, normaliser Z)."""

    def __init__(self, x: Tensor, path: AnnealingPath) -> None:
        self.x, self.path = x, path

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        if n != self.x.shape[0]:
            raise ConfigError(f"reverse AIS: {self.x.shape[0]} target samples given but {n} chains asked for.")
        return self.x

    def log_prob(self, x: Tensor) -> Tensor:
        return -self.path.energy(x, 1.0)


class _Swapped:
    """One part of a geometric path seen from the other end: as a density, log-density −E (with E's Gibbs logits);
    as an energy, −log q (with q's Gibbs logits). Lets the reversed geometric path stay geometric (reusing the
    kernel's evaluations) and keep Gibbs on binary units."""

    def __init__(self, fn, logits_from: object, samples: Tensor | None = None) -> None:
        self.fn, self.samples = fn, samples
        cl = getattr(logits_from, "conditional_logits", None)
        if cl is not None:
            self.conditional_logits = cl

    @property
    def event_shape(self) -> tuple[int, ...]:
        assert self.samples is not None
        return tuple(self.samples.shape[1:])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        assert self.samples is not None
        if n != self.samples.shape[0]:
            raise ConfigError(f"reverse AIS: {self.samples.shape[0]} target samples given but {n} chains asked for.")
        return self.samples

    def log_prob(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)


def reversed_path(path: AnnealingPath, samples: Tensor) -> AnnealingPath:
    """``path`` run backwards from ``samples`` of its target: for a :class:`~ebmlab.samplers.GeometricPath` the
    geometric path from the samples (log-density −E) to −log q, else a :class:`ReversedPath`."""
    if isinstance(path, GeometricPath):
        q, energy = path.base, path.target
        start = _Swapped(lambda x: -evaluate_energy(energy, x), energy, samples)
        end = _Swapped(lambda x: -q.log_prob(x), q)
        return GeometricPath(start, end)  # type: ignore[arg-type]
    return ReversedPath(path, samples)


class ReversedPath:
    """π'_β = π_{1−β} of ``path``, started from ``samples`` of its target π_1 (normaliser Z) and ending at its
    normalised base (Z = 1): AIS along it has E[w] = 1/Z. Any kernel that works on ``path.at(β)`` works here."""

    def __init__(self, path: AnnealingPath, samples: Tensor) -> None:
        self.path = path
        self.base: Density = _GivenSamples(samples, path)

    def energy(self, x: Tensor, beta: float | Tensor) -> Tensor:
        return self.path.energy(x, 1.0 - beta)

    def at(self, beta: float | Tensor) -> EnergyFn:
        return self.path.at(1.0 - beta)


@dataclass
class Bracket:
    """``lower`` (forward AIS) and ``upper`` (reverse AIS) estimates of log Z, where the reverse run's samples came
    from (``reverse_samples``: ``"exact"``/``"exact sampler"``, ``"mcmc…"``, ``"tempered MCMC"`` or
    ``"forward-run samples"``), the diagnostics of those samples' chains, and whether they were ``validated``
    (``upper`` is an upper bound only if they were)."""

    lower: Estimate
    upper: Estimate
    reverse_samples: str
    diagnostics: dict[str, Any] = field(default_factory=dict)
    validated: bool = False  # whether the reverse start states are known to be (close to) samples of p

    @property
    def width(self) -> float:
        """upper − lower; negative when the reverse start was not from p (or by noise, within the SEs)."""
        return self.upper.value - self.lower.value

    def contains(self, value: float, z: float = 2.0) -> bool:
        """Whether ``value`` lies in [lower − z·SE, upper + z·SE]."""
        return self.lower.value - z * self.lower.stderr <= value <= self.upper.value + z * self.upper.stderr


def reverse_ais(
    path: AnnealingPath,
    kernel: Sampler | str,
    samples: Tensor,
    betas: Tensor,
    generator: torch.Generator,
    **ais_kwargs: Any,
) -> Estimate:
    """The upper estimate of log Z: −log-mean-exp of reverse AIS weights along ``path`` from ``samples`` of its
    target, on the mirrored schedule 1 − β_{T−t} (the same intermediate distributions, visited backwards)."""
    betas = make_betas(betas)
    res = ais(reversed_path(path, samples), kernel, samples.shape[0], 1.0 - betas.flip(0), generator, **ais_kwargs)
    inv = res.estimate()  # estimates log(1/Z)
    return Estimate(-inv.value, inv.stderr, ess=inv.ess, n=inv.n, method="reverse-ais", details=inv.details)


def bidirectional_ais(
    path: AnnealingPath,
    kernel: Sampler | str,
    betas: Tensor,
    generator: torch.Generator,
    *,
    samples: Tensor,
    samples_source: str,
    n_chains: int | None = None,
    diagnostics: dict[str, Any] | None = None,
    **ais_kwargs: Any,
) -> Bracket:
    """Forward AIS along ``path`` (``n_chains`` chains, default as many as ``samples``) and reverse AIS from
    ``samples`` of its target. ``samples_source`` labels them (``"exact"``, or ``"mcmc: …"`` saying how they were
    drawn); ``diagnostics`` (e.g. from :func:`mcmc_target_samples`) is kept with the bracket. Only exact samples
    count as ``validated``: the caller's MCMC diagnostics are reported, not judged here."""
    if not (samples_source == "exact" or samples_source.startswith("mcmc")):
        raise ConfigError(f"samples_source must be 'exact' or start with 'mcmc' (say how), got {samples_source!r}.")
    betas = make_betas(betas)
    lower = ais(path, kernel, n_chains or samples.shape[0], betas, generator, **ais_kwargs).estimate()
    upper = reverse_ais(path, kernel, samples, betas, generator, **ais_kwargs)
    return Bracket(lower, upper, samples_source, dict(diagnostics or {}), validated=samples_source == "exact")


def mcmc_target_samples(
    energy: EnergyFn, kernel: Sampler, x0: Tensor, n_steps: int, generator: torch.Generator, *, thin: int = 10
) -> tuple[Tensor, dict[str, Any]]:
    """Final states of ``x0.shape[0]`` chains of ``kernel`` on exp(−E) after ``n_steps`` transitions, and their
    diagnostics: split-R̂ and bulk ESS of the energy trace (every ``thin``-th state of the second half; ≥ 4 kept),
    the first-half vs second-half mean energy, and the number of transitions. Starting points are the caller's
    to report (data, noise, …)."""
    if x0.dim() < 2:
        raise ShapeError(f"mcmc_target_samples: x0 must be (n_chains, *event), got {tuple(x0.shape)}.")
    if n_steps < 8 * thin:
        raise ConfigError(f"mcmc_target_samples: n_steps={n_steps} < 8·thin={8 * thin}; run longer or thin less.")
    first = sample(energy, kernel, x0, n_steps // 2, thin=thin, generator=generator, diagnostics=False)
    second = sample(energy, kernel, first.final_state.x, n_steps - n_steps // 2, thin=thin, generator=generator)
    diag = second.diagnostics
    summary = {
        "n_steps": n_steps,
        "n_chains": int(x0.shape[0]),
        "energy_rhat": diag.get("energy_rhat"),
        "energy_ess_bulk": diag.get("energy_ess_bulk"),
        "mean_energy_first_half": float(first.energies.mean()),
        "mean_energy_second_half": float(second.energies.mean()),
        "seconds": first.seconds + second.seconds,
    }
    return second.final_state.x, summary


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
    reverse: str = "tempered",
    mcmc_steps: int = 500,
    tempering: dict[str, Any] | None = None,
    **ais_kwargs: Any,
) -> Bracket:
    """Forward and reverse AIS between a base and exp(−E) on the geometric path. Where the reverse run starts
    (``reverse_samples`` on the result):

    * ``exact_samples`` given: ``"exact sampler"`` (validated by construction); forward from ``base``;
    * ``reverse="tempered"`` (default): ``"tempered MCMC"`` — replica exchange from ``base``
      (:func:`~ebmlab.estimators.tempered_start.tempered_target_samples`, ``tempering`` its options), validated
      by its own checks; the forward run starts from a Gaussian with the mean and covariance of the tempered
      draws (a base close to p, from MCMC, not from exact samples), and both runs use that path;
    * ``reverse="forward"``: ``"forward-run samples"`` — the forward run's weighted samples resampled and moved
      by ``mcmc_steps`` MALA steps; never validated (they miss whatever the forward run missed)."""
    if reverse not in ("tempered", "forward"):
        raise ConfigError(f"bidirectional_log_z: reverse must be 'tempered' or 'forward', got {reverse!r}.")
    betas = make_betas(schedule, n_temperatures)
    diagnostics: dict[str, Any] = {}
    if exact_samples is None and reverse == "tempered":
        ts = tempered_target_samples(energy, base, n_chains, generator, **(tempering or {}))
        pooled = ts.pooled.reshape(ts.pooled.shape[0], -1)
        cov = torch.cov(pooled.T.to(torch.float64)).reshape(pooled.shape[1], pooled.shape[1])
        base = GaussianProposal(pooled.mean(0).reshape(ts.pooled.shape[1:]), cov=cov, dtype=ts.pooled.dtype)
        diagnostics = {"tempering": ts.diagnostics, "tempering_reasons": ts.reasons}
        diagnostics["forward_base"] = "Gaussian with the mean and covariance of the tempered-MCMC draws"
    path = GeometricPath(base, energy)
    forward = ais(path, kernel, n_chains, betas, generator, **ais_kwargs)
    lower = forward.estimate()
    if exact_samples is not None:
        x_rev, where, ok = exact_samples[:n_chains].to(forward.samples.dtype), "exact sampler", True
        if x_rev.shape[0] != n_chains:
            raise ConfigError(f"bidirectional_log_z: need {n_chains} exact samples, got {exact_samples.shape[0]}.")
    elif reverse == "tempered":
        x_rev, where, ok = ts.x.to(forward.samples.dtype), "tempered MCMC", ts.validated
    else:
        w = torch.softmax(forward.log_weights, 0)
        idx = torch.multinomial(w, n_chains, replacement=True, generator=generator)
        start = forward.samples[idx]
        x_rev = sample(energy, MALA(0.05), start, mcmc_steps, warmup=mcmc_steps // 2, generator=generator).final_state.x
        where, ok = "forward-run samples", False
    upper = reverse_ais(path, kernel, x_rev, betas, generator, **ais_kwargs)
    return Bracket(lower, upper, where, diagnostics, validated=ok)
