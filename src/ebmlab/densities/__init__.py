"""Densities: normalised distributions with one protocol.

A :class:`Density` has ``event_shape``, ``sample(n, generator) -> (n, *event_shape)`` and
``log_prob(x) -> (n,)``; a :class:`ConditionalDensity` takes a context ``c`` (one row per sample).
Gaussians, Bernoulli vectors, flows, exact targets, VAEs and generators implement it, so AIS bases,
negatives' starting points, latent priors and proposals are interchangeable.

>>> import torch
>>> q = DiagonalNormal(torch.zeros(2), torch.ones(2))
>>> x = q.sample(4, torch.Generator().manual_seed(0))
>>> x.shape, bool(torch.allclose(q.log_prob(torch.zeros(1, 2)), torch.tensor([-1.837877]), atol=1e-6))
(torch.Size([4, 2]), True)
"""

from ebmlab.densities.base import ConditionalDensity, Density, check_event, event_shape_of
from ebmlab.densities.simple import Bernoulli, DiagonalNormal, StandardNormal, Uniform

__all__ = [
    "Bernoulli",
    "ConditionalDensity",
    "Density",
    "DiagonalNormal",
    "StandardNormal",
    "Uniform",
    "check_event",
    "event_shape_of",
]
