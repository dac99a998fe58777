"""Metrics: MMD (unbiasedness, SE calibration, permutation test), grid NLL, FD/KID, mode coverage, digits features."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.metrics import (
    assign_to_rings,
    frechet_distance,
    grid_nll,
    kernel_distance,
    mmd2_rbf,
    mmd_permutation_test,
    mode_coverage,
    mode_coverage_from_labels,
)


def _gauss_rbf_mean(h: float, var: float, shift2: float, d: int) -> float:
    """E exp(−‖z‖²/(2h²)) for z ~ N(m, var·I) in d dims with ‖m‖² = shift2."""
    return (h * h / (h * h + var)) ** (d / 2) * math.exp(-shift2 / (2 * (h * h + var)))


def test_mmd_unbiased_and_se_calibrated_against_closed_form() -> None:
    # x ~ N(0, I), y ~ N(δ, I) in 2-D with a fixed bandwidth: MMD² has a closed form.
    d, h, delta, n, reps = 2, 1.0, torch.tensor([0.6, 0.0]), 150, 120
    truth = 2 * _gauss_rbf_mean(h, 2.0, 0.0, d) - 2 * _gauss_rbf_mean(h, 2.0, float(delta.square().sum()), d)
    g = torch.Generator().manual_seed(0)
    vals, ses = [], []
    for _ in range(reps):
        r = mmd2_rbf(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + delta, bandwidths=h)
        vals.append(r.value)
        ses.append(r.se)
    v = torch.tensor(vals, dtype=torch.float64)
    assert abs(float(v.mean()) - truth) < 4 * float(v.std()) / math.sqrt(reps)
    # The first-order SE matches the replicate spread (the std of a std estimate from 120 draws is ~6.5 %).
    ratio = float(torch.tensor(ses).mean()) / float(v.std())
    assert 0.75 < ratio < 1.33


def test_mmd_permutation_test_level_and_power() -> None:
    g = torch.Generator().manual_seed(1)
    reps, alpha = 60, 0.05
    rejections = sum(
        mmd_permutation_test(
            torch.randn(60, 2, generator=g), torch.randn(60, 2, generator=g), n_permutations=100, generator=g
        ).reject
        for _ in range(reps)
    )
    # Rejections ~ Binomial(60, ≤ 0.05): mean 3, sd 1.7.
    assert rejections <= reps * alpha + 4 * math.sqrt(reps * alpha * (1 - alpha))
    power = mmd_permutation_test(
        torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g) + 0.5, n_permutations=200, generator=g
    )
    assert power.reject and power.statistic > power.threshold


def test_mmd_errors() -> None:
    x = torch.randn(10, 2)
    with pytest.raises(ShapeError, match="same event size"):
        mmd2_rbf(x, torch.randn(10, 3))
    with pytest.raises(ConfigError, match="bandwidths"):
        mmd2_rbf(x, x, bandwidths=-1.0)
    with pytest.raises(ShapeError, match="at least 2"):
        mmd2_rbf(x[:1], x)
    with pytest.raises(ShapeError, match="NaN"):
        mmd2_rbf(x, torch.full((10, 2), float("nan")))


def test_grid_nll_recovers_exact_normalisation() -> None:
    from ebmlab.targets import get_target

    target = get_target("eight-gaussians")
    x = target.sample(2000, torch.Generator().manual_seed(2))
    shifted = lambda z: target.energy(z) + 3.0  # noqa: E731  (unnormalised: log Z = −3)
    r = grid_nll(shifted, x, target.bounds, n_points=401, reference_log_prob=target.log_prob)
    assert abs(r.log_z - (target.log_z() - 3.0)) <= r.quadrature_error + 1e-6  # + float32 rounding
    assert abs(r.gap) <= r.quadrature_error + 1e-6  # same density: NLL equals the exact NLL
    assert abs(r.nll - r.reference_nll) <= r.quadrature_error + 1e-6
    assert r.edge_mass < 1e-6 and r.outside_fraction == 0.0


def test_grid_nll_flags_a_box_that_cuts_off_mass() -> None:
    energy = lambda z: 0.5 * z.square().sum(-1)  # noqa: E731
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(3))
    r = grid_nll(energy, x, [(-1.0, 1.0), (-1.0, 1.0)], n_points=101)
    assert r.edge_mass > 0.01 and r.outside_fraction > 0.3
    with pytest.raises(ShapeError):
        grid_nll(energy, x[:, :1], [(-1.0, 1.0), (-1.0, 1.0)])


def test_frechet_distance_exact_identities() -> None:
    g = torch.Generator().manual_seed(4)
    f = torch.randn(500, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    assert abs(frechet_distance(f, f, n_bootstrap=0).value) < 1e-8
    shift = torch.linspace(-1, 1, 6, dtype=torch.float64)
    # Equal covariances: the trace term vanishes and FD = ‖Δμ‖² exactly.
    fd = frechet_distance(f, f + shift, n_bootstrap=10, generator=g)
    assert abs(fd.value - float(shift.square().sum())) < 1e-6 and fd.se > 0
    # Scaling one set by c (same mean): FD = (1 − c)² tr Σ + ‖(1 − c) μ‖².
    c = 2.0
    expected = (1 - c) ** 2 * float(torch.cov(f.T).trace() + f.mean(0).square().sum())
    assert abs(frechet_distance(f, c * f, n_bootstrap=0).value - expected) < 1e-6 * expected


def test_kernel_distance_unbiased_at_null_and_positive_otherwise() -> None:
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(3000, 8, generator=g), torch.randn(3000, 8, generator=g)
    null = kernel_distance(a, b, subset_size=100, n_subsets=30, generator=g)
    assert abs(null.value) < 4 * null.se
    alt = kernel_distance(a, b + 0.5, subset_size=100, n_subsets=30, generator=g)
    assert alt.value > 4 * alt.se


def test_mode_coverage_counts_and_divergences() -> None:
    centers = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    pts = torch.cat([centers[0].expand(30, 2), centers[1].expand(10, 2), torch.tensor([[2.5, 2.5]])])
    cov = mode_coverage(pts, centers, radius=1.0, min_count=5)
    assert cov.counts == (30, 10, 0, 0) and cov.n_covered == 2 and cov.covered == 0.5
    assert abs(cov.outside - 1 / 41) < 1e-12
    assert abs(cov.tv - 0.5 * (abs(0.75 - 0.25) + abs(0.25 - 0.25) + 0.25 + 0.25)) < 1e-12
    one = mode_coverage_from_labels(torch.zeros(100, dtype=torch.long), 4)
    assert one.tv == pytest.approx(0.75) and one.kl == pytest.approx(math.log(4))


def test_mode_coverage_of_exact_samples_is_at_the_sampling_floor() -> None:
    from ebmlab.targets import get_target

    target = get_target("eight-gaussians")
    x = target.sample(4000, torch.Generator().manual_seed(6))
    cov = mode_coverage(x, target.means, radius=0.6, min_count=100)  # 3σ: 98.9 % of each mode's mass
    assert cov.covered == 1.0
    assert abs(cov.outside - (1 - (1 - math.exp(-0.5 * 9)))) < 4 * math.sqrt(0.011 / 4000)
    assert abs(cov.tv - cov.tv_floor) < 4 * cov.tv_se


def test_assign_to_rings() -> None:
    angle = torch.linspace(0, 6.0, 9)
    pts = torch.cat([r * torch.stack([angle.cos(), angle.sin()], 1) for r in (1.0, 2.0, 3.0)])
    labels = assign_to_rings(torch.cat([pts, torch.tensor([[1.5, 0.0]])]), [1.0, 2.0, 3.0], width=0.3)
    assert labels.tolist() == [0] * 9 + [1] * 9 + [2] * 9 + [-1]


def test_digits_features_fd_floor_beats_noise_and_training_is_deterministic() -> None:
    from ebmlab.metrics.digits import digits_classifier, digits_fd_kid, train_classifier

    clf = digits_classifier()
    assert clf.accuracy > 0.9
    assert digits_classifier() is clf  # trained once per process
    a, b = train_classifier("symmetric", seed=3, epochs=1), train_classifier("symmetric", seed=3, epochs=1)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True))
    g = torch.Generator().manual_seed(7)
    noise = torch.rand(450, 64, generator=g) * 2 - 1
    out = digits_fd_kid(noise, generator=g, n_subsets=20, n_bootstrap=10)
    fd_model, fd_floor = out["model_fd"], out["floor_fd"]
    assert fd_model["value"] - fd_floor["value"] > 4 * math.hypot(fd_model["se"], fd_floor["se"])
    assert out["model_kid"]["value"] > 4 * out["model_kid"]["se"]
    assert abs(out["floor_kid"]["value"]) < 4 * out["floor_kid"]["se"] + 0.1 * out["model_kid"]["value"]


def test_grid_nll_edge_mass_does_not_depend_on_an_energy_offset() -> None:
    """A constant offset leaves the density unchanged: the edge mass too, even when log Z exceeds float range
    (an EBM early in training; exp(log Z) overflowed before it was computed in log space)."""
    energy = lambda z: 0.5 * z.square().sum(-1)  # noqa: E731
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(3))
    box = [(-1.0, 1.0), (-1.0, 1.0)]
    ref = grid_nll(energy, x, box, n_points=101)
    for offset in (-800.0, 800.0):
        r = grid_nll(lambda z, c=offset: energy(z).double() + c, x, box, n_points=101)
        assert math.isclose(r.edge_mass, ref.edge_mass, rel_tol=1e-9)
        assert math.isclose(r.nll, ref.nll, rel_tol=1e-9)
