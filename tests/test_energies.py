"""Energy protocol, composition and neural energies."""

from __future__ import annotations

import math

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
    neural,
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


class PlainModule(torch.nn.Module):
    """½‖x‖² as a module without an energy_and_grad method (autograd unless one is attached to the instance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.square().sum(1)


class WithMethod(PlainModule):
    """A module whose class defines energy_and_grad (returns (E, 4x), so its use is visible)."""

    def energy_and_grad(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self(x), 4 * x


class Doubled(torch.nn.Module):
    """A submodule named energy_and_grad: returns (E, 2x), so its use is visible."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 0.5 * x.square().sum(1), 2 * x


def test_energy_and_grad_finds_a_modules_own_gradient_wherever_getattr_would() -> None:
    """Modules are searched without nn.Module.__getattr__'s miss (analytic_of): class method, instance attribute,
    submodule, and none (autograd)."""
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.equal(energy_and_grad(PlainModule(), x)[1], x)  # autograd: ∇½‖x‖² = x
    assert torch.equal(energy_and_grad(WithMethod(), x)[1], 4 * x)
    attached = PlainModule()
    attached.energy_and_grad = lambda y: (0.5 * y.square().sum(1), 3 * y)
    assert torch.equal(energy_and_grad(attached, x)[1], 3 * x)
    sub = PlainModule()
    sub.energy_and_grad = Doubled()  # registered as a submodule: found where __getattr__ looks
    assert "energy_and_grad" in sub._modules
    assert torch.equal(energy_and_grad(sub, x)[1], 2 * x)
    before = AnalyticQuadratic.calls
    energy_and_grad(AnalyticQuadratic(), x)  # not a module: plain getattr
    assert AnalyticQuadratic.calls == before + 1


def test_composition_gradients_match_autograd() -> None:
    torch.manual_seed(0)
    x = torch.randn(7, 2, dtype=torch.float64)
    mlp = MLPEnergy(2, hidden=(8,)).double()
    cases = [
        Tempered(AnalyticQuadratic(), beta=0.3),
        SumEnergy(AnalyticQuadratic(), Tempered(AnalyticQuadratic(), 2.0), weights=[1.0, 0.5]),
        SumEnergy(AnalyticQuadratic(), lambda y: y.pow(3).sum(1)),  # a part without an analytic gradient: autograd
        SumEnergy(AnalyticQuadratic(), mlp),  # MLPEnergy's written-out gradient
        Tempered(mlp, 1.7),
    ]
    for energy in cases:
        e, g = energy_and_grad(energy, x)
        assert torch.allclose(e, energy(x))
        assert torch.allclose(g, autograd_grad(energy, x))
    assert hasattr(cases[0], "energy_and_grad") and not hasattr(cases[2], "energy_and_grad")
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


