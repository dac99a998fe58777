"""onednn_linears: a user's module with its nn.Linear layers on oneDNN (ebmlab.energies.onednn_linears)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ebmlab.energies import energy_and_grad, neural, onednn_linears
from ebmlab.errors import ConfigError

pytestmark = pytest.mark.skipif(neural._ONEDNN is None, reason="this PyTorch has no oneDNN linear")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 1))


def _eg(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return energy_and_grad(lambda z: module(z).squeeze(-1), x)


def test_e_and_grad_on_onednn_match_the_module(onednn_calls) -> None:
    """1024 rows: the two hidden layers' forward and their input gradients go to oneDNN (4 calls: the 128 → 1 layer is
    too narrow), E and ∇E equal the original's to float32 rounding; the original runs no oneDNN call."""

    def widths() -> list[tuple[int, int]]:
        return [(n_in, n_out) for _, n_in, n_out in onednn_calls]

    net = _net()
    x = torch.randn(1024, 64)
    e, g = _eg(net, x)
    assert widths() == []
    e_fast, g_fast = _eg(onednn_linears(net), x)
    assert widths() == [(64, 128), (128, 128), (128, 128), (128, 64)]
    _eg(net, x)
    assert len(widths()) == 4  # the original is unchanged
    torch.testing.assert_close(e_fast, e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_fast, g, rtol=1e-5, atol=1e-6)


def test_parameter_gradients_for_training_match(monkeypatch) -> None:
    """A training loss backward: every parameter's gradient equals the original module's (float32 rounding)."""
    net = _net()
    fast = onednn_linears(net)
    x = torch.randn(1024, 64)
    for module in (net, fast):
        module(x).square().mean().backward()
    for (name, p), q in zip(net.named_parameters(), fast.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_the_sampling_gradient_skips_the_parameters_gradients() -> None:
    """``energy_and_grad`` takes ∇ₓE only, so a module whose parameters require grad (a user's, as written) runs the
    same ops as a frozen one, with the same bits. Before, the layers' own backward also computed ∂W = ∂yᵀx and ∂b
    (``ctx.needs_input_grad`` says only what requires grad): 1.6–1.7× the frozen module's time."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    x = torch.randn(1024, 64)
    runs = []
    for trainable in (True, False):
        fast = onednn_linears(_net().requires_grad_(trainable))
        with Ops() as ops:
            e, g = _eg(fast, x)
        runs.append((sorted(ops.names), e, g))
    (ops_trainable, e1, g1), (ops_frozen, e0, g0) = runs
    assert ops_trainable == ops_frozen
    assert torch.equal(e1, e0) and torch.equal(g1, g0)


def test_a_second_derivative_raises_instead_of_being_wrong() -> None:
    """The backward is not differentiable: a gradient penalty (‖∇ₓE‖² with create_graph=True, backpropagated to the
    parameters) is an error, not a silently wrong gradient."""
    fast = onednn_linears(_net())
    x = torch.randn(1024, 64, requires_grad=True)
    (g,) = torch.autograd.grad(fast(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.square().sum().backward()


def test_copies_bind_to_their_own_weights_and_other_shapes_fall_back() -> None:
    """A deepcopy of the converted module (an EMA copy, say) computes with its own weights; a single Linear and 3-D
    input (the layer's own forward) and float64 (the BLAS) give the original's values."""
    fast = onednn_linears(_net())
    twin = copy.deepcopy(fast)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(2.0)
    x = torch.randn(8, 64)
    assert not torch.allclose(twin(x), fast(x))
    layer = nn.Linear(64, 128)
    fast_layer = onednn_linears(layer)
    x3 = torch.randn(3, 300, 64)
    torch.testing.assert_close(fast_layer(x3), layer(x3))
    x64 = torch.randn(600, 64, dtype=torch.float64)
    torch.testing.assert_close(onednn_linears(layer.double())(x64), layer(x64), rtol=0, atol=0)


def test_spectral_norm_layers_keep_their_power_iteration() -> None:
    """A spectral-norm network: the converted copy's E, ∇E and power-iteration state after one call equal those of a
    plain copy after one call."""
    torch.manual_seed(1)
    net = nn.Sequential(spectral_norm(nn.Linear(64, 128)), nn.SiLU(), spectral_norm(nn.Linear(128, 1)))
    plain, fast = copy.deepcopy(net), onednn_linears(net)
    x = torch.randn(1024, 64)
    (e, g), (e_fast, g_fast) = _eg(plain, x), _eg(fast, x)
    torch.testing.assert_close(e_fast, e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_fast, g, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_anything_but_a_module_with_linears_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"takes an nn\.Module"):
        onednn_linears(lambda x: x.sum(1))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"no nn\.Linear layer"):
        onednn_linears(nn.Sequential(nn.Conv2d(1, 2, 3), nn.SiLU()))


def test_the_input_gradient_flag_holds_only_inside_energy_and_grad() -> None:
    """``parameters_are_constant`` is True while ``energy_and_grad`` evaluates the energy, False before and after, also
    after the energy raised."""
    from ebmlab.energies.base import parameters_are_constant

    seen = []

    def energy(x: torch.Tensor) -> torch.Tensor:
        seen.append(parameters_are_constant())
        return x.square().sum(1)

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("the user's energy failed")

    assert not parameters_are_constant()
    energy_and_grad(energy, torch.randn(4, 2))
    with pytest.raises(RuntimeError, match="failed"):
        energy_and_grad(broken, torch.randn(4, 2))
    assert seen == [True] and not parameters_are_constant()
