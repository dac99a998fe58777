"""The fast paths of the samplers: the compiled kernel (backend="native"), block-drawn noise in the
driver, and MLPEnergy's hand-written input gradient. Each must agree with the PyTorch reference."""

from __future__ import annotations

import math

import pytest
import torch

from ebmlab.energies import MLPEnergy, energy_and_grad
from ebmlab.errors import ConfigError, NonFiniteError
from ebmlab.samplers import HMC, MALA, ULA, KineticLangevin, native, sample
from ebmlab.targets.gmm import GaussianMixture, mog8
from ebmlab.targets.many_well import ManyWell

needs_native = pytest.mark.skipif(not native.available(), reason=f"native backend unavailable: {native.build_error()}")

KERNELS = {
    "ula": lambda s: ULA(s),
    "mala": lambda s: MALA(s),
    "hmc": lambda s: HMC(s, n_leapfrog=3),
    "kinetic": lambda s: KineticLangevin(s, friction=0.7, temperature=1.3),
}
TARGETS = {
    "mog8": (mog8, 0.05),
    "many-well": (lambda: ManyWell(3), 0.01),
    "gmm-3d": (
        lambda: GaussianMixture([[0.0, 1, 2], [1, -1, 0], [3, 0, 0]], stds=[0.7, 1.0, 1.5], weights=[1, 2, 3]),
        0.1,
    ),
}