def test_clamped_samples_the_exact_gaussian_conditional() -> None:
    """N(μ, Σ) in 2-D, x₂ clamped at c (shared mask) or x₁ clamped per chain: MALA's free coordinate matches
    the closed-form conditional N(μ₁ + Σ₁₂/Σ₂₂ (c − μ₂), Σ₁₁ − Σ₁₂²/Σ₂₂) within 4 SE (i.i.d. final states)."""
    from ebmlab.energies import Clamped
    from ebmlab.samplers import MALA

    mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.8], [0.8, 2.0]], dtype=torch.float64)
    prec = torch.linalg.inv(cov)

    def gaussian(x: torch.Tensor) -> torch.Tensor:
        d = x - mu
        return 0.5 * ((d @ prec) * d).sum(-1)

    n, c = 4000, 0.5
    gen = torch.Generator().manual_seed(0)

    def run(energy: Clamped) -> torch.Tensor:
        kernel = MALA(0.3)
        state = kernel.init(energy, torch.zeros(n, 2, dtype=torch.float64))
        for _ in range(300):
            state, _ = kernel.step(energy, state, gen)
        return energy.fill(state.x)

    # shared mask: x₂ observed
    x = run(Clamped(gaussian, torch.tensor([0.0, c], dtype=torch.float64), torch.tensor([False, True])))
    assert bool((x[:, 1] == c).all())
    m1, v1 = 1.0 + 0.8 / 2.0 * (c + 1.0), 1.0 - 0.8**2 / 2.0
    assert abs(float(x[:, 0].mean()) - m1) < 4 * math.sqrt(v1 / n)
    assert abs(float(x[:, 0].var()) - v1) < 4 * v1 * math.sqrt(2 / n)
    # per-chain mask: the first half observes x₁ = c, the second half x₂ = c
    mask = torch.zeros(n, 2, dtype=torch.bool)
    mask[: n // 2, 0] = True
    mask[n // 2 :, 1] = True
    x = run(Clamped(gaussian, torch.full((n, 2), c, dtype=torch.float64), mask))
    m2, v2 = -1.0 + 0.8 / 1.0 * (c - 1.0), 2.0 - 0.8**2 / 1.0
    half = n // 2
    assert abs(float(x[:half, 1].mean()) - m2) < 4 * math.sqrt(v2 / half)
    assert abs(float(x[half:, 0].mean()) - m1) < 4 * math.sqrt(v1 / half)
    # the gradient ignores observed coordinates, with and without an analytic gradient
    clamped = Clamped(gaussian, torch.tensor([0.0, c], dtype=torch.float64), torch.tensor([False, True]))
    _, g = energy_and_grad(clamped, torch.randn(5, 2, dtype=torch.float64))
    assert bool((g[:, 1] == 0).all())
    with pytest.raises(ConfigError, match="boolean"):
        Clamped(gaussian, torch.zeros(2), torch.zeros(2))
    with pytest.raises(ShapeError, match="same shape"):
        Clamped(gaussian, torch.zeros(3), torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ShapeError, match="one row per chain"):
        clamped.fill(torch.zeros(4, 3, dtype=torch.float64))


@pytest.mark.parametrize("hidden", [(), (5,), (5, 7), (5, 7, 6)], ids=lambda h: f"depth{len(h)}")
@pytest.mark.parametrize("sn", [False, True], ids=["plain", "spectral"])
def test_mlp_written_out_gradient_matches_autograd(hidden, sn) -> None:
    """MLPEnergy.energy_and_grad (no tape) against autograd of forward, depths 0–3, SiLU, float64."""
    torch.manual_seed(2)
    energy = MLPEnergy(3, hidden=hidden, spectral_norm=sn).double().eval()
    x = 3.0 * torch.randn(64, 3, dtype=torch.float64)
    e, g = energy.energy_and_grad(x)
    xg = x.clone().requires_grad_(True)
    e_ref = energy(xg)
    (g_ref,) = torch.autograd.grad(e_ref.sum(), xg)
    assert torch.allclose(e, e_ref.detach(), rtol=0, atol=1e-12)
    assert torch.allclose(g, g_ref, rtol=1e-12, atol=1e-12)
    assert not e.requires_grad and not g.requires_grad
    assert all(p.grad is None for p in energy.parameters())  # nothing reaches the parameters


@pytest.mark.skipif(neural._ONEDNN is None, reason="this PyTorch has no oneDNN linear")
@pytest.mark.parametrize(
    ("dim", "hidden", "rows", "expected"),
    [(40, (), 1000, 0), (40, (64,), 1000, 2), (40, (96, 48), 1000, 4), (40, (64,), 100, 0), (2, (128, 128), 1024, 2)],
    ids=["depth0", "depth1", "depth2", "small-batch", "narrow-input"],
)
def test_mlp_float32_gradient_runs_its_large_matmuls_on_onednn(dim, hidden, rows, expected, onednn_calls) -> None:
    """float32 on the CPU: the matmuls (forward, and ∇ back through a layer) whose widths are both ≥ 32 and whose
    size is ≥ 2²¹ multiply-adds go to oneDNN (2 per qualifying hidden layer: 100 rows are too few, a 2-wide input's
    layer is too narrow both ways), and E, ∇E agree with the BLAS path up to float32 rounding;
    ``onednn_linear = False`` is the BLAS path, with no oneDNN call; float64 never calls it."""
    calls = onednn_calls
    torch.manual_seed(3)
    energy = MLPEnergy(dim, hidden=hidden)
    x = 2.0 * torch.randn(rows, dim)
    e, g = energy.energy_and_grad(x)
    assert len(calls) == expected
    energy.onednn_linear = False
    e_blas, g_blas = energy.energy_and_grad(x)
    assert len(calls) == expected  # none more
    assert torch.allclose(e, e_blas, rtol=1e-5, atol=1e-5) and torch.allclose(g, g_blas, rtol=1e-5, atol=1e-6)
    xg = x.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(energy(xg).sum(), xg)
    assert torch.allclose(g, g_ref, rtol=1e-5, atol=1e-6)
    energy.onednn_linear = True
    energy.double().energy_and_grad(x.double())
    assert len(calls) == expected  # float64: the BLAS path
