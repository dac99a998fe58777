"""Rate–distortion references: closed forms, Blahut–Arimoto against them, and the sandwich bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.ratedistortion import (
    CallableSource,
    GaussianSource,
    LaplaceSource,
    SampleSource,
    bernoulli_rd,
    binary_entropy,
    blahut_arimoto,
    discretize_density,
    gaussian_marginal_terms,
    gaussian_rate_at,
    gaussian_rd,
    get_distortion,
    laplace_rd,
    pairwise,
    rd_bounds,
    sample_marginal_terms,
    shannon_lower_bound,
)

SQ = get_distortion("squared")


def test_reverse_water_filling_by_hand() -> None:
    # θ = 1/(2β) = 0.5: D = 0.5 + 0.5 + 0.25 (third component switched off), R = ½ln(4/0.5) + ½ln(1/0.5) = ln 4
    pt = gaussian_rd([4.0, 1.0, 0.25], beta=1.0)
    assert pt.distortion == pytest.approx(1.25) and pt.rate == pytest.approx(math.log(4.0))
    assert gaussian_rate_at([4.0, 1.0, 0.25], 1.25) == pytest.approx(math.log(4.0), rel=1e-9)
    mse = gaussian_rd([4.0, 1.0, 0.25], beta=3.0, per_dim=True)  # θ = d/(2β) = 0.5, D per dimension
    assert mse.distortion == pytest.approx(1.25 / 3) and mse.rate == pytest.approx(math.log(4.0))


@pytest.mark.parametrize("beta", [0.3, 1.0, 7.0])
def test_closed_form_slopes_are_minus_beta(beta: float) -> None:
    v, h = [4 * math.exp(-0.5 * k) for k in range(10)], 1e-6
    d = gaussian_rd(v, beta).distortion
    slope = (gaussian_rate_at(v, d + h) - gaussian_rate_at(v, d - h)) / (2 * h)
    assert slope == pytest.approx(-beta, rel=1e-4)
    lp = laplace_rd(2.0, beta)
    if lp.distortion < 2.0:
        assert lp.rate == pytest.approx(math.log(2.0 * beta))
    bp = bernoulli_rd(0.3, beta)
    if bp.rate > 0:
        slope_b = -(math.log((1 - bp.distortion) / bp.distortion))
        assert slope_b == pytest.approx(-beta)


def test_shannon_lower_bound_tight_and_below() -> None:
    assert shannon_lower_bound(1 + math.log(2 * 1.5), 0.3, "abs") == pytest.approx(-math.log(0.3 / 1.5))
    h = 0.5 * math.log(2 * math.pi * math.e * 2.0)
    assert shannon_lower_bound(h, 0.5, "squared") == pytest.approx(gaussian_rate_at([2.0], 0.5))
    v = [4.0, 1.0, 0.25]
    h3 = sum(0.5 * math.log(2 * math.pi * math.e * s) for s in v)
    assert shannon_lower_bound(h3, 1.25, "squared", dim=3) < gaussian_rate_at(v, 1.25) - 0.05  # loose when unequal
    assert shannon_lower_bound(binary_entropy(0.3), 0.1, "hamming") == pytest.approx(
        bernoulli_rd(0.3, math.log(9)).rate
    )


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_blahut_arimoto_exact_on_bernoulli(beta: float) -> None:
    a = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    r = blahut_arimoto(
        torch.tensor([0.7, 0.3], dtype=torch.float64), pairwise(get_distortion("hamming"), a, a), beta, 1e-12
    )
    pt = bernoulli_rd(0.3, beta)
    assert r.distortion == pytest.approx(pt.distortion, abs=1e-9)
    assert r.rate == pytest.approx(pt.rate, abs=1e-9) and r.rate_lower <= r.rate + 1e-15 and r.gap < 1e-12


def test_blahut_arimoto_on_discretised_gaussian_and_laplace() -> None:
    g = torch.linspace(-7, 7, 141, dtype=torch.float64)
    r = blahut_arimoto(discretize_density(-0.5 * g**2, g), (g[None] - g[:, None]) ** 2, 2.0, tol=1e-5)
    assert r.rate_lower <= r.rate and r.rate - r.rate_lower < 1e-5
    assert r.rate == pytest.approx(gaussian_rate_at([1.0], r.distortion), abs=2e-3)  # grid spacing 0.1
    gl = torch.linspace(-12, 12, 241, dtype=torch.float64)
    rl = blahut_arimoto(discretize_density(-gl.abs(), gl), (gl[None] - gl[:, None]).abs(), 4.0, tol=1e-3, max_iter=300)
    assert rl.rate == pytest.approx(-math.log(rl.distortion), rel=0.02)


def _bounds(var: float, beta: float, seed: int, mc: bool = False):  # source N(0, 1), marginal r = N(0, var)
    src, g = GaussianSource([1.0]), torch.Generator().manual_seed(seed)
    loc, v = torch.zeros(1, dtype=torch.float64), torch.tensor([var], dtype=torch.float64)
    if mc:
        terms = sample_marginal_terms(torch.randn(4000, 1, generator=g, dtype=torch.float64) * math.sqrt(var), SQ, beta)
    else:
        terms = gaussian_marginal_terms(loc, v, beta)
    return rd_bounds(terms, lambda n: src.sample(n, g), SQ, beta, n_y=20_000 if not mc else 4000)


@pytest.mark.parametrize(("var", "mc"), [(0.75, False), (0.4, False), (1.3, False), (0.4, True)])
def test_bounds_sandwich_the_closed_form(var: float, mc: bool) -> None:
    b = _bounds(var, 2.0, seed=3, mc=mc)
    truth = gaussian_rate_at([1.0], b.distortion)
    tol = 3 * math.hypot(b.rate_upper_se, b.distortion_se * 2.0) + (0.01 if mc else 0.0)
    assert b.rate_lower - 3 * b.rate_lower_se <= truth <= b.rate_upper + tol
    if var != 0.75:  # negative control: without the sup correction a suboptimal r's value is not a lower bound
        assert b.log_sup > 5 * b.log_sup_se and b.rate_upper - truth > 3 * b.rate_upper_se
    else:  # optimal r* = N(0, σ² − θ): the bounds meet at the closed form
        assert abs(b.rate_upper - gaussian_rd([1.0], 2.0).rate) < 3 * b.rate_upper_se + 1e-3


def test_sources_and_errors(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    y = LaplaceSource(2.0).sample(200_000, g)
    assert float(y.abs().mean()) == pytest.approx(2.0, rel=0.01)
    np.save(tmp_path / "s.npy", np.random.default_rng(0).normal(size=(100, 2)))
    assert SampleSource.from_npy(tmp_path / "s.npy").sample(5, g).shape == (5, 2)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ConfigError, match="plain numeric"):
        SampleSource.from_npy(tmp_path / "o.npy")
    with pytest.raises(ShapeError, match="expected \\(4, 2\\)"):
        CallableSource(lambda n, gen: torch.zeros(n, 3), dim=2).sample(4, g)
    with pytest.raises(ShapeError, match="must match"):
        SQ(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ConfigError, match="positive"):
        GaussianSource([1.0, -2.0])
    with pytest.raises(ConfigError, match="beta"):
        gaussian_rd([1.0], 0.0)
