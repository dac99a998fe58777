"""Samplers against closed forms, with tolerances derived from Monte Carlo error.

Independent draws come from many chains (one draw per chain at the end of a long run), so the
usual i.i.d. standard errors apply.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from ebmlab.samplers import HMC, MALA, ULA, BlockGibbs, KineticLangevin, sample
from ebmlab.targets import get_target

Z_MAX = 4.5  # |z| allowed for a single seeded statistic


def whitened_checks(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
    """Standardised deviations of the sample mean and covariance from the truth.

    With w = L⁻¹(x − μ) for Σ = LLᵀ, N‖w̄‖² ~ χ²_d, and the entries of Ĉov(w) − I have variance
    (1 + δᵢⱼ)/N, so N·Σᵢ≤ⱼ (Ĉᵢⱼ − δᵢⱼ)²/(1 + δᵢⱼ) ≈ χ² with d(d+1)/2 degrees of freedom.
    Returns both as z-scores of the χ² statistics.
    """
    n, d = x.shape
    chol = torch.linalg.cholesky(cov)
    w = torch.linalg.solve_triangular(chol, (x.double() - mean).T, upper=False).T
    chi_mean = n * w.mean(0).square().sum()
    z_mean = (chi_mean - d) / math.sqrt(2 * d)
    c = torch.cov(w.T)
    dev = (c - torch.eye(d, dtype=c.dtype)).square() / (1 + torch.eye(d, dtype=c.dtype))
    iu = torch.triu_indices(d, d)
    k = d * (d + 1) // 2
    chi_cov = n * dev[iu[0], iu[1]].sum()
    z_cov = (chi_cov - k) / math.sqrt(2 * k)
    return float(z_mean), float(z_cov)


@pytest.mark.parametrize(
    ("kernel", "n_steps"),
    [(MALA(step_size=0.05), 1200), (HMC(step_size=0.15, n_leapfrog=5), 300)],
    ids=["mala", "hmc"],
)
def test_gaussian_50_mean_and_covariance(kernel, n_steps: int) -> None:
    target = get_target("gaussian-50")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2000, 50, generator=g, dtype=torch.float64)  # N(0, I): off target
    result = sample(target, kernel, x0, n_steps=n_steps, warmup=300, generator=g, diagnostics=False)
    assert 0.4 < result.accept_rate < 0.95
    z_mean, z_cov = whitened_checks(result.final_state.x, target.mean, target.covariance)
    assert abs(z_mean) < Z_MAX, z_mean
    assert abs(z_cov) < Z_MAX, z_cov


def test_whitened_check_detects_ula_bias() -> None:
    """Negative control: the same check must fail for a visibly biased sampler."""
    target = get_target("gaussian-50")
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2000, 50, generator=g, dtype=torch.float64)
    result = sample(target, ULA(step_size=0.08), x0, n_steps=800, generator=g, diagnostics=False)
    _, z_cov = whitened_checks(result.final_state.x, target.mean, target.covariance)
    assert z_cov > 10 * Z_MAX


@pytest.mark.parametrize("step", [0.3, 0.8])
def test_ula_stationary_variance_matches_discretisation_formula(step: float) -> None:
    """ULA on N(0, s²): x' = (1 − λ/s²) x + √(2λ) ξ has stationary variance s² / (1 − λ/(2s²))."""
    s2 = 1.5
    n = 20000
    g = torch.Generator().manual_seed(1)
    x0 = torch.zeros(n, 1, dtype=torch.float64)
    result = sample(lambda x: 0.5 * x[:, 0] ** 2 / s2, ULA(step), x0, n_steps=300, generator=g, diagnostics=False)
    expected = s2 / (1 - step / (2 * s2))
    var = float(result.final_state.x.var())
    se = expected * math.sqrt(2 / (n - 1))
    assert abs(var - expected) < Z_MAX * se
    assert abs(expected - s2) > 6 * se  # the formula, not the exact variance, is what is checked


def test_kinetic_langevin_gaussian_variance() -> None:
    """BAOAB samples the configurational marginal of a Gaussian without bias for any stable step."""
    n = 20000
    g = torch.Generator().manual_seed(2)
    x0 = torch.zeros(n, 1, dtype=torch.float64)
    kernel = KineticLangevin(step_size=0.5, friction=1.0)
    result = sample(lambda x: 0.5 * x[:, 0] ** 2, kernel, x0, n_steps=400, generator=g, diagnostics=False)
    var = float(result.final_state.x.var())
    assert abs(var - 1.0) < Z_MAX * math.sqrt(2 / (n - 1))


