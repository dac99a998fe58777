"""Brackets whose reverse run starts from replica exchange: they contain log Z on a product of asymmetric double
wells (4 modes, ~9-nat barriers, exact log Z by quadrature), while reverse starts that miss a mode give an
"upper bound" below log Z — and the verdict says the first is validated and the second is not."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.estimators.bracket import bidirectional_ais, bidirectional_log_z
from ebmlab.estimators.laplace import MixtureProposal, laplace_proposal
from ebmlab.estimators.proposals import GaussianProposal
from ebmlab.estimators.tempered_start import tempered_target_samples
from ebmlab.estimators.user import ladder_base, log_z, wide_base
from ebmlab.estimators.verdict import judge
from ebmlab.samplers import GeometricPath, make_betas

_DIM = 2
_TEMPERING = {"n_chains": 64, "n_rounds": 400, "n_rungs": 8, "adapt_rounds": 30, "n_leapfrog": 3}


def wells(x: torch.Tensor) -> torch.Tensor:  # each coordinate: x⁴ − 6x² + 0.5x, barrier ≈ 9 nats, wells 85/15 %
    return (x**4 - 6 * x**2 + 0.5 * x).sum(1)


def _exact() -> tuple[float, float]:
    """(log Z, P(x < 0) per coordinate) by quadrature."""
    v = torch.linspace(-5, 5, 200_001, dtype=torch.float64)
    p = torch.exp(-wells(v[:, None]))
    z = float(torch.trapezoid(p, v))
    return _DIM * math.log(z), float(torch.trapezoid(p * (v < 0), v)) / z


def _base() -> GaussianProposal:
    return GaussianProposal(torch.zeros(_DIM, dtype=torch.float64), std=2.0)


def test_tempered_samples_find_both_wells_in_the_right_proportion() -> None:
    _, left = _exact()
    ts = tempered_target_samples(wells, _base(), 128, torch.Generator().manual_seed(0), **_TEMPERING)
    assert ts.validated, ts.reasons
    frac = float((ts.pooled < 0).double().mean())
    # 200 draws × 64 chains × 2 coordinates, correlated: ESS ≥ 128 per coordinate (validated) → SE ≤ 0.022
    assert abs(frac - left) < 0.06, (frac, left)
    d = ts.diagnostics
    assert d["min_swap_accept"] >= 0.05 and d["max_split_rhat"] <= 1.05 and d["min_ess_bulk"] >= 128
    assert ts.x.shape == (128, _DIM)


def test_tempered_bracket_contains_log_z_and_forward_starts_that_miss_a_mode_do_not() -> None:
    truth, _ = _exact()
    g = torch.Generator().manual_seed(1)
    br = bidirectional_log_z(wells, _base(), g, n_chains=128, n_temperatures=100, tempering=_TEMPERING)
    assert br.reverse_samples == "tempered MCMC" and br.validated
    assert br.contains(truth, z=3.0), (br.lower, br.upper, truth)
    # negative control: reverse starts that all sit in the minor (right) well of every coordinate (the Laplace
    # Gaussian there, what a local chain started there keeps): the "upper bound" lies below log Z by about
    # −log P(that mode) ≈ 3.7 nats
    m = 1.676  # the right minimum: 4m³ − 12m + 0.5 = 0
    stuck = m + torch.randn(128, _DIM, generator=g, dtype=torch.float64) / math.sqrt(12 * m * m - 12)
    path = GeometricPath(_base(), wells)
    bad = bidirectional_ais(path, "hmc", make_betas("sigmoid", 100), g, samples=stuck, samples_source="mcmc: one mode")
    assert not bad.validated
    assert bad.upper.value + 3 * bad.upper.stderr < truth, (bad.upper, truth)


def test_verdict_names_unvalidated_reverse_starts() -> None:
    assert (
        "not validated"
        in judge({"reverse_start": ("forward-run samples", False, "they miss what it missed")}).summary()
    )
    assert judge({"reverse_start": ("tempered MCMC", True, "")}).trustworthy
    assert "below the forward" in judge({"bracket": (2.0, 0.05, 1.0, 0.05)}).summary()  # upper below lower
    q = laplace_proposal(wells, (_DIM,), torch.Generator().manual_seed(0), n_starts=8)
    est = log_z(wells, (_DIM,), "bracket", n=64, n_temperatures=50, seed=0, proposal=q, reverse="forward")
    d = est.details
    assert d["reverse_samples"] == "forward-run samples" and d["reverse_validated"] is False
    assert d["verdict"].startswith("not trustworthy") and "not validated" in d["verdict"]


def test_ladder_base_floors_a_coordinate_where_the_modes_agree() -> None:
    """Two modes that differ only in x₀: the mixture's spread in x₁ is the modes' own width (0.1), far too narrow
    for the hot end of a ladder; ladder_base floors it at the RMS spread over coordinates."""
    locs = torch.tensor([[-2.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    scales = 0.1 * torch.eye(2, dtype=torch.float64).expand(2, 2, 2).clone()
    q = MixtureProposal(locs, scales, torch.log(torch.tensor([0.5, 0.5], dtype=torch.float64)), None, (2,))
    sd_wide = torch.diagonal(wide_base(q).chol @ wide_base(q).chol.T).sqrt()
    assert sd_wide[1] == pytest.approx(0.1) and sd_wide[0] == pytest.approx(math.sqrt(4.01))
    base = ladder_base(q)
    sd = base.sample(20_000, torch.Generator().manual_seed(0)).std(0)
    rms = math.sqrt((4.01 + 0.01) / 2)
    assert sd[0] == pytest.approx(math.sqrt(4.01), rel=0.03) and sd[1] == pytest.approx(rms, rel=0.03)


def test_a_ladder_too_short_for_its_barrier_doubles_until_the_chains_agree() -> None:
    """64 rounds of 32 chains: split-R̂ 1.18 (the chains disagree on the wells' occupancy); doubled twice, to 256
    rounds, it is 1.04 and the samples are validated — with the right left-well fraction. Without room to extend
    (``max_rounds=n_rounds``) the same run is refused."""
    _, left = _exact()
    opts = {"n_chains": 32, "n_rounds": 64, "n_rungs": 8, "adapt_rounds": 30, "n_leapfrog": 3}
    short = tempered_target_samples(wells, _base(), 32, torch.Generator().manual_seed(0), max_rounds=64, **opts)
    assert not short.validated and "split-R̂" in short.reasons[0] and "after" not in short.reasons[0]
    ts = tempered_target_samples(wells, _base(), 32, torch.Generator().manual_seed(0), max_rounds=256, **opts)
    assert ts.validated, ts.reasons
    assert [e["rounds"] for e in ts.diagnostics["extensions"]] == [64, 128, 256] and ts.diagnostics["n_rounds"] == 256
    assert ts.diagnostics["extensions"][0]["max_split_rhat"] == short.diagnostics["max_split_rhat"] > 1.05
    # 128 draws × 32 chains × 2 coordinates with bulk ESS ≥ 500 per coordinate: SE of the fraction ≤ 0.02
    assert abs(float((ts.pooled < 0).double().mean()) - left) < 0.06
    # rounds are drawn in sequence and the checks see the second half: doubling 64 → 256 is the run asked for 256
    # rounds, which passes at once (its default room, 4 × 256, unused)
    direct = tempered_target_samples(wells, _base(), 32, torch.Generator().manual_seed(0), **(opts | {"n_rounds": 256}))
    assert len(direct.diagnostics["extensions"]) == 1 and torch.equal(direct.x, ts.x)
