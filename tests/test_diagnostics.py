"""Tests of ebmlab.diagnostics against processes with known autocorrelation and ESS."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from ebmlab.diagnostics import (
    autocorrelation,
    ess_basic,
    ess_bulk,
    mean_autocorrelation,
    split_rhat,
    summarize,
)
from ebmlab.errors import ConfigError, ShapeError


def ar1(phi: float, n_draws: int, n_chains: int, seed: int) -> np.ndarray:
    """Stationary AR(1) chains x_t = φ x_{t−1} + sqrt(1 − φ²) ε_t, x_0 ~ N(0, 1), shape (n_draws, n_chains)."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_draws, n_chains))
    zi = phi * rng.standard_normal((1, n_chains))  # y_0 = φ x_{−1} + sqrt(1 − φ²) ε_0 ~ N(0, 1)
    return lfilter([math.sqrt(1 - phi**2)], [1.0, -phi], eps, axis=0, zi=zi)[0]


def ar1_ess_per_draw(phi: float) -> float:
    """ESS/N = 1/τ with τ = Σ_t φ^|t| = (1 + φ)/(1 − φ)."""
    return (1 - phi) / (1 + phi)


# ----------------------------------------------------------------------------- ESS


@pytest.mark.parametrize(
    ("phi", "n_draws", "n_chains"),
    # φ = 0.9 needs more draws: the estimator's relative sd is ~5 % at 4 × 20000, ~2.4 % at 8 × 50000.
    [(0.5, 20000, 4), (0.9, 50000, 8)],
)
@pytest.mark.parametrize("estimator", [ess_bulk, ess_basic])
def test_ess_of_ar1_matches_theory(phi: float, n_draws: int, n_chains: int, estimator) -> None:
    x = ar1(phi, n_draws, n_chains, seed=1)
    truth = ar1_ess_per_draw(phi) * n_draws * n_chains
    ess = float(estimator(x))
    assert ess == pytest.approx(truth, rel=0.10), f"{estimator.__name__} φ={phi}: {ess:.0f} vs {truth:.0f}"


def test_ess_of_iid_chains_is_total_draws() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20000, 4, generator=g)
    assert float(ess_bulk(x)) == pytest.approx(80000, rel=0.05)
    assert float(ess_basic(x)) == pytest.approx(80000, rel=0.05)


def test_ess_and_rhat_of_iid_discrete_chains() -> None:
    # Many ties: tied draws must share their average rank, else the rank normalisation is noise.
    g = torch.Generator().manual_seed(16)
    x = torch.poisson(torch.full((5000, 4), 1.5), generator=g)
    assert float(ess_bulk(x)) == pytest.approx(20000, rel=0.1)
    assert float(split_rhat(x)) < 1.01


def test_ess_bulk_is_invariant_to_monotone_maps_but_basic_is_not() -> None:
    x = torch.as_tensor(ar1(0.5, 4000, 4, seed=3))
    assert torch.equal(ess_bulk(x), ess_bulk(torch.exp(3 * x)))  # same ranks -> identical
    # Heavy tails make the raw-draw ESS noisy and different.
    assert not torch.allclose(ess_basic(x), ess_basic(torch.exp(3 * x)), rtol=0.01)


def test_ess_is_per_event_dimension() -> None:
    x = np.stack([ar1(0.0, 4000, 4, seed=4), ar1(0.8, 4000, 4, seed=5)], axis=-1)  # (N, M, 2)
    x = np.stack([x, x], axis=-2)  # (N, M, 2, 2): rows repeat
    ess = ess_bulk(x)
    assert ess.shape == (2, 2)
    assert ess.dtype == torch.float64
    assert torch.equal(ess[0], ess[1])
    per_draw = ess[0] / 16000
    assert float(per_draw[0]) == pytest.approx(1.0, rel=0.1)
    assert float(per_draw[1]) == pytest.approx(ar1_ess_per_draw(0.8), rel=0.2)


# ----------------------------------------------------------------------------- R̂


def test_rhat_near_one_for_well_mixed_chains() -> None:
    x = torch.as_tensor(ar1(0.5, 4000, 4, seed=6))
    assert float(split_rhat(x)) < 1.01
    assert float(split_rhat(x, rank_normalize=False)) < 1.01


def test_rhat_detects_shifted_chain_means() -> None:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1000, 4, generator=g) + torch.tensor([0.0, 0.0, 0.0, 2.0])
    assert float(split_rhat(x)) > 1.1
    assert float(split_rhat(x, rank_normalize=False)) > 1.1


def test_rhat_split_detects_a_trend_within_chains() -> None:
    g = torch.Generator().manual_seed(8)
    drift = torch.linspace(0.0, 3.0, 1000)[:, None]  # all chains drift alike: only splitting sees it
    x = drift + torch.randn(1000, 4, generator=g)
    assert float(split_rhat(x)) > 1.1