def test_double_well_left_mass_and_histogram_with_mala() -> None:
    target = get_target("double-well")
    n = 4000
    g = torch.Generator().manual_seed(3)
    x0 = 3 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 1.5
    result = sample(target, MALA(step_size=0.1), x0, n_steps=3000, warmup=200, generator=g, diagnostics=False)
    x = result.final_state.x[:, 0]
    left = float((x < target.barrier).double().mean())
    p = target.left_well_mass()
    assert abs(p - 0.9335) < 1e-4
    assert abs(left - p) < Z_MAX * math.sqrt(p * (1 - p) / n)
    # Histogram against the exact density: bin masses by quadrature, Pearson χ² test.
    edges = torch.linspace(-2.6, 2.4, 26, dtype=torch.float64)  # the two outer bins are open-ended
    grid = torch.linspace(-5.0, 5.0, 400001, dtype=torch.float64)
    cdf = torch.cat([grid.new_zeros(1), torch.cumulative_trapezoid(target.log_prob(grid[:, None]).exp(), grid)])
    inner = cdf[torch.searchsorted(grid, edges)]
    masses = torch.diff(torch.cat([cdf.new_zeros(1), inner, cdf[-1:]]))
    observed = torch.bincount(torch.bucketize(x, edges), minlength=edges.numel() + 1).double()
    expected = masses / masses.sum() * n
    keep = expected > 5
    chi2, pvalue = stats.chisquare(observed[keep], expected[keep] * observed[keep].sum() / expected[keep].sum())
    assert pvalue > 1e-4, (chi2, pvalue)


def test_dual_averaging_reaches_target_acceptance() -> None:
    target = get_target("gaussian-50")
    g = torch.Generator().manual_seed(4)
    x0 = target.sample(256, generator=g, dtype=torch.float64)
    result = sample(target, MALA(step_size=1.0), x0, n_steps=300, warmup=400, generator=g, diagnostics=False)
    assert abs(result.accept_rate - 0.574) < 0.07
    assert result.step_size < 0.5  # adapted away from the far-too-large initial step


def _boltzmann_machine(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, d, generator=g, dtype=torch.float64) * 0.4
    w = torch.triu(w, 1)
    return w + w.T, torch.randn(d, generator=g, dtype=torch.float64) * 0.3


def _enumerate_marginals(energy, d: int) -> torch.Tensor:
    states = ((torch.arange(2**d)[:, None] >> torch.arange(d)) & 1).double()
    p = torch.softmax(-energy(states), 0)
    return p @ states


@pytest.mark.parametrize("blocks", [None, "rbm"])
def test_block_gibbs_marginals_match_enumeration(blocks: str | None) -> None:
    d = 10
    w, b = _boltzmann_machine(d, seed=5)
    if blocks == "rbm":  # bipartite couplings only: visible 0..5, hidden 6..9
        mask = torch.zeros(d, d, dtype=torch.float64)
        mask[:6, 6:] = 1
        w = w * (mask + mask.T)
        block_list = [range(6), range(6, d)]
    else:
        block_list = None

    def energy(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x @ w) * x).sum(1) - x @ b

    exact = _enumerate_marginals(energy, d)
    n = 4000
    g = torch.Generator().manual_seed(6)
    x0 = (torch.rand(n, d, generator=g) < 0.5).double()
    result = sample(energy, BlockGibbs(block_list), x0, n_steps=60, generator=g, diagnostics=False)
    est = result.final_state.x.mean(0)
    se = (exact * (1 - exact) / n).sqrt()
    assert ((est - exact).abs() / se).max() < Z_MAX


@pytest.mark.parametrize("temp", [1.0, 0.7])
@pytest.mark.parametrize("per_chain", [False, True], ids=["one-step", "per-chain-steps"])
def test_mala_log_ratio_is_the_metropolis_hastings_ratio_written_out(temp: float, per_chain: bool) -> None:
    """MALA's short form of log α against log p_T(y) q(x|y) − log p_T(x) q(y|x) written out, in float64."""
    from ebmlab.energies import energy_and_grad
    from ebmlab.samplers.langevin import log_ratio

    g = torch.Generator().manual_seed(4)
    n, d = 64, 5
    x = torch.randn(n, d, generator=g, dtype=torch.float64)

    def energy(z: torch.Tensor) -> torch.Tensor:  # not Gaussian: ∇E(x) + ∇E(y) is not linear in the move
        return 0.25 * z.pow(4).sum(1) - z[:, 0] + 0.5 * z[:, 1] * z[:, 2]

    lam = 0.05 + 0.5 * torch.rand(n, 1, generator=g, dtype=torch.float64) if per_chain else 0.3
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    e, grad = energy_and_grad(energy, x)
    y = x - lam * grad + (2 * lam * temp) ** 0.5 * noise
    e_y, grad_y = energy_and_grad(energy, y)

    def log_q(to: torch.Tensor, start: torch.Tensor, g_start: torch.Tensor) -> torch.Tensor:
        return -(to - start + lam * g_start).square().sum(1) / (4 * (lam if not per_chain else lam[:, 0]) * temp)

    expected = (e - e_y) / temp + log_q(x, y, grad_y) - log_q(y, x, grad)
    step = lam[:, 0] if per_chain else lam
    got = log_ratio(e, e_y, grad, grad_y, noise, step, temp)
    assert expected.abs().max() > 0.1  # the proposal terms matter here
    assert torch.allclose(got, expected, rtol=0, atol=1e-10), (got - expected).abs().max()