def start(dim: int, n: int = 37, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@needs_native
@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("kernel_name", KERNELS)
def test_native_matches_torch(kernel_name: str, target_name: str) -> None:
    """Same seed → the same chains on both backends (float64; 37 chains = 2 full lane groups + 5)."""
    make_target, step = TARGETS[target_name]
    target = make_target()
    x0 = start(target.dim)
    runs = {
        b: sample(target, KERNELS[kernel_name](step), x0, 50, thin=3, seed=5, diagnostics=False, backend=b)
        for b in ("torch", "native")
    }
    a, b = runs["torch"], runs["native"]
    assert a.samples.shape == b.samples.shape == (16, 37, target.dim)
    assert torch.allclose(a.samples, b.samples, rtol=0, atol=1e-9)
    assert torch.allclose(a.energies, b.energies, rtol=0, atol=1e-8)
    assert torch.allclose(a.accept_trace, b.accept_trace, rtol=0, atol=1e-9)
    assert (a.nonfinite, a.divergent) == (b.nonfinite, b.divergent)
    assert torch.allclose(a.final_state.grad, b.final_state.grad, rtol=0, atol=1e-8)
    assert a.final_state.iteration == b.final_state.iteration == 50


@needs_native
def test_native_adaptation_and_float32_match_torch() -> None:
    target = mog8()
    x0 = start(2, n=64).float()
    kw = dict(n_steps=40, warmup=30, seed=1, diagnostics=False)
    a = sample(target, MALA(0.5), x0, backend="torch", **kw)
    b = sample(target, MALA(0.5), x0, backend="native", **kw)
    assert a.step_size == pytest.approx(b.step_size, rel=1e-4)
    assert torch.allclose(a.samples, b.samples, atol=1e-3)
    assert a.samples.dtype == b.samples.dtype == torch.float32


@needs_native
def test_native_is_deterministic_and_seed_dependent() -> None:
    target, x0 = ManyWell(4), start(8, n=20)
    run = lambda seed: sample(target, HMC(0.05), x0, 20, seed=seed, diagnostics=False, backend="native")  # noqa: E731
    assert torch.equal(run(3).samples, run(3).samples)
    assert not torch.equal(run(3).samples, run(4).samples)


@needs_native
@pytest.mark.parametrize("kernel_name", ["ula", "kinetic"])
def test_native_unadjusted_divergence_raises_like_torch(kernel_name: str) -> None:
    """The same error (step and number of chains) from both backends; x⁴ overflows within a few steps."""
    target, x0 = ManyWell(2), start(4, n=40, scale=2.0)
    messages = {}
    for backend in ("torch", "native"):
        with pytest.raises(NonFiniteError) as info:
            sample(target, KERNELS[kernel_name](0.3), x0, 200, seed=0, diagnostics=False, backend=backend)
        messages[backend] = str(info.value)
    assert messages["torch"] == messages["native"]
    assert "diverged at step" in messages["native"] and "of 40 chains" in messages["native"]


@needs_native
@pytest.mark.parametrize("kernel_name", ["mala", "hmc"])
def test_native_rejects_and_counts_nonfinite_proposals(kernel_name: str) -> None:
    """Far out in float32, E(x) ~ 1e16 is finite but most proposals' x⁴ overflows: rejected and counted."""
    target, x0 = ManyWell(2), start(4, n=40, scale=1e4).float()
    results = {
        b: sample(target, KERNELS[kernel_name](0.3), x0, 30, seed=0, diagnostics=False, backend=b)
        for b in ("torch", "native")
    }
    assert results["native"].nonfinite == results["torch"].nonfinite > 30 * 40 // 2
    assert torch.isfinite(results["native"].samples).all()


@needs_native
def test_native_mala_keeps_mog8_invariant() -> None:
    """Started from exact samples, MALA stays in distribution: mean energy within 4 SE of the exact one."""
    target, n = mog8(), 4000
    g = torch.Generator().manual_seed(11)
    x0 = target.sample(n, generator=g, dtype=torch.float64)
    exact = target.energy(target.sample(20000, generator=g, dtype=torch.float64))
    result = sample(target, MALA(0.2), x0, 100, generator=g, diagnostics=False, backend="native")
    e = result.final_state.energy
    se = math.sqrt(e.var() / n + exact.var() / exact.numel())
    assert abs(float(e.mean() - exact.mean())) < 4 * se
    assert 0.3 < result.accept_rate < 0.99


def test_backend_option_errors_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    x0 = torch.zeros(4, 2)
    with pytest.raises(ConfigError, match="backend must be"):
        sample(mog8(), ULA(0.1), x0, 2, backend="cuda")
    with pytest.raises(ConfigError, match="has no native implementation"):
        sample(lambda x: x.square().sum(1), ULA(0.1), x0, 2, backend="native")
    monkeypatch.setenv("EBMLAB_NATIVE", "0")
    assert not native.available()
    with pytest.raises(ConfigError, match="EBMLAB_NATIVE=0"):
        sample(mog8(), ULA(0.1), x0, 2, backend="native")
    result = sample(mog8(), ULA(0.1), x0, 3, seed=0, diagnostics=False)  # auto falls back to PyTorch
    assert result.samples.shape == (3, 4, 2)


def test_torch_backend_blocks_are_deterministic_across_block_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The block size changes the order of draws but never determinism; a user function takes the torch path."""
    energy = lambda x: 0.5 * x.square().sum(1)  # noqa: E731
    x0 = start(3, n=8)
    a = sample(energy, HMC(0.3), x0, 25, seed=2, diagnostics=False)
    b = sample(energy, HMC(0.3), x0, 25, seed=2, diagnostics=False)
    assert torch.equal(a.samples, b.samples)
    monkeypatch.setattr("ebmlab.samplers.driver._BLOCK_ELEMENTS", 8 * 3 * 4)  # blocks of 4 steps
    c = sample(energy, HMC(0.3), x0, 25, seed=2, diagnostics=False)
    assert torch.isfinite(c.samples).all() and c.samples.shape == a.samples.shape


@pytest.mark.parametrize("hidden", [(256, 256), (7,), (16, 8, 4)])
def test_mlp_input_grad_matches_autograd(hidden: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    mlp = MLPEnergy(5, hidden).double()
    mlp.grad_chunk = 64
    x = torch.randn(2 * 64 + 3, 5, dtype=torch.float64)  # chunk boundaries and a ragged tail
    e, g = mlp.input_grad(x)
    e_ref, g_ref = energy_and_grad(mlp, x)  # no energy_and_grad attribute: autograd
    assert torch.allclose(e, e_ref) and torch.allclose(g, g_ref)
    assert not e.requires_grad and not g.requires_grad
    assert all(p.grad is None for p in mlp.parameters())


def test_mlp_input_grad_spectral_norm_falls_back_to_autograd() -> None:
    torch.manual_seed(0)
    mlp = MLPEnergy(3, (8,), spectral_norm=True).double().eval()
    x = torch.randn(10, 3, dtype=torch.float64)
    e, g = mlp.input_grad(x)
    e_ref, g_ref = energy_and_grad(mlp, x)
    assert torch.allclose(e, e_ref) and torch.allclose(g, g_ref)


def test_samplers_use_mlp_input_grad(monkeypatch: pytest.MonkeyPatch) -> None:
    mlp = MLPEnergy(2, (8,))
    calls = []
    original = MLPEnergy.input_grad
    monkeypatch.setattr(MLPEnergy, "input_grad", lambda self, x: calls.append(1) or original(self, x))
    sample(mlp, MALA(0.1), torch.zeros(4, 2), 5, seed=0, diagnostics=False)
    assert len(calls) == 6  # one at the start, one per step
