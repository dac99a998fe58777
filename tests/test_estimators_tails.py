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
