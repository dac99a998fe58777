"""MixtureEnergy (atom-like + Laplace output marginals), independence jumps and the O(n ln m) |x − y| terms."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.methods.eba import EBA, independence_jumps
from ebmlab.ratedistortion import LaplaceSource, MixtureEnergy, get_distortion, sample_marginal_terms
from ebmlab.ratedistortion.bounds import abs_1d_marginal_terms
from ebmlab.ratedistortion.mixture import mixture_abs_terms

ABS = get_distortion("abs")


def laplace_optimum(beta: float, eps: float = 1e-3) -> MixtureEnergy:
    """r* = β^{−2} δ_0 + (1 − β^{−2}) Laplace(1), the atom as a Gaussian of width ``eps``."""
    w = 1.0 / beta**2
    e = MixtureEnergy(1, ("laplace", "gaussian"), min_log_scale=-12.0)
    with torch.no_grad():
        e.logits.copy_(torch.tensor([math.log(1 - w), math.log(w)]))
        e.log_scale.copy_(torch.tensor([[0.0], [math.log(eps)]]))
    return e


def excess(xr: torch.Tensor, beta: float, n_y: int = 100_000) -> float:
    """R̂ / R(D̂) − 1 of the channel tilted from draws ``xr`` of r, for a Laplace(1) source.

    E_y is a midpoint quadrature over the source's quantiles (y = F^{−1}((i + ½)/n)), not Monte Carlo: the
    information density's spread would otherwise put ±1.7 % (one SE) on 50 000 draws at β = 1.5.
    """
    u = (torch.arange(n_y, dtype=torch.float64) + 0.5) / n_y - 0.5
    y = (-u.sign() * torch.log1p(-2 * u.abs()))[:, None]
    log_z, d = abs_1d_marginal_terms(xr, beta)(y)
    d_hat, r_hat = float(d.mean()), float((-beta * d - log_z).mean())
    return r_hat / -math.log(d_hat) - 1


def test_mixture_is_normalised_and_its_draws_are_exact() -> None:
    x = torch.linspace(-40, 40, 400_001)[:, None].double()
    with torch.no_grad():
        p = (-laplace_optimum(2.0, eps=0.05).double()(x)).exp()
    assert abs(float(torch.trapezoid(p, x[:, 0])) - 1) < 1e-6
    g = torch.Generator().manual_seed(0)
    draws = laplace_optimum(2.0, eps=0.05).sample(200_000, g).double()[:, 0]
    for t in (-2.0, -0.05, 0.0, 0.02, 1.0):  # the CDF at points inside and outside the narrow component
        cdf = float(torch.trapezoid(p[x[:, 0] <= t], x[x[:, 0] <= t, 0]))
        emp = float((draws <= t).double().mean())
        assert abs(emp - cdf) < 4 * math.sqrt(cdf * (1 - cdf) / draws.numel()) + 1e-4, (t, emp, cdf)


def test_mixture_holds_the_laplace_optimum_and_a_gaussian_cannot() -> None:
    """At β = 1.5 the atom carries 44 % of r*: the mixture's rate is R(D̂) to < 1 %, every Gaussian's is > 5 % above."""
    g = torch.Generator().manual_seed(1)
    beta = 1.5
    xr = laplace_optimum(beta).sample(16_384, g).double()
    assert abs(excess(xr, beta)) < 0.005
    for s in (0.6, 0.8, 1.0):  # negative control: the best Gaussian scale at this β is ≈ 0.8 (+8 %)
        assert excess(s * torch.randn(16_384, 1, generator=g, dtype=torch.float64), beta) > 0.06, s


def test_abs_terms_equal_the_pairwise_monte_carlo() -> None:
    g = torch.Generator().manual_seed(2)
    x = 1.5 * torch.randn(2000, 1, generator=g, dtype=torch.float64)
    y = 4.0 * torch.randn(400, 1, generator=g, dtype=torch.float64)  # also y beyond every draw
    for beta in (0.3, 8.0, 40.0, 500.0):  # 500: β·span > 600, the matrix fallback
        fast, slow = abs_1d_marginal_terms(x, beta)(y), sample_marginal_terms(x, ABS, beta)(y)
        assert torch.allclose(fast[0], slow[0], rtol=0, atol=1e-9)
        assert torch.allclose(fast[1], slow[1], rtol=0, atol=1e-9)


def test_independence_jumps_reach_the_tilted_conditional() -> None:
    """Chains started at x = y (a point mass, wrong) reach p(x|y) ∝ r(x) e^{−β|x−y|}: mass in the narrow component."""
    beta, y0 = 2.0, 0.3
    e = laplace_optimum(beta, eps=0.01)
    x = torch.linspace(-30, 30, 600_001)[:, None].double()
    with torch.no_grad():
        p = (-laplace_optimum(beta, eps=0.01).double()(x) - beta * (x[:, 0] - y0).abs()).exp()
    inside = x[:, 0].abs() < 0.05
    want = float(torch.trapezoid(p * inside, x[:, 0]) / torch.trapezoid(p, x[:, 0]))
    g = torch.Generator().manual_seed(3)
    y = torch.full((4000, 1), y0)
    chains = independence_jumps(e, y.clone(), y, ABS, beta, 60, g)
    got = float((chains.abs() < 0.05).double().mean())
    assert abs(got - want) < 4 * math.sqrt(want * (1 - want) / 4000), (got, want)
    stuck = independence_jumps(e, y.clone(), y, ABS, beta, 1, g)  # negative control: one jump is not enough
    assert abs(float((stuck.abs() < 0.05).double().mean()) - want) > 0.1


def test_eba_with_a_mixture_marginal_trains_and_uses_exact_marginal_draws() -> None:
    m = EBA(LaplaceSource(1.0), "abs", 2.0, energy=MixtureEnergy(1), variant="ba", n_chains=64, n_steps=2)
    g = torch.Generator().manual_seed(4)
    m.advance(g)
    assert m.chains["x"].shape == m.chains["xm"].shape == (64, 1)
    # the source's start: Laplace component at scale spread/√2 = 1, the Gaussian at 1 × spread ≈ √2
    assert abs(float(m.energy.scale().detach()[0, 0]) - 1.0) < 0.1


@pytest.mark.parametrize("kwargs", [{"kinds": ()}, {"kinds": ("cauchy",)}, {"init_scales": (1.0,)}])
def test_mixture_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="MixtureEnergy"):
        MixtureEnergy(1, **kwargs)  # type: ignore[arg-type]


def test_exact_abs_terms_of_a_mixture_match_quadrature() -> None:
    """ln Z_r(y) and D_Q(y) in closed form (with α = β, where the Laplace formula is 0/0) against a fine grid."""
    g = torch.Generator().manual_seed(5)
    e = MixtureEnergy(1, ("laplace", "gaussian", "laplace"))
    with torch.no_grad():
        e.logits.copy_(torch.tensor([0.3, -0.5, 0.1]))
        e.loc.normal_(generator=g)
        e.log_scale.uniform_(-2.0, 0.5, generator=g)
    y = 2 * torch.randn(10, 1, generator=g, dtype=torch.float64)
    x = torch.linspace(-20, 20, 80_001, dtype=torch.float64)
    with torch.no_grad():
        r = (-copy.deepcopy(e).double()(x[:, None])).exp()
    for beta in (0.5, 1.0 / float(e.scale().detach()[0, 0]), 8.0):
        log_z, dist = mixture_abs_terms(e, beta)(y)
        k = (-beta * (x[None] - y).abs()).exp() * r[None]
        z = torch.trapezoid(k, x, dim=1)
        assert torch.allclose(log_z, z.log(), atol=1e-4, rtol=0), beta
        assert torch.allclose(dist, torch.trapezoid(k * (x[None] - y).abs(), x, dim=1) / z, atol=1e-4, rtol=0), beta
