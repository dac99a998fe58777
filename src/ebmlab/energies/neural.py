"""Neural energies: an MLP for vectors and a small ConvNet for 8×8 images."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ebmlab.errors import ConfigError, ShapeError

__all__ = ["ConvEnergy", "MLPEnergy"]


def _linear(n_in: int, n_out: int, sn: bool) -> nn.Module:
    layer = nn.Linear(n_in, n_out)
    return _spectral_norm(layer) if sn else layer


class MLPEnergy(nn.Module):
    """E(x) = MLP(x) ∈ ℝ with SiLU activations, input ``(n, dim)``.

    Args:
        dim: input dimension.
        hidden: widths of the hidden layers.
        spectral_norm: constrain each linear layer's spectral norm to 1 (a Lipschitz energy, as
            GEBM/KALE training assumes).
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (128, 128), spectral_norm: bool = False) -> None:
        super().__init__()
        if dim < 1 or any(h < 1 for h in hidden):
            raise ConfigError(f"MLPEnergy: dim and hidden widths must be >= 1, got dim={dim}, hidden={hidden}.")
        self.dim = dim
        widths = [dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [_linear(a, b, spectral_norm), nn.SiLU()]
        layers.append(_linear(widths[-1], 1, spectral_norm))
        self.net = nn.Sequential(*layers)

    #: rows per chunk of :meth:`input_grad`: keeps the (chunk, width) activations in cache
    grad_chunk: int = 512

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"MLPEnergy expects input (n, {self.dim}), got {tuple(x.shape)}.")
        return self.net(x).squeeze(-1)

    def input_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(E(x), ∇ₓE(x))``, detached, by a hand-written backward pass (no autograd graph).

        Forward: h₁ = W₁x + b₁, aᵢ = SiLU(hᵢ), hᵢ₊₁ = Wᵢ₊₁aᵢ + bᵢ₊₁, E = w·a_L + b.
        Backward: δ_L = w ⊙ SiLU'(h_L), δᵢ = (Wᵢ₊₁ᵀδᵢ₊₁) ⊙ SiLU'(hᵢ), ∇ₓE = W₁ᵀδ₁, with
        SiLU'(h) = σ(h)(1 + h(1 − σ(h))). On CPU rows go in chunks of ``grad_chunk`` so activations stay
        in cache (elsewhere in one piece: fewer kernel launches). Nothing is accumulated into parameter
        gradients. Spectral-norm layers (whose weights are recomputed on access) use autograd with respect
        to x instead.
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"MLPEnergy expects input (n, {self.dim}), got {tuple(x.shape)}.")
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        if any(parametrize.is_parametrized(m) for m in linears):
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                e = self(xg)
                (g,) = torch.autograd.grad(e.sum(), xg)
            return e.detach(), g
        with torch.no_grad():
            x = x.detach()
            e = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
            g = torch.empty_like(x, memory_format=torch.contiguous_format)
            chunk = self.grad_chunk if x.device.type == "cpu" else x.shape[0]  # chunks pay for CPU caches only
            for start in range(0, x.shape[0], chunk):
                rows = slice(start, start + chunk)
                self._input_grad_rows(x[rows], linears, e[rows], g[rows])
        return e, g

    @staticmethod
    def _input_grad_rows(x: Tensor, linears: list[nn.Linear], e: Tensor, g: Tensor) -> None:
        pre = []
        a = x
        for layer in linears[:-1]:
            h = torch.addmm(layer.bias, a, layer.weight.t())
            pre.append(h)
            a = torch.nn.functional.silu(h)
        last = linears[-1]
        w = last.weight[0]
        torch.addmv(last.bias, a, w, out=e)
        delta = w.expand_as(pre[-1])
        for i in range(len(pre) - 1, -1, -1):
            delta = torch.ops.aten.silu_backward(delta, pre[i])
            if i > 0:
                delta = torch.mm(delta, linears[i].weight)
        torch.mm(delta, linears[0].weight, out=g)


class ConvEnergy(nn.Module):
    """A small ConvNet energy for single-channel 8×8 images, input ``(n, 1, 8, 8)`` or ``(n, 64)``."""

    def __init__(self, channels: int = 32, spectral_norm: bool = False) -> None:
        super().__init__()
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        c = channels
        self.features = nn.Sequential(
            sn(nn.Conv2d(1, c, 3, padding=1)),
            nn.SiLU(),
            sn(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)),  # 8 → 4
            nn.SiLU(),
            sn(nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1)),  # 4 → 2
            nn.SiLU(),
        )
        self.head = sn(nn.Linear(4 * c * 4, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2 and x.shape[1] == 64:
            x = x.reshape(-1, 1, 8, 8)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ShapeError(f"ConvEnergy expects input (n, 1, 8, 8) or (n, 64), got {tuple(x.shape)}.")
        return self.head(self.features(x).flatten(1)).squeeze(-1)
