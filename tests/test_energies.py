"""Energy protocol, composition and neural energies."""

from __future__ import annotations

import pytest
import torch

from ebmlab.energies import (
    Conditioned,
    ConvEnergy,
    LatentPullback,
    MLPEnergy,
    SumEnergy,
    Tempered,
    energy_and_grad,
)
from ebmlab.errors import ConfigError, ShapeError


class AnalyticQuadratic:
    """½‖x‖² with an analytic gradient, and a counter to see which path is used."""

    calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.square().sum(1)

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        AnalyticQuadratic.calls += 1
        return self(x), x.clone()


def autograd_grad(energy, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(energy(x).sum(), x)
    return g


def test_energy_and_grad_uses_analytic_gradient_when_present() -> None:
    x = torch.randn(5, 3, dtype=torch.float64)
    before = AnalyticQuadratic.calls
    e, g = energy_and_grad(AnalyticQuadratic(), x)
    assert AnalyticQuadratic.calls == before + 1
    assert torch.equal(g, x)
    e2, g2 = energy_and_grad(lambda y: 0.5 * y.square().sum(1), x)
    assert torch.allclose(e, e2) and torch.allclose(g, g2)
    assert not e2.requires_grad and not g2.requires_grad


def test_composition_gradients_match_autograd() -> None:
    torch.manual_seed(0)
    x = torch.randn(7, 2, dtype=torch.float64)
    mlp = MLPEnergy(2, hidden=(8,)).double()
    cases = [
        Tempered(AnalyticQuadratic(), beta=0.3),
        SumEnergy(AnalyticQuadratic(), Tempered(AnalyticQuadratic(), 2.0), weights=[1.0, 0.5]),
        SumEnergy(AnalyticQuadratic(), mlp),  # the MLP's hand-written input gradient
        Tempered(mlp, 1.7),
    ]
    for energy in cases:
        e, g = energy_and_grad(energy, x)
        assert torch.allclose(e, energy(x))
        assert torch.allclose(g, autograd_grad(energy, x))
    assert hasattr(cases[0], "energy_and_grad") and hasattr(cases[2], "energy_and_grad")
    assert not hasattr(SumEnergy(AnalyticQuadratic(), lambda y: y.sum(1)), "energy_and_grad")  # autograd
    assert len(list(SumEnergy(mlp, mlp).parameters())) == len(list(mlp.parameters()))


def test_conditioned_energy_one_y_per_chain_or_shared() -> None:
    def joint(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x - y).square().sum(1)

    y = torch.randn(4, 2)
    x = torch.zeros(4, 2)
    assert torch.allclose(Conditioned(joint, y)(x), 0.5 * y.square().sum(1))
    shared = Conditioned(joint, torch.ones(2), shared=True)
    assert torch.allclose(shared(torch.zeros(3, 2)), torch.ones(3))
    with pytest.raises(ShapeError, match="one y per chain"):
        Conditioned(joint, y)(torch.zeros(3, 2))


def test_latent_pullback_adds_standard_normal_prior() -> None:
    gen = torch.nn.Linear(2, 3)
    energy = MLPEnergy(3, hidden=(4,))
    z = torch.randn(6, 2)
    expected = energy(gen(z)) + 0.5 * z.square().sum(1)
    assert torch.allclose(LatentPullback(energy, gen)(z), expected)


def test_neural_energies_shapes_and_errors() -> None:
    assert MLPEnergy(4, spectral_norm=True)(torch.randn(9, 4)).shape == (9,)
    conv = ConvEnergy(channels=8)
    assert conv(torch.randn(3, 1, 8, 8)).shape == (3,)
    assert conv(torch.randn(3, 64)).shape == (3,)
    with pytest.raises(ShapeError, match=r"\(n, 4\)"):
        MLPEnergy(4)(torch.randn(3, 5))
    with pytest.raises(ShapeError, match="8, 8"):
        conv(torch.randn(3, 1, 7, 7))
    with pytest.raises(ConfigError):
        MLPEnergy(0)
    with pytest.raises(ConfigError, match="beta"):
        Tempered(conv, -1.0)


def test_spectral_norm_bounds_the_lipschitz_constant() -> None:
    torch.manual_seed(1)
    energy = MLPEnergy(3, hidden=(32, 32), spectral_norm=True)
    for _ in range(5):  # power iterations converge during forward passes in training mode
        energy(torch.randn(8, 3))
    energy.eval()
    x = torch.randn(256, 3)
    g = autograd_grad(energy, x)
    # ‖W‖₂ = 1 per layer and SiLU' ≤ 1.0999, so ‖∇E‖ ≤ 1.0999² for two hidden layers.
    assert float(g.norm(dim=1).max()) <= 1.0999**2
