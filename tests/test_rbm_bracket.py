"""Bidirectional AIS brackets on an RBM's log Z against enumeration (forward = lower, reverse = upper)."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.energies.binary import RBM, bernoulli_draw
from ebmlab.errors import ConfigError, ShapeError
from ebmlab.estimators.ais import ais
from ebmlab.estimators.bracket import ReversedPath, mcmc_target_samples, reverse_ais
from ebmlab.estimators.rbm_ais import rbm_bracket, rbm_path
from ebmlab.samplers import BlockGibbs, make_betas


def _random_rbm() -> RBM:
    return RBM(10, 8, weight_init=1.0, generator=torch.Generator().manual_seed(0)).double()


def _bimodal_rbm(a: float = 5.0, n_v: int = 12) -> RBM:
    """One hidden unit: h = 0 → v ≈ all off, h = 1 → v ≈ all on (mass 0.9); block Gibbs cannot cross between them."""
    rbm = RBM(n_v, 1).double()
    with torch.no_grad():
        rbm.v_bias.fill_(-a)
        rbm.weight.fill_(2 * a)
        rbm.h_bias.fill_(n_v * (math.log1p(math.exp(-a)) - math.log1p(math.exp(a))) + math.log(9))
    return rbm


def _hypot(br) -> float:
    return math.hypot(br.lower.stderr, br.upper.stderr)


@pytest.mark.parametrize("source", ["exact", "mcmc", "exact-marginal"])
def test_rbm_bracket_contains_exact_log_z_and_is_narrow(source: str) -> None:
    rbm, g = _random_rbm(), torch.Generator().manual_seed(1)
    exact = rbm.log_z()
    diag = None
    if source == "mcmc":  # long block-Gibbs chains from noise, diagnosed
        joint = rbm.joint()
        x0 = (torch.rand(150, joint.dim, generator=g) < 0.5).double()
        x, diag = mcmc_target_samples(joint, BlockGibbs(blocks=joint.blocks()), x0, 400, g, thin=5)
        samples, label = x[:, : rbm.n_visible], "mcmc: 150 Gibbs chains from noise, 400 sweeps"
        assert diag["energy_rhat"] < 1.01 and diag["energy_ess_bulk"] > 1000
    else:
        samples, label = rbm.sample_exact(150, g), "exact"
    br = rbm_bracket(rbm, samples, label, 150, g, marginal=source.endswith("marginal"), diagnostics=diag)
    assert br.reverse_samples == label and br.contains(exact, z=3.0)
    assert abs(br.width) < 4 * _hypot(br) and _hypot(br) < 0.1  # not vacuous: both ends agree, within small errors
    # negative control: the log Z of a slightly different machine (visible biases + 0.05) lies outside
    with torch.no_grad():
        rbm.v_bias += 0.05
    assert not br.contains(rbm.log_z(), z=3.0)


def test_rbm_bracket_flags_reverse_chains_trapped_in_one_mode() -> None:
    rbm, g = _bimodal_rbm(), torch.Generator().manual_seed(1)
    exact = rbm.log_z()
    good = rbm_bracket(rbm, rbm.sample_exact(200, g), "exact", 200, g, marginal=True)
    assert good.contains(exact, z=3.0)
    # negative control: 400 sweeps from all-off units never reach the all-on mode (90 % of the mass); the chains'
    # energy R̂ and ESS look healthy (all trapped alike), but the reverse start is not p: its "upper bound" falls
    # below log Z and below the lower end, so the bracket inverts
    joint = rbm.joint()
    x0 = torch.zeros(200, joint.dim, dtype=torch.float64)
    x, diag = mcmc_target_samples(joint, BlockGibbs(blocks=joint.blocks()), x0, 400, g, thin=5)
    trapped = x[:, : rbm.n_visible]
    assert float(trapped.mean()) < 0.2 and diag["energy_rhat"] < 1.01 and diag["energy_ess_bulk"] > 1000
    bad = rbm_bracket(rbm, trapped, "mcmc: one mode", 200, g, marginal=True, diagnostics=diag)
    assert bad.upper.value < exact - 10 * bad.upper.stderr and bad.width < -10 * _hypot(bad)


def test_rbm_bracket_errors() -> None:
    rbm, g = _random_rbm(), torch.Generator().manual_seed(0)
    with pytest.raises(ShapeError, match="visible"):
        rbm_bracket(rbm, torch.zeros(4, 3), "exact", 10, g)
    with pytest.raises(ConfigError, match="samples_source"):
        rbm_bracket(rbm, torch.zeros(4, 10), "from somewhere", 10, g)


def test_reversed_geometric_path_equals_the_generic_reversal() -> None:
    """The geometric fast path (samples → −log q, reusing evaluations) and ReversedPath give the same weights."""
    rbm, g = _random_rbm(), torch.Generator().manual_seed(0)
    path, kernel = rbm_path(rbm)
    v = rbm.sample_exact(50, g)
    x = torch.cat((v, bernoulli_draw(rbm.p_h(v), g)), 1)
    betas = make_betas("sigmoid", 50)
    fast = reverse_ais(path, kernel, x, betas, torch.Generator().manual_seed(1))
    plain = ais(ReversedPath(path, x), kernel, 50, 1.0 - betas.flip(0), torch.Generator().manual_seed(1)).estimate()
    assert fast.value == pytest.approx(-plain.value, abs=1e-9)
