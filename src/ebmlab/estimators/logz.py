"""log Z = log ∫ exp(−E(x)) dx by enumeration, quadrature and importance sampling.

Each estimator returns an :class:`~ebmlab.estimators.base.Estimate` (value, standard error, ESS where it
applies). AIS lives in :mod:`ebmlab.estimators.ais`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ebmlab.device_copies import device_of
from ebmlab.energies.base import EnergyFn, evaluate_energy
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.base import Estimate, log_mean_exp, pareto_k
from ebmlab.estimators.proposals import Proposal
from ebmlab.estimators.spaces import BinarySpace, Grid, energy_spectrum

__all__ = ["log_z_enumerate", "log_z_importance", "log_z_quadrature"]


def log_z_enumerate(
    energy: EnergyFn, states: Tensor | BinarySpace, beta: float = 1.0, chunk_size: int = 65536
) -> Estimate:
    """Exact log Z_β = log Σₓ exp(−β E(x)) over all states (a ``(N, *event)`` tensor or a BinarySpace).

    Summed as a float64 log-sum-exp over energies evaluated in chunks; ``stderr`` is the rounding bound
    β·E_p[|E|]·eps of the energies' dtype (exact up to rounding).
    """
    if isinstance(states, Grid):
        raise ConfigError("log_z_enumerate sums over discrete states; use log_z_quadrature for a Grid.")
    spec = energy_spectrum(energy, states, chunk_size)
    return Estimate(spec.log_z(beta), spec.rounding(beta), n=spec.n_states, method="enumerate", exact=True)


def log_z_quadrature(
    energy: EnergyFn,
    bounds: Sequence[tuple[float, float]],
    n_points: int | None = None,
    beta: float = 1.0,
    event_shape: tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
) -> Estimate:
    """log Z_β = log ∫_box exp(−β E(x)) dx by the trapezoidal rule on a uniform 1-D or 2-D grid.

    The error estimate (``stderr``) is |log Z_h − log Z_2h| (same nodes, every other one dropped) plus the
    estimated mass beyond the box (``edge_mass``, see :mod:`ebmlab.estimators.spaces`) plus the energies'
    rounding bound; it is deterministic, not a Monte Carlo SE,
    and conservative for smooth energies whose density vanishes at the box edges (see
    :mod:`ebmlab.estimators.spaces`). ``details`` holds the coarse value and the edge mass.
    """
    grid = Grid(bounds, n_points, event_shape=event_shape, dtype=dtype)
    spec = energy_spectrum(energy, grid)
    fine, coarse = spec.log_z(beta), spec.log_z(beta, coarse=True)
    edge = spec.edge_mass(beta)
    return Estimate(
        fine,
        abs(fine - coarse) + edge + spec.rounding(beta),
        n=spec.n_states,
        method="quadrature",
        details={"coarse": coarse, "edge_mass": edge, "n_points": grid.n_points, "bounds": grid.bounds},
    )


def check_count(n: int, name: str = "n", minimum: int = 2) -> int:
    """``n`` if it is an int >= ``minimum``, else a ConfigError naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {n!r}.")
    return n


def make_generator(generator: torch.Generator | None, seed: int | None, like: object = None) -> torch.Generator:
    """``generator``, or a fresh one seeded with ``seed`` (0 when None) on the device of ``like``, the energy whose
    chains it draws (:func:`~ebmlab.device_copies.device_of`: a module's parameters; the CPU for a plain function,
    whose device only a generator passed in can tell); not both."""
    if generator is not None and seed is not None:
        raise ConfigError("pass either generator or seed, not both.")
    if generator is None:
        generator = torch.Generator(device=device_of(like)).manual_seed(0 if seed is None else int(seed))
    return generator


@torch.no_grad()
def importance_log_weights(
    energy: EnergyFn, proposal: Proposal, n: int, generator: torch.Generator, batch_size: int = 65536
) -> tuple[Tensor, Tensor]:
    """Draw n samples from q and return (samples, log-weights ℓᵢ = −E(xᵢ) − log q(xᵢ)) in float64."""
    xs, lws = [], []
    for start in range(0, n, batch_size):
        k = min(batch_size, n - start)
        x = proposal.sample(k, generator)
        if x.shape[0] != k:
            raise ShapeError(f"proposal.sample({k}) returned shape {tuple(x.shape)}; expected ({k}, *event).")
        log_q = proposal.log_prob(x)
        if log_q.shape != (k,):
            raise ShapeError(f"proposal.log_prob returned shape {tuple(log_q.shape)}; expected ({k},).")
        lws.append((-evaluate_energy(energy, x) - log_q).to(torch.float64))
        xs.append(x)
    return torch.cat(xs), torch.cat(lws)


def log_z_importance(
    energy: EnergyFn,
    proposal: Proposal,
    n: int,
    generator: torch.Generator | None = None,
    *,
    seed: int | None = None,
    batch_size: int = 65536,
) -> Estimate:
    """Importance-sampling estimate of log Z = log E_q[exp(−E(x)) / q(x)] with n draws from q.

    log Ẑ = log-mean-exp of ℓᵢ = −E(xᵢ) − log q(xᵢ); SE by the delta method, SE = s_w/(w̄√n); Kish
    ESS = (Σw)²/Σw². q must cover the support of exp(−E) with heavier tails, or the variance is infinite
    and the SE silently too small: ``details["pareto_k"]`` > 0.7 flags this.
    """
    n = check_count(n)
    generator = make_generator(generator, seed, like=energy)
    _, log_w = importance_log_weights(energy, proposal, n, generator, batch_size)
    value, se, ess = log_mean_exp(log_w)
    return Estimate(value, se, ess=ess, n=n, method="is", details={"pareto_k": pareto_k(log_w)})
