"""The tail check of importance weights: a heavier-tailed target than the proposal is flagged, a lighter one not."""

from __future__ import annotations

import math

import torch

from ebmlab.estimators.laplace import MixtureProposal
from ebmlab.estimators.tails import tail_growth
from ebmlab.estimators.verdict import judge

D = 3


def student3(x: torch.Tensor) -> torch.Tensor:  # a product of ν = 3 Student-t factors: p ∝ r⁻⁴ along an axis
    return 2.0 * torch.log1p(x.square() / 3.0).sum(1)


def gauss(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x.square().sum(1)


def _t5(scale: float = 1.5) -> MixtureProposal:  # one multivariate t (ν = 5) at 0: q ∝ r^−(ν+d) = r⁻⁸ in 3-D
    return MixtureProposal(torch.zeros(1, D), scale * torch.eye(D).unsqueeze(0), torch.zeros(1), 5, (D,))


def test_heavier_target_tails_are_flagged_and_lighter_ones_are_not() -> None:
    """Along a coordinate axis w ∝ r⁻⁴/r⁻⁸ = r⁴ for the Student product (g = 4 exactly in the limit); a Gaussian
    target under the same proposal has ℓ ≈ −r²/2, g hugely negative. Negative control: the same Student target
    under a Cauchy-tailed proposal (ν = 1: q ∝ r⁻⁴ along every ray) is bounded, g ≈ 0."""
    q = _t5()
    cov = 1.5**2 * torch.eye(D, dtype=torch.float64)
    g, ray = tail_growth(student3, q, torch.zeros(D), cov)
    assert abs(g - 4.0) < 0.01 and "coordinate axis" in ray, (g, ray)
    assert not judge({"tail_growth": (g, ray)}).trustworthy
    g_gauss, _ = tail_growth(gauss, q, torch.zeros(D), cov)
    assert g_gauss < -1e5
    assert judge({"tail_growth": (g_gauss, ray)}).trustworthy
    cauchy = MixtureProposal(torch.zeros(1, D), 1.5 * torch.eye(D).unsqueeze(0), torch.zeros(1), 1, (D,))
    g_cauchy, _ = tail_growth(student3, cauchy, torch.zeros(D), cov)
    assert g_cauchy < 0.5, g_cauchy
    assert math.isfinite(g_cauchy)


def test_zero_density_far_out_counts_as_bounded() -> None:
    def box(x: torch.Tensor) -> torch.Tensor:  # E = +inf outside |x| < 5
        return torch.where(
            x.abs().amax(1) < 5, torch.zeros(x.shape[0], dtype=x.dtype), torch.full((x.shape[0],), math.inf)
        )

    g, _ = tail_growth(box, _t5(), torch.zeros(D), torch.eye(D, dtype=torch.float64))
    assert g == -math.inf


def _rotation() -> torch.Tensor:  # a fixed generic rotation: no column lies near a coordinate axis or plane
    q, _ = torch.linalg.qr(torch.tensor([[1.0, 0.3, -0.7], [0.4, -1.1, 0.2], [-0.6, 0.5, 0.9]], dtype=torch.float64))
    return q


def test_heavy_tails_along_rotated_axes_are_found_by_the_search() -> None:
    """x = Rz, z a ν = 3 Student product: heavy only along R's columns. Every fixed ray (coordinate axes; the
    isotropic proposal's principal axes are the same) crosses all three factors: target r⁻¹², g = 8 − 12 = −4,
    blind. The searched rays reach a column: target r⁻⁴, g = 4. Control: under a Cauchy-tailed proposal
    (q ∝ r⁻⁴ along every ray) the weights stay bounded even along the column the search finds, g ≈ 0."""
    rot = _rotation()

    def rotated(x: torch.Tensor) -> torch.Tensor:
        return student3(x @ rot.to(x))

    cov = 1.5**2 * torch.eye(D, dtype=torch.float64)
    g_fixed, _ = tail_growth(rotated, _t5(), torch.zeros(D), cov, n_best=0)  # the rays of the first version
    assert g_fixed < -3.0, g_fixed
    g, ray = tail_growth(rotated, _t5(), torch.zeros(D), cov)
    assert abs(g - 4.0) < 0.05 and "searched" in ray, (g, ray)
    assert not judge({"tail_growth": (g, ray)}).trustworthy
    cauchy = MixtureProposal(torch.zeros(1, D), 1.5 * torch.eye(D).unsqueeze(0), torch.zeros(1), 1, (D,))
    g_cauchy, _ = tail_growth(rotated, cauchy, torch.zeros(D), cov)
    assert abs(g_cauchy) < 0.05, g_cauchy


def test_a_curved_light_ridge_is_not_a_heavy_tail() -> None:
    """A banana, E = x₀²/2 + (x₁ − (x₀² − 1)/2)²/2 + x₂²/2 (a Gaussian under a unit-Jacobian map): its ridge
    x₁ = (x₀² − 1)/2 curves, so the direction of largest ℓ at r = 10⁴ lies far off it at r = 10³ and ℓ rises
    along that straight ray, though the largest ℓ over each sphere falls (≈ −r). The search compares those
    maxima (bounded, g ≪ 0), not one straight ray's two ends (a false alarm, g ≈ 10⁵)."""

    def banana(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x[:, 0] ** 2 + (x[:, 1] - 0.5 * (x[:, 0] ** 2 - 1)) ** 2 + x[:, 2] ** 2)

    x0 = torch.tensor([[3.0, 4.0, 0.1], [-3.0, 4.0, 0.0], [0.0, 2.0, 1.0]])  # draws up the two arms
    g, ray = tail_growth(banana, _t5(), torch.zeros(D), 1.5**2 * torch.eye(D, dtype=torch.float64), starts=x0)
    assert g < -100.0, (g, ray)
