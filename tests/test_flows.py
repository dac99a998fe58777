"""Flows: invertibility, exact log-determinants (vs autograd Jacobians), volume preservation, densities."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from ebmlab.errors import ConfigError, ShapeError
from ebmlab.flows import (
    AdditiveCoupling,
    AffineCoupling,
    Compose,
    FlowDistribution,
    LULinear,
    Shift,
    StandardNormal,
    alternating_partitions,
    make_flow,
    nice,
    realnvp,
)

F64 = torch.float64


def _randomize(module: torch.nn.Module, seed: int, scale: float = 0.4) -> torch.nn.Module:
    """Non-trivial parameters (couplings start as the identity), float64."""
    module = module.to(F64)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=F64))
    return module


def _layers(dim: int) -> list[torch.nn.Module]:
    out: list[torch.nn.Module] = [LULinear(dim), LULinear(dim, init="random"), Shift(dim)]
    if dim >= 2:
        cond, trans = alternating_partitions(dim, 1)[0]
        out += [AdditiveCoupling(dim, cond, trans, hidden=8), AffineCoupling(dim, cond, trans, hidden=8)]
        out += [nice(dim, n_couplings=3, hidden=8), realnvp(dim, n_couplings=3, hidden=8)]
    else:
        out += [nice(1), realnvp(1)]
    return out


def _jacobian_logdet(f, z: torch.Tensor) -> torch.Tensor:
    """log|det ∂f/∂z| per sample, from the autograd Jacobian."""
    rows = []
    for zi in z:
        jac = jacobian(lambda v: f(v[None])[0][0], zi)
        rows.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(rows)


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_inverse_of_forward_is_identity(dim: int) -> None:
    z = torch.randn(64, dim, generator=torch.Generator().manual_seed(1), dtype=F64) * 2
    for i, layer in enumerate(_layers(dim)):
        layer = _randomize(layer, seed=10 + i)
        x, ld_fwd = layer(z)
        z_back, ld_inv = layer.inverse(x)
        assert torch.allclose(z_back, z, atol=1e-10), type(layer).__name__
        assert torch.allclose(ld_fwd, -ld_inv, atol=1e-10), type(layer).__name__
        assert not torch.allclose(x, z, atol=1e-3) or isinstance(layer, Shift), "layer is trivially the identity"


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_log_det_matches_autograd_jacobian(dim: int) -> None:
    z = torch.randn(6, dim, generator=torch.Generator().manual_seed(2), dtype=F64)
    for i, layer in enumerate(_layers(dim)):
        layer = _randomize(layer, seed=20 + i)
        _, ld = layer(z)
        assert torch.allclose(ld, _jacobian_logdet(layer, z), atol=1e-9), type(layer).__name__
        _, ld_inv = layer.inverse(z)
        assert torch.allclose(ld_inv, _jacobian_logdet(layer.inverse, z), atol=1e-9), type(layer).__name__


@pytest.mark.parametrize("dim", [2, 3, 6])
def test_nice_couplings_preserve_volume(dim: int) -> None:
    """F (the NICE part) has log|det ∂F/∂z| ≡ 0; the whole flow's log-det is log|det S| for every z."""
    flow = _randomize(nice(dim, n_couplings=4, hidden=8), seed=3)
    couplings = Compose(list(flow.layers[:-1]))
    z = torch.randn(5, dim, generator=torch.Generator().manual_seed(3), dtype=F64) * 3
    _, ld = couplings(z)
    assert torch.equal(ld, torch.zeros(5, dtype=F64))
    assert _jacobian_logdet(couplings, z).abs().max() < 1e-10
    _, ld_all = flow(z)
    s = flow.layers[-1]
    assert torch.allclose(ld_all, torch.linalg.slogdet(s.weight())[1].expand(5), atol=1e-12)


@pytest.mark.parametrize("dim", [1, 3, 7])
def test_lu_linear_log_det_and_inverse(dim: int) -> None:
    lu = _randomize(LULinear(dim, init="random", generator=torch.Generator().manual_seed(4)), seed=4, scale=0.8)
    w = lu.weight()
    sign, logabs = torch.linalg.slogdet(w)
    assert sign != 0
    assert torch.allclose(lu.log_abs_det(), logabs, atol=1e-10)
    x = torch.randn(9, dim, generator=torch.Generator().manual_seed(5), dtype=F64)
    assert torch.allclose(lu(x)[0], x @ w.T, atol=1e-12)
    assert torch.allclose(lu.inverse(x)[0], torch.linalg.solve(w, x.T).T, atol=1e-9)


