"""The density protocol: closed-form log densities against torch.distributions and enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from ebmlab.densities import Bernoulli, Density, DiagonalNormal, StandardNormal
from ebmlab.errors import ConfigError, ShapeError


def test_diagonal_normal_matches_torch_and_reparameterises() -> None:
    loc, scale = torch.tensor([[1.0, -2.0], [0.5, 0.0]]), torch.tensor([[0.5, 2.0], [1.0, 3.0]])
    q = DiagonalNormal(loc, scale, learnable=True)
    x = torch.randn(7, 2, 2, generator=torch.Generator().manual_seed(0))
    ref = torch.distributions.Normal(loc, scale).log_prob(x).sum((1, 2))
    assert torch.allclose(q.log_prob(x), ref, atol=1e-5)
    s = q.sample(5, torch.Generator().manual_seed(1))
    assert s.shape == (5, 2, 2) and s.requires_grad  # reparameterised
    assert isinstance(q, Density) and q.event_shape == (2, 2)
    ent = torch.distributions.Normal(loc, scale).entropy().sum()
    assert torch.allclose(q.entropy(), ent, atol=1e-5)


def test_standard_normal_moments_within_monte_carlo_error() -> None:
    x = StandardNormal(3).sample(40_000, torch.Generator().manual_seed(2))
    se = 1.0 / 200.0
    assert float(x.mean(0).abs().max()) < 4 * se
    assert float((x.var(0) - 1).abs().max()) < 4 * (2**0.5) * se


def test_bernoulli_normalised_by_enumeration_and_frequencies() -> None:
    b = Bernoulli.from_means(torch.tensor([0.1, 0.5, 0.8]))
    pts = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)))
    assert float(b.log_prob(pts).exp().sum()) == pytest.approx(1.0, abs=1e-6)
    x = b.sample(20_000, torch.Generator().manual_seed(3))
    p = torch.tensor([0.1, 0.5, 0.8])
    se = (p * (1 - p) / 20_000).sqrt()
    assert float(((x.mean(0) - p).abs() / se).max()) < 4


def test_errors_are_one_line() -> None:
    with pytest.raises(ShapeError, match=r"expected x of shape \(n, 2\)"):
        DiagonalNormal(torch.zeros(2), 1.0).log_prob(torch.zeros(3, 3))
    with pytest.raises(ConfigError, match="scale positive"):
        DiagonalNormal(torch.zeros(2), 0.0)
    with pytest.raises(ConfigError, match="positive int"):
        StandardNormal(2).sample(0, torch.Generator())
    with pytest.raises(ConfigError, match="finite"):
        Bernoulli(torch.tensor([float("nan")]))
