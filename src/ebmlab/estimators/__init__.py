"""Measuring Boltzmann distributions: log Z / free energy, internal energy, entropy, temperature, MI bounds.

Every estimator returns an :class:`Estimate` (value, standard error, ESS where it applies).

>>> import torch
>>> from ebmlab.estimators import BinarySpace, BoltzmannDistribution, log_z_quadrature
>>> p = BoltzmannDistribution(lambda s: -(s[:, :-1] * s[:, 1:]).sum(1), beta=0.5, space=BinarySpace(8, (-1.0, 1.0)))
>>> th = p.thermodynamics()
>>> abs(th.entropy.value - 0.5 * (th.internal_energy.value - th.free_energy.value)) < 1e-9
True
>>> est = log_z_quadrature(lambda x: (x**4 - 4 * x**2 + x).sum(1), [(-4.0, 4.0)])
>>> round(est.value, 6)
5.032284
"""

from ebmlab.estimators.ais import AISResult, ais, log_z_ais
from ebmlab.estimators.base import Estimate, kish_ess, log_mean_exp, pareto_k
from ebmlab.estimators.boltzmann import (
    BoltzmannDistribution,
    Thermodynamics,
    beta_for_mean_energy,
    beta_for_mean_energy_from_samples,
)
from ebmlab.estimators.ising import IsingChain
from ebmlab.estimators.logz import log_z_enumerate, log_z_importance, log_z_quadrature
from ebmlab.estimators.mi import (
    ConcatCritic,
    SeparableCritic,
    correlated_gaussian_pairs,
    dv_bound,
    estimate_mi,
    gaussian_mi,
    infonce_bound,
    nwj_bound,
    train_critic,
)
from ebmlab.estimators.proposals import GaussianProposal, Proposal
from ebmlab.estimators.spaces import BinarySpace, EnergySpectrum, Grid, energy_spectrum
from ebmlab.estimators.stepping_stone import log_z_stepping_stone

__all__ = [
    "AISResult",
    "BinarySpace",
    "BoltzmannDistribution",
    "ConcatCritic",
    "EnergySpectrum",
    "Estimate",
    "GaussianProposal",
    "Grid",
    "IsingChain",
    "Proposal",
    "SeparableCritic",
    "Thermodynamics",
    "ais",
    "beta_for_mean_energy",
    "beta_for_mean_energy_from_samples",
    "correlated_gaussian_pairs",
    "dv_bound",
    "energy_spectrum",
    "estimate_mi",
    "gaussian_mi",
    "infonce_bound",
    "kish_ess",
    "log_mean_exp",
    "log_z_ais",
    "log_z_enumerate",
    "log_z_importance",
    "log_z_quadrature",
    "log_z_stepping_stone",
    "nwj_bound",
    "pareto_k",
    "train_critic",
]