def test_rank_normalised_rhat_detects_different_scales() -> None:
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2000, 4, generator=g) * torch.tensor([1.0, 1.0, 1.0, 3.0])
    assert float(split_rhat(x, rank_normalize=False)) < 1.01  # same means: classic R̂ is blind
    assert float(split_rhat(x)) > 1.05  # the folded (tail) R̂ is not


# ----------------------------------------------------------------------------- autocorrelation


def test_autocorrelation_of_ar1_is_phi_to_the_k() -> None:
    phi = 0.7
    x = ar1(phi, 20000, 4, seed=10)
    rho = mean_autocorrelation(x, max_lag=6)
    assert rho.shape == (7,)
    np.testing.assert_allclose(rho.numpy(), phi ** np.arange(7), atol=0.02)
    assert autocorrelation(x, max_lag=6).shape == (7, 4)


def test_autocorrelation_fft_matches_direct_sum() -> None:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(37, 3, 2, generator=g, dtype=torch.float64).cumsum(0)
    rho = autocorrelation(x)
    assert rho.shape == (37, 3, 2)
    xc = (x - x.mean(0)).numpy()
    n = x.shape[0]
    direct = np.stack([(xc[: n - t] * xc[t:]).sum(0) / n for t in range(n)])
    np.testing.assert_allclose(rho.numpy(), direct / direct[:1], atol=1e-12)


# ----------------------------------------------------------------------------- edge cases


def test_constant_chains_give_nan_without_crashing() -> None:
    g = torch.Generator().manual_seed(12)
    x = torch.randn(200, 4, 3, generator=g)
    x[:, :, 0] = 1.5  # all draws identical
    x[:, :, 1] = torch.arange(4.0)  # each chain stuck at its own value
    ess, rhat = ess_bulk(x), split_rhat(x)
    assert math.isnan(ess[0]) and math.isnan(rhat[0])
    assert math.isnan(ess[1]) and rhat[1] == math.inf
    assert math.isfinite(ess[2]) and math.isfinite(rhat[2])
    assert math.isnan(ess_basic(x)[0]) and math.isnan(split_rhat(x, rank_normalize=False)[0])
    assert torch.isnan(autocorrelation(x)[:, :, 0]).all()
    assert torch.isfinite(autocorrelation(x)[:, :, 2]).all()


def test_nonfinite_draws_give_nan_for_that_dimension_only() -> None:
    x = torch.randn(100, 2, 2, generator=torch.Generator().manual_seed(13))
    x[50, 1, 0] = float("nan")
    assert math.isnan(ess_bulk(x)[0]) and math.isnan(split_rhat(x)[0])
    assert math.isfinite(ess_bulk(x)[1]) and math.isfinite(split_rhat(x)[1])


def test_too_few_draws_and_bad_shapes_raise() -> None:
    with pytest.raises(ConfigError, match="at least 4"):
        ess_bulk(torch.zeros(3, 2))
    with pytest.raises(ConfigError, match="at least 4"):
        split_rhat(torch.zeros(3, 2))
    with pytest.raises(ShapeError, match=r"\[:, None\]"):
        ess_bulk(torch.zeros(100))
    with pytest.raises(ConfigError, match="max_lag"):
        autocorrelation(torch.zeros(10, 2), max_lag=10)


def test_odd_length_and_single_chain() -> None:
    x = ar1(0.0, 20001, 1, seed=14)  # relative sd of the ESS estimate here: ~2 %
    assert float(ess_bulk(x)) == pytest.approx(20000, rel=0.1)  # middle draw dropped by the split
    assert float(split_rhat(x)) < 1.05


# ----------------------------------------------------------------------------- summary


def test_summarize_is_json_ready() -> None:
    g = torch.Generator().manual_seed(15)
    x = torch.randn(500, 4, 3, generator=g)
    x[:, :, 2] = 0.0
    energy = (x**2).sum(-1)
    accept = torch.rand(500, 4, generator=g) < 0.25
    s = summarize(x, energy_trace=energy, accept=accept)
    json.dumps(s, allow_nan=False)
    assert all(type(v) in (int, float) for v in s.values())
    assert (s["n_draws"], s["n_chains"], s["n_dims"], s["n_degenerate_dims"]) == (500, 4, 3, 1)
    assert s["ess_bulk_min"] <= s["ess_bulk_median"] and s["ess_bulk_min"] > 1000
    assert s["ess_bulk_min_per_draw"] == pytest.approx(s["ess_bulk_min"] / 2000)
    assert 1.0 - 0.01 < s["rhat_max"] < 1.01
    assert s["accept_mean"] == pytest.approx(float(accept.double().mean()))
    assert s["energy_ess_bulk"] > 1000 and s["energy_rhat"] < 1.01
    with pytest.raises(ShapeError, match="energy_trace"):
        summarize(x, energy_trace=energy[:, :2])


def test_summarize_all_constant_gives_none() -> None:
    s = summarize(np.ones((10, 2)))
    json.dumps(s, allow_nan=False)
    assert s["ess_bulk_min"] is None and s["rhat_max"] is None and s["n_degenerate_dims"] == 1