def test_lu_linear_random_init_is_orthogonal_and_scaled() -> None:
    lu = LULinear(4, init="random", generator=torch.Generator().manual_seed(6), init_scale=2.0)
    w = lu.weight().detach()
    assert torch.allclose(w @ w.T, 4.0 * torch.eye(4), atol=1e-4)
    assert math.isclose(float(lu.log_abs_det().detach()), 4 * math.log(2.0), abs_tol=1e-4)


def test_lu_stays_invertible_for_extreme_parameters() -> None:
    """Large off-diagonals and tiny/huge diagonals: S stays invertible and log|det S| = Σ ℓ still holds."""
    lu = _randomize(LULinear(4), seed=9, scale=3.0)
    with torch.no_grad():
        lu.log_s.copy_(torch.tensor([-4.0, 4.0, -2.0, 0.5], dtype=F64))
    sign, logabs = torch.linalg.slogdet(lu.weight())
    assert sign != 0
    assert math.isclose(float(logabs.detach()), -1.5, abs_tol=1e-8)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(9), dtype=F64)
    assert torch.allclose(lu.inverse(lu(x)[0])[0], x, atol=1e-8)


@pytest.mark.parametrize("kind", ["nice", "realnvp"])
def test_flow_density_integrates_to_one(kind: str) -> None:
    """∫ P(x) dx = 1 on a grid (2-D, trapezoid; the error is far below the tolerance)."""
    flow = _randomize(make_flow(kind, 2, n_couplings=3, hidden=8), seed=7, scale=0.3)
    g = torch.linspace(-14, 14, 561, dtype=F64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    with torch.no_grad():
        dens = flow.log_prob(pts).exp().reshape(561, 561)
    h = float(g[1] - g[0])
    total = float(torch.trapezoid(torch.trapezoid(dens, dx=h), dx=h))
    assert abs(total - 1.0) < 1e-4


def test_sample_and_log_prob_agree_with_log_prob() -> None:
    flow = _randomize(make_flow("realnvp", 3, hidden=8), seed=8)
    x, lp = flow.sample_and_log_prob(50, torch.Generator().manual_seed(8))
    assert torch.allclose(lp, flow.log_prob(x), atol=1e-9)


def test_one_dimensional_nice_is_gaussian() -> None:
    """D = 1: x = s z + b with |det| = |s|, so P = N(b, s²)."""
    flow = make_flow("nice", 1).to(F64)
    with torch.no_grad():
        flow.transform.layers[0].log_s.fill_(math.log(1.5))
        flow.transform.layers[1].bias.fill_(0.7)
    x = torch.linspace(-4, 4, 17, dtype=F64)[:, None]
    ref = torch.distributions.Normal(0.7, 1.5).log_prob(x[:, 0])
    assert torch.allclose(flow.log_prob(x), ref, atol=1e-12)


def test_same_seed_same_flow_and_samples() -> None:
    a, b, c = make_flow("nice", 4, seed=3), make_flow("nice", 4, seed=3), make_flow("nice", 4, seed=4)
    pa = torch.cat([p.flatten() for p in a.parameters()])
    assert torch.equal(pa, torch.cat([p.flatten() for p in b.parameters()]))
    assert not torch.equal(pa, torch.cat([p.flatten() for p in c.parameters()]))
    s1 = a.sample(10, torch.Generator().manual_seed(0))
    s2 = a.sample(10, torch.Generator().manual_seed(0))
    assert torch.equal(s1, s2)


def test_base_entropy_matches_torch() -> None:
    base = StandardNormal(3)
    ref = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3)).entropy()
    assert math.isclose(base.entropy(), float(ref), rel_tol=1e-6)
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    ref_lp = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3)).log_prob(z)
    assert torch.allclose(base.log_prob(z), ref_lp, atol=1e-5)


def test_bad_input_raises_clear_errors() -> None:
    flow = make_flow("nice", 3)
    with pytest.raises(ShapeError, match=r"\(n, 3\)"):
        flow.log_prob(torch.zeros(4, 2))
    with pytest.raises(ShapeError):
        flow.transform(torch.zeros(3))
    with pytest.raises(ConfigError, match="dim >= 2"):
        alternating_partitions(1, 2)
    with pytest.raises(ConfigError, match="kind"):
        make_flow("glow", 2)
    with pytest.raises(ConfigError):
        LULinear(0)
    with pytest.raises(ConfigError, match="same dimension"):
        Compose([Shift(2), Shift(3)])
    with pytest.raises(ConfigError, match="partition"):
        AdditiveCoupling(3, torch.tensor([0]), torch.tensor([1]))
    assert isinstance(FlowDistribution(nice(2)).sample(3), torch.Tensor)
