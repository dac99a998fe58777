"""MCMC samplers over batched chains, with a functional core and a thin driver.

>>> import torch
>>> from ebmlab.samplers import MALA, sample
>>> energy = lambda x: 0.5 * x.square().sum(-1)
>>> result = sample(energy, MALA(step_size=0.5), torch.zeros(64, 2), n_steps=200, warmup=100, seed=0)
>>> result.samples.shape
torch.Size([200, 64, 2])
"""

from __future__ import annotations

from typing import Any

from ebmlab.errors import ConfigError
from ebmlab.samplers.adaptation import DualAveraging, DualAveragingState
from ebmlab.samplers.base import Sampler, SamplerState, StepInfo
from ebmlab.samplers.chains import ChainResult, run_chains
from ebmlab.samplers.driver import SampleResult, sample
from ebmlab.samplers.gibbs import BlockGibbs
from ebmlab.samplers.hmc import HMC
from ebmlab.samplers.kinetic import KineticLangevin
from ebmlab.samplers.langevin import MALA, ULA
from ebmlab.samplers.path import (
    AnnealingPath,
    GeometricPath,
    PathEnergy,
    PathPoint,
    geometric_betas,
    linear_betas,
    make_betas,
    sigmoid_betas,
)
from ebmlab.samplers.tempering import ReplicaExchange, ReplicaInfo, ReplicaState, TemperingResult

__all__ = [
    "HMC",
    "MALA",
    "SAMPLER_NAMES",
    "ULA",
    "AnnealingPath",
    "BlockGibbs",
    "ChainResult",
    "DualAveraging",
    "DualAveragingState",
    "GeometricPath",
    "KineticLangevin",
    "PathEnergy",
    "PathPoint",
    "ReplicaExchange",
    "ReplicaInfo",
    "ReplicaState",
    "SampleResult",
    "Sampler",
    "SamplerState",
    "StepInfo",
    "TemperingResult",
    "geometric_betas",
    "get_sampler",
    "linear_betas",
    "make_betas",
    "run_chains",
    "sample",
    "sigmoid_betas",
]

_REGISTRY: dict[str, type[Sampler]] = {
    "ula": ULA,
    "mala": MALA,
    "hmc": HMC,
    "kinetic": KineticLangevin,
    "gibbs": BlockGibbs,
}
SAMPLER_NAMES = tuple(_REGISTRY)


def get_sampler(name: str, **kwargs: Any) -> Sampler:
    """Build a sampler by name (``ula``, ``mala``, ``hmc``, ``kinetic``, ``gibbs``)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLER_NAMES)}.") from None
    return cls(**kwargs)
