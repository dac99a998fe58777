"""Exact thermodynamics of discrete and integrable Boltzmann systems, and temperature from a mean energy."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators import (
    BinarySpace,
    BoltzmannDistribution,
    Grid,
    beta_for_mean_energy_from_samples,
    energy_spectrum,
    log_z_enumerate,
    log_z_quadrature,
)
from ebmlab.targets import IsingChain


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("beta", [0.3, 1.0, 2.5])
def test_ising_enumeration_matches_transfer_matrix(periodic: bool, beta: float) -> None:
    chain = IsingChain(12, coupling=1.0, field=0.3, periodic=periodic)
    est = log_z_enumerate(chain, chain.space(), beta=beta)
    assert est.exact and est.n == 2**12
    assert abs(est.value - chain.log_z(beta)) < 1e-10 + est.stderr


def test_entropy_identity_and_heat_capacity() -> None:
    chain = IsingChain(10, coupling=0.8, field=-0.2)
    p = BoltzmannDistribution(chain, beta=0.7, space=chain.space())
    th = p.thermodynamics()
    # H = β (U − F), and F = −log Z / β
    assert abs(th.entropy.value - 0.7 * (th.internal_energy.value - th.free_energy.value)) < 1e-10
    assert abs(th.free_energy.value + chain.log_z(0.7) / 0.7) < 1e-10
    # H from its definition −Σ p log p
    probs = p.spectrum.probabilities(0.7)
    assert abs(th.entropy.value + float((probs * probs.log()).sum())) < 1e-10
    # U = −d log Z / dβ and C = β² Var(E) = β² d² log Z / dβ², by central differences of the exact log Z
    h = 1e-4
    du = -(chain.log_z(0.7 + h) - chain.log_z(0.7 - h)) / (2 * h)
    d2 = (chain.log_z(0.7 + h) - 2 * chain.log_z(0.7) + chain.log_z(0.7 - h)) / h**2
    assert abs(th.internal_energy.value - du) < 1e-6
    assert abs(th.heat_capacity.value - 0.49 * d2) < 1e-4


def test_binary_space_chunks_match_tensor_of_states() -> None:
    space = BinarySpace(9, values=(-1.0, 1.0), dtype=torch.float64)
    states = space.states()
    assert states.shape == (512, 9) and len(torch.unique(states, dim=0)) == 512
    energy = lambda s: (s * torch.arange(9.0, dtype=s.dtype)).sum(1) ** 2 / 10  # noqa: E731
    a = energy_spectrum(energy, space, chunk_size=37)
    b = energy_spectrum(energy, states)
    assert torch.equal(a.energies, b.energies)


def test_beta_solved_from_mean_energy_reproduces_it() -> None:
    chain = IsingChain(12, coupling=1.0, field=0.1)
    p = BoltzmannDistribution(chain, space=chain.space())
    for beta_true in (0.05, 0.4, 1.3, 4.0):
        mu = p.with_beta(beta_true).internal_energy().value
        beta = p.beta_for_mean_energy(mu)
        assert abs(beta - beta_true) < 1e-8 * beta_true
        assert abs(p.with_beta(beta).internal_energy().value - mu) < 1e-9


def test_mean_energy_out_of_range_errors() -> None:
    chain = IsingChain(10)
    p = BoltzmannDistribution(chain, space=chain.space())
    e_min = float(p.spectrum.energies.min())
    uniform = float(p.spectrum.energies.mean())
    for mu in (e_min - 1.0, e_min, uniform, uniform + 1.0):
        with pytest.raises(ConfigError, match=r"achievable|ranges over"):
            p.beta_for_mean_energy(mu)


def test_beta_from_samples_by_reweighting() -> None:
    """Exact samples at β₀ = 0.5, target μ = U at β = 0.6: the reweighted β̂ is within 4 SE of 0.6."""
    chain = IsingChain(12, coupling=1.0, field=0.2)
    p = BoltzmannDistribution(chain, beta=0.5, space=chain.space())
    gen = torch.Generator().manual_seed(3)
    idx = torch.multinomial(p.spectrum.probabilities(0.5), 20000, replacement=True, generator=gen)
    energies = p.spectrum.energies[idx]
    mu = p.with_beta(0.6).internal_energy().value
    est = beta_for_mean_energy_from_samples(mu, energies, beta_ref=0.5)
    assert 0 < est.stderr < 0.05
    assert abs(est.value - 0.6) < 4 * est.stderr
    with pytest.raises(ConfigError, match="outside the range"):
        beta_for_mean_energy_from_samples(float(energies.min()) - 1.0, energies, beta_ref=0.5)
    far = p.with_beta(2.0).internal_energy().value  # reachable, but far from β₀: few effective samples
    assert beta_for_mean_energy_from_samples(far, energies, beta_ref=0.5, min_ess=1).ess < 2000
    with pytest.raises(ConfigError, match="effective sample size"):
        beta_for_mean_energy_from_samples(far, energies, beta_ref=0.5, min_ess=2000)


def test_quadrature_gaussian_thermodynamics() -> None:
    """N(0, σ²) as E = x²/(2σ²): log Z = ½ log 2πσ², U = ½ at β = 1, H = ½ log(2πeσ²)."""
    s = 0.7
    p = BoltzmannDistribution(
        lambda x: x[:, 0] ** 2 / (2 * s * s), space=Grid([(-8.0, 8.0)], 2001, dtype=torch.float64)
    )
    th = p.thermodynamics()
    assert abs(th.log_z.value - 0.5 * math.log(2 * math.pi * s * s)) < max(th.log_z.stderr, 1e-12) + 1e-12
    assert abs(th.internal_energy.value - 0.5) < 1e-9
    assert abs(th.entropy.value - 0.5 * math.log(2 * math.pi * math.e * s * s)) < 1e-9
    # 2-D: two independent coordinates add up
    est = log_z_quadrature(lambda x: (x**2).sum(1) / (2 * s * s), [(-6.0, 6.0), (-6.0, 6.0)], 201, dtype=torch.float64)
    assert abs(est.value - math.log(2 * math.pi * s * s)) < est.stderr + 1e-10


def test_quadrature_error_estimate_flags_a_coarse_grid_and_a_small_box() -> None:
    energy = lambda x: x[:, 0] ** 4 - 4 * x[:, 0] ** 2 + x[:, 0]  # noqa: E731
    exact = 5.032284
    coarse = log_z_quadrature(energy, [(-3.0, 3.0)], 11, dtype=torch.float64)
    assert coarse.stderr > abs(coarse.value - exact) > 1e-3
    small_box = log_z_quadrature(energy, [(-2.0, 2.0)], 401, dtype=torch.float64)
    assert small_box.details["edge_mass"] > 1e-3
    assert small_box.stderr > 1e-3


def test_estimates_from_samples() -> None:
    """Without a space: U from exact samples of N(0, 1) (E = x²/2, U = ½), and H from U and a log Z estimate."""
    p = BoltzmannDistribution(lambda x: 0.5 * (x**2).sum(1))
    x = torch.randn(40000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u = p.internal_energy(x)
    assert abs(u.value - 0.5) < 4 * u.stderr
    log_z = log_z_quadrature(p.energy, [(-10.0, 10.0)], dtype=torch.float64)
    h = p.entropy(samples=x, log_z=log_z)
    assert abs(h.value - 0.5 * math.log(2 * math.pi * math.e)) < 4 * h.stderr
    with pytest.raises(ConfigError, match="no enumerable"):
        p.thermodynamics()


def test_bad_input() -> None:
    with pytest.raises(ConfigError):
        BoltzmannDistribution(lambda x: x.sum(1), beta=0.0)
    with pytest.raises(ConfigError, match="enumeration limit"):
        BinarySpace(30)
    with pytest.raises(ConfigError, match="1-D and 2-D"):
        Grid([(0.0, 1.0)] * 3)
    with pytest.raises(ConfigError, match="odd"):
        Grid([(0.0, 1.0)], 100)
    with pytest.raises(ShapeError):
        log_z_enumerate(lambda s: s, BinarySpace(3))  # returns (n, 3), not (n,)
