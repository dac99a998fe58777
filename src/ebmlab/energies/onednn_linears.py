"""Your own module's ``nn.Linear`` layers on oneDNN: the matmul path ``MLPEnergy`` uses, for any energy network.

PyTorch runs a float32 ``nn.Linear`` on its default BLAS. On some CPUs that BLAS is far slower than oneDNN (on a
Zen 5 AMD EPYC MKL's GEMM ran at 68–89 GFLOP/s, oneDNN's at 125–186), so a user's own MLP energy took 20.13 ms per
E+∇E at 4096 rows against 12.02 ms with its linears on oneDNN (docs/performance_log.md, "Session 14"). On other CPUs
the gain is small or negative (about even on a Zen 4 EPYC from 1024 rows, up to 1.3× slower at 128): measure
yours with ``benchmarks/linear_backends.py`` before opting in.

:func:`onednn_linears` returns a copy of a module whose ``nn.Linear`` layers compute y = xWᵀ + b with
:func:`~ebmlab.energies.neural.linear` (oneDNN on the shapes its rule picks, the default BLAS otherwise) under an
autograd function whose backward gives ∂x = ∂y W (the same rule), ∂W = ∂yᵀx and ∂b = Σ∂y: sampling (∇ₓE) and
training (parameter gradients) both work, equal to the original up to float32 rounding. Inside
:func:`~ebmlab.energies.energy_and_grad` (every sampler's ∇ₓE) the weights enter as constants
(:func:`~ebmlab.energies.base.parameters_are_constant`), so the backward computes ∂x alone whether or not they
require grad; before, a module as written (parameters requiring grad) paid for ∂W and ∂b too, 1.6–1.7× the
time. Its backward is not itself
differentiable: a second derivative through it (``create_graph=True``, e.g. a gradient penalty) raises an error.
Inputs that are not 2-D go through the layer's own ``forward``.

>>> import torch
>>> from torch import nn
>>> from ebmlab.energies import energy_and_grad, onednn_linears
>>> net = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 1))
>>> fast = onednn_linears(net)
>>> x = torch.randn(4096, 64)
>>> (e, g), (e_fast, g_fast) = (energy_and_grad(lambda z, m=m: m(z).squeeze(-1), x) for m in (net, fast))
>>> bool(torch.allclose(e, e_fast, atol=1e-5) and torch.allclose(g, g_fast, atol=1e-5))
True
"""

from __future__ import annotations

import copy
import types
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from ebmlab.energies.base import parameters_are_constant
from ebmlab.energies.neural import linear
from ebmlab.errors import ConfigError

__all__ = ["OneDNNLinearFunction", "onednn_linears"]


class OneDNNLinearFunction(torch.autograd.Function):
    """y = xWᵀ + b by :func:`~ebmlab.energies.neural.linear`; backward ∂x = ∂y W likewise, ∂W = ∂yᵀx, ∂b = Σ∂y."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        return linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        needs_x, needs_w, needs_b = ctx.needs_input_grad
        grad_x = linear(grad, weight.t(), None) if needs_x else None
        grad_w = grad.t() @ x if needs_w else None
        grad_b = grad.sum(0) if needs_b else None
        return grad_x, grad_w, grad_b


def _forward(layer: nn.Linear, x: Tensor) -> Tensor:
    if x.dim() != 2:
        return nn.Linear.forward(layer, x)
    weight: Tensor = layer.weight
    bias: Tensor | None = layer.bias
    if parameters_are_constant():  # ∇ₓE only (energy_and_grad): no ∂W, ∂b in the backward, however W requires grad
        weight, bias = weight.detach(), None if bias is None else bias.detach()
    return OneDNNLinearFunction.apply(x, weight, bias)  # type: ignore[no-any-return]


def onednn_linears(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose ``nn.Linear`` layers (``module`` itself if it is one) run on oneDNN (module
    doc). Parameters, buffers and parametrisations (spectral norm) are copied with it; ``module`` is unchanged.
    Anything but an ``nn.Module`` with at least one ``nn.Linear`` is a :class:`~ebmlab.errors.ConfigError`."""
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"onednn_linears takes an nn.Module, got {type(module).__name__}; pass your energy's network."
        )
    if not any(isinstance(layer, nn.Linear) for layer in module.modules()):
        raise ConfigError(f"onednn_linears: {type(module).__name__} has no nn.Linear layer, so nothing would change.")
    fast = copy.deepcopy(module)
    for layer in fast.modules():
        if isinstance(layer, nn.Linear):
            layer.forward = types.MethodType(_forward, layer)  # type: ignore[method-assign]  # a copy rebinds
    return fast
