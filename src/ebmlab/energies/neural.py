"""Neural energies: an MLP for vectors and a small ConvNet for 8×8 images."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
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

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.net(x).squeeze(-1)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"MLPEnergy expects input (n, {self.dim}), got {tuple(x.shape)}.")

    def energy_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(E(x), ∇ₓE(x)), detached, written out instead of autograd (what every sampler calls).

        Forward zₗ = hₗ₋₁Wₗᵀ + bₗ, hₗ = silu(zₗ), E = h_L wᵀ + b; backward from g = w:
        g ← (g ⊙ silu′(zₗ)) Wₗ for l = L … 1, with SiLU's fused backward kernel. The same matmuls and
        elementwise kernels as autograd's input gradient, without the tape (no gradient reaches the
        parameters). Each weight is read once per call, so spectral-norm power iterations match ``forward``.
        """
        self._check(x)
        linears: list[nn.Linear] = list(self.net)[0::2]  # type: ignore[assignment]
        with torch.no_grad():
            h, pre = x, []
            for layer in linears[:-1]:
                weight: Tensor = layer.weight
                z = torch.addmm(layer.bias, h, weight.t())
                pre.append((z, weight))
                h = nn.functional.silu(z)
            out_weight: Tensor = linears[-1].weight
            e = torch.addmm(linears[-1].bias, h, out_weight.t()).squeeze(-1)
            g = out_weight.detach().expand(x.shape[0], -1)
            for z, weight in reversed(pre):
                g = torch.ops.aten.silu_backward(g, z) @ weight
        return e, g if pre else g.clone()  # never a view of the weights


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
